/*
** segment_write.c — the write side of a segment: the write lock, appending a
** batch, and the commit protocol of SPEC §4 (see cvec_segment.h for the order
** of calls).
**
** Durability rests on one rule, LMDB's data-before-meta: the records of a
** transaction reach the file (and, with sync=full, the disk) in
** cvec_seg_sync(), before cvec_seg_commit() writes the count that makes them
** part of the segment.  A crash before the count is written leaves only an
** uncommitted tail, which readers ignore.
**
** Agreement with the database rests on the intent note (segment_intent.h),
** written before the tail: SQLite commits the database between our xSync
** and xCommit, so a crash there leaves rows in the database and a tail here.
** The next writer finds the note (begin_write), the caller asks the owner's
** database whether the transaction committed, and cvec_seg_settle() rolls
** the tail forward or cuts it.  The order of writes in a transaction:
**
**   note "open, new count unknown"   synced   (first flush past the count)
**   records of the batch                       (flushes)
**   note "open, new count N"         synced   (sync, before the last flush)
**   records, then fdatasync                    (sync)
**       ... SQLite commits the database ...
**   count N, then fdatasync                    (commit)
**   note "done"                      unsynced (commit or rollback)
**
** Pending records stay in memory until FLUSH_BYTES of them are buffered, then
** go to the file's tail in one pwrite(); their ids go to the index file as
** they come.  So a transaction of any size needs a bounded amount of memory.
*/
#define _GNU_SOURCE 1
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes of pending records buffered before they are written to the tail. */
#define FLUSH_BYTES (1u<<20)

/* ------------------------------------------------------------------------ */
/* The write lock                                                            */
/* ------------------------------------------------------------------------ */

/*
** The write lock is an exclusive open-file-description lock on bytes 0..3
** (the magic).  OFD locks belong to the open file, not the process, so two
** handles of one process exclude each other, and closing another descriptor
** of the same file does not drop ours (as it would with POSIX fcntl locks).
** Readers take no lock: no reader ever blocks the writer.
*/
int cvec_lock_fd(int fd, int lockType){
#ifdef F_OFD_SETLK
  struct flock fl;
  memset(&fl, 0, sizeof(fl));
  fl.l_type = (short)lockType;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 4;
  return fcntl(fd, F_OFD_SETLK, &fl);
#else
  /* flock() locks are per open file description as well */
  return flock(fd, (lockType==F_UNLCK ? LOCK_UN : LOCK_EX)|LOCK_NB);
#endif
}

static int lock_op(cvec_seg *p, int lockType){
  return cvec_lock_fd(p->fd, lockType);
}

static void unlock(cvec_seg *p){
  if( p->locked ){
    (void)lock_op(p, F_UNLCK);
    p->locked = 0;
  }
}

int cvec_seg_in_write(const cvec_seg *p){ return p->locked; }

static int cut_tail(cvec_seg *p, uint32_t n);

/* ------------------------------------------------------------------------ */
/* The intent note                                                           */
/* ------------------------------------------------------------------------ */

int cvec_seg_set_owner(cvec_seg *p, const char *zOwner, uint64_t tid){
  char *z = strdup(zOwner ? zOwner : "");
  if( z==0 ) return cvec_seg_error(p, CVEC_NOMEM, "out of memory");
  if( strlen(z)>CVEC_OWNER_MAX ) z[CVEC_OWNER_MAX] = 0;
  free(p->zOwner);
  p->zOwner = z;
  p->tid = tid;
  return CVEC_OK;
}

void cvec_seg_set_txn(cvec_seg *p, uint64_t txn){ p->txn = txn; }

int cvec_seg_has_tail(const cvec_seg *p){
  return !p->locked && p->sizeSeen > cvec_rec_offset(p, p->count);
}

