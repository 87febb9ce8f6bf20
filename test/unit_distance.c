/*
** unit_distance.c — C unit tests of the distance kernels (distance.h) and
** of top-k selection (topk.h): no SQLite, no files.
**
**   1.x  the kernel tables: which are compiled in, which this CPU runs,
**        the choice of cvec_kernels_best() and CVEC_KERNEL
**   2.x  each runnable kernel's primitives against the scalar reference on
**        seeded random data, for dimensions around every SIMD width, at
**        4-byte offsets (vectors in a segment are only float-aligned)
**   3.x  each runnable kernel on edge values (zeros, 1e30, 1e-30, negative,
**        identical vectors) through cvec_distance, against a long double
**        computation
**   4.x  top-k against a full sort
**
** Every test vector sits at the very end of its own allocation, so that a
** kernel reading one float too far is an ASan or valgrind error.  Kernels
** that this machine cannot run are printed as "skipped" lines and count
** neither way.  With CVEC_DISTANCE_TIMING=1 in the environment, prints the
** time per distance at n=128 for each kernel (lines starting with '#').
**
** Prints one line per case and a final "N passed, M failed"; exits 1 on any
** failure.
*/
#define _POSIX_C_SOURCE 200809L
#include "distance.h"
#include "topk.h"
#include "cvec_segment.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int nPass = 0, nFail = 0;

#define CHECK(name, cond) do{                                         \
  if( cond ){ nPass++; printf("%s... Ok\n", name); }                  \
  else{ nFail++; printf("%s... FAILED at line %d: %s\n", name, __LINE__, #cond); } \
}while(0)

/* Details of the first mismatch within a case, printed before its line. */
static char zWhy[512];
#define WHY(...) do{ if( !zWhy[0] ) snprintf(zWhy, sizeof(zWhy), __VA_ARGS__); }while(0)
static void check_why(const char *zName, int ok){
  if( ok ){
    nPass++;
    printf("%s... Ok\n", zName);
  }else{
    nFail++;
    printf("%s... FAILED: %s\n", zName, zWhy[0] ? zWhy : "?");
  }
  zWhy[0] = 0;
}

/* splitmix64: a seeded generator, the same sequence on every platform.
** Each kernel's tests start from the same seed (rng_seed), so that every
** kernel sees the same data whichever others this machine runs. */
#define RNG_SEED 0x5eedcafe12345678ull
static uint64_t rng_state = RNG_SEED;
static void rng_seed(void){ rng_state = RNG_SEED; }
static uint64_t rng(void){
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z>>30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z>>27)) * 0x94d049bb133111ebull;
  return z ^ (z>>31);
}
/* Uniform in [lo, hi). */
static float rnd(float lo, float hi){
  return lo + (hi-lo)*(float)((rng()>>40) * 0x1p-24);
}

/*
** A vector of n floats at the end of an allocation of off+n floats: off
** floats (4 bytes each) past malloc's alignment, nothing after it.
*/
typedef struct tvec { void *pAlloc; float *v; } tvec;
static float *tvec_new(tvec *t, size_t n, size_t off){
  t->pAlloc = malloc((off+n)*sizeof(float) + 1);   /* +1: never malloc(0) */
  if( !t->pAlloc ){ fprintf(stderr, "out of memory\n"); exit(2); }
  t->v = (float*)t->pAlloc + off;
  return t->v;
}
static void tvec_free(tvec *t){ free(t->pAlloc); }

/* Exact-enough references: long double has at least double's range and
** precision, so the float products are exact and the sums far better than
** float rounding. */
static long double ex_l2sq(const float *a, const float *b, size_t n){
  long double s = 0;
  for(size_t i=0; i<n; i++){ long double d = (long double)a[i]-b[i]; s += d*d; }
  return s;
}
static long double ex_dot(const float *a, const float *b, size_t n){
  long double s = 0;
  for(size_t i=0; i<n; i++) s += (long double)a[i]*b[i];
  return s;
}
static long double ex_absdot(const float *a, const float *b, size_t n){
  long double s = 0;
  for(size_t i=0; i<n; i++) s += fabsl((long double)a[i]*b[i]);
  return s;
}

