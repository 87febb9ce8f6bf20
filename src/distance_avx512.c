/*
** distance_avx512.c — the "avx512" kernel table (AVX-512F) of distance.h.
**
** This file alone is compiled with -mavx512f (libcvec_avx512.la in
** Makefile.am); nothing here runs unless distance.c found AVX-512F and the
** OS's saving of opmask and ZMM state on this CPU.  Keep it to the kernels
** (see distance_avx2.c for why).
**
** Each kernel runs four independent 16-float accumulators over 64 floats
** per step, then one over 16 floats per step, then the last 0..15 floats
** with one masked load: masked-off lanes are neither read nor able to fault,
** so the load stays within the n floats, and they load as 0, which adds
** nothing to a sum.  All loads are unaligned: segment vectors are only
** 4-byte aligned.  Valgrind does not emulate AVX-512 (and hides it from
** CPUID), so under valgrind this kernel is never chosen.
*/
#include "distance.h"

#include <immintrin.h>

#if !defined(__AVX512F__)
# error "distance_avx512.c must be compiled with -mavx512f"
#endif

/* Mask of the low r lanes, 0 <= r < 16. */
static inline __mmask16 tail_mask(size_t r){
  return (__mmask16)((1u<<r) - 1u);
}

static float avx512_l2sq(const float *a, const float *b, size_t n){
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for(; i+64<=n; i+=64){
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a+i),    _mm512_loadu_ps(b+i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a+i+16), _mm512_loadu_ps(b+i+16));
    __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a+i+32), _mm512_loadu_ps(b+i+32));
    __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a+i+48), _mm512_loadu_ps(b+i+48));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
    s2 = _mm512_fmadd_ps(d2, d2, s2);
    s3 = _mm512_fmadd_ps(d3, d3, s3);
  }
  for(; i+16<=n; i+=16){
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a+i), _mm512_loadu_ps(b+i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if( i<n ){
    __mmask16 m = tail_mask(n-i);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a+i), _mm512_maskz_loadu_ps(m, b+i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float avx512_dot(const float *a, const float *b, size_t n){
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for(; i+64<=n; i+=64){
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a+i),    _mm512_loadu_ps(b+i),    s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a+i+16), _mm512_loadu_ps(b+i+16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a+i+32), _mm512_loadu_ps(b+i+32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a+i+48), _mm512_loadu_ps(b+i+48), s3);
  }
  for(; i+16<=n; i+=16){
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a+i), _mm512_loadu_ps(b+i), s0);
  }
  if( i<n ){
    __mmask16 m = tail_mask(n-i);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a+i), _mm512_maskz_loadu_ps(m, b+i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float avx512_norm2(const float *a, size_t n){
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for(; i+64<=n; i+=64){
    __m512 x0 = _mm512_loadu_ps(a+i),    x1 = _mm512_loadu_ps(a+i+16);
    __m512 x2 = _mm512_loadu_ps(a+i+32), x3 = _mm512_loadu_ps(a+i+48);
    s0 = _mm512_fmadd_ps(x0, x0, s0);
    s1 = _mm512_fmadd_ps(x1, x1, s1);
    s2 = _mm512_fmadd_ps(x2, x2, s2);
    s3 = _mm512_fmadd_ps(x3, x3, s3);
  }
  for(; i+16<=n; i+=16){
    __m512 x = _mm512_loadu_ps(a+i);
    s0 = _mm512_fmadd_ps(x, x, s0);
  }
  if( i<n ){
    __m512 x = _mm512_maskz_loadu_ps(tail_mask(n-i), a+i);
    s1 = _mm512_fmadd_ps(x, x, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

const cvec_kernels cvec_kernels_avx512 = {
  "avx512", avx512_l2sq, avx512_dot, avx512_norm2
};