/*
** Make p->intentFd the note file that the name leads to now (someone may
** have removed it: notes written to an unlinked file would be lost), opening
** or, if create, creating it.  A new file's name is synced into the
** directory.  Returns 0, 1 if it does not exist (and !create), or -1 with
** errno set.
*/
static int intent_fd(cvec_seg *p, int create){
  struct stat a, b;
  if( p->intentFd>=0 ){
    if( stat(p->zIntentPath, &a)==0 && fstat(p->intentFd, &b)==0
     && a.st_ino==b.st_ino && a.st_dev==b.st_dev ){
      return 0;
    }
    close(p->intentFd);
    p->intentFd = -1;
  }
  int fd = open(p->zIntentPath, O_RDWR|O_CLOEXEC);
  if( fd<0 && errno==ENOENT && create ){
    fd = open(p->zIntentPath, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0666);
    if( fd>=0 && p->syncMode==CVEC_SYNC_FULL ) cvec_sync_parent_dir(p->zIntentPath);
    if( fd<0 && errno==EEXIST ) fd = open(p->zIntentPath, O_RDWR|O_CLOEXEC);
  }
  if( fd<0 ) return errno==ENOENT && !create ? 1 : -1;
  p->intentFd = fd;
  return 0;
}

static int intent_error(cvec_seg *p, int e){
  return cvec_seg_error(p, e==ENOSPC ? CVEC_FULL : CVEC_IOERR,
                        "%s.intent: cannot write: %s", p->zName, strerror(e));
}

/* CRC-32 of record i as this handle sees it (file or buffer). */
static uint32_t record_crc(cvec_seg *p, uint32_t i){
  return cvec_crc32(cvec_seg_record(p, i), p->recsize);
}

/* Fill *pI with a note of this handle's transaction. */
static void make_note(cvec_seg *p, cvec_intent *pI, uint32_t state,
                      uint32_t oldCount, uint32_t newCount, uint64_t txn){
  pI->state = state;
  pI->oldCount = oldCount;
  pI->newCount = newCount;
  pI->txn = txn;
  pI->ino = p->ino;
  pI->tid = p->tid;
  pI->crcFirst = p->nrec>oldCount ? record_crc(p, oldCount) : 0;
  pI->crcLast = newCount>oldCount && newCount<=p->nrec ? record_crc(p, newCount-1) : 0;
  pI->nOwner = (uint32_t)strlen(p->zOwner);
  memcpy(pI->zOwner, p->zOwner, pI->nOwner+1);
}

/*
** Note, durably, that this transaction (from the committed count) writes
** past the count, committing newCount records (0: not known yet), starting
** with the record now at the count.  Called before the bytes it explains
** are written, with pending records in the handle (nrec > count).
*/
static int note_open(cvec_seg *p, uint32_t newCount){
  if( newCount>p->nrec ) newCount = 0;
  if( p->intentOpen && p->intentNew==newCount
   && p->intentCrcFirst==record_crc(p, p->count) ) return CVEC_OK;
  if( intent_fd(p, 1) ){
    /* A directory we may not write (the segment file itself writable):
    ** no notes.  Writes still work; a crash mid-commit then leaves a tail
    ** that only cvec_repair settles (README, "Limits"). */
    if( errno==EACCES || errno==EROFS || errno==EPERM ) return CVEC_OK;
    return intent_error(p, errno);
  }
  cvec_intent n;
  make_note(p, &n, CVEC_INTENT_OPEN, p->count, newCount, p->txn);
  if( cvec_intent_write(p->intentFd, &n, p->syncMode==CVEC_SYNC_FULL) ){
    p->intentOpen = 0;   /* what the file holds now is unknown */
    return intent_error(p, errno);
  }
  p->intentOpen = 1;
  p->intentNew = newCount;
  p->intentOld = p->count;
  p->intentCrcFirst = n.crcFirst;
  return CVEC_OK;
}

/*
** Mark the note done: the file is at rest (count written, or tail cut).
** Not synced: a "done" lost in a crash leaves an open note whose tail is
** gone (nothing to settle) or whose old count is no longer the count (it
** explains nothing).
*/
static int note_done(cvec_seg *p, const cvec_intent *pFrom){
  cvec_intent n;
  if( p->intentFd<0 ) return CVEC_OK;
  n = *pFrom;
  n.state = CVEC_INTENT_DONE;
  if( cvec_intent_write(p->intentFd, &n, 0) ) return intent_error(p, errno);
  p->intentOpen = 0;
  return CVEC_OK;
}

static int note_done_own(cvec_seg *p){
  cvec_intent n;
  if( !p->intentOpen ) return CVEC_OK;
  make_note(p, &n, CVEC_INTENT_DONE, p->intentOld, p->intentNew, p->txn);
  return note_done(p, &n);
}