/*
** How far a float kernel may be from the reference.  Summing n terms in
** float, the error is at most gamma_m * sum|t_i| with gamma_m ~ m*u
** (u = FLT_EPSILON/2), m being the longest chain of additions any term goes
** through.  Each SIMD kernel adds into lane accumulators of width W >= 8
** (AVX2 8, AVX-512 16, NEON 4 lanes x 4 accumulators), then a reduction tree
** of <= 6 levels, then a scalar tail of < W terms in the 8-lane case: m <=
** n/8 + 16.  FMA only removes roundings.  So
**     |k - ref| <= (n/8 + 16) * FLT_EPSILON * sum|t_i|
** (twice gamma, also covering the reference's own final rounding to float),
** plus n * FLT_TRUE_MIN for products that fall into float's subnormals,
** where each loses up to half of FLT_TRUE_MIN.  For sums of squares
** sum|t_i| is the result itself: a relative tolerance, 2.5e-5 at n=1536.
*/
static double tol(size_t n){
  return ((double)n/8 + 16) * FLT_EPSILON;
}
static int close_to(double k, double ref, double absSum, size_t n){
  if( isinf(ref) || isinf(k) ) return k==ref;
  return fabs(k-ref) <= tol(n)*absSum + (double)n*FLT_TRUE_MIN;
}

static const size_t aDim[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 128,
                              384, 768, 1000, 1536};
#define N_DIM (sizeof(aDim)/sizeof(aDim[0]))
/* Offsets (in floats) from malloc's 16-byte alignment: 0, 4, 8, 12 bytes
** and one odd one; a and b get different ones. */
static const size_t aOff[][2] = {{0,0}, {1,2}, {3,1}, {2,5}, {7,3}};
#define N_OFF (sizeof(aOff)/sizeof(aOff[0]))

/* 1.x: the tables. */
static const cvec_kernels *aKern[8];
static int aAvail[8];
static int nKern;

static void test_tables(void){
  nKern = cvec_kernels_list(aKern, aAvail, 8);
  CHECK("1.0 scalar listed first and runnable",
        nKern>=1 && aKern[0]==&cvec_kernels_scalar && aAvail[0]==1
        && strcmp(aKern[0]->zName, "scalar")==0);
  CHECK("1.1 count without arrays", cvec_kernels_list(NULL, NULL, 0)==nKern);
  int iLast = 0;
  for(int i=0; i<nKern; i++){
    printf("    kernel %s: %s\n", aKern[i]->zName, aAvail[i] ? "runs here" : "compiled in, not runnable here");
    if( aAvail[i] ) iLast = i;
  }
  CHECK("1.2 the default is the last runnable one",
        cvec_kernels_choose(NULL)==aKern[iLast] && cvec_kernels_choose("")==aKern[iLast]);
  CHECK("1.3 CVEC_KERNEL=scalar", cvec_kernels_choose("scalar")==&cvec_kernels_scalar);
  CHECK("1.4 an unknown name is ignored", cvec_kernels_choose("sse9")==aKern[iLast]);
  int ok = 1;
  for(int i=0; i<nKern; i++){
    const cvec_kernels *p = cvec_kernels_choose(aKern[i]->zName);
    if( p!=(aAvail[i] ? aKern[i] : aKern[iLast]) ) ok = 0;
  }
  CHECK("1.5 each name chooses its kernel if runnable", ok);
  const cvec_kernels *pBest = cvec_kernels_best();
  CHECK("1.6 best() follows CVEC_KERNEL and is stable",
        pBest==cvec_kernels_choose(getenv("CVEC_KERNEL")) && cvec_kernels_best()==pBest);
  printf("    best: %s%s%s\n", pBest->zName,
         getenv("CVEC_KERNEL") ? ", CVEC_KERNEL=" : "",
         getenv("CVEC_KERNEL") ? getenv("CVEC_KERNEL") : "");
}

/* Why kernel zName cannot run here, for the "skipped" line. */
static const char *skip_reason(const char *zName){
  if( strcmp(zName, "avx2")==0 ) return "this CPU or OS lacks avx2+fma";
  if( strcmp(zName, "avx512")==0 ) return "this CPU or OS lacks avx512f";
  return "this CPU cannot run it";
}

