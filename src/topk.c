/*
** topk.c — bounded max-heap selection of the k best candidates (interface,
** order and usage in topk.h).
**
** Invariants while not sorted: t->a[0..n) is a max-heap under after()
** (no entry comes after its parent), n <= nAlloc <= k.  finish() is an
** in-place heapsort: repeatedly move the root (the worst) to the end of the
** shrinking heap, leaving the array best first.
*/
#include "topk.h"
#include "cvec_segment.h"   /* CVEC_OK, CVEC_NOMEM, CVEC_ERROR */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* First allocation: enough for the usual k (SQL's "LIMIT 10", "k = 100")
** without a realloc, small enough to be free for k = 100000. */
#define TOPK_INITIAL 128u

/* 1 if x comes strictly after y in the order of topk.h. */
static int after(const cvec_topk_entry *x, const cvec_topk_entry *y){
  if( x->dist < y->dist ) return 0;
  if( x->dist > y->dist ) return 1;
  if( x->dist != y->dist ){
    /* Unordered: at least one NaN, and NaN comes after every number. */
    int xn = isnan(x->dist), yn = isnan(y->dist);
    if( xn!=yn ) return xn;
  }
  if( x->id!=y->id ) return x->id > y->id;
  return x->rec > y->rec;
}

/* Restore the heap below position i, in a[0..n), entry e going to i. */
static void sift_down(cvec_topk_entry *a, uint32_t n, uint32_t i, cvec_topk_entry e){
  for(;;){
    uint64_t c = 2*(uint64_t)i + 1;   /* 64 bits: no wrap for n near 2^32 */
    if( c>=n ) break;
    if( c+1<n && after(&a[c+1], &a[c]) ) c++;
    if( !after(&a[c], &e) ) break;
    a[i] = a[c];
    i = (uint32_t)c;
  }
  a[i] = e;
}

/* Place e, a new last entry at position n-1 of a[0..n), up the heap. */
static void sift_up(cvec_topk_entry *a, uint32_t i, cvec_topk_entry e){
  while( i>0 ){
    uint32_t p = (i-1)/2;
    if( !after(&e, &a[p]) ) break;
    a[i] = a[p];
    i = p;
  }
  a[i] = e;
}

/* Make room for at least one more entry (n < k holds). */
static int grow(cvec_topk *t){
  uint64_t nNew = t->nAlloc ? 2*(uint64_t)t->nAlloc : TOPK_INITIAL;
  if( nNew>t->k ) nNew = t->k;
  if( nNew > SIZE_MAX/sizeof(cvec_topk_entry) ) return CVEC_NOMEM;
  cvec_topk_entry *a = realloc(t->a, (size_t)nNew*sizeof(cvec_topk_entry));
  if( a==NULL ) return CVEC_NOMEM;
  t->a = a;
  t->nAlloc = (uint32_t)nNew;
  return CVEC_OK;
}

int cvec_topk_init(cvec_topk *t, uint32_t k){
  t->a = NULL;
  t->n = 0;
  t->nAlloc = 0;
  t->k = k;
  t->bSorted = 0;
  if( k==0 ) return CVEC_OK;
  int rc = grow(t);
  if( rc ) t->k = 0;   /* empty and inert, as the header promises */
  return rc;
}

int cvec_topk_push(cvec_topk *t, double dist, uint32_t id, uint32_t rec){
  if( t->bSorted ) return CVEC_ERROR;
  cvec_topk_entry e;
  e.dist = dist;
  e.id = id;
  e.rec = rec;
  if( t->n < t->k ){
    if( t->n==t->nAlloc ){
      int rc = grow(t);
      if( rc ) return rc;
    }
    t->n++;
    sift_up(t->a, t->n-1, e);
    return CVEC_OK;
  }
  /* Full (or k==0): only a candidate before the worst kept one enters. */
  if( t->n==0 || !after(&t->a[0], &e) ) return CVEC_OK;
  sift_down(t->a, t->n, 0, e);
  return CVEC_OK;
}

double cvec_topk_threshold(const cvec_topk *t){
  if( t->k==0 ) return -INFINITY;
  if( t->n < t->k ) return INFINITY;
  return t->a[0].dist;
}

void cvec_topk_finish(cvec_topk *t){
  if( t->bSorted ) return;
  t->bSorted = 1;
  for(uint32_t m=t->n; m>1; m--){
    cvec_topk_entry worst = t->a[0];
    sift_down(t->a, m-1, 0, t->a[m-1]);
    t->a[m-1] = worst;
  }
}

void cvec_topk_free(cvec_topk *t){
  free(t->a);
  t->a = NULL;
  t->n = 0;
  t->nAlloc = 0;
  t->k = 0;
}
