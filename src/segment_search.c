/*
** segment_search.c — exact k-nearest-neighbour search over one segment
** (SPEC §6): every visible record of a snapshot, or only the records of a
** pre-filter, is compared with the query by a distance kernel
** (distance.h), and a bounded heap (topk.h) keeps the k best.
**
** The scan reads the committed records straight from the map, in file
** order, one record after the next: the access pattern the hardware
** prefetcher follows best, so a large segment is read at memory speed.
** Pending records of the handle's own transaction (in the append buffer or
** past the count) come after, through cvec_seg_record().
**
** Distances are those of cvec_distance(), the same numbers the SQL
** functions cvec_distance_*() give for the same two vectors.  A large
** segment is scanned by two threads (see TWO THREADS below).
*/
#define _POSIX_C_SOURCE 200809L   /* sysconf, pthreads */
#include "segment_int.h"
#include "distance.h"
#include "topk.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Records between two polls of the interrupt callback. */
#define POLL_EVERY 16384

/*
** The floats of the record at r (4 + 4*dim bytes) as native floats: the
** record itself on a little-endian host (the file's byte order; records
** sit at 4-byte offsets, the alignment a float needs), else converted
** into aTmp.
*/
static const float *record_floats(const unsigned char *r, uint32_t dim, float *aTmp){
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__==__ORDER_LITTLE_ENDIAN__
  (void)dim; (void)aTmp;
  return (const float*)(const void*)(r+4);
#else
  for(uint32_t j=0; j<dim; j++) aTmp[j] = cvec_get_f32le(r+4+4*(size_t)j);
  return aTmp;
#endif
}

/* Below this a float sum may have lost precision to underflow, and
** cvec_distance() recomputes it in double (distance.c's TINY). */
#define SUM_TINY 0x1p-100f

/*
** The distance of record floats v from the query, as cvec_distance() gives
** it, or +INFINITY if it is certainly above thr (so that the caller drops
** it).  For L2 the common case costs the kernel's sum of squares and one
** compare with thr squared; the square root is taken only for records that
** may enter the k nearest.  Where the float sum is not plainly usable
** (overflow, underflow) cvec_distance() decides, as it would anyway.
*/
static double distance_below(const cvec_kernels *K, int metric, const float *q,
                             float qNorm2, const float *v, uint32_t dim,
                             double thrSq){
  if( metric==CVEC_METRIC_L2 ){
    float s = K->xL2sq(q, v, dim);
    if( s>=SUM_TINY && s<=FLT_MAX ){
      if( (double)s > thrSq ) return INFINITY;
      return sqrt((double)s);          /* = cvec_distance() in this case */
    }
  }
  return cvec_distance(K, metric, q, qNorm2, v, dim);
}

/* thr squared, with a margin so that rounding never drops a record whose
** distance rounds to thr itself (it may still win a tie by its id). */
static double threshold_sq(double thr){
  if( !(thr < INFINITY) ) return INFINITY;
  if( thr < 0 ) return -1.0;
  return thr*thr*(1.0 + 1e-9);
}

/*
** TWO THREADS.  A large segment with nothing to skip (no id-0 or repeated
** records) is scanned by two threads, each over half of the committed
** records with its own heap, merged at the end: one core alone does not
** reach the memory's bandwidth.  The worker reads only what no one changes
** during the search: the committed part of the map (immutable), the query
** and the kernel table; it reports only a code, and the calling thread sets
** messages.  It is off unless CVEC_THREADS=2 (or more) is in the
** environment and the machine has two CPUs online: an extension should not
** start threads in its host unasked, and on the machines measured the gain
** was modest (README).  Segments of less than 64 MiB of records are not
** worth a thread (CVEC_THREAD_MIN=bytes changes that, for tests).  Both are
** read at the first search of the process.
*/
#define PAR_MIN_BYTES (64u<<20)

typedef struct scan_job {
  const cvec_knn_query *a;
  const cvec_kernels *K;
  float qNorm2;
  uint32_t dim;
  size_t recsize;
  const unsigned char *base;   /* record 'from', in the map */
  uint32_t from, to;           /* records [from, to): mapped and visible */
  cvec_topk *pT;               /* the heap the job fills */
  int rc;                      /* CVEC_OK, CVEC_NOMEM or CVEC_INTERRUPT */
} scan_job;