/* Kernel i's table, or NULL after printing the "skipped" line for case
** zCase.  Also lists the kernels of other architectures as skipped. */
static const cvec_kernels *runnable(int i, const char *zCase){
  if( aAvail[i] ) return aKern[i];
  printf("%s %s... skipped: %s\n", zCase, aKern[i]->zName, skip_reason(aKern[i]->zName));
  return NULL;
}
static void skip_absent(const char *zSection){
  static const char *azAll[] = {"avx2", "avx512", "neon"};
  for(size_t j=0; j<sizeof(azAll)/sizeof(azAll[0]); j++){
    int found = 0;
    for(int i=0; i<nKern; i++) found |= strcmp(aKern[i]->zName, azAll[j])==0;
    if( !found ){
      printf("%s %s... skipped: not built for this architecture or compiler\n",
             zSection, azAll[j]);
    }
  }
}

/* 2.x: random data, every runnable kernel against scalar (and scalar
** against long double). */
static void test_random(void){
  char zName[128];
  for(int ik=0; ik<nKern; ik++){
    snprintf(zName, sizeof(zName), "2.%d", ik);
    const cvec_kernels *k = runnable(ik, zName);
    if( !k ) continue;
    const cvec_kernels *r = &cvec_kernels_scalar;
    int ok = 1;
    rng_seed();
    for(size_t id=0; id<N_DIM; id++){
      size_t n = aDim[id];
      for(size_t io=0; io<N_OFF; io++){
        for(int scale=0; scale<3; scale++){
          tvec ta, tb;
          float *a = tvec_new(&ta, n, aOff[io][0]);
          float *b = tvec_new(&tb, n, aOff[io][1]);
          /* [-1,1); all negative and large; mixed magnitudes */
          for(size_t i=0; i<n; i++){
            if( scale==0 ){ a[i] = rnd(-1, 1); b[i] = rnd(-1, 1); }
            else if( scale==1 ){ a[i] = rnd(-1000, -1); b[i] = rnd(-1000, -1); }
            else{ a[i] = rnd(-1, 1)*ldexpf(1, (int)(rng()%40)-20);
                  b[i] = rnd(-1, 1)*ldexpf(1, (int)(rng()%40)-20); }
          }
          double l2 = r->xL2sq(a, b, n), dot = r->xDot(a, b, n), nrm = r->xNorm2(a, n);
          double absDot = (double)ex_absdot(a, b, n);
          /* the reference itself: one rounding from exact */
          if( k==r ){
            long double e1 = ex_l2sq(a, b, n), e2 = ex_dot(a, b, n), e3 = ex_dot(a, a, n);
            if( fabsl(l2-e1) > FLT_EPSILON*e1 || fabsl(dot-e2) > FLT_EPSILON*fabsl(e2) + 1e-12*absDot
                || fabsl(nrm-e3) > FLT_EPSILON*e3 ){
              WHY("scalar vs long double, n=%zu scale %d: %g/%Lg %g/%Lg %g/%Lg",
                  n, scale, l2, e1, dot, e2, nrm, e3);
              ok = 0;
            }
          }
          float kl2 = k->xL2sq(a, b, n), kdot = k->xDot(a, b, n), knrm = k->xNorm2(a, n);
          if( !close_to(kl2, l2, l2, n) ){
            WHY("l2sq n=%zu off %zu/%zu scale %d: %.9g, scalar %.9g", n,
                aOff[io][0], aOff[io][1], scale, kl2, l2);
            ok = 0;
          }
          if( !close_to(kdot, dot, absDot, n) ){
            WHY("dot n=%zu off %zu/%zu scale %d: %.9g, scalar %.9g", n,
                aOff[io][0], aOff[io][1], scale, kdot, dot);
            ok = 0;
          }
          if( !close_to(knrm, nrm, nrm, n) ){
            WHY("norm2 n=%zu off %zu scale %d: %.9g, scalar %.9g", n,
                aOff[io][0], scale, knrm, nrm);
            ok = 0;
          }
          /* the metrics, same kernel against scalar (see tol()): L2 halves
          ** the relative error of its sum; cosine's dot error is at most
          ** tol times |a||b| (Cauchy-Schwarz) and each norm adds tol/2 */
          float qk = k->xNorm2(a, n), qr = r->xNorm2(a, n);
          double dk, dr;
          dk = cvec_distance(k, CVEC_METRIC_L2, a, qk, b, n);
          dr = cvec_distance(r, CVEC_METRIC_L2, a, qr, b, n);
          if( !(fabs(dk-dr) <= tol(n)*dr + 1e-30) ){
            WHY("L2 distance n=%zu: %.9g, scalar %.9g", n, dk, dr); ok = 0;
          }
          dk = cvec_distance(k, CVEC_METRIC_DOT, a, qk, b, n);
          dr = cvec_distance(r, CVEC_METRIC_DOT, a, qr, b, n);
          if( !(fabs(dk-dr) <= tol(n)*absDot + 1e-30) ){
            WHY("dot distance n=%zu: %.9g, scalar %.9g", n, dk, dr); ok = 0;
          }
          dk = cvec_distance(k, CVEC_METRIC_COSINE, a, qk, b, n);
          dr = cvec_distance(r, CVEC_METRIC_COSINE, a, qr, b, n);
          if( !(fabs(dk-dr) <= 3*tol(n) && dk>=0 && dk<=2) ){
            WHY("cosine distance n=%zu: %.9g, scalar %.9g", n, dk, dr); ok = 0;
          }
          tvec_free(&ta);
          tvec_free(&tb);
        }
      }
    }
    snprintf(zName, sizeof(zName), "2.%d %s: random data, %zu sizes x %zu offsets x 3 scales",
             ik, k->zName, (size_t)N_DIM, (size_t)N_OFF);
    check_why(zName, ok);
  }
  skip_absent("2.x");
}

