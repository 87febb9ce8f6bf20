/*
** segment_index.h — the in-memory id index of a segment: a hash table from
** record id (u32, never 0) to record number (u32).
**
** Open addressing with linear probing; key 0 marks an empty slot, which is
** free because 0 is not an id (SPEC §1).  Deletion shifts later entries of the
** probe run back (no tombstones), so a lookup always ends at the first empty
** slot.  Invariants: nslot is a power of two; nused*2 <= nslot after every
** insert (the table grows before it passes half full), so probe runs stay short.
*/
#ifndef CVEC_SEGMENT_INDEX_H
#define CVEC_SEGMENT_INDEX_H

#include <stdint.h>

typedef struct cvec_idx_slot {
  uint32_t id;     /* 0: empty */
  uint32_t rec;    /* record number of the first record with this id */
} cvec_idx_slot;

typedef struct cvec_index {
  cvec_idx_slot *aSlot;
  uint32_t nslot;  /* power of two, or 0 before the first insert */
  uint32_t nused;
} cvec_index;

void cvec_index_init(cvec_index *x);
void cvec_index_free(cvec_index *x);
/* Record number for id, or -1.  id must not be 0. */
int64_t cvec_index_get(const cvec_index *x, uint32_t id);
/*
** Insert id -> rec unless id is present.  Returns 1 if inserted, 0 if id was
** already there (the existing entry is kept: first occurrence wins), -1 on OOM
** (the index is unchanged).
*/
int cvec_index_put(cvec_index *x, uint32_t id, uint32_t rec);
/* Remove id (no-op if absent). */
void cvec_index_del(cvec_index *x, uint32_t id);
/* Make room for n entries in total; -1 on OOM (the index is unchanged). */
int cvec_index_reserve(cvec_index *x, uint32_t n);

#endif /* CVEC_SEGMENT_INDEX_H */
