/*
** segment_index.c — hash table from id to record number (see segment_index.h).
**
** The table lives only in memory and is rebuilt from the .vec file at open;
** it is derived data (SPEC §2) and every hit is checked by the caller against
** the id stored in the record.
*/
#include "segment_index.h"

#include <stdlib.h>
#include <string.h>

void cvec_index_init(cvec_index *x){
  memset(x, 0, sizeof(*x));
}

void cvec_index_free(cvec_index *x){
  free(x->aSlot);
  cvec_index_init(x);
}

/* Fibonacci hashing spreads sequential ids, the common case, over the table. */
static uint32_t slot_of(uint32_t id, uint32_t nslot){
  return (uint32_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (nslot-1);
}

int64_t cvec_index_get(const cvec_index *x, uint32_t id){
  if( x->nslot==0 || id==0 ) return -1;
  uint32_t mask = x->nslot-1;
  for(uint32_t i=slot_of(id, x->nslot); ; i=(i+1)&mask){
    const cvec_idx_slot *s = &x->aSlot[i];
    if( s->id==id ) return s->rec;
    if( s->id==0 ) return -1;
  }
}

/* Place an entry known to be absent; the table has room. */
static void place(cvec_idx_slot *aSlot, uint32_t nslot, uint32_t id, uint32_t rec){
  uint32_t mask = nslot-1;
  uint32_t i = slot_of(id, nslot);
  while( aSlot[i].id!=0 ) i = (i+1)&mask;
  aSlot[i].id = id;
  aSlot[i].rec = rec;
}

int cvec_index_reserve(cvec_index *x, uint32_t n){
  uint64_t want = 16;
  while( want < (uint64_t)n*2 ) want *= 2;
  if( want <= x->nslot ) return 0;
  /* nslot is a u32: 2^32 slots do not fit */
  if( want >= ((uint64_t)1<<32) || want > SIZE_MAX/sizeof(cvec_idx_slot) ) return -1;
  cvec_idx_slot *a = calloc((size_t)want, sizeof(cvec_idx_slot));
  if( a==0 ) return -1;
  for(uint32_t i=0; i<x->nslot; i++){
    if( x->aSlot[i].id ) place(a, (uint32_t)want, x->aSlot[i].id, x->aSlot[i].rec);
  }
  free(x->aSlot);
  x->aSlot = a;
  x->nslot = (uint32_t)want;
  return 0;
}

int cvec_index_put(cvec_index *x, uint32_t id, uint32_t rec){
  if( cvec_index_get(x, id)>=0 ) return 0;
  if( cvec_index_reserve(x, x->nused+1) ) return -1;
  place(x->aSlot, x->nslot, id, rec);
  x->nused++;
  return 1;
}

void cvec_index_del(cvec_index *x, uint32_t id){
  if( x->nslot==0 || id==0 ) return;
  uint32_t mask = x->nslot-1;
  uint32_t i = slot_of(id, x->nslot);
  while( x->aSlot[i].id!=id ){
    if( x->aSlot[i].id==0 ) return;
    i = (i+1)&mask;
  }
  /* Backward-shift deletion: move each later entry of the run into the hole
  ** unless its home slot lies cyclically in (hole, j]. */
  uint32_t hole = i;
  for(uint32_t j=(i+1)&mask; x->aSlot[j].id!=0; j=(j+1)&mask){
    uint32_t home = slot_of(x->aSlot[j].id, x->nslot);
    int stays = (hole<=j) ? (hole<home && home<=j) : (hole<home || home<=j);
    if( !stays ){
      x->aSlot[hole] = x->aSlot[j];
      hole = j;
    }
  }
  x->aSlot[hole].id = 0;
  x->aSlot[hole].rec = 0;
  x->nused--;
}