/* Relative closeness of a distance to an exact value. */
static int rel_ok(double d, long double e, double rel){
  if( e==0 ) return d==0 && !signbit(d);
  return isfinite(d) && fabsl(d-e) <= rel*fabsl(e);
}

/* 3.x: edge values through cvec_distance: exact answers for every kernel. */
static void edge_case(const cvec_kernels *k, const char *zWhat, const float *a,
                      const float *b, size_t n, int *pOk){
  float qn = k->xNorm2(a, n);
  long double e2 = ex_l2sq(a, b, n), ed = ex_dot(a, b, n);
  long double na = ex_dot(a, a, n), nb = ex_dot(b, b, n);
  double d;
  /* the double fallback, or a float sum that neither overflowed nor
  ** underflowed: within tol() of the exact value (see there) */
  double rel = tol(n);
  d = cvec_distance(k, CVEC_METRIC_L2, a, qn, b, n);
  if( !rel_ok(d, sqrtl(e2), rel) ){
    WHY("%s n=%zu: L2 %.9g, exact %.9Lg", zWhat, n, d, sqrtl(e2)); *pOk = 0;
  }
  d = cvec_distance(k, CVEC_METRIC_DOT, a, qn, b, n);
  /* a dot product is only as exact as its largest terms (cancellation):
  ** tol() relative to sum|a_i b_i|, as in 2.x */
  long double eAbs = ex_absdot(a, b, n);
  if( ed==0 ? (d!=0 || signbit(d))
            : !(isfinite(d) && fabsl(d+ed) <= rel*eAbs + (double)n*FLT_TRUE_MIN) ){
    WHY("%s n=%zu: dot %.9g, exact %.9Lg", zWhat, n, d, -ed); *pOk = 0;
  }
  d = cvec_distance(k, CVEC_METRIC_COSINE, a, qn, b, n);
  long double ec = (na==0 || nb==0) ? 1.0L : 1.0L - ed/(sqrtl(na)*sqrtl(nb));
  if( ec<0 ) ec = 0;
  if( !(fabsl(d-ec) <= 3*rel) || d<0 || d>2 ){
    WHY("%s n=%zu: cosine %.9g, exact %.9Lg", zWhat, n, d, ec); *pOk = 0;
  }
}

