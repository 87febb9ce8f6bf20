/*
** segment_check.c — integrity check and explicit repair of a segment file.
**
** cvec_seg_check() reads a segment and reports every problem it finds
** through a callback, without changing anything: a bad header, a file
** shorter than its count, bytes past the committed records (complete records
** another writer left past a low count, or a torn tail), records with id 0,
** repeated ids, and an index file that is missing, rejected, behind, damaged
** or in disagreement with the records.
**
** cvec_seg_repair() is the explicit fix for what other writers of the format
** leave behind, and never runs by itself: under the segment's write lock it
** either adopts the complete records past the count (raising the count) or
** discards them (cutting the file back), cuts off a partial record, lowers a
** count that claims more records than the file holds, and removes the index
** file (derived data: the next handle that may write rebuilds it) and the
** intent note (segment_intent.h).  A tail that an intent note explains is
** reported as "unfinished": the owner's next write settles it by itself.
*/
#define _GNU_SOURCE 1
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Report one problem; the callback's non-zero result stops the check. */
static int report(cvec_problem_fn x, void *ctx, const char *zKind,
                  int64_t iRec, int64_t iId, const char *zFmt, ...)
  __attribute__((format(printf, 6, 7)));
static int report(cvec_problem_fn x, void *ctx, const char *zKind,
                  int64_t iRec, int64_t iId, const char *zFmt, ...){
  char z[300];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(z, sizeof(z), zFmt, ap);
  va_end(ap);
  return x(ctx, zKind, iRec, iId, z);
}

/* What the raw file says: header fields and the complete records it holds. */
typedef struct raw_info {
  uint32_t dim, count;
  size_t recsize;
  off_t size;
  uint64_t complete;     /* whole records after the header */
  off_t partial;         /* bytes of a partial record after them */
} raw_info;

/*
** Read the header of fd.  Returns 0 if magic, version and dimension are
** usable (the records can be walked), else reports why and returns 1 (or
** -1 with zErr on an I/O error).
*/
static int read_raw(int fd, const char *zName, raw_info *r,
                    cvec_problem_fn x, void *ctx, char *zErr){
  unsigned char h[CVEC_HEADER_SIZE];
  struct stat st;
  memset(r, 0, sizeof(*r));
  if( fstat(fd, &st) ){
    snprintf(zErr, CVEC_ERRMSG_MAX, "%s: fstat failed: %s", zName, strerror(errno));
    return -1;
  }
  r->size = st.st_size;
  if( st.st_size < (off_t)CVEC_HEADER_SIZE ){
    report(x, ctx, "header", -1, -1, "file too short for a CVEC header (%lld bytes)",
           (long long)st.st_size);
    return 1;
  }
  if( cvec_pread_all(fd, h, sizeof(h), 0) ){
    snprintf(zErr, CVEC_ERRMSG_MAX, "%s: read failed: %s", zName,
             errno ? strerror(errno) : "end of file");
    return -1;
  }
  if( memcmp(h, CVEC_MAGIC, 4)!=0 ){
    report(x, ctx, "header", -1, -1, "bad magic");
    return 1;
  }
  if( cvec_get_u32le(h+4)!=CVEC_VERSION_1 ){
    report(x, ctx, "header", -1, -1, "unsupported version %u", cvec_get_u32le(h+4));
    return 1;
  }
  r->dim = cvec_get_u32le(h+8);
  if( r->dim==0 || r->dim>CVEC_MAX_DIM ){
    report(x, ctx, "header", -1, -1, "dimension %u is out of range 1..%u",
           r->dim, CVEC_MAX_DIM);
    return 1;
  }
  r->count = cvec_get_u32le(h+12);
  r->recsize = 4 + 4*(size_t)r->dim;
  r->complete = (uint64_t)(st.st_size - CVEC_HEADER_SIZE) / r->recsize;
  r->partial = (st.st_size - (off_t)CVEC_HEADER_SIZE) % (off_t)r->recsize;
  return 0;
}

static int ignore_problem(void *ctx, const char *k, int64_t r, int64_t i,
                          const char *z){
  (void)ctx; (void)k; (void)r; (void)i; (void)z;
  return 0;
}

