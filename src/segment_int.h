/*
** segment_int.h — the inside of a cvec_seg handle, shared by segment.c (open,
** map, refresh, read) and segment_write.c (lock, append, sync, commit).
** Nothing outside the storage core includes this file.
*/
#ifndef CVEC_SEGMENT_INT_H
#define CVEC_SEGMENT_INT_H

#include "cvec_segment.h"
#include "segment_idxfile.h"
#include "segment_index.h"
#include "segment_intent.h"

#include <stdarg.h>
#include <sys/types.h>

/*
** Records of a handle, by record number i:
**
**   [0, count)           committed: in the file, inside the map
**   [count, nflushed)    pending, already written to the file's tail (map)
**   [nflushed, nrec)     pending, still in aBuf
**
** Invariants: count <= nflushed <= nrec; nflushed == nrec == count unless the
** write lock is held; the map covers at least [0, nflushed).
**
** Ids are found through two indexes: the persistent index file (xidx, see
** segment_idxfile.h) covers records [0, base), and the in-memory overlay
** (idx) covers [base, nrec): commits of other handles not yet in the file,
** and this handle's pending records.  Between them they hold the first
** occurrence of every non-zero id in [0, nrec).  Without a usable index
** file (missing or refused where it cannot be rebuilt: a read-only
** directory, readonly=1) base is 0 and the overlay holds everything.
** base <= count.
*/
struct cvec_seg {
  int fd;
  char *zPath;              /* path used for open(), may be absolute */
  char *zName;              /* path as the user wrote it, for messages */
  char *zIdxPath;           /* the index file: zPath + ".idx" */
  uint32_t dim;             /* floats per vector, 1..CVEC_MAX_DIM */
  size_t recsize;           /* 4 + 4*dim */
  int readonly;             /* opened O_RDONLY */
  int syncMode;             /* CVEC_SYNC_OFF or CVEC_SYNC_FULL */
  uint32_t limit;           /* largest nrec allowed (the count limit) */

  uint32_t count;           /* committed records, as last read or written */
  uint32_t nflushed;        /* records [0, nflushed) are in the file */
  uint32_t nrec;            /* records visible through this handle */

  unsigned char *map;       /* PROT_READ, MAP_SHARED view of [0, mapLen) */
  size_t mapLen;
  /* Maps replaced by a larger one but perhaps still pointed into by values
  ** handed out with cvec_seg_record() (SQLITE_STATIC blobs): kept mapped
  ** until cvec_seg_release_maps() says no such value is left. */
  struct cvec_oldmap { void *map; size_t len; } *aOld;
  int nOld, nOldAlloc;

  unsigned char *aBuf;      /* pending records [nflushed, nrec) */
  size_t nBufAlloc;         /* records aBuf has room for */

  cvec_idxfile *xidx;       /* persistent index of [0, base), or NULL */
  uint32_t base;            /* records indexed by xidx */
  int idxDirty;             /* this handle extended xidx without syncing it */
  int pendInFile;           /* every pending record of this transaction was
                            ** placed in xidx as it was appended: the commit
                            ** need not probe for them again */
  cvec_index idx;           /* overlay: ids of records [base, nrec) */
  uint32_t maxId;           /* largest id in [0, nrec) */
  uint32_t maxIdCommitted;  /* largest id in [0, count) */
  uint32_t nskip;           /* id-0 and duplicate records in [0, nrec) */

  int locked;               /* this handle holds the write lock */
  int broken;               /* a refresh failed: indexes unusable until the
                            ** next refresh sets them up again */
  int touched;              /* this transaction wrote bytes past the count */
  int synced;               /* cvec_seg_sync done, nothing appended or cut
                            ** since: commit need not sync the rows again */
  off_t sizeSeen;           /* file size at the last refresh's fstat */

