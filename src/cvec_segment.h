/*
** cvec_segment.h — the storage core of cvec: one CVEC v1 segment file.
**
** This header is the whole interface between the storage core (segment.c,
** segment_write.c, segment_intent.c, segment_index.c, segment_idxfile.c,
** segment_check.c, segment_search.c, vecjson.c; the search kernels of
** distance.h and topk.h) and its users (the SQLite virtual table in
** vtab.c, the C unit tests).  Nothing here knows about SQLite: errors are
** CVEC_* codes plus a message in the segment's error buffer, and the caller
** maps them onto SQLite's codes.
**
** FILE FORMAT (CVEC version 1, byte-compatible with other writers of .vec files)
**
**   OFFSET  SIZE  DESCRIPTION
**      0      4   magic: the bytes 'C' 'V' 'E' 'C'
**      4      4   version: u32 little-endian, always 1
**      8      4   dimension D: u32 LE, floats per vector, 1..65536
**     12      4   count: u32 LE, number of committed records (the commit point)
**     16      …   count records, record i at 16 + i*R, where R = 4 + 4*D:
**                   +0   4    id: u32 LE, 1..4294967295 (0 is not an id)
**                   +4   4*D  the vector: D float32, little-endian, bit-exact
**
** Bytes past 16 + count*R are an uncommitted tail: readers ignore them.  A tail
** that cvec's intent note explains is settled by the next writer; any other
** tail refuses writes until an explicit repair (crash settlement, below).  A segment that cvec wrote ends exactly after its
** committed records whenever no commit is in progress, because other readers of
** the format read to end-of-file.
**
** LIFE OF A WRITE TRANSACTION (SPEC §4)
**
**   cvec_seg_begin_write   take the write lock (an open-file-description lock,
**                          so two handles in one process exclude each other),
**                          re-read the committed count
**   cvec_seg_append …      records go after the committed ones: into a memory
**                          buffer, flushed to the file's tail in large writes
**   cvec_seg_sync          note the new count in the intent file (synced),
**                          flush, cut any older longer tail, fdatasync
**                          (sync=full); safe to repeat
**   cvec_seg_commit        write the new count (fdatasync with sync=full),
**                          mark the note done, release the lock
**   cvec_seg_rollback      cut the tail back to the committed records, mark
**                          the note done, release the lock
**
** Before the first byte of a transaction goes past the committed records,
** an intent note saying so is synced to "<segment>.intent" (see crash
** settlement below).
**
** Pending records (appended, not yet committed) are visible through this handle
** only: cvec_seg_record() and cvec_seg_lookup() cover records [0, nrec), other
** handles stop at the count in the header.
*/
#ifndef CVEC_SEGMENT_H
#define CVEC_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Result codes of the core.  The virtual table maps each to an SQLite code. */
enum {
  CVEC_OK = 0,
  CVEC_ERROR,       /* bad argument or state (message says which) */
  CVEC_NOMEM,       /* malloc failed */
  CVEC_IOERR,       /* a system call failed (message carries strerror) */
  CVEC_CANTOPEN,    /* the file or its directory could not be opened/created */
  CVEC_NOTFOUND,    /* the file does not exist (and was not to be created) */
  CVEC_CORRUPT,     /* the file is not a valid CVEC v1 segment */
  CVEC_BUSY,        /* another handle holds the write lock */
  CVEC_READONLY,    /* the handle was opened read-only */
  CVEC_CONSTRAINT,  /* duplicate id */
  CVEC_RANGE,       /* id out of range */
  CVEC_FULL,        /* the append would pass the count limit */
  CVEC_STALE,       /* the path now names another file (or none) */
  CVEC_INTERRUPT    /* a search was stopped by its interrupt callback */
};

#define CVEC_MAGIC        "CVEC"
#define CVEC_VERSION_1    1u
#define CVEC_HEADER_SIZE  16u
#define CVEC_MAX_DIM      65536u
#define CVEC_MAX_ID       4294967295u

/* Sync modes (the table's sync= argument). */
#define CVEC_SYNC_OFF   0
#define CVEC_SYNC_FULL  1

/* Flags for cvec_seg_open(). */
#define CVEC_OPEN_READONLY  0x01  /* open O_RDONLY; every write is refused */
#define CVEC_OPEN_CREATE    0x02  /* create the file (and its directory) if missing */

typedef struct cvec_seg cvec_seg;

/* Length of the error buffers that the core fills (messages are truncated). */
#define CVEC_ERRMSG_MAX 512

