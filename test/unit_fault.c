/*
** unit_fault.c — fault injection into the storage core's file operations
** (cvec_io, as SQLite tests its VFS).
**
** A transaction appends rows to a segment that already holds some (enough
** rows to spill into the file's tail while appending), syncs and commits.
** A clean run counts the file operations it makes.  Then, for every one of
** them and for each kind of failure — ENOSPC, EIO, a short write followed by
** ENOSPC, a failed sync — the same transaction runs again on a fresh copy of
** the file with that one operation failing.  Whatever the core answered, the
** segment must then open and hold exactly the state before the transaction
** or exactly the state after it: the right count, every row's id and
** vector, every id found through the index, nothing between, and no bytes
** past the committed records.  Prints "N passed, M failed".
*/
#define _GNU_SOURCE 1
#include "cvec_segment.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int nPass = 0, nFail = 0;

#define DIM    1000        /* 4004-byte records: 262 fill the 1 MiB buffer */
#define NBASE  5
#define NADD   300

/* ---- the failing operations ------------------------------------------- */

enum { F_NONE, F_ENOSPC, F_EIO, F_SHORT, F_SYNC };
static int nCall;          /* operations seen */
static int iFail = -1;     /* the one to fail */
static int eFail;          /* how */
static int nFailed;        /* failures injected */

/* Fail this call?  Counts it either way. */
static int fail_now(void){
  return nCall++ == iFail;
}

static ssize_t t_pread(int fd, void *b, size_t n, off_t o){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  return cvec_io_default.xPread(fd, b, n, o);
}
static ssize_t t_pwrite(int fd, const void *b, size_t n, off_t o){
  if( fail_now() ){
    nFailed++;
    if( eFail==F_SHORT && n>1 ){
      /* half of it reaches the file, then the disk is full */
      ssize_t w = cvec_io_default.xPwrite(fd, b, n/2, o);
      if( w>0 ){ iFail = nCall; eFail = F_ENOSPC; return w; }
    }
    errno = eFail==F_EIO ? EIO : ENOSPC;
    return -1;
  }
  return cvec_io_default.xPwrite(fd, b, n, o);
}
static int t_sync(int fd){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  return cvec_io_default.xSync(fd);
}
static int t_ftruncate(int fd, off_t len){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  return cvec_io_default.xFtruncate(fd, len);
}
static int t_msync(void *a, size_t n){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  return cvec_io_default.xMsync(a, n);
}
static int t_rename(const char *a, const char *b){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  return cvec_io_default.xRename(a, b);
}
static const cvec_io_methods testIo = {
  t_pread, t_pwrite, t_sync, t_ftruncate, t_msync, t_rename
};

/* ---- the data ---------------------------------------------------------- */

static void vec_of(float *v, uint32_t id){
  for(int i=0; i<DIM; i++) v[i] = (float)id + (float)i/1024.0f;
}

static int copy_file(const char *zFrom, const char *zTo){
  FILE *a = fopen(zFrom, "rb"), *b = fopen(zTo, "wb");
  char buf[65536];
  size_t n;
  int rc = (a && b) ? 0 : -1;
  while( rc==0 && (n = fread(buf, 1, sizeof(buf), a))>0 ){
    if( fwrite(buf, 1, n, b)!=n ) rc = -1;
  }
  if( a ) fclose(a);
  if( b && fclose(b) ) rc = -1;
  return rc;
}

/*
** The transaction under test: begin, NADD appends (ids 1001..), sync,
** commit.  Returns the first error code met (0 if none); always leaves the
** handle closed.
*/
static int run_txn(const char *zPath){
  char zErr[CVEC_ERRMSG_MAX];
  static float v[DIM];
  cvec_seg *p = 0;
  int rc = cvec_seg_open(zPath, "f.vec", DIM, 0, &p, zErr);
  if( rc ) return rc;
  rc = cvec_seg_begin_write(p);
  for(uint32_t i=0; rc==CVEC_OK && i<NADD; i++){
    vec_of(v, 1001+i);
    rc = cvec_seg_append(p, 1001+i, v);
  }
  if( rc==CVEC_OK ) rc = cvec_seg_sync(p);
  if( rc==CVEC_OK ){
    rc = cvec_seg_commit(p);
  }else{
    (void)cvec_seg_rollback(p);
  }
  cvec_seg_close(p);
  return rc;
}

