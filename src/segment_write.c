/*
** segment_write.c — the write side of a segment: the write lock, appending a
** batch, and the commit protocol of SPEC §4 (see cvec_segment.h for the order
** of calls).
**
** Durability rests on one rule, LMDB's data-before-meta: the records of a
** transaction reach the file (and, with sync=full, the disk) in
** cvec_seg_sync(), before cvec_seg_commit() writes the count that makes them
** part of the segment.  A crash before the count is written leaves only an
** uncommitted tail, which readers ignore and the next writer overwrites.
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
  if( rc ){
    (void)lock_op(p, F_UNLCK);
    return rc;
  }
  p->locked = 1;
  p->touched = 0;
  p->synced = 0;
  p->pendInFile = 1;
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

int cvec_seg_commit(cvec_seg *p){
  int rc;
  if( !p->locked ) return CVEC_OK;
  rc = p->synced ? CVEC_OK : cvec_seg_sync(p);
  if( rc==CVEC_OK && p->nrec!=p->count ){
    unsigned char b[4];
    cvec_put_u32le(b, p->nrec);
    if( cvec_pwrite_all(p->fd, b, 4, 12) ){
      rc = cvec_seg_error(p, CVEC_IOERR, "%s: cannot write count: %s",
                          p->zName, strerror(errno));
      /* Part of the new count may have reached the file (a short write):
      ** put the old one back before the records go, or the file would
      ** claim records it no longer holds, or part of the batch.  If even
      ** that fails, keep the records: every count the header may hold then
      ** still has its records behind it. */
      unsigned char o[4];
      cvec_put_u32le(o, p->count);
      if( cvec_pwrite_all(p->fd, o, 4, 12) ){
        char zSave[CVEC_ERRMSG_MAX];
        memcpy(zSave, p->zErr, sizeof(zSave));
        p->touched = 0;               /* so the rollback does not cut */
        (void)cvec_seg_rollback(p);
        memcpy(p->zErr, zSave, sizeof(zSave));
        p->broken = 1;                /* re-read the count before use */
        return rc;
      }
    }else{
      /* The new count is in the file (other handles may already read it),
      ** so the records are committed whatever fdatasync says; a failure
      ** only means they may not survive a power loss, and is reported. */
      uint32_t oldCount = p->count;
      p->count = p->nrec;
      p->maxIdCommitted = p->maxId;
      cvec_seg_update_idxfile(p, oldCount);
      if( p->syncMode==CVEC_SYNC_FULL && cvec_fdatasync(p->fd) ){
        cvec_seg_error(p, CVEC_IOERR, "%s: fdatasync failed: %s",
                       p->zName, strerror(errno));
        unlock(p);
        return CVEC_IOERR;
      }
    }
  }
  if( rc ){
    /* The records did not become committed here.  Drop them (keeping the
    ** message of the first failure), and re-read the count at the next
    ** statement: refresh rebuilds the view if it moved. */
    char zSave[CVEC_ERRMSG_MAX];
    memcpy(zSave, p->zErr, sizeof(zSave));
    (void)cvec_seg_rollback(p);
    memcpy(p->zErr, zSave, sizeof(zSave));
    return rc;
  }
  unlock(p);
  return CVEC_OK;
}

int cvec_seg_rollback(cvec_seg *p){
  int rc = CVEC_OK;
  if( !p->locked ) return CVEC_OK;
  (void)cvec_seg_truncate_pending(p, 0);
  p->nflushed = p->nrec = p->count;
  if( p->touched ){
    rc = cut_tail(p, p->count);
    p->touched = 0;
  }
  unlock(p);
  return rc;
}
