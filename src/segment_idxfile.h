/*
** segment_idxfile.h — the persistent id index of a segment: a sidecar file
** "<segment>.idx" beside the .vec, memory-mapped, holding an open-addressing
** hash table from id to record number for the first `covered` records.
**
** FILE FORMAT (all fields little-endian)
**
**   OFFSET  SIZE  DESCRIPTION
**      0      4   magic: the bytes 'C' 'V' 'I' 'X'
**      4      4   version: 1
**      8      4   k: the table has 2^k slots (4 <= k <= 31)
**     12      4   salt: random per file; seeds slot positions and checks
**     16      4   covered: records [0, covered) of the .vec are indexed
**     20      4   dimension of the .vec
**     24      4   the largest id among the covered records
**     28      4   covered records skipped: id 0, or an id seen before
**     32      8   fingerprint of the .vec: FNV-1a 64 over its bytes 0..11,
**                 then the first 64 bytes (or the whole record if shorter)
**                 of records floor(i*(covered-1)/15), i = 0..15, in order
**                 (none if covered is 0)
**     40      8   boot: hash of the kernel's boot id when the file was last
**                 written without being synced (0 when synced)
**     48     12   reserved, zero
**     60      4   CRC-32 of bytes 0..59
**     64   12*2^k slots, slot s: id (u32, 0 if empty), record (u32),
**                 check (u32) = mix(id, record, s, salt)
**
** WHY IT CAN BE TRUSTED (SPEC §2).  The index is derived data; nothing is
** believed without a check:
**   - the header is used only if its CRC, magic, version, dimension and
**     fingerprint agree with the .vec, and covered <= the .vec's count; else
**     the file is rebuilt (or, where it cannot be written, an index is built
**     in memory).  The fingerprint samples 16 records so that opening stays
**     O(1): it tells another segment's index from this one's, and catches a
**     segment cut and regrown; a segment rewritten in place by another tool,
**     keeping its length and the sampled records, is not detected (delete
**     the .idx after such an edit);
**   - every slot carries a check over its contents and its own position, so
**     a zeroed, torn, shifted or garbled slot is seen as damage when a probe
**     reads it, and damage makes the caller stop using the file: a damaged
**     slot can neither invent a hit nor hide a row;
**   - every hit is compared with the id stored in the .vec;
**   - writes to the index are not synced at commit (it can be rebuilt), so
**     the header records the boot it was written in; after a crash of the
**     machine (a new boot id) such a file is rebuilt, because its pages may
**     have reached the disk in any order.
**
** Invariants of a file whose header checks out: 2*covered <= 2^k (at most
** half full); each id has at most one slot; each non-zero id of
** [0, covered) has one, with the number of its first record.  Slots are
** written for the writer's pending records before they commit; lookups
** ignore hits at or past the caller's visible record count, so readers never
** see them.  A rolled-back pending record leaves a tombstone (its id with
** record number 0xFFFFFFFF), which an insertion of that id takes over.  Only
** a writer that dies mid-transaction leaves a stale slot, pointing at a
** record that will hold another id: a hit whose record does not hold the id
** is therefore damage, and the file is rebuilt.
*/
#ifndef CVEC_SEGMENT_IDXFILE_H
#define CVEC_SEGMENT_IDXFILE_H

#include <stdint.h>

typedef struct cvec_seg cvec_seg;
typedef struct cvec_idxfile cvec_idxfile;

#define CVEC_IDX_HEADER_SIZE 64u
#define CVEC_IDX_SLOT_SIZE   12u

/*
** Open the index of segment p at zPath and check it against p's committed
** records.  Returns the handle, or NULL if the file is missing, unreadable,
** foreign, damaged or stale beyond use; then *pzWhy says why (static text).
** writable: map it for writing too (the caller may extend it).
*/
cvec_idxfile *cvec_idxfile_open(cvec_seg *p, const char *zPath, int writable,
                                const char **pzWhy);

/*
** Build a new index of p's records [0, count) (and of its pending records)
** in a temporary file and rename it to zPath.  It is not synced: its header
** carries the boot id, like every unsynced index write.  Returns the opened handle, or NULL if the file
** could not be written (read-only directory, I/O error: errno is set).
*/
cvec_idxfile *cvec_idxfile_build(cvec_seg *p, const char *zPath,
                                 uint32_t count);

void cvec_idxfile_close(cvec_idxfile *x);

/*
** Record number of id, or -1 if absent, or -2 if a damaged slot was met
** (stop using this index).  Only hits below nVisible are returned.
*/
int64_t cvec_idxfile_get(const cvec_idxfile *x, uint32_t id, uint32_t nVisible);

uint32_t cvec_idxfile_covered(const cvec_idxfile *x);
uint32_t cvec_idxfile_max_id(const cvec_idxfile *x);
uint32_t cvec_idxfile_nskip(const cvec_idxfile *x);
int cvec_idxfile_writable(const cvec_idxfile *x);

/*
** Add records [covered, to) of p to the index and publish the new header
** (not synced; see above).  Records [placedFrom, to) already have their
** slots (cvec_idxfile_put as they were appended; new, non-zero ids) and are
** not probed again; maxIdAll is the largest id of [0, to).  Pass
** placedFrom = to to probe them all.  Only the holder of the segment's
** write lock calls this.  Returns 0, 1 if the table is too full (rebuild it
** bigger), -2 if damage was met, or -1 on an I/O error.
*/
int cvec_idxfile_extend(cvec_idxfile *x, cvec_seg *p, uint32_t to,
                        uint32_t placedFrom, uint32_t maxIdAll);

/*
** Index pending record rec (>= covered) of p before it is committed:
** readers ignore it (it lies past their count) and the writer's transaction
** needs no memory per row.  The holder of the write lock only.  Returns 0,
** 2 if an earlier record already has this id (nothing written: the caller
** refuses the duplicate), 1 if the table is too full (rebuild it bigger;
** the build takes the pending records too), -2 on damage, -1 if not
** writable.
*/
int cvec_idxfile_put(cvec_idxfile *x, cvec_seg *p, uint32_t id, uint32_t rec);

/* Pending record rec with id was rolled back: make its slot a tombstone.
** Returns 0, or -2 on damage. */
int cvec_idxfile_unput(cvec_idxfile *x, uint32_t id, uint32_t rec);

/* Sync the file and mark its header synced (boot 0).  -1 on error. */
int cvec_idxfile_sync(cvec_idxfile *x);

/* True if the file at zPath is no longer the one x has open (rebuilt by
** another handle and renamed into place, or deleted). */
int cvec_idxfile_replaced(const cvec_idxfile *x, const char *zPath);

/*
** Is the mapped file still what x believes it is?  Checks its size, its
** header's CRC, size, salt and dimension, and that it covers no fewer
** records than x thinks and no more than p holds: 0 yes, 1 yes and another
** writer extended it (x now covers more), -1 no (an older or foreign copy
** was written over it, or it was cut: stop using it).
*/
int cvec_idxfile_current(cvec_idxfile *x, cvec_seg *p);


#endif /* CVEC_SEGMENT_IDXFILE_H */