/*
** Bytes past the count: does the intent note (segment_intent.h) explain
** them as the tail of a cvec transaction that did not finish?  If so,
** report that ("unfinished") and return 1; -1 if the callback said stop;
** 0 if they are unexplained (reported as "tail" by the caller).
*/
static int check_note(const char *zPath, const char *zName, const raw_info *r,
                      uint64_t ino, cvec_problem_fn x, void *ctx){
  size_t n = strlen(zPath) + 8;
  char *z = malloc(n);
  if( z==0 ) return 0;
  snprintf(z, n, "%s.intent", zPath);
  int fd = open(z, O_RDONLY|O_CLOEXEC);
  free(z);
  if( fd<0 ) return 0;
  cvec_intent *note = malloc(sizeof(*note));
  int ok = note && cvec_intent_read(fd, note)==0;
  close(fd);
  /* the writers' rule (segment_intent.h) */
  fd = ok ? open(zPath, O_RDONLY|O_CLOEXEC|O_NONBLOCK) : -1;
  ok = fd>=0 && cvec_intent_explains(note, fd, ino, r->size, r->count, r->recsize);
  if( fd>=0 ) close(fd);
  int rc = 0;
  if( ok ){
    const char *zOwner = note->zOwner[0] ? note->zOwner
                       : note->tid ? "another table" : "a database without a file";
    if( note->newCount ){
      rc = report(x, ctx, "unfinished", r->count, -1, "%s: a transaction of "
          "%s did not finish; its %u records past the count are rolled forward "
          "at its next write if its database committed it, else cut", zName,
          zOwner, note->newCount - r->count);
    }else{
      rc = report(x, ctx, "unfinished", r->count, -1, "%s: a transaction of "
          "%s did not finish before its rows were synced; its %lld bytes past "
          "the count are cut at its next write", zName,
          zOwner,
          (long long)(r->size - (off_t)CVEC_HEADER_SIZE
                      - (off_t)r->count*(off_t)r->recsize));
    }
    rc = rc ? -1 : 1;
  }
  free(note);
  return rc;
}

int cvec_seg_check(const char *zPath, const char *zName, cvec_problem_fn x,
                   void *ctx, char *zErr){
  raw_info r;
  int fd, rc;
  zErr[0] = 0;
  fd = open(zPath, O_RDONLY|O_CLOEXEC|O_NONBLOCK);
  if( fd<0 ){
    int e = errno;
    snprintf(zErr, CVEC_ERRMSG_MAX, e==ENOENT ? "%s: no such file"
             : "%s: cannot open: %s", zName, strerror(e));
    return e==ENOENT ? CVEC_NOTFOUND : CVEC_CANTOPEN;
  }
  rc = read_raw(fd, zName, &r, x, ctx, zErr);
  struct stat st;
  uint64_t ino = fstat(fd, &st)==0 ? (uint64_t)st.st_ino : 0;
  close(fd);
  if( rc<0 ) return CVEC_IOERR;
  if( rc>0 ) return CVEC_OK;      /* the header was the problem, reported */
  int explained = 0;
  if( r.complete >= r.count && (r.complete > r.count || r.partial) ){
    explained = check_note(zPath, zName, &r, ino, x, ctx);
    if( explained<0 ) return CVEC_OK;   /* the callback said stop */
  }

  /* The committed length against the file. */
  uint32_t nWalk = r.count;
  if( r.complete < r.count ){
    if( report(x, ctx, "short", -1, -1, "count %u needs %lld bytes but the file "
               "has %lld: %llu complete records", r.count,
               (long long)(CVEC_HEADER_SIZE + (off_t)r.count*(off_t)r.recsize),
               (long long)r.size, (unsigned long long)r.complete) ) return CVEC_OK;
    nWalk = (uint32_t)r.complete;
  }else if( explained ){
    /* reported by check_note */
  }else if( r.complete > r.count ){
    if( report(x, ctx, "tail", r.count, -1, "%llu complete records past the "
               "count of %u", (unsigned long long)(r.complete - r.count),
               r.count) ) return CVEC_OK;
  }
  if( r.partial && !explained ){
    if( report(x, ctx, "tail", (int64_t)r.complete, -1, "%lld bytes of a partial "
               "record at the end", (long long)r.partial) ) return CVEC_OK;
  }
  if( r.complete < r.count ) return CVEC_OK;   /* cannot open it as a segment */

  /* The records, through a read-only handle (which also finds the index). */
  cvec_seg *p = 0;
  rc = cvec_seg_open(zPath, zName, 0, CVEC_OPEN_READONLY, &p, zErr);
  if( rc ) return rc;
  cvec_index seen;
  cvec_index_init(&seen);
  if( cvec_index_reserve(&seen, nWalk) ){
    cvec_seg_close(p);
    snprintf(zErr, CVEC_ERRMSG_MAX, "%s: out of memory", zName);
    return CVEC_NOMEM;
  }
  int stop = 0;
  for(uint32_t i=0; i<p->count && !stop; i++){
    uint32_t id = cvec_seg_record_id(p, i);
    if( id==0 ){
      stop = report(x, ctx, "zero_id", i, 0, "record %u has id 0 (skipped)", i);
    }else if( cvec_index_put(&seen, id, i)==0 ){
      stop = report(x, ctx, "duplicate", i, id, "id %u repeats record %lld "
                    "(the first occurrence wins)", id,
                    (long long)cvec_index_get(&seen, id));
    }
  }

  /* The index file: present, accepted, complete, and right for every id. */
  const char *zWhy = 0;
  cvec_idxfile *xi = stop ? 0 : cvec_idxfile_open(p, p->zIdxPath, 0, &zWhy);
  if( !stop && xi==0 ){
    stop = report(x, ctx, "index", -1, -1, "%s.idx: %s", zName, zWhy);
  }else if( xi ){
    uint32_t covered = cvec_idxfile_covered(xi);
    if( covered < p->count ){
      stop = report(x, ctx, "index", covered, -1, "%s.idx covers %u of %u "
                    "records (behind: the rest is indexed in memory at open)",
                    zName, covered, p->count);
    }
    for(uint32_t i=0; i<covered && !stop; i++){
      uint32_t id = cvec_seg_record_id(p, i);
      if( id==0 || cvec_index_get(&seen, id)!=(int64_t)i ) continue;
      int64_t got = cvec_idxfile_get(xi, id, p->count);
      if( got!=(int64_t)i ){
        stop = report(x, ctx, "index", i, id, got==-2 ?
                      "%s.idx: damaged slot met looking up id %u" :
                      "%s.idx: id %u gives record %lld, not %u", zName, id,
                      (long long)got, i);
      }
    }
    cvec_idxfile_close(xi);
  }
  cvec_index_free(&seen);
  cvec_seg_close(p);
  return CVEC_OK;
}