/*
** With the count current: what lies past the committed records?  Fills
** *pKind, *pBytes and *pNote.  The tail is the note's (CVEC_TAIL_INTENT)
** only if the note is open, starts at the count, is about this inode, and
** the records it names are the ones in the file: record C whole with its
** CRC (a tail shorter than a record holds no record: any writer's torn
** append, cut with no loss), and record N-1, if the note knows N and the
** file holds it.  Anything else is somebody else's.
*/
static int classify(cvec_seg *p, int *pKind, uint64_t *pBytes, cvec_intent *pNote){
  struct stat st;
  if( fstat(p->fd, &st) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: fstat failed: %s",
                          p->zName, strerror(errno));
  }
  p->ino = (uint64_t)st.st_ino;
  p->sizeSeen = st.st_size;
  off_t want = cvec_rec_offset(p, p->count);
  *pKind = CVEC_TAIL_NONE;
  *pBytes = 0;
  if( st.st_size <= want ) return CVEC_OK;
  *pKind = CVEC_TAIL_FOREIGN;
  *pBytes = (uint64_t)(st.st_size - want);
  int r = intent_fd(p, 0);
  if( r<0 ){
    return cvec_seg_error(p, CVEC_IOERR, "%s.intent: cannot open: %s",
                          p->zName, strerror(errno));
  }
  if( r ) return CVEC_OK;
  r = cvec_intent_read(p->intentFd, pNote);
  if( r<0 ){
    return cvec_seg_error(p, CVEC_IOERR, "%s.intent: read failed: %s",
                          p->zName, strerror(errno));
  }
  if( r==0 && cvec_intent_explains(pNote, p->fd, p->ino, st.st_size, p->count,
                                   p->recsize) ){
    *pKind = CVEC_TAIL_INTENT;
  }
  return CVEC_OK;
}

/* Under the lock: classify, and refuse appends until settled. */
static int classify_tail(cvec_seg *p){
  int kind;
  int rc = classify(p, &kind, &p->tailBytes, &p->tailNote);
  if( rc ) return rc;
  p->tailKind = kind;
  p->unsettled = kind!=CVEC_TAIL_NONE;
  return CVEC_OK;
}

static void tail_info(int kind, uint64_t nBytes, const cvec_intent *n,
                      cvec_tail_info *pInfo){
  memset(pInfo, 0, sizeof(*pInfo));
  pInfo->zOwner = "";
  pInfo->kind = kind;
  pInfo->nBytes = nBytes;
  if( kind==CVEC_TAIL_INTENT ){
    pInfo->txn = n->txn;
    pInfo->oldCount = n->oldCount;
    pInfo->newCount = n->newCount;
    pInfo->zOwner = n->zOwner;
    pInfo->tid = n->tid;
  }
}

int cvec_seg_peek_tail(cvec_seg *p, cvec_tail_info *pInfo){
  int kind;
  uint64_t nBytes;
  memset(pInfo, 0, sizeof(*pInfo));
  pInfo->zOwner = "";
  if( p->locked ){
    cvec_seg_tail(p, pInfo);
    return CVEC_OK;
  }
  int rc = classify(p, &kind, &nBytes, &p->tailNote);
  if( rc ) return rc;
  tail_info(kind, nBytes, &p->tailNote, pInfo);
  return CVEC_OK;
}

void cvec_seg_tail(cvec_seg *p, cvec_tail_info *pInfo){
  if( !p->locked || !p->unsettled ){
    tail_info(CVEC_TAIL_NONE, 0, 0, pInfo);
    return;
  }
  tail_info(p->tailKind, p->tailBytes, &p->tailNote, pInfo);
}

/* The refusal of an append (or a settle) while the tail is unsettled. */
static int tail_error(cvec_seg *p){
  if( p->tailKind==CVEC_TAIL_INTENT ){
    const char *z = p->tailNote.zOwner;
    return cvec_seg_error(p, CVEC_BUSY, "%s: a transaction of %s did not "
        "finish (a crash?); it must be settled by that database first, or "
        "by cvec_repair", p->zName, z[0] ? z : "a database without a file");
  }
  return cvec_seg_error(p, CVEC_CORRUPT, "%s: %llu bytes past the %u "
      "committed records were not written by a cvec transaction (another "
      "program?); writes are refused until cvec_repair adopts or discards "
      "them", p->zName, (unsigned long long)p->tailBytes, p->count);
}

