/*
** distance_neon.c — the "neon" kernel table (aarch64 Advanced SIMD) of
** distance.h.
**
** Built only for aarch64 (libcvec_neon.la in Makefile.am), where Advanced
** SIMD is part of the base architecture: it needs no compiler flag and no
** run-time check.  It has its own convenience library like the x86 files
** only so that every instruction-set file is built the same way.
**
** Each kernel runs four independent 4-float accumulators over 16 floats per
** step (FMA latency), then one over 4 floats per step, then a scalar tail
** of at most 3 floats.  vld1q_f32 needs only float (4-byte) alignment, which
** is all that segment vectors have.
*/
#include "distance.h"

#if !defined(__aarch64__)
# error "distance_neon.c is for aarch64 only"
#endif

#include <arm_neon.h>

static float neon_l2sq(const float *a, const float *b, size_t n){
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
  float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t i = 0;
  for(; i+16<=n; i+=16){
    float32x4_t d0 = vsubq_f32(vld1q_f32(a+i),    vld1q_f32(b+i));
    float32x4_t d1 = vsubq_f32(vld1q_f32(a+i+4),  vld1q_f32(b+i+4));
    float32x4_t d2 = vsubq_f32(vld1q_f32(a+i+8),  vld1q_f32(b+i+8));
    float32x4_t d3 = vsubq_f32(vld1q_f32(a+i+12), vld1q_f32(b+i+12));
    s0 = vfmaq_f32(s0, d0, d0);
    s1 = vfmaq_f32(s1, d1, d1);
    s2 = vfmaq_f32(s2, d2, d2);
    s3 = vfmaq_f32(s3, d3, d3);
  }
  for(; i+4<=n; i+=4){
    float32x4_t d = vsubq_f32(vld1q_f32(a+i), vld1q_f32(b+i));
    s0 = vfmaq_f32(s0, d, d);
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for(; i<n; i++){
    float d = a[i] - b[i];
    s += d*d;
  }
  return s;
}

static float neon_dot(const float *a, const float *b, size_t n){
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
  float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t i = 0;
  for(; i+16<=n; i+=16){
    s0 = vfmaq_f32(s0, vld1q_f32(a+i),    vld1q_f32(b+i));
    s1 = vfmaq_f32(s1, vld1q_f32(a+i+4),  vld1q_f32(b+i+4));
    s2 = vfmaq_f32(s2, vld1q_f32(a+i+8),  vld1q_f32(b+i+8));
    s3 = vfmaq_f32(s3, vld1q_f32(a+i+12), vld1q_f32(b+i+12));
  }
  for(; i+4<=n; i+=4){
    s0 = vfmaq_f32(s0, vld1q_f32(a+i), vld1q_f32(b+i));
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for(; i<n; i++) s += a[i]*b[i];
  return s;
}

static float neon_norm2(const float *a, size_t n){
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
  float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t i = 0;
  for(; i+16<=n; i+=16){
    float32x4_t x0 = vld1q_f32(a+i),   x1 = vld1q_f32(a+i+4);
    float32x4_t x2 = vld1q_f32(a+i+8), x3 = vld1q_f32(a+i+12);
    s0 = vfmaq_f32(s0, x0, x0);
    s1 = vfmaq_f32(s1, x1, x1);
    s2 = vfmaq_f32(s2, x2, x2);
    s3 = vfmaq_f32(s3, x3, x3);
  }
  for(; i+4<=n; i+=4){
    float32x4_t x = vld1q_f32(a+i);
    s0 = vfmaq_f32(s0, x, x);
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for(; i<n; i++) s += a[i]*a[i];
  return s;
}

const cvec_kernels cvec_kernels_neon = {
  "neon", neon_l2sq, neon_dot, neon_norm2
};