int cvec_seg_repair(const char *zPath, const char *zName, int mode,
                    uint32_t *pOld, uint32_t *pNew, char *zErr){
  raw_info r;
  int rc = CVEC_OK;
  zErr[0] = 0;
  int fd = open(zPath, O_RDWR|O_CLOEXEC|O_NONBLOCK);
  if( fd<0 ){
    int e = errno;
    snprintf(zErr, CVEC_ERRMSG_MAX, e==ENOENT ? "%s: no such file"
             : "%s: cannot open: %s", zName, strerror(e));
    return e==ENOENT ? CVEC_NOTFOUND : CVEC_CANTOPEN;
  }
  /* Another writer (or a connection in a write transaction) must finish
  ** first: the repair rewrites the commit point. */
  if( cvec_lock_fd(fd, F_WRLCK) ){
    int e = errno;
    close(fd);
    if( e==EAGAIN || e==EACCES || e==EWOULDBLOCK ){
      snprintf(zErr, CVEC_ERRMSG_MAX, "%s is locked by another writer", zName);
      return CVEC_BUSY;
    }
    snprintf(zErr, CVEC_ERRMSG_MAX, "%s: cannot lock: %s", zName, strerror(e));
    return CVEC_IOERR;
  }
  int h = read_raw(fd, zName, &r, ignore_problem, 0, zErr);
  if( h<0 ){
    rc = CVEC_IOERR;
  }else if( h>0 ){
    snprintf(zErr, CVEC_ERRMSG_MAX, "%s: not a CVEC segment with a usable "
             "header; nothing repaired", zName);
    rc = CVEC_CORRUPT;
  }
  uint64_t keep = 0;
  if( rc==CVEC_OK ){
    /* Records to keep: all complete ones (adopt), or the counted ones that
    ** are really there (discard). */
    keep = mode==CVEC_REPAIR_ADOPT ? r.complete
         : (r.count < r.complete ? r.count : r.complete);
    if( keep > CVEC_MAX_ID ) keep = CVEC_MAX_ID;
    *pOld = r.count;
    *pNew = (uint32_t)keep;
    off_t want = (off_t)CVEC_HEADER_SIZE + (off_t)keep*(off_t)r.recsize;
    unsigned char b[4];
    cvec_put_u32le(b, (uint32_t)keep);
    /* A lower count first, then the cut; a higher count after the records
    ** it adopts are synced: a crash between the steps leaves either state,
    ** both whole. */
    if( keep < r.count && (cvec_pwrite_all(fd, b, 4, 12) || cvec_fdatasync(fd)) ){
      rc = CVEC_IOERR;
    }
    if( rc==CVEC_OK && r.size > want && (cvec_io.xFtruncate(fd, want) || cvec_fdatasync(fd)) ){
      rc = CVEC_IOERR;
    }
    if( rc==CVEC_OK && keep > r.count
     && (cvec_pwrite_all(fd, b, 4, 12) || cvec_fdatasync(fd)) ){
      rc = CVEC_IOERR;
    }
    if( rc ){
      snprintf(zErr, CVEC_ERRMSG_MAX, "%s: repair failed: %s", zName,
               strerror(errno));
    }
  }
  /* The index describes the old records: it goes, and is rebuilt.  The
  ** intent note goes too: what it explained is decided now, and a note
  ** left open would take a later tail for its own. */
  static const char *azSide[] = { "idx", "intent" };
  for(int i=0; rc==CVEC_OK && i<2; i++){
    size_t n = strlen(zPath) + 8;
    char *zSide = malloc(n);
    if( zSide==0 ){
      snprintf(zErr, CVEC_ERRMSG_MAX, "out of memory");
      rc = CVEC_NOMEM;
      break;
    }
    snprintf(zSide, n, "%s.%s", zPath, azSide[i]);
    if( unlink(zSide) && errno!=ENOENT ){
      snprintf(zErr, CVEC_ERRMSG_MAX, "%s.%s: cannot remove: %s", zName,
               azSide[i], strerror(errno));
      rc = CVEC_IOERR;
    }
    free(zSide);
  }
  (void)cvec_lock_fd(fd, F_UNLCK);
  close(fd);
  return rc;
}