/*
** Open the segment at zPath.  zName is how messages name the file (the path
** as the user wrote it); it may equal zPath.  dim is the dimension the caller
** expects: 0 means "whatever the file says", anything else must match the
** header (or is used to create the file with CVEC_OPEN_CREATE).
**
** On success *ppSeg is a handle whose committed view is the file's count.
** On failure *ppSeg is NULL, zErr (CVEC_ERRMSG_MAX bytes) holds the message
** and nothing on disk was changed, except that with CVEC_OPEN_CREATE a missing
** file is created atomically (written aside, then linked into place) so that no
** reader ever sees a file without a complete header.
*/
int cvec_seg_open(const char *zPath, const char *zName, uint32_t dim, int flags,
                  cvec_seg **ppSeg, char *zErr);
void cvec_seg_close(cvec_seg *p);

/* The message of the last failed call on p ("" if none). */
const char *cvec_seg_errmsg(const cvec_seg *p);

uint32_t cvec_seg_dimension(const cvec_seg *p);
size_t cvec_seg_record_size(const cvec_seg *p);     /* 4 + 4*dimension */
int cvec_seg_readonly(const cvec_seg *p);

/*
** Catch up with commits made through other handles: re-read the header count,
** check the file still holds that many records, index the new ones and extend
** the map.  A no-op while this handle holds the write lock (nobody else can
** commit then).  Called at the start of every statement.
*/
int cvec_seg_refresh(cvec_seg *p);

/* Number of records visible through this handle: committed + pending. */
uint32_t cvec_seg_nrec(const cvec_seg *p);
/* Number of committed records (the header count as last read or written). */
uint32_t cvec_seg_count(const cvec_seg *p);

/*
** Pointer to record i (0 <= i < nrec): 4 bytes of id then the vector, both
** little-endian.  Valid until the next call that changes the handle (append,
** refresh, rollback, close); callers copy what they keep.
*/
const unsigned char *cvec_seg_record(cvec_seg *p, uint32_t i);

/*
** Committed records [0, count) never change and stay mapped where
** cvec_seg_record() found them until cvec_seg_release_maps(): a caller that
** hands out pointers into them without copying (SQLite's SQLITE_STATIC)
** calls it only when no such pointer can be in use any more.  Pending
** records live in a buffer that the next append may overwrite: copy them.
*/
void cvec_seg_release_maps(cvec_seg *p);

/* The id stored in record i. */
uint32_t cvec_seg_record_id(cvec_seg *p, uint32_t i);

/*
** True if record i is what scans return: its id is not 0 and no earlier record
** has the same id ("first occurrence wins", SPEC §1).  Files written by cvec
** never hold duplicates or id 0, and then this costs one compare.
*/
int cvec_seg_record_visible(cvec_seg *p, uint32_t i);

/*
** CVEC_OK if the handle's file still has the name it was opened by, else
** CVEC_STALE (replaced by a rename, or removed).  Writers check it under the
** lock: rows appended to a file that lost its name would be lost.
*/
int cvec_seg_still_named(cvec_seg *p);

/*
** For readers, now and then: CVEC_STALE if the file lost its name (as
** cvec_seg_still_named); else make sure the index file is still the one the
** handle believes (not cut, not overwritten in place by another copy), and
** re-attach it if not.  No-op for the index while the write lock is held.
*/
int cvec_seg_revalidate(cvec_seg *p);

/* Record index holding id, or -1 if id is not in [0, nrec).  Also -1 when
** the indexes are unusable (out of memory rebuilding them): then
** cvec_seg_broken() is true and the message is in cvec_seg_errmsg(). */
int64_t cvec_seg_lookup(cvec_seg *p, uint32_t id);
int cvec_seg_broken(const cvec_seg *p);

/* The largest id in [0, nrec), 0 if none. */
uint32_t cvec_seg_max_id(const cvec_seg *p);

/* Duplicate-id records and id-0 records seen in the file (all skipped). */
uint32_t cvec_seg_nskipped(const cvec_seg *p);

/*
** Lower the count limit (default CVEC_MAX_ID, the u32 count field's maximum)
** so that tests can reach it.  An append that would make nrec exceed it fails
** with CVEC_FULL and changes nothing.
*/
void cvec_seg_set_count_limit(cvec_seg *p, uint32_t limit);

void cvec_seg_set_sync(cvec_seg *p, int syncMode);