/* One category of edge values (0 zeros, 1 identical, 2 huge, 3 tiny,
** 4 mixed) for kernel k over every dimension; 1 if all is well. */
static int edge_category(const cvec_kernels *k, int cat){
  int ok = 1;
  for(size_t id=0; id<N_DIM; id++){
    size_t n = aDim[id];
    tvec ta, tb, tz;
    float *a = tvec_new(&ta, n, 1);
    float *b = tvec_new(&tb, n, 3);
    float *z = tvec_new(&tz, n, 2);
    for(size_t i=0; i<n; i++) z[i] = 0;
    double d0, d1, d2, d3, d4;
    switch( cat ){
      case 0:
        /* zeros: every primitive exactly 0; cosine with a zero vector 1.0 */
        for(size_t i=0; i<n; i++) a[i] = rnd(-1, 1);
        if( k->xL2sq(z, z, n)!=0 || k->xDot(z, a, n)!=0 || k->xNorm2(z, n)!=0 ){
          WHY("zero vector n=%zu: primitives not 0", n); ok = 0;
        }
        d0 = cvec_distance(k, CVEC_METRIC_L2, z, 0, z, n);
        d1 = cvec_distance(k, CVEC_METRIC_DOT, z, 0, a, n);
        d2 = cvec_distance(k, CVEC_METRIC_COSINE, z, 0, a, n);
        d3 = cvec_distance(k, CVEC_METRIC_COSINE, a, k->xNorm2(a, n), z, n);
        d4 = cvec_distance(k, CVEC_METRIC_COSINE, z, 0, z, n);
        if( d0!=0 || signbit(d0) || d1!=0 || signbit(d1) || d2!=1.0 || d3!=1.0 || d4!=1.0 ){
          WHY("zero vector n=%zu: L2 %g dot %g cosine %g %g %g", n, d0, d1, d2, d3, d4);
          ok = 0;
        }
        break;
      case 1: {
        /* identical vectors: L2 exactly 0 (each difference is exactly 0),
        ** cosine 0 to rounding, dot = -|a|^2 */
        for(size_t i=0; i<n; i++){ a[i] = rnd(-100, 100); b[i] = a[i]; }
        float qn = k->xNorm2(a, n);
        d0 = cvec_distance(k, CVEC_METRIC_L2, a, qn, b, n);
        d2 = cvec_distance(k, CVEC_METRIC_COSINE, a, qn, b, n);
        if( k->xL2sq(a, b, n)!=0 || d0!=0 || signbit(d0) || !(d2>=0 && d2<=3*tol(n)) ){
          WHY("identical n=%zu: l2sq %g L2 %g cosine %g", n, k->xL2sq(a, b, n), d0, d2);
          ok = 0;
        }
        edge_case(k, "identical", a, b, n, &ok);
        break;
      }
      case 2:
        /* huge: float sums of squares overflow (1e60 > FLT_MAX), the
        ** distances must not */
        for(size_t i=0; i<n; i++){
          a[i] = (rng()&1 ? 1e30f : -1e30f) * rnd(0.5f, 1);
          b[i] = (rng()&1 ? 1e30f : -1e30f) * rnd(0.5f, 1);
        }
        if( !isinf(k->xNorm2(a, n)) ){
          /* else the case would not test the fallback */
          WHY("huge n=%zu: norm2 did not overflow (%g)", n, k->xNorm2(a, n)); ok = 0;
        }
        edge_case(k, "huge", a, b, n, &ok);
        for(size_t i=0; i<n; i++) b[i] = a[i]*0.5f;   /* parallel: cosine 0 */
        edge_case(k, "huge parallel", a, b, n, &ok);
        break;
      case 3:
        /* tiny: float products underflow to 0 (1e-60 < FLT_TRUE_MIN); the
        ** distances must not collapse to 0 (or cosine to 1) */
        for(size_t i=0; i<n; i++){
          a[i] = (rng()&1 ? 1e-30f : -1e-30f) * rnd(0.5f, 1);
          b[i] = (rng()&1 ? 1e-30f : -1e-30f) * rnd(0.5f, 1);
        }
        edge_case(k, "tiny", a, b, n, &ok);
        for(size_t i=0; i<n; i++) b[i] = a[i]*2;
        edge_case(k, "tiny parallel", a, b, n, &ok);
        d2 = cvec_distance(k, CVEC_METRIC_COSINE, a, k->xNorm2(a, n), b, n);
        if( !(d2>=0 && d2<1e-6) ){
          WHY("tiny parallel n=%zu: cosine %g, not ~0", n, d2); ok = 0;
        }
        break;
      default:
        /* huge against tiny, and negative against positive */
        for(size_t i=0; i<n; i++){
          a[i] = (rng()&1 ? 1e30f : -1e30f) * rnd(0.5f, 1);
          b[i] = (rng()&1 ? 1e-30f : -1e-30f) * rnd(0.5f, 1);
        }
        edge_case(k, "huge vs tiny", a, b, n, &ok);
        for(size_t i=0; i<n; i++){ a[i] = -rnd(1, 1e6f); b[i] = rnd(1, 1e6f); }
        edge_case(k, "negative vs positive", a, b, n, &ok);
        for(size_t i=0; i<n; i++){ a[i] = -rnd(1, 1e6f); b[i] = -a[i]; }
        edge_case(k, "opposite", a, b, n, &ok);
        d2 = cvec_distance(k, CVEC_METRIC_COSINE, a, k->xNorm2(a, n), b, n);
        if( !(d2>2-1e-6 && d2<=2) ){
          WHY("opposite n=%zu: cosine %.9g, not ~2", n, d2); ok = 0;
        }
        break;
    }
    tvec_free(&ta); tvec_free(&tb); tvec_free(&tz);
  }
  return ok;
}