int cvec_seg_settle(cvec_seg *p, int forward){
  int rc = CVEC_OK;
  if( !p->locked || !p->unsettled ) return CVEC_OK;
  if( p->tailKind!=CVEC_TAIL_INTENT ) return tail_error(p);
  cvec_intent *n = &p->tailNote;
  if( forward && n->newCount==0 ){
    return cvec_seg_error(p, CVEC_ERROR, "%s: the transaction cannot be "
        "rolled forward: its rows were never all written", p->zName);
  }
  if( forward ){
    off_t need = cvec_rec_offset(p, n->newCount);
    if( p->sizeSeen < need ){
      return cvec_seg_error(p, CVEC_CORRUPT, "%s: a transaction committed "
          "%u records but the file holds only %lld bytes of them", p->zName,
          n->newCount - p->count,
          (long long)(p->sizeSeen - cvec_rec_offset(p, p->count)));
    }
    unsigned char b[4];
    cvec_put_u32le(b, n->newCount);
    if( cvec_pwrite_all(p->fd, b, 4, 12)
     || (p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd)) ){
      return cvec_seg_error(p, CVEC_IOERR, "%s: cannot write count: %s",
                            p->zName, strerror(errno));
    }
    /* Take the records in as a reader would (refresh is for readers), then
    ** rebuild the index file: the dead transaction left slots for its ids
    ** in it, which nothing vouches for.  Rare (crash recovery), so O(N). */
    p->locked = 0;
    rc = cvec_seg_refresh(p);
    p->locked = 1;
    if( rc ) return rc;
    p->maxIdCommitted = p->maxId;
    if( p->xidx && cvec_idxfile_writable(p->xidx)
     && cvec_seg_regrow_idxfile(p)==0 ){
      (void)cvec_seg_reset_overlay(p, p->count);
    }
  }
  rc = cut_tail(p, p->count);
  if( rc==CVEC_OK && p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd) ){
    rc = cvec_seg_error(p, CVEC_IOERR, "%s: fdatasync failed: %s",
                        p->zName, strerror(errno));
  }
  if( rc==CVEC_OK ) rc = note_done(p, n);
  if( rc==CVEC_OK ){
    p->unsettled = 0;
    p->tailKind = CVEC_TAIL_NONE;
    p->sizeSeen = cvec_rec_offset(p, p->count);
  }
  return rc;
}

int cvec_seg_begin_write(cvec_seg *p){
  if( p->locked ) return CVEC_OK;
  if( p->readonly ){
    return cvec_seg_error(p, CVEC_READONLY, "%s is read-only", p->zName);
  }
  if( lock_op(p, F_WRLCK) ){
    if( errno==EAGAIN || errno==EACCES || errno==EWOULDBLOCK ){
      return cvec_seg_error(p, CVEC_BUSY, "%s is locked by another writer",
                            p->zName);
    }
    return cvec_seg_error(p, CVEC_IOERR, "%s: cannot lock: %s",
                          p->zName, strerror(errno));
  }
  /* Rows appended to a file that no longer has our name would be lost:
  ** refuse if the segment was replaced or removed while open. */
  int rc = cvec_seg_still_named(p);
  /* Under the lock the count cannot move: catch up with it now, so that
  ** duplicate-id and max(id)+1 decisions from here on are final. */
  if( rc==CVEC_OK ) rc = cvec_seg_refresh(p);
  /* The writer extends the index file in place: make sure it is the one
  ** readers open by name (another handle may have rebuilt it, or somebody
  ** deleted it), or the extensions would go to a file nobody reads. */
  if( rc==CVEC_OK ) rc = cvec_seg_follow_idxfile(p, 0);
  if( rc==CVEC_OK ) rc = classify_tail(p);
  if( rc ){
    (void)lock_op(p, F_UNLCK);
    return rc;
  }
  p->locked = 1;
  p->touched = 0;
  p->synced = 0;
  p->pendInFile = 1;
  p->intentOpen = 0;
  p->intentNew = 0;
  return CVEC_OK;
}

/* ------------------------------------------------------------------------ */
/* Appending                                                                 */
/* ------------------------------------------------------------------------ */