/*
** Writing.  See LIFE OF A WRITE TRANSACTION above.
**
** cvec_seg_append(p, id, vec): vec is dimension float32 LE (4*D bytes, any
** alignment).  Checks, with nothing changed on failure: the handle is
** writable, the lock is held (call begin_write first), id in range
** (CVEC_RANGE), the count limit (CVEC_FULL), id unused (CVEC_CONSTRAINT;
** with a writable index file the probe that places the id finds it, after
** the count limit and a possible flush of the buffer).
** The vector's values are not inspected: validation belongs to the caller.
*/
int cvec_seg_begin_write(cvec_seg *p);
int cvec_seg_in_write(const cvec_seg *p);
int cvec_seg_append(cvec_seg *p, uint32_t id, const void *vec);
int cvec_seg_sync(cvec_seg *p);
int cvec_seg_commit(cvec_seg *p);
int cvec_seg_rollback(cvec_seg *p);

/*
** Crash settlement (SPEC §4; the intent note is described in
** segment_intent.h).  A transaction notes, durably, who writes it (the
** owner), its number and its counts before it writes past the committed
** records.  cvec_seg_begin_write() then looks at what lies past the count:
**
**   CVEC_TAIL_NONE     nothing: the segment is at rest
**   CVEC_TAIL_INTENT   the tail of a transaction that did not finish (a crash):
**                      its note is in *pInfo, and the bytes past the count
**                      are the ones it wrote (record CRCs).  The caller finds out whether
**                      the owner's database committed it and calls
**                      cvec_seg_settle(p, forward): forward raises the count
**                      to the note's new count (possible only if newCount is
**                      not 0, i.e. its rows were synced), otherwise the tail
**                      is cut.
**   CVEC_TAIL_FOREIGN  bytes that no cvec transaction explains (complete
**                      records another program left past a low count, a torn
**                      write of another writer): kept, and every append is
**                      refused until cvec_seg_repair() adopts or discards them.
**
** Until settled, appends fail.  Readers never look at the tail: they read by
** count.  cvec_seg_has_tail() tells a reader that the last refresh saw bytes
** past the count (a transaction in progress, or something to settle).
**
** cvec_seg_set_owner() sets the owner written into this handle's notes: a
** text for messages ("" for a database with no file) and the table id that
** settlement matches (0 for none); cvec_seg_set_txn() the number of the
** transaction about to write (call it after begin_write, before appending).
** cvec_seg_peek_tail() classifies the tail as begin_write would, without the
** lock (a reader deciding whether settling is worth taking the lock for);
** its answer may be stale by the time the lock is taken.
*/
#define CVEC_TAIL_NONE     0
#define CVEC_TAIL_INTENT   1
#define CVEC_TAIL_FOREIGN  2
typedef struct cvec_tail_info {
  int kind;              /* CVEC_TAIL_* */
  uint64_t nBytes;       /* bytes past the committed records */
  uint64_t txn;          /* CVEC_TAIL_INTENT: the note's transaction number */
  uint32_t oldCount;     /* ... the count it started from (the count now) */
  uint32_t newCount;     /* ... the count it commits, 0 if never synced */
  const char *zOwner;    /* ... who wrote it; valid while the lock is held */
  uint64_t tid;          /* ... the owner's table id (0: a database with no file) */
} cvec_tail_info;
void cvec_seg_tail(cvec_seg *p, cvec_tail_info *pInfo);
int cvec_seg_settle(cvec_seg *p, int forward);
int cvec_seg_has_tail(const cvec_seg *p);
int cvec_seg_set_owner(cvec_seg *p, const char *zOwner, uint64_t tid);
int cvec_seg_peek_tail(cvec_seg *p, cvec_tail_info *pInfo);
void cvec_seg_set_txn(cvec_seg *p, uint64_t txn);

/*
** Number of pending records (nrec - count), and cut them back to n pending
** (n <= pending).  Savepoints are marks in this count: it is relative to the
** committed records, so it stays meaningful when the count is re-read at the
** first append.
*/
uint32_t cvec_seg_pending(const cvec_seg *p);
int cvec_seg_truncate_pending(cvec_seg *p, uint32_t n);

