/*
** distance.c — the scalar reference kernels, the run-time choice of a kernel
** table, and cvec_distance() (interface and guarantees in distance.h).
**
** Pieces:
**   l2sq_d / dot_d / norm2_d   double-accumulating loops: exact products
**                              (a float times a float fits a double), sums
**                              with 53-bit precision and no overflow or
**                              underflow for any finite float inputs.  They
**                              are the scalar kernels (rounded to float once,
**                              at the end) and the fallback of cvec_distance.
**   kernel_table[]             every table compiled in, scalar first, then in
**                              order of preference; the SIMD ones come from
**                              distance_avx2.c, distance_avx512.c and
**                              distance_neon.c, present when configure found
**                              the compiler able to build them (CVEC_HAVE_*
**                              in config.h).
**   kernel_runs()              whether this CPU and OS can run a table.
**   cvec_kernels_best()        the choice, made once, cached atomically.
**
** config.h is read only when the build says it exists (HAVE_CONFIG_H, set by
** automake).  The fuzz builds of Makefile.am compile the core's sources
** without it and without the SIMD files: they get the scalar kernel only.
*/
#ifdef HAVE_CONFIG_H
# include "config.h"
#endif
#include "distance.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) \
    && (defined(CVEC_HAVE_AVX2) || defined(CVEC_HAVE_AVX512))
# define CVEC_X86_DETECT 1
# include <cpuid.h>
#endif

/* ---------------------------------------------------------------------------
** Scalar reference
** ------------------------------------------------------------------------- */

/* Four independent accumulators: the loop is not one long dependency chain,
** and the compiler may keep them in two SSE2 registers. */
static double l2sq_d(const float *a, const float *b, size_t n){
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for(; i+4<=n; i+=4){
    double d0 = (double)a[i]   - b[i];
    double d1 = (double)a[i+1] - b[i+1];
    double d2 = (double)a[i+2] - b[i+2];
    double d3 = (double)a[i+3] - b[i+3];
    s0 += d0*d0; s1 += d1*d1; s2 += d2*d2; s3 += d3*d3;
  }
  for(; i<n; i++){
    double d = (double)a[i] - b[i];
    s0 += d*d;
  }
  return (s0+s1) + (s2+s3);
}

static double dot_d(const float *a, const float *b, size_t n){
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for(; i+4<=n; i+=4){
    s0 += (double)a[i]*b[i];
    s1 += (double)a[i+1]*b[i+1];
    s2 += (double)a[i+2]*b[i+2];
    s3 += (double)a[i+3]*b[i+3];
  }
  for(; i<n; i++) s0 += (double)a[i]*b[i];
  return (s0+s1) + (s2+s3);
}

/* sum a^2: the dot product of a with itself */
static double norm2_d(const float *a, size_t n){ return dot_d(a, a, n); }

/*
** double -> float as IEEE round-to-nearest does it, but without relying on
** the conversion of an out-of-range value (undefined in ISO C without
** Annex F): at or beyond FLT_MAX plus half an ulp the result is infinite.
*/
static float to_float(double d){
  if( d >= 0x1.ffffffp127 ) return INFINITY;
  if( d <= -0x1.ffffffp127 ) return -INFINITY;
  return (float)d;
}

static float scalar_l2sq(const float *a, const float *b, size_t n){
  return to_float(l2sq_d(a, b, n));
}
static float scalar_dot(const float *a, const float *b, size_t n){
  return to_float(dot_d(a, b, n));
}
static float scalar_norm2(const float *a, size_t n){
  return to_float(norm2_d(a, n));
}

const cvec_kernels cvec_kernels_scalar = {
  "scalar", scalar_l2sq, scalar_dot, scalar_norm2
};

/* ---------------------------------------------------------------------------
** Choosing a kernel
** ------------------------------------------------------------------------- */

/* Scalar first, then in increasing order of preference. */
static const cvec_kernels *const kernel_table[] = {
  &cvec_kernels_scalar,
#ifdef CVEC_HAVE_AVX2
  &cvec_kernels_avx2,
#endif
#ifdef CVEC_HAVE_AVX512
  &cvec_kernels_avx512,
#endif
#ifdef CVEC_HAVE_NEON
  &cvec_kernels_neon,
#endif
};
#define N_KERNEL ((int)(sizeof(kernel_table)/sizeof(kernel_table[0])))

#ifdef CVEC_X86_DETECT
/*
** CPU features, read with CPUID only when a kernel is first chosen.  Not
** __builtin_cpu_supports(): it links libgcc's cpuinfo, whose constructor
** runs a dozen CPUID instructions every time the extension is loaded, and
** in a virtual machine each one traps to the hypervisor (it doubled the
** cost of load_extension, measured).  SQLite unloads an extension with each
** connection, so that cost was paid per connection.
**
** XCR0 gives the state components the OS saves and restores on a context
** switch: running AVX code whose registers the OS does not save corrupts
** other threads' state.  XGETBV exists only when CPUID.1:ECX.OSXSAVE (bit
** 27) says the OS enabled XSAVE; without it, report no state at all.
*/
static uint64_t x86_xcr0(void){
  unsigned int a, b, c, d;
  if( !__get_cpuid(1, &a, &b, &c, &d) ) return 0;
  if( (c & (1u<<27))==0 ) return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi<<32) | lo;
}
#define XCR0_AVX     0x06u  /* SSE (1) and upper YMM (2) state */
#define XCR0_AVX512  0xe6u  /* the above, opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7) */