static void test_edges(void){
  static const char *azCat[] = {
    "zero vectors (cosine 1.0)",
    "identical vectors (L2 exactly 0)",
    "1e30 values (float overflow)",
    "1e-30 values (float underflow)",
    "mixed magnitudes and signs",
  };
  char zName[160];
  for(int ik=0; ik<nKern; ik++){
    snprintf(zName, sizeof(zName), "3.%d", ik);
    const cvec_kernels *k = runnable(ik, zName);
    if( !k ) continue;
    rng_seed();
    for(int cat=0; cat<5; cat++){
      int ok = edge_category(k, cat);
      snprintf(zName, sizeof(zName), "3.%d.%d %s: %s", ik, cat, k->zName, azCat[cat]);
      check_why(zName, ok);
    }
  }
  skip_absent("3.x");
  {
    float a[2] = {1, 2};
    double d = cvec_distance(&cvec_kernels_scalar, 99, a, 5, a, 2);
    CHECK("3.9 unknown metric gives NaN", isnan(d));
    CHECK("3.10 n=0", cvec_distance(&cvec_kernels_scalar, CVEC_METRIC_L2, a, 0, a, 0)==0
          && cvec_distance(&cvec_kernels_scalar, CVEC_METRIC_DOT, a, 0, a, 0)==0
          && cvec_distance(&cvec_kernels_scalar, CVEC_METRIC_COSINE, a, 0, a, 0)==1.0);
  }
}

/* ---------------------------------------------------------------------------
** 4.x: top-k
** ------------------------------------------------------------------------- */

/* The order of topk.h, written independently: NaN last, then id, rec. */
static int cmp_entry(const void *pa, const void *pb){
  const cvec_topk_entry *x = pa, *y = pb;
  int xn = isnan(x->dist), yn = isnan(y->dist);
  if( xn!=yn ) return xn ? 1 : -1;
  if( !xn ){
    if( x->dist < y->dist ) return -1;
    if( x->dist > y->dist ) return 1;
  }
  if( x->id!=y->id ) return x->id < y->id ? -1 : 1;
  if( x->rec!=y->rec ) return x->rec < y->rec ? -1 : 1;
  return 0;
}