/*
** Write the buffered records [nflushed, nrec) to the file's tail in one
** write.  The new map is made first (mapping past end-of-file is allowed), so
** that a failure leaves the handle exactly as it was: the bytes that did reach
** the file are an uncommitted tail that the next flush overwrites.
*/
static int flush(cvec_seg *p){
  if( p->nrec==p->nflushed ) return CVEC_OK;
  size_t len = (size_t)cvec_rec_offset(p, p->nrec);
  void *m = mmap(0, len, PROT_READ, MAP_SHARED, p->fd, 0);
  if( m==MAP_FAILED ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: mmap failed: %s",
                          p->zName, strerror(errno));
  }
  /* The note that explains these bytes goes first: at the first flush of
  ** the transaction, and again whenever a flush starts at the count anew
  ** (ROLLBACK TO emptied the tail), since the note names its first record. */
  int rc = p->intentOpen && p->nflushed>p->count ? CVEC_OK
         : note_open(p, p->intentOpen ? p->intentNew : 0);
  if( rc ){
    munmap(m, len);
    return rc;
  }
  size_t n = (size_t)(p->nrec - p->nflushed) * p->recsize;
  p->touched = 1;
  if( cvec_pwrite_all(p->fd, p->aBuf, n, cvec_rec_offset(p, p->nflushed)) ){
    int e = errno;
    munmap(m, len);
    return cvec_seg_error(p, e==ENOSPC ? CVEC_FULL : CVEC_IOERR,
                          "%s: write failed: %s", p->zName, strerror(e));
  }
  if( cvec_seg_set_map(p, m, len) ){
    /* The records stay in the buffer; what reached the file is tail. */
    munmap(m, len);
    return cvec_seg_error(p, CVEC_NOMEM, "%s: out of memory", p->zName);
  }
  p->nflushed = p->nrec;
  return CVEC_OK;
}

static int dup_error(cvec_seg *p, uint32_t id){
  return cvec_seg_error(p, CVEC_CONSTRAINT, "%s: id %u already exists",
                        p->zName, id);
}

/* True if id is in the overlay (records [base, nrec) not in the file). */
static int in_overlay(cvec_seg *p, uint32_t id){
  int64_t r = cvec_index_get(&p->idx, id);
  return r>=0 && r<(int64_t)p->nrec && cvec_seg_record_id(p, (uint32_t)r)==id;
}

/*
** Index the record about to become number nrec.  It goes into the index
** file when this handle may write it (no memory per pending row; a table
** that would pass half full is rebuilt twice as large first), else into the
** overlay.  Nothing is changed on failure.
*/
static int index_pending(cvec_seg *p, uint32_t id){
  if( p->xidx && cvec_idxfile_writable(p->xidx) ){
    /* one probe both finds a duplicate and places the new id */
    int r = cvec_idxfile_put(p->xidx, p, id, p->nrec);
    if( r==1 && cvec_seg_regrow_idxfile(p)==0 ){
      r = cvec_idxfile_put(p->xidx, p, id, p->nrec);
    }
    if( r==-2 ){
      int rc = cvec_seg_drop_idxfile(p);
      if( rc ) return rc;
      return index_pending(p, id);
    }
    if( r==0 ){
      p->idxDirty = 1;
      return CVEC_OK;
    }
    if( r==2 ) return dup_error(p, id);
    /* the file cannot take it (too full and no room to rebuild): overlay */
  }
  p->pendInFile = 0;
  int r = cvec_index_put(&p->idx, id, p->nrec);
  if( r<0 ){
    return cvec_seg_error(p, CVEC_NOMEM, "%s: out of memory for the id index",
                          p->zName);
  }
  return r==0 ? dup_error(p, id) : CVEC_OK;
}

