/*
** distance_avx2.c — the "avx2" kernel table (AVX2 + FMA) of distance.h.
**
** This file alone is compiled with -mavx2 -mfma (libcvec_avx2.la in
** Makefile.am): nothing else of the library may contain AVX instructions,
** and nothing here runs unless distance.c found AVX2, FMA and the OS's
** saving of YMM state on this CPU.  Keep it to the kernels: any helper
** placed here could be inlined with AVX code into a caller on a CPU without
** AVX.
**
** Each kernel runs four independent 8-float accumulators over 32 floats per
** step (an FMA has a latency of 4-5 cycles and two issue per cycle: one
** accumulator would leave most of the FMA units idle), then one accumulator
** over 8 floats per step, then a scalar tail of at most 7 floats.  All
** loads are unaligned (_mm256_loadu_ps): vectors in a segment are only
** 4-byte aligned.  The scalar tail rather than a masked load keeps every
** access within the n floats, which ASan and valgrind check exactly.
*/
#include "distance.h"

#include <immintrin.h>

#if !defined(__AVX2__) || !defined(__FMA__)
# error "distance_avx2.c must be compiled with -mavx2 -mfma"
#endif

/* Sum of the 8 lanes of x. */
static inline float hsum256(__m256 x){
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static float avx2_l2sq(const float *a, const float *b, size_t n){
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for(; i+32<=n; i+=32){
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a+i),    _mm256_loadu_ps(b+i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a+i+8),  _mm256_loadu_ps(b+i+8));
    __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a+i+16), _mm256_loadu_ps(b+i+16));
    __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a+i+24), _mm256_loadu_ps(b+i+24));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
    s2 = _mm256_fmadd_ps(d2, d2, s2);
    s3 = _mm256_fmadd_ps(d3, d3, s3);
  }
  for(; i+8<=n; i+=8){
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a+i), _mm256_loadu_ps(b+i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for(; i<n; i++){
    float d = a[i] - b[i];
    s += d*d;
  }
  return s;
}

static float avx2_dot(const float *a, const float *b, size_t n){
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for(; i+32<=n; i+=32){
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a+i),    _mm256_loadu_ps(b+i),    s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a+i+8),  _mm256_loadu_ps(b+i+8),  s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a+i+16), _mm256_loadu_ps(b+i+16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a+i+24), _mm256_loadu_ps(b+i+24), s3);
  }
  for(; i+8<=n; i+=8){
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a+i), _mm256_loadu_ps(b+i), s0);
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for(; i<n; i++) s += a[i]*b[i];
  return s;
}

static float avx2_norm2(const float *a, size_t n){
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for(; i+32<=n; i+=32){
    __m256 x0 = _mm256_loadu_ps(a+i),    x1 = _mm256_loadu_ps(a+i+8);
    __m256 x2 = _mm256_loadu_ps(a+i+16), x3 = _mm256_loadu_ps(a+i+24);
    s0 = _mm256_fmadd_ps(x0, x0, s0);
    s1 = _mm256_fmadd_ps(x1, x1, s1);
    s2 = _mm256_fmadd_ps(x2, x2, s2);
    s3 = _mm256_fmadd_ps(x3, x3, s3);
  }
  for(; i+8<=n; i+=8){
    __m256 x = _mm256_loadu_ps(a+i);
    s0 = _mm256_fmadd_ps(x, x, s0);
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for(; i<n; i++) s += a[i]*a[i];
  return s;
}

const cvec_kernels cvec_kernels_avx2 = {
  "avx2", avx2_l2sq, avx2_dot, avx2_norm2
};