/*
** Exact k-nearest-neighbour search (segment_search.c).  Compares q (dimension
** native floats, 4-byte aligned) with every visible record of [0, nVisible)
** — or, if aRec is not NULL, with the records aRec[0..nRec) only (a
** pre-filter: record numbers of first occurrences, each at most once) —
** under metric (distance.h), and leaves the k nearest in *pOut, sorted by
** distance then id (topk.h; the caller frees it with cvec_topk_free).
** xInterrupted, if set, is polled every few thousand records; when it
** returns non-zero the search stops with CVEC_INTERRUPT.  Distances are
** cvec_distance()'s.
*/
struct cvec_topk;
typedef struct cvec_knn_query {
  const float *q;
  int metric;                  /* CVEC_METRIC_* */
  uint32_t k;
  uint32_t nVisible;           /* the snapshot: records [0, nVisible) */
  const uint32_t *aRec;        /* pre-filter, or NULL for every record */
  uint32_t nRec;
  int (*xInterrupted)(void*);
  void *pArg;
} cvec_knn_query;
int cvec_seg_knn(cvec_seg *p, const cvec_knn_query *a, struct cvec_topk *pOut);

/*
** Integrity check (segment_check.c).  Reads the segment at zPath without
** changing it and calls xProblem once per problem found, in file order:
**   kind "header"    the header is unusable (nothing more is checked)
**   kind "short"     the file is shorter than its count claims
**   kind "tail"      complete records past the count, or a partial record,
**                    that no cvec transaction explains (writes are refused)
**   kind "unfinished" bytes past the count that a transaction which did not
**                    finish left, as its intent note says (settled by the
**                    next write of its database)
**   kind "zero_id"   a record with id 0 (skipped by reads)
**   kind "duplicate" an id seen in an earlier record (that one wins)
**   kind "index"     the index file is missing, rejected, behind, damaged,
**                    or gives a wrong record for an id
** with the record number and id concerned (-1 when none) and a message.
** A non-zero return from xProblem stops the check.  Returns CVEC_OK (also
** when problems were found) or an error with zErr set (file missing...).
*/
typedef int (*cvec_problem_fn)(void *ctx, const char *zKind, int64_t iRecord,
                               int64_t iId, const char *zDetail);
int cvec_seg_check(const char *zPath, const char *zName, cvec_problem_fn xProblem,
                   void *ctx, char *zErr);

/*
** Explicit repair of what other writers of the format leave behind; never
** run by cvec on its own.  Under the segment's write lock (CVEC_BUSY if a
** writer holds it): CVEC_REPAIR_ADOPT raises the count to take in the
** complete records past it; CVEC_REPAIR_DISCARD cuts them off.  Both cut off
** a partial record at the end, lower a count that claims more records than
** the file holds, and remove the index file (it is rebuilt).  *pOld and
** *pNew receive the count before and after.  Run it while no other
** connection reads the segment.
*/
#define CVEC_REPAIR_ADOPT    1
#define CVEC_REPAIR_DISCARD  2
int cvec_seg_repair(const char *zPath, const char *zName, int mode,
                    uint32_t *pOld, uint32_t *pNew, char *zErr);

/*
** The file operations of the core that write, sync or cut files, and its
** reads: every such call goes through this table, so that tests can make
** any one of them fail (as SQLite tests its VFS).  Each has the meaning and
** return convention of the system call it is named after; xSync is
** fdatasync() (fsync() where there is none), xMsync is msync(MS_SYNC).
*/
typedef struct cvec_io_methods {
  ssize_t (*xPread)(int fd, void *buf, size_t n, off_t off);
  ssize_t (*xPwrite)(int fd, const void *buf, size_t n, off_t off);
  int (*xSync)(int fd);
  int (*xFtruncate)(int fd, off_t len);
  int (*xMsync)(void *addr, size_t len);
  int (*xRename)(const char *zFrom, const char *zTo);
} cvec_io_methods;
extern cvec_io_methods cvec_io;
/* The system's own operations (to restore cvec_io after a test). */
extern const cvec_io_methods cvec_io_default;

/* Little-endian helpers shared with the SQL layer. */
static inline uint32_t cvec_get_u32le(const unsigned char *b){
  return (uint32_t)b[0] | ((uint32_t)b[1]<<8) | ((uint32_t)b[2]<<16)
       | ((uint32_t)b[3]<<24);
}
static inline void cvec_put_u32le(unsigned char *b, uint32_t v){
  b[0] = (unsigned char)v;       b[1] = (unsigned char)(v>>8);
  b[2] = (unsigned char)(v>>16); b[3] = (unsigned char)(v>>24);
}
static inline float cvec_get_f32le(const unsigned char *b){
  uint32_t u = cvec_get_u32le(b);
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline void cvec_put_f32le(unsigned char *b, float f){
  uint32_t u;
  memcpy(&u, &f, 4);
  cvec_put_u32le(b, u);
}

#endif /* CVEC_SEGMENT_H */
