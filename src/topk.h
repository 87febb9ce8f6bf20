/*
** topk.h — the k nearest of a stream of (distance, id, record) candidates,
** for exact nearest-neighbour search (SPEC §6), without sorting them all.
**
** ORDER.  Distance ascending, then id ascending (then record number, so
** that the order is total even if an id came twice).  A NaN distance comes
** after every number; -0.0 and +0.0 are equal.
**
** HOW.  A max-heap of at most k entries whose root is the worst entry kept.
** A candidate that is not better than the root while the heap is full is
** dropped in O(1); otherwise it replaces the root in O(log k).  A scan of n
** records thus costs O(n + m log k) for m replacements, and memory O(k).
** The heap grows on demand (doubling) up to k entries, so a large k over a
** small segment costs only what is kept.
**
** USE.
**
**   cvec_topk t;
**   if( cvec_topk_init(&t, k) ) ...nomem...
**   for each record:
**     if( d > cvec_topk_threshold(&t) ) continue;   optional early rejection
**     if( cvec_topk_push(&t, d, id, rec) ) ...nomem...
**   cvec_topk_finish(&t);       t.a[0..t.n) now in order
**   ...
**   cvec_topk_free(&t);
**
** cvec_topk_threshold() is +INFINITY until k entries are kept, then the
** worst kept distance.  A candidate with a larger distance cannot enter; one
** with an equal distance still may (smaller id), so reject with '>' only.
** (If the worst kept is a NaN, the threshold is NaN and '>' rejects nothing:
** still correct, push decides.)
**
** A cvec_topk belongs to one thread at a time.  No SQLite here.
*/
#ifndef CVEC_TOPK_H
#define CVEC_TOPK_H

#include <stdint.h>

typedef struct cvec_topk_entry {
  double dist;
  uint32_t id;    /* the record's id (segment ids are u32) */
  uint32_t rec;   /* the record's number in the segment */
} cvec_topk_entry;

typedef struct cvec_topk {
  cvec_topk_entry *a;  /* a max-heap of n entries (the worst at a[0]) until
                       ** cvec_topk_finish(), sorted best first after */
  uint32_t n;          /* entries kept, n <= k */
  uint32_t nAlloc;     /* entries allocated, n <= nAlloc <= k */
  uint32_t k;          /* how many to keep */
  int bSorted;         /* cvec_topk_finish() was called: no more pushes */
} cvec_topk;

/*
** Start empty, to keep the k best (k may be 0: nothing is kept; there is no
** upper limit but memory).  Allocates the first few entries: returns CVEC_OK,
** or CVEC_NOMEM (t is then empty and cvec_topk_free() is harmless).
*/
int cvec_topk_init(cvec_topk *t, uint32_t k);

/*
** Offer a candidate.  CVEC_OK whether kept or not; CVEC_NOMEM if keeping it
** needed more memory and none was to be had (t is unchanged and still
** valid).  CVEC_ERROR after cvec_topk_finish().
*/
int cvec_topk_push(cvec_topk *t, double dist, uint32_t id, uint32_t rec);

/* +INFINITY while fewer than k are kept, else the worst kept distance
** (-INFINITY when k is 0, so that everything can be rejected). */
double cvec_topk_threshold(const cvec_topk *t);

/* Sort the kept entries best first into t->a[0..t->n), in place, without
** allocating.  Pushes are refused after. */
void cvec_topk_finish(cvec_topk *t);

/* Free the entries; t is then empty (init again to reuse). */
void cvec_topk_free(cvec_topk *t);

#endif /* CVEC_TOPK_H */