  /* The intent note (segment_intent.h).  While the lock is held:
  ** intentOpen means an open note for this transaction, with new count
  ** intentNew, is in the file (synced with sync=full); unsettled means
  ** begin_write found bytes past the count (tail says what they are), and
  ** appends are refused until cvec_seg_settle() or a repair. */
  char *zIntentPath;        /* zPath + ".intent" */
  int intentFd;             /* -1 until a write transaction needs it */
  char *zOwner;             /* owner text of our notes ("" none) */
  uint64_t txn;             /* this transaction's number (set_txn) */
  uint64_t ino;             /* the segment's inode, read at begin_write */
  int intentOpen;
  uint32_t intentNew;
  uint32_t intentOld;       /* the old count that note records */
  uint32_t intentCrcFirst;  /* and the CRC of record intentOld it records */
  uint64_t tid;             /* the owner's table id (0: no file) */
  int unsettled;
  int tailKind;             /* CVEC_TAIL_* found by begin_write */
  uint64_t tailBytes;       /* bytes past the count then */
  cvec_intent tailNote;     /* the note that explains them (CVEC_TAIL_INTENT) */

  char zErr[CVEC_ERRMSG_MAX];
};

/* Set p->zErr from a printf format; returns rc. */
int cvec_seg_error(cvec_seg *p, int rc, const char *zFmt, ...)
  __attribute__((format(printf, 3, 4)));

/* Byte offset of record i. */
static inline off_t cvec_rec_offset(const cvec_seg *p, uint32_t i){
  return (off_t)CVEC_HEADER_SIZE + (off_t)i * (off_t)p->recsize;
}

/* Map [0, 16 + n*recsize) of the file, replacing the current map. */
int cvec_seg_map(cvec_seg *p, uint32_t n);
/* Make m (len bytes) the map; the old one is kept until release_maps.
** -1 (nothing changed) on OOM. */
int cvec_seg_set_map(cvec_seg *p, void *m, size_t len);
/* Index records [from, to) in the overlay and update maxId/nskip; on OOM
** nothing changes. */
int cvec_seg_index_range(cvec_seg *p, uint32_t from, uint32_t to);
/* Make the overlay cover [newBase, nrec) again, xidx covering [0, newBase). */
int cvec_seg_reset_overlay(cvec_seg *p, uint32_t newBase);
/* Open (or build) the index file for the committed records; the overlay
** covers the rest. */
int cvec_seg_attach_idxfile(cvec_seg *p);
/* Make sure xidx is the file readers find by name and that its header still
** checks out; re-attach it if not, or move the overlay's base if another
** writer extended it.  *pMoved (if given): either happened. */
int cvec_seg_follow_idxfile(cvec_seg *p, int *pMoved);
/* Rebuild the index file (twice as large as needed) and use it; -1, with
** the old one kept, if it could not be written. */
int cvec_seg_regrow_idxfile(cvec_seg *p);
/* Stop using the index file (damage, I/O error): the overlay takes over. */
int cvec_seg_drop_idxfile(cvec_seg *p);
/* Bring the index file up to the committed count after a commit (writer);
** oldCount is the count before it. */
void cvec_seg_update_idxfile(cvec_seg *p, uint32_t oldCount);
/* Read the header's count and check the file holds that many records. */
int cvec_seg_read_count(cvec_seg *p, uint32_t *pCount);
/* pwrite all of n bytes at off, retrying short writes and EINTR. */
int cvec_pwrite_all(int fd, const void *buf, size_t n, off_t off);
int cvec_pread_all(int fd, void *buf, size_t n, off_t off);
/* Take (F_WRLCK) or drop (F_UNLCK) the segment write lock on fd without
** waiting; -1 with errno EAGAIN/EACCES if another holds it. */
int cvec_lock_fd(int fd, int lockType);
/* Remove the temporary files "<zPath>.<pid>.<n>.tmp" that processes which
** no longer exist left while building zPath (killed mid-way). */
void cvec_remove_stale_temps(const char *zPath);
/* CRC-32 (IEEE) of n bytes: the checksums of the index and intent files. */
uint32_t cvec_crc32(const unsigned char *a, size_t n);
/* fsync the directory holding zPath, so that a new name in it is durable. */
void cvec_sync_parent_dir(const char *zPath);
/* fdatasync where available, else fsync. */
int cvec_fdatasync(int fd);

#endif /* CVEC_SEGMENT_INT_H */