int cvec_seg_append(cvec_seg *p, uint32_t id, const void *vec){
  if( p->readonly ){
    return cvec_seg_error(p, CVEC_READONLY, "%s is read-only", p->zName);
  }
  if( !p->locked ){
    return cvec_seg_error(p, CVEC_ERROR, "%s: append without the write lock",
                          p->zName);
  }
  if( p->unsettled ) return tail_error(p);
  if( id==0 ){
    return cvec_seg_error(p, CVEC_RANGE, "id 0 is out of range 1..%u",
                          CVEC_MAX_ID);
  }
  /* Duplicates: with a writable index file, the overlay is checked here and
  ** the file by the same probe that places the id (index_pending). */
  if( p->xidx && cvec_idxfile_writable(p->xidx) ? in_overlay(p, id)
                                                : cvec_seg_lookup(p, id)>=0 ){
    return dup_error(p, id);
  }
  if( p->broken ) return CVEC_NOMEM;   /* the lookup could not be answered */
  if( p->nrec >= p->limit ){
    return cvec_seg_error(p, CVEC_FULL,
        "%s: segment is full (%u records is the limit)", p->zName, p->limit);
  }

  /* Room for one more record in the buffer, flushing it when it is full. */
  size_t nBuf = p->nrec - p->nflushed;
  if( nBuf>0 && (nBuf+1)*p->recsize > FLUSH_BYTES ){
    int rc = flush(p);
    if( rc ) return rc;
    nBuf = 0;
  }
  if( nBuf >= p->nBufAlloc ){
    size_t nNew = p->nBufAlloc ? p->nBufAlloc*2 : 16;
    size_t nMax = FLUSH_BYTES/p->recsize;
    if( nMax<1 ) nMax = 1;
    if( nNew>nMax ) nNew = nMax;
    if( nNew<=nBuf ) nNew = nBuf+1;
    unsigned char *a = realloc(p->aBuf, nNew*p->recsize);
    if( a==0 ){
      return cvec_seg_error(p, CVEC_NOMEM, "%s: out of memory", p->zName);
    }
    p->aBuf = a;
    p->nBufAlloc = nNew;
  }
  int rc = index_pending(p, id);
  if( rc ) return rc;
  unsigned char *r = p->aBuf + nBuf*p->recsize;
  cvec_put_u32le(r, id);
  memcpy(r+4, vec, p->recsize-4);
  p->nrec++;
  p->synced = 0;
  if( id>p->maxId ) p->maxId = id;
  return CVEC_OK;
}

int cvec_seg_truncate_pending(cvec_seg *p, uint32_t n){
  uint32_t target = p->count + n;
  int damaged = 0;
  if( target >= p->nrec ) return CVEC_OK;
  for(uint32_t i=target; i<p->nrec; i++){
    uint32_t id = cvec_seg_record_id(p, i);
    cvec_index_del(&p->idx, id);
    if( p->xidx && cvec_idxfile_writable(p->xidx) && !damaged
     && cvec_idxfile_unput(p->xidx, id, i) ){
      damaged = 1;   /* the file is rebuilt below, for what remains */
    }
  }
  p->maxId = p->maxIdCommitted;
  for(uint32_t i=p->count; i<target; i++){
    uint32_t id = cvec_seg_record_id(p, i);
    if( id>p->maxId ) p->maxId = id;
  }
  /* Records [target, nflushed) already in the file become tail bytes that
  ** the next flush overwrites (and that sync or rollback cuts off). */
  if( target < p->nflushed ) p->nflushed = target;
  p->nrec = target;
  p->synced = 0;
  if( damaged ) return cvec_seg_drop_idxfile(p);
  return CVEC_OK;
}

/* ------------------------------------------------------------------------ */
/* Commit protocol                                                           */
/* ------------------------------------------------------------------------ */

/* Make the file end exactly after record n-1 if it is longer. */
static int cut_tail(cvec_seg *p, uint32_t n){
  struct stat st;
  off_t want = cvec_rec_offset(p, n);
  if( fstat(p->fd, &st) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: fstat failed: %s",
                          p->zName, strerror(errno));
  }
  if( st.st_size > want && cvec_io.xFtruncate(p->fd, want) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: truncate failed: %s",
                          p->zName, strerror(errno));
  }
  return CVEC_OK;
}

int cvec_seg_sync(cvec_seg *p){
  int rc;
  if( !p->locked ) return CVEC_OK;
  if( p->nrec==p->count && !p->touched ) return CVEC_OK;  /* wrote nothing */
  /* The note learns the new count before the last records are written:
  ** once this returns, the database may commit, and a crash after that is
  ** settled by rolling forward to it. */
  if( p->nrec>p->count ){
    rc = note_open(p, p->nrec);
    if( rc ) return rc;
  }
  rc = flush(p);
  if( rc ) return rc;
  /* An older, longer tail (a torn write, rows cut by ROLLBACK TO) must not
  ** outlive the commit: other readers of the format read to end-of-file. */
  rc = cut_tail(p, p->nrec);
  if( rc ) return rc;
  if( p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: fdatasync failed: %s",
                          p->zName, strerror(errno));
  }
  p->synced = 1;
  return CVEC_OK;
}