/* CPUID.1:ECX.FMA (bit 12) and .AVX (bit 28), CPUID.7.0:EBX.AVX2 (bit 5)
** and .AVX512F (16). */
static int x86_has_avx_fma(void){
  unsigned int a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u<<12))!=0
      && (c & (1u<<28))!=0;
}
static unsigned int x86_leaf7_ebx(void){
  unsigned int a, b, c, d;
  if( __get_cpuid_max(0, 0) < 7 ) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  (void)a; (void)c; (void)d;
  return b;
}
#endif

/* 1 if this CPU and OS can run kernel table p. */
static int kernel_runs(const cvec_kernels *p){
  if( p==&cvec_kernels_scalar ) return 1;
#ifdef CVEC_X86_DETECT
# ifdef CVEC_HAVE_AVX2
  if( p==&cvec_kernels_avx2 ){
    return (x86_leaf7_ebx() & (1u<<5))!=0 && x86_has_avx_fma()
        && (x86_xcr0() & XCR0_AVX)==XCR0_AVX;
  }
# endif
# ifdef CVEC_HAVE_AVX512
  if( p==&cvec_kernels_avx512 ){
    return (x86_leaf7_ebx() & (1u<<16))!=0
        && (x86_xcr0() & XCR0_AVX512)==XCR0_AVX512;
  }
# endif
#endif
#ifdef CVEC_HAVE_NEON
  /* Advanced SIMD is part of every aarch64 CPU (configure builds the NEON
  ** file only for aarch64). */
  if( p==&cvec_kernels_neon ) return 1;
#endif
  return 0;
}

int cvec_kernels_list(const cvec_kernels **a, int *aAvail, int nMax){
  int n = 0;
  for(int i=0; i<N_KERNEL && n<nMax; i++, n++){
    if( a ) a[n] = kernel_table[i];
    if( aAvail ) aAvail[n] = kernel_runs(kernel_table[i]);
  }
  if( nMax<=0 ) return N_KERNEL;
  return n;
}

const cvec_kernels *cvec_kernels_choose(const char *zForce){
  if( zForce && zForce[0] ){
    for(int i=0; i<N_KERNEL; i++){
      if( strcmp(kernel_table[i]->zName, zForce)==0 && kernel_runs(kernel_table[i]) ){
        return kernel_table[i];
      }
    }
  }
  for(int i=N_KERNEL-1; i>0; i--){
    if( kernel_runs(kernel_table[i]) ) return kernel_table[i];
  }
  return &cvec_kernels_scalar;
}

/*
** Two threads calling this first at once both compute the same answer from
** the same CPU and environment and store the same pointer: a benign race,
** made well-defined by the atomic.
*/
const cvec_kernels *cvec_kernels_best(void){
  static _Atomic(const cvec_kernels *) best = NULL;
  const cvec_kernels *p = atomic_load_explicit(&best, memory_order_acquire);
  if( p==NULL ){
    p = cvec_kernels_choose(getenv("CVEC_KERNEL"));
    atomic_store_explicit(&best, p, memory_order_release);
  }
  return p;
}

/* ---------------------------------------------------------------------------
** Metrics
** ------------------------------------------------------------------------- */

/*
** A float result of a kernel below this may have lost precision to float
** underflow (a product below FLT_MIN keeps fewer bits, one below
** FLT_TRUE_MIN/2 becomes 0).  Each product loses at most 2^-150 that way;
** with n <= 65536 = 2^16 terms that is at most 2^-134 in all, a relative
** 2^-34 of any sum >= 2^-100: negligible beside float rounding.  Smaller
** sums are recomputed in double.
*/
#define TINY 0x1p-100f

/* A non-negative kernel sum that neither overflowed nor may have underflowed
** (false for NaN). */
static int sum_ok(float x){
  return x>=TINY && x<=FLT_MAX;
}

double cvec_distance(const cvec_kernels *k, int metric, const float *q,
                     float qNorm2, const float *v, size_t n){
  switch( metric ){
    case CVEC_METRIC_L2: {
      float s = k->xL2sq(q, v, n);
      /* Identical vectors give s==0 and are recomputed: exactly 0 again. */
      double d = sum_ok(s) ? (double)s : l2sq_d(q, v, n);
      return sqrt(d);
    }
    case CVEC_METRIC_DOT: {
      float s = k->xDot(q, v, n);
      double d = (isfinite(s) && fabsf(s)>=TINY) ? (double)s : dot_d(q, v, n);
      return 0.0 - d;    /* not -d: 0.0 - 0.0 is +0.0 */
    }
    case CVEC_METRIC_COSINE: {
      float fDot = k->xDot(q, v, n);
      float fNorm = k->xNorm2(v, n);
      double dot, qn, vn;
      if( sum_ok(qNorm2) && sum_ok(fNorm) && isfinite(fDot) ){
        dot = fDot; qn = qNorm2; vn = fNorm;
      }else{
        /* Also the way a zero vector goes: norms exactly 0 in double. */
        dot = dot_d(q, v, n); qn = norm2_d(q, n); vn = norm2_d(v, n);
      }
      if( qn==0.0 || vn==0.0 ) return 1.0;
      double d = 1.0 - dot/(sqrt(qn)*sqrt(vn));
      /* Rounding can put |cos| a hair above 1 (parallel vectors). */
      if( d<=0.0 ) return 0.0;
      if( d>2.0 ) return 2.0;
      return d;
    }
    default:
      return NAN;
  }
}