/* A job over records [from, to) of the map, into *pT. */
static void scan_job_init(scan_job *j, cvec_seg *p, const cvec_knn_query *a,
                          const cvec_kernels *K, float qNorm2, uint32_t from,
                          uint32_t to, cvec_topk *pT){
  j->a = a;
  j->K = K;
  j->qNorm2 = qNorm2;
  j->dim = p->dim;
  j->recsize = p->recsize;
  j->from = from;
  j->to = to;
  j->base = cvec_seg_record(p, 0) + (size_t)from*p->recsize;
  j->pT = pT;
  j->rc = CVEC_OK;
}

/* The hot loop of a scan over committed records that are all visible. */
static void scan_mapped(scan_job *j){
  double thr = cvec_topk_threshold(j->pT);   /* kept in step with *pT */
  double thrSq = threshold_sq(thr);
  const unsigned char *r = j->base;
  uint32_t nPoll = POLL_EVERY;
  j->rc = CVEC_OK;
  for(uint32_t i=j->from; i<j->to; i++, r+=j->recsize){
    if( --nPoll==0 ){
      nPoll = POLL_EVERY;
      if( j->a->xInterrupted && j->a->xInterrupted(j->a->pArg) ){
        j->rc = CVEC_INTERRUPT;
        return;
      }
    }
    double d = distance_below(j->K, j->a->metric, j->a->q, j->qNorm2,
                              (const float*)(const void*)(r+4), j->dim, thrSq);
    if( !(d > thr) ){
      if( cvec_topk_push(j->pT, d, cvec_get_u32le(r), i) ){
        j->rc = CVEC_NOMEM;
        return;
      }
      thr = cvec_topk_threshold(j->pT);
      thrSq = threshold_sq(thr);
    }
  }
}

static void *scan_thread(void *pArg){
  scan_job *j = pArg;
  scan_mapped(j);
  return 0;
}

/*
** 1 if a scan of nBytes of records may use two threads: CVEC_THREADS is 2
** or more, two CPUs are online, and nBytes reaches CVEC_THREAD_MIN (else
** PAR_MIN_BYTES).  Read once; every thread computes the same values, and
** the atomics make the race between first callers harmless.
*/
static int use_threads(uint64_t nBytes){
  static int nThread = 0;          /* 0: not read yet */
  static uint64_t minBytes = 0;
  int v = __atomic_load_n(&nThread, __ATOMIC_ACQUIRE);
  if( v==0 ){
    const char *z = getenv("CVEC_THREADS");
    long c = z && z[0] ? strtol(z, 0, 10) : 1;
    if( c>=2 && sysconf(_SC_NPROCESSORS_ONLN)<2 ) c = 1;
    z = getenv("CVEC_THREAD_MIN");
    uint64_t m = z && z[0] ? strtoull(z, 0, 10) : PAR_MIN_BYTES;
    __atomic_store_n(&minBytes, m, __ATOMIC_RELAXED);
    v = c>=2 ? 2 : 1;
    __atomic_store_n(&nThread, v, __ATOMIC_RELEASE);
  }
  return v>1 && nBytes >= __atomic_load_n(&minBytes, __ATOMIC_RELAXED);
}

/*
** Scan the committed records [0, nMapped) with two threads into pOut (the
** merged heap).  Returns -1 if it did not run (no thread to be had: the
** caller scans alone), else a CVEC code.
*/
static int scan_parallel(cvec_seg *p, const cvec_knn_query *a,
                         const cvec_kernels *K, float qNorm2, uint32_t nMapped,
                         cvec_topk *pOut){
  scan_job j[2];
  cvec_topk t[2];
  uint32_t half = nMapped/2;
  if( cvec_topk_init(&t[0], a->k) ) return CVEC_NOMEM;
  if( cvec_topk_init(&t[1], a->k) ){
    cvec_topk_free(&t[0]);
    return CVEC_NOMEM;
  }
  scan_job_init(&j[0], p, a, K, qNorm2, 0, half, &t[0]);
  scan_job_init(&j[1], p, a, K, qNorm2, half, nMapped, &t[1]);
  pthread_t th;
  int rc = -1;
  if( pthread_create(&th, 0, scan_thread, &j[0])==0 ){
    scan_mapped(&j[1]);
    pthread_join(th, 0);
    rc = j[0].rc ? j[0].rc : j[1].rc;
    for(int w=0; w<2 && rc==CVEC_OK; w++){
      for(uint32_t e=0; e<t[w].n && rc==CVEC_OK; e++){
        const cvec_topk_entry *x = &t[w].a[e];
        if( cvec_topk_push(pOut, x->dist, x->id, x->rec) ) rc = CVEC_NOMEM;
      }
    }
  }
  cvec_topk_free(&t[0]);
  cvec_topk_free(&t[1]);
  return rc;
}