/*
** After a commit: add the new records to the index file, so that the next
** open finds them without reading the .vec.  Nothing here can fail the
** commit: a file that cannot be extended stays valid for what it covers
** (the overlay covers the rest), a full one is rebuilt twice as large, a
** damaged one rebuilt or dropped.
*/
void cvec_seg_update_idxfile(cvec_seg *p, uint32_t oldCount){
  cvec_idxfile *x = p->xidx;
  if( x==0 || !cvec_idxfile_writable(x) ) return;
  /* The records of this commit are [base count, count); with pendInFile
  ** they already have their slots and only the header moves. */
  uint32_t placedFrom = p->pendInFile ? oldCount : p->count;
  int r = cvec_idxfile_extend(x, p, p->count, placedFrom, p->maxId);
  if( r==0 ){
    p->idxDirty = 1;
  }else if( r==1 ){
    (void)cvec_seg_regrow_idxfile(p);
  }else if( r==-2 ){
    (void)cvec_seg_drop_idxfile(p);
    return;
  }
  if( cvec_idxfile_covered(p->xidx)==p->count ){
    (void)cvec_seg_reset_overlay(p, p->count);   /* empties the overlay */
  }
}

/*
** Publish the count.  SQLite has committed the database when it calls this
** (xCommit), so if the count cannot be written the records must not go:
** they stay as the tail that the open note explains (with its new count),
** and the next writer rolls them forward once the database confirms the
** commit.  A caller without a database gets the same: a synced transaction
** whose commit failed is settled forward.
*/
int cvec_seg_commit(cvec_seg *p){
  int rc;
  if( !p->locked ) return CVEC_OK;
  rc = p->synced ? CVEC_OK : cvec_seg_sync(p);
  if( rc ){
    /* The records are not durable: nobody can have committed them.  Drop
    ** them (keeping the message of the first failure). */
    char zSave[CVEC_ERRMSG_MAX];
    memcpy(zSave, p->zErr, sizeof(zSave));
    (void)cvec_seg_rollback(p);
    memcpy(p->zErr, zSave, sizeof(zSave));
    return rc;
  }
  if( p->nrec!=p->count ){
    unsigned char b[4];
    cvec_put_u32le(b, p->nrec);
    if( cvec_pwrite_all(p->fd, b, 4, 12) ){
      rc = cvec_seg_error(p, CVEC_IOERR, "%s: cannot write count: %s",
                          p->zName, strerror(errno));
      /* Part of the new count may have reached the file (a short write):
      ** put the old one back, so that the header never claims part of the
      ** batch.  Whatever it holds now, the records stay behind it: the
      ** open note lets the next writer settle them. */
      unsigned char o[4];
      cvec_put_u32le(o, p->count);
      (void)cvec_pwrite_all(p->fd, o, 4, 12);
      (void)cvec_seg_truncate_pending(p, 0);
      p->nflushed = p->nrec = p->count;
      p->broken = 1;                /* re-read the count before use */
      unlock(p);
      return rc;
    }
    /* The new count is in the file (other handles may already read it),
    ** so the records are committed whatever fdatasync says; a failure
    ** only means they may not survive a power loss, and is reported (the
    ** note stays open: a power loss that takes the count is settled
    ** forward). */
    uint32_t oldCount = p->count;
    p->count = p->nrec;
    p->maxIdCommitted = p->maxId;
    cvec_seg_update_idxfile(p, oldCount);
    if( p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd) ){
      cvec_seg_error(p, CVEC_IOERR, "%s: fdatasync failed: %s",
                     p->zName, strerror(errno));
      p->intentOpen = 0;
      unlock(p);
      return CVEC_IOERR;
    }
  }
  rc = note_done_own(p);
  unlock(p);
  return rc;
}

int cvec_seg_rollback(cvec_seg *p){
  int rc = CVEC_OK;
  if( !p->locked ) return CVEC_OK;
  (void)cvec_seg_truncate_pending(p, 0);
  p->nflushed = p->nrec = p->count;
  if( p->touched ){
    rc = cut_tail(p, p->count);
    /* with sync=full the cut is durable before the note says "done": a
    ** power loss must not bring back a tail under an open note */
    if( rc==CVEC_OK && p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd) ){
      rc = cvec_seg_error(p, CVEC_IOERR, "%s: fdatasync failed: %s",
                          p->zName, strerror(errno));
    }
    p->touched = 0;
  }
  /* "done" only once the tail is gone: else the note still explains it */
  if( rc==CVEC_OK ){
    rc = note_done_own(p);
  }else{
    p->intentOpen = 0;
  }
  p->unsettled = 0;
  unlock(p);
  return rc;
}