/* Push c[0..n) into a top-k of k, with or without the threshold's early
** rejection; compare with the first k of the sorted copy s. */
static int topk_matches(const cvec_topk_entry *c, const cvec_topk_entry *s,
                        uint32_t n, uint32_t k, int bEarly){
  cvec_topk t;
  if( cvec_topk_init(&t, k) ){ WHY("init k=%u: nomem", k); return 0; }
  for(uint32_t i=0; i<n; i++){
    if( bEarly && c[i].dist > cvec_topk_threshold(&t) ) continue;
    if( cvec_topk_push(&t, c[i].dist, c[i].id, c[i].rec) ){
      WHY("push: nomem"); cvec_topk_free(&t); return 0;
    }
  }
  uint32_t nWant = k<n ? k : n;
  int ok = t.n==nWant;
  if( !ok ) WHY("k=%u n=%u: kept %u, want %u", k, n, t.n, nWant);
  if( ok && k<=n && n>0 && k>0 ){
    /* full: the threshold is the worst kept distance */
    double th = cvec_topk_threshold(&t);
    if( !(th==s[k-1].dist || (isnan(th) && isnan(s[k-1].dist))) ){
      WHY("k=%u: threshold %g, want %g", k, th, s[k-1].dist); ok = 0;
    }
  }
  cvec_topk_finish(&t);
  for(uint32_t i=0; ok && i<nWant; i++){
    if( cmp_entry(&t.a[i], &s[i])!=0 ){
      WHY("k=%u n=%u early=%d: position %u is (%g,%u,%u), want (%g,%u,%u)",
          k, n, bEarly, i, t.a[i].dist, t.a[i].id, t.a[i].rec,
          s[i].dist, s[i].id, s[i].rec);
      ok = 0;
    }
  }
  if( ok && cvec_topk_push(&t, 0, 1, 1)!=CVEC_ERROR ){
    WHY("push after finish accepted"); ok = 0;
  }
  cvec_topk_free(&t);
  return ok;
}