int cvec_seg_knn(cvec_seg *p, const cvec_knn_query *a, cvec_topk *pOut){
  const cvec_kernels *K = cvec_kernels_best();
  uint32_t dim = p->dim;
  float qNorm2 = K->xNorm2(a->q, dim);
  uint32_t nVisible = a->nVisible < p->nrec ? a->nVisible : p->nrec;
  float *aTmp = 0;
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__==__ORDER_LITTLE_ENDIAN__)
  aTmp = malloc(sizeof(float)*(size_t)dim);
  if( aTmp==0 ) return cvec_seg_error(p, CVEC_NOMEM, "out of memory");
#endif
  int rc = CVEC_OK;
  if( cvec_topk_init(pOut, a->k) ){
    free(aTmp);
    return cvec_seg_error(p, CVEC_NOMEM, "out of memory");
  }
  /* With no id-0 or repeated records every record is visible: skip the
  ** per-record check. */
  int checkVisible = cvec_seg_nskipped(p)>0;
  uint32_t nPoll = POLL_EVERY;

  if( a->aRec ){
    /* the pre-filter: record numbers, each visible and below nVisible */
    for(uint32_t j=0; j<a->nRec && rc==CVEC_OK; j++){
      uint32_t i = a->aRec[j];
      if( i>=nVisible ) continue;
      const unsigned char *r = cvec_seg_record(p, i);
      double d = cvec_distance(K, a->metric, a->q, qNorm2,
                               record_floats(r, dim, aTmp), dim);
      if( d > cvec_topk_threshold(pOut) ) continue;
      if( cvec_topk_push(pOut, d, cvec_get_u32le(r), i) ){
        rc = cvec_seg_error(p, CVEC_NOMEM, "out of memory");
      }
    }
  }else{
    /* committed records: one pass over the map (by two threads, when it
    ** is large and every record is visible), then the pending ones */
    uint32_t nMapped = nVisible < p->count ? nVisible : p->count;
    uint32_t iStart = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__==__ORDER_LITTLE_ENDIAN__
    /* every committed record visible: the hot loop, by one or two threads;
    ** the loop below then takes only the pending records */
    if( !checkVisible && nMapped>0 ){
      int prc = -1;
      if( nMapped>=2 && use_threads((uint64_t)nMapped*p->recsize) ){
        prc = scan_parallel(p, a, K, qNorm2, nMapped, pOut);
      }
      if( prc<0 ){
        scan_job j;
        scan_job_init(&j, p, a, K, qNorm2, 0, nMapped, pOut);
        scan_mapped(&j);
        prc = j.rc;
      }
      iStart = nMapped;
      if( prc==CVEC_NOMEM ) rc = cvec_seg_error(p, CVEC_NOMEM, "out of memory");
      if( prc==CVEC_INTERRUPT ) rc = cvec_seg_error(p, CVEC_INTERRUPT, "interrupted");
    }
#endif
    double thr = cvec_topk_threshold(pOut);     /* kept in step with pOut */
    double thrSq = threshold_sq(thr);
    const unsigned char *r = iStart<nMapped ? cvec_seg_record(p, iStart) : 0;
    for(uint32_t i=iStart; i<nVisible && rc==CVEC_OK; i++){
      if( i>=nMapped ) r = cvec_seg_record(p, i);   /* pending */
      if( --nPoll==0 ){
        nPoll = POLL_EVERY;
        if( a->xInterrupted && a->xInterrupted(a->pArg) ){
          rc = cvec_seg_error(p, CVEC_INTERRUPT, "interrupted");
          break;
        }
      }
      if( !checkVisible || cvec_seg_record_visible(p, i) ){
        double d = distance_below(K, a->metric, a->q, qNorm2,
                                  record_floats(r, dim, aTmp), dim, thrSq);
        if( !(d > thr) ){
          if( cvec_topk_push(pOut, d, cvec_get_u32le(r), i) ){
            rc = cvec_seg_error(p, CVEC_NOMEM, "out of memory");
          }
          thr = cvec_topk_threshold(pOut);
          thrSq = threshold_sq(thr);
        }
      }
      r += p->recsize;
    }
  }
  free(aTmp);
  if( rc ){
    cvec_topk_free(pOut);
    return rc;
  }
  cvec_topk_finish(pOut);
  return CVEC_OK;
}