/*
** The segment at zPath holds exactly the rows before (NBASE) or after
** (NBASE+NADD) the transaction.  Returns that number, or -1 with a reason.
*/
static int state_of(const char *zPath, char *zWhy){
  char zErr[CVEC_ERRMSG_MAX];
  static float v[DIM];
  cvec_seg *p = 0;
  if( cvec_seg_open(zPath, "f.vec", DIM, 0, &p, zErr) ){
    sprintf(zWhy, "does not open: %s", zErr);
    return -1;
  }
  uint32_t n = cvec_seg_count(p);
  int ok = n==NBASE || n==NBASE+NADD;
  if( !ok ) sprintf(zWhy, "count %u", n);
  for(uint32_t i=0; ok && i<n; i++){
    uint32_t id = i<NBASE ? i+1 : 1001+(i-NBASE);
    const unsigned char *r = cvec_seg_record(p, i);
    vec_of(v, id);
    if( cvec_get_u32le(r)!=id || memcmp(r+4, v, sizeof(v))!=0 ){
      sprintf(zWhy, "record %u is wrong", i);
      ok = 0;
    }else if( cvec_seg_lookup(p, id)!=(int64_t)i ){
      sprintf(zWhy, "id %u not found at record %u", id, i);
      ok = 0;
    }
  }
  if( ok && n==NBASE && cvec_seg_lookup(p, 1001)>=0 ){
    sprintf(zWhy, "a rolled-back id is found");
    ok = 0;
  }
  struct stat st;
  if( ok && (stat(zPath, &st) || st.st_size != 16 + (off_t)n*(4+4*DIM)) ){
    sprintf(zWhy, "%lld bytes at rest for %u records", (long long)st.st_size, n);
    ok = 0;
  }
  cvec_seg_close(p);
  return ok ? (int)n : -1;
}

int main(void){
  char zErr[CVEC_ERRMSG_MAX];
  static float v[DIM];
  cvec_seg *p;
  /* the starting segment: NBASE rows, ids 1..NBASE */
  unlink("base.vec"); unlink("base.vec.idx");
  if( cvec_seg_open("base.vec", "base.vec", DIM, CVEC_OPEN_CREATE, &p, zErr)
   || cvec_seg_begin_write(p) ){
    printf("setup: %s\n0 passed, 1 failed\n", zErr);
    return 1;
  }
  for(uint32_t id=1; id<=NBASE; id++){ vec_of(v, id); cvec_seg_append(p, id, v); }
  cvec_seg_commit(p);
  cvec_seg_close(p);

  /* A clean run counts the operations. */
  copy_file("base.vec", "f.vec"); copy_file("base.vec.idx", "f.vec.idx");
  cvec_io = testIo;
  nCall = 0; iFail = -1;
  int rc = run_txn("f.vec");
  int nOps = nCall;
  cvec_io = cvec_io_default;
  char zWhy[200] = "";
  int s = state_of("f.vec", zWhy);
  if( rc==0 && s==NBASE+NADD ){
    nPass++; printf("0.0 clean run (%d file operations)... Ok\n", nOps);
  }else{
    nFail++; printf("0.0 clean run... FAILED rc=%d state=%d %s\n", rc, s, zWhy);
  }

  static const struct { int e; const char *z; } aMode[] = {
    {F_ENOSPC, "ENOSPC"}, {F_EIO, "EIO"}, {F_SHORT, "short write"},
    {F_SYNC, "failed sync"},
  };
  int nBefore = 0, nAfter = 0;
  for(int m=0; m<4; m++){
    for(int k=0; k<nOps; k++){
      copy_file("base.vec", "f.vec"); copy_file("base.vec.idx", "f.vec.idx");
      cvec_io = testIo;
      nCall = 0; iFail = k; eFail = aMode[m].e; nFailed = 0;
      rc = run_txn("f.vec");
      cvec_io = cvec_io_default;
      zWhy[0] = 0;
      s = state_of("f.vec", zWhy);
      /* a failure reported means "not committed" unless the count reached
      ** the file first (then it is committed, and the failure was its sync) */
      int okState = s==NBASE || s==NBASE+NADD;
      int okReport = !(rc==0 && nFailed>0 && s!=NBASE+NADD);
      if( okState && okReport ){
        nPass++;
        if( s==NBASE ) nBefore++; else nAfter++;
      }else{
        nFail++;
        printf("1.%d.%d %s at operation %d... FAILED: rc=%d, state %d%s%s\n",
               m, k, aMode[m].z, k, rc, s, zWhy[0] ? ": " : "", zWhy);
      }
    }
  }
  printf("1.x %d fault points x 4 kinds: %d left the state before, %d after\n",
         nOps, nBefore, nAfter);
  unlink("f.vec"); unlink("f.vec.idx"); unlink("base.vec"); unlink("base.vec.idx");
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