static void test_topk(void){
  enum { N = 2000 };
  cvec_topk_entry *c = malloc(N*sizeof(*c)), *s = malloc(N*sizeof(*s));
  if( !c || !s ){ fprintf(stderr, "out of memory\n"); exit(2); }
  char zName[128];
  rng_seed();

  /* distances from 20 values: about 100 ties each, broken by id; ids a
  ** shuffled 1..N (unique, as in a segment) */
  for(uint32_t i=0; i<N; i++){
    c[i].dist = (double)(rng()%20) * 0.25 - 1.0;
    c[i].id = i+1;
    c[i].rec = i;
  }
  for(uint32_t i=N-1; i>0; i--){
    uint32_t j = (uint32_t)(rng()%(i+1));
    uint32_t x = c[i].id; c[i].id = c[j].id; c[j].id = x;
  }
  memcpy(s, c, N*sizeof(*s));
  qsort(s, N, sizeof(*s), cmp_entry);
  static const uint32_t aK[] = {1, 10, N, N+5};
  for(size_t j=0; j<sizeof(aK)/sizeof(aK[0]); j++){
    int ok = topk_matches(c, s, N, aK[j], 0) && topk_matches(c, s, N, aK[j], 1);
    snprintf(zName, sizeof(zName), "4.%zu k=%u of %u with many ties (plain, early rejection)",
             j, aK[j], (unsigned)N);
    check_why(zName, ok);
  }

  /* k = 0, and an empty stream */
  {
    cvec_topk t;
    int ok = cvec_topk_init(&t, 0)==CVEC_OK
          && cvec_topk_threshold(&t)==-INFINITY
          && cvec_topk_push(&t, 1.0, 1, 0)==CVEC_OK && t.n==0;
    cvec_topk_finish(&t);
    ok = ok && t.n==0;
    cvec_topk_free(&t);
    ok = ok && cvec_topk_init(&t, 5)==CVEC_OK && cvec_topk_threshold(&t)==INFINITY;
    cvec_topk_finish(&t);
    ok = ok && t.n==0;
    cvec_topk_free(&t);
    CHECK("4.4 k=0 keeps nothing; no candidates gives nothing", ok);
  }

  /* NaN, infinities and signed zeros: NaN last, -0.0 equal to +0.0 */
  {
    static const double aD[] = {NAN, 0.0, -0.0, INFINITY, -INFINITY, 1.0, NAN, 0.0};
    uint32_t n = (uint32_t)(sizeof(aD)/sizeof(aD[0]));
    for(uint32_t i=0; i<n; i++){ c[i].dist = aD[i]; c[i].id = n-i; c[i].rec = i; }
    memcpy(s, c, n*sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_entry);
    int ok = 1;
    for(uint32_t k=1; k<=n+1; k++) ok = ok && topk_matches(c, s, n, k, 0);
    ok = ok && isinf(s[0].dist) && s[0].dist<0 && isnan(s[n-1].dist);
    check_why("4.5 NaN, infinities, signed zeros", ok);
  }

  /* large k, random real distances, ids equal so rec decides */
  {
    enum { M = 20000 };
    cvec_topk_entry *c2 = malloc(M*sizeof(*c2)), *s2 = malloc(M*sizeof(*s2));
    if( !c2 || !s2 ){ fprintf(stderr, "out of memory\n"); exit(2); }
    for(uint32_t i=0; i<M; i++){
      c2[i].dist = rnd(0, 1);
      c2[i].id = (uint32_t)(rng()%5000) + 1;
      c2[i].rec = i;
    }
    memcpy(s2, c2, M*sizeof(*s2));
    qsort(s2, M, sizeof(*s2), cmp_entry);
    int ok = topk_matches(c2, s2, M, 4096, 0) && topk_matches(c2, s2, M, 4096, 1)
          && topk_matches(c2, s2, M, 100000, 1);
    check_why("4.6 k=4096 and k=100000 of 20000", ok);
    free(c2); free(s2);
  }

  /* a huge k allocates only what is kept */
  {
    cvec_topk t;
    int ok = cvec_topk_init(&t, UINT32_MAX)==CVEC_OK && t.nAlloc<=1024;
    for(uint32_t i=0; ok && i<3000; i++) ok = cvec_topk_push(&t, (double)(i%7), i+1, i)==CVEC_OK;
    ok = ok && t.n==3000 && t.nAlloc<6000;
    cvec_topk_finish(&t);
    for(uint32_t i=1; ok && i<t.n; i++) ok = cmp_entry(&t.a[i-1], &t.a[i])<0;
    cvec_topk_free(&t);
    CHECK("4.7 k=UINT32_MAX grows on demand", ok);
  }
  free(c);
  free(s);
}

/* Optional: ns per distance at n=128 for each runnable kernel. */
static double now_ns(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec*1e9 + (double)ts.tv_nsec;
}
static void timing(void){
  enum { DIM = 128, NV = 4096, REPS = 200 };
  float *q = malloc(DIM*sizeof(float)), *v = malloc((size_t)NV*(DIM+1)*sizeof(float));
  if( !q || !v ){ free(q); free(v); return; }
  for(int i=0; i<DIM; i++) q[i] = rnd(-1, 1);
  for(size_t i=0; i<(size_t)NV*(DIM+1); i++) v[i] = rnd(-1, 1);
  static const char *azMetric[] = {"l2", "cosine", "dot"};
  for(int ik=0; ik<nKern; ik++){
    if( !aAvail[ik] ) continue;
    const cvec_kernels *k = aKern[ik];
    float qn = k->xNorm2(q, DIM);
    for(int m=0; m<3; m++){
      volatile double sink = 0;
      double t0 = now_ns();
      for(int r=0; r<REPS; r++){
        /* records of 1+DIM floats, as in a segment: 4-byte aligned only */
        for(int i=0; i<NV; i++){
          sink += cvec_distance(k, m, q, qn, v + (size_t)i*(DIM+1) + 1, DIM);
        }
      }
      double t1 = now_ns();
      printf("# timing %s %s n=%d: %.1f ns per distance\n", k->zName, azMetric[m],
             DIM, (t1-t0)/((double)REPS*NV));
      (void)sink;
    }
  }
  free(q); free(v);
}

int main(void){
  test_tables();
  test_random();
  test_edges();
  test_topk();
  if( getenv("CVEC_DISTANCE_TIMING") ) timing();
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
