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
** functions cvec_distance_*() give for the same two vectors.
*/
#include "segment_int.h"
#include "distance.h"
#include "topk.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    /* committed records: one pass over the map */
    double thr = cvec_topk_threshold(pOut);     /* kept in step with pOut */
    double thrSq = threshold_sq(thr);
    uint32_t nMapped = nVisible < p->count ? nVisible : p->count;
    const unsigned char *r = nMapped ? cvec_seg_record(p, 0) : 0;
    for(uint32_t i=0; i<nVisible && rc==CVEC_OK; i++){
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
