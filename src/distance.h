/*
** distance.h — distance kernels for exact nearest-neighbour search (SPEC §6).
**
** Two layers:
**
**   cvec_kernels    three primitive reductions over float vectors (sum of
**                   squared differences, dot product, squared norm), in one
**                   table per instruction set: "scalar" (plain C, the
**                   reference), "avx2" (AVX2+FMA), "avx512" (AVX-512F),
**                   "neon" (aarch64).  The SIMD tables live in their own
**                   files (distance_avx2.c, distance_avx512.c,
**                   distance_neon.c), each compiled with its own instruction
**                   set flags only, so that the rest of the library runs on
**                   any CPU of its architecture; distance.c picks one at run
**                   time from what the CPU (and the OS) supports.
**
**   cvec_distance   one metric (L2, cosine, dot) from those primitives.  It
**                   watches for float overflow and underflow in a kernel's
**                   result and then recomputes in double, so that for finite
**                   inputs the distance is always finite and accurate, even
**                   for vectors of 1e30 or 1e-30 values.
**
** VECTORS.  The kernels read native floats through `const float *`.  The
** pointers need only 4-byte (float) alignment: vectors sit at offsets
** 16 + i*(4+4*D) + 4 of a mapped segment file, so every SIMD load is an
** unaligned one.  The file stores little-endian floats; on a little-endian
** host (x86-64, aarch64 as Linux runs it: every host with a SIMD kernel) the
** mapped bytes are native floats and can be passed as they are.  A
** big-endian host must convert a vector (cvec_get_f32le) into a native buffer
** first; the kernels themselves are correct on any host for native floats.
**
** NaN and infinity never reach the kernels from a segment (inserts refuse
** them); for such inputs the result is whatever IEEE arithmetic gives.
**
** THREADS.  Kernel tables are constant.  cvec_kernels_best() chooses once
** and caches the choice with an atomic pointer: any thread may call it at any
** time.  Every function here is reentrant.
**
** ENVIRONMENT.  CVEC_KERNEL=scalar|avx2|avx512|neon, read on the first call of
** cvec_kernels_best(), forces that kernel if it is compiled in and this CPU
** can run it; otherwise (unknown name, not compiled in, CPU lacks it) it is
** ignored and the best available kernel is used.  For tests and benchmarks.
*/
#ifndef CVEC_DISTANCE_H
#define CVEC_DISTANCE_H

#include <stddef.h>

#define CVEC_METRIC_L2     0  /* Euclidean: sqrt(sum (a-b)^2), as sqlite-vec's
                              ** vec_distance_l2 */
#define CVEC_METRIC_COSINE 1  /* 1 - dot(a,b)/(|a||b|), clamped to [0, 2];
                              ** a zero vector (either side) gives 1.0, i.e.
                              ** similarity 0: it is no nearer to anything
                              ** than an orthogonal vector */
#define CVEC_METRIC_DOT    2  /* -dot(a,b): smaller is nearer */

typedef struct cvec_kernels {
  const char *zName;   /* "scalar", "avx2", "avx512", "neon" */
  float (*xL2sq)(const float *a, const float *b, size_t n);   /* sum (a-b)^2 */
  float (*xDot)(const float *a, const float *b, size_t n);    /* sum a*b */
  float (*xNorm2)(const float *a, size_t n);                  /* sum a^2 */
} cvec_kernels;

/*
** The kernel table to use: the widest instruction set compiled in that this
** CPU and OS support (avx512 > avx2 > scalar on x86-64; neon > scalar on
** aarch64), unless CVEC_KERNEL forces another.  Chosen on the first call,
** then constant.  Never NULL.
*/
const cvec_kernels *cvec_kernels_best(void);

/*
** The choice cvec_kernels_best() makes when CVEC_KERNEL has the value zForce
** (NULL: unset).  Not cached; for tests.
*/
const cvec_kernels *cvec_kernels_choose(const char *zForce);

/*
** Every kernel table compiled in, scalar first: a[i] for i < return value
** (at most nMax), aAvail[i] = 1 if this CPU and OS can run it, else 0.
** Either array may be NULL when nMax is 0 (to count them).  Returns the
** number stored.
*/
int cvec_kernels_list(const cvec_kernels **a, int *aAvail, int nMax);

/*
** Distance of v from q under metric (CVEC_METRIC_*), both of n floats (n may
** be 0: L2 and dot give 0, cosine 1).  qNorm2 is k->xNorm2(q, n), computed
** once per query by the caller (only cosine uses it; pass anything for the
** others).  An unknown metric gives NaN.
**
** For finite inputs the result is finite and within a few float roundings of
** the exact value: a kernel result that overflowed, or that is so small that
** float underflow may have eaten its precision, is recomputed in double
** (rare: only for near-duplicate vectors, orthogonal ones under dot, or
** extreme magnitudes).  A zero distance is +0.0, never -0.0.
*/
double cvec_distance(const cvec_kernels *k, int metric, const float *q,
                     float qNorm2, const float *v, size_t n);

/*
** The kernel tables themselves (for distance.c; callers use the functions
** above).  Defined only where the matching file is compiled in.
*/
extern const cvec_kernels cvec_kernels_scalar;
extern const cvec_kernels cvec_kernels_avx2;
extern const cvec_kernels cvec_kernels_avx512;
extern const cvec_kernels cvec_kernels_neon;

#endif /* CVEC_DISTANCE_H */
