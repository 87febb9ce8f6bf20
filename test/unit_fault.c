/*
** unit_fault.c — fault injection into the storage core's file operations
** (cvec_io, as SQLite tests its VFS).
**
** A transaction appends rows to a segment that already holds some (enough
** rows to spill into the file's tail while appending), syncs and commits;
** a model of SQLite's database commits right after the sync succeeds
** (dbCommitted), as SQLite does between xSync and xCommit.  A clean run
** counts the file operations it makes.  Then, for every one of them and for
** each kind of failure — ENOSPC, EIO, a short write followed by ENOSPC, a
** failed sync — the same transaction runs again on a fresh copy of the file
** with that one operation failing.  The next writer then settles what is
** left, asking the model database as the virtual table asks the real one
** (cvec_seg_settle forward if it committed), and the segment must hold
** exactly the database's state: after the transaction if it committed,
** before if not — the right count, every row's id and vector, every id found
** through the index, and no bytes past the committed records.  A tail that
** no intent note explains is a failure.
**
** Part 2 simulates a power loss: transaction A commits (with sync=full, so
** it is reported durable), then transaction B dies at each of its file
** operations in turn (that one and every later one fail, as if the process
** stopped there), or after its sync but before the database commits, and
** every write not synced by then is lost: the .vec goes back to its content
** at its last successful sync (but for header writes, the worst order a disk
** may choose), the .intent to its last synced note, and the .idx (written
** unsynced, and after a real power loss rebuilt because the boot id
** changed) is removed.  After settling, A's rows must all be there, and B's
** exactly when the database committed it.
** Prints "N passed, M failed".
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

enum { F_NONE, F_ENOSPC, F_EIO, F_SHORT, F_SYNC, F_CRASH };
static int nCall;          /* operations seen */
static int iFail = -1;     /* the one to fail */
static int eFail;          /* how */
static int nFailed;        /* failures injected */

/* Fail this call?  Counts it either way.  A crash fails it and all after. */
static int fail_now(void){
  int n = nCall++;
  if( eFail==F_CRASH ) return iFail>=0 && n>=iFail;
  return n == iFail;
}

/* Part 2: the content of f.vec at its last successful sync, and the
** header writes since then.  The power loss keeps those header writes and
** loses every other unsynced write: the worst order a disk may choose, and
** the one that data-before-count is there to survive. */
static char *aSynced = 0;
static size_t nSynced = 0;
static ino_t inoVec = 0;
static unsigned char aHdr[16];      /* header bytes written since the sync */
static int hdrDirty[16];

static int is_vec(int fd){
  struct stat st;
  return inoVec && fstat(fd, &st)==0 && st.st_ino==inoVec;
}

/* The same for f.vec.intent: its content at its last sync (every unsynced
** note is lost by the power loss, the "done" marks among them). */
static char *aNoteSynced = 0;
static size_t nNoteSynced = 0;
static int hasNoteSynced = 0;
static ino_t inoNote = 0;

static void snapshot_note(int fd){
  struct stat st;
  if( fstat(fd, &st) ) return;
  if( inoNote==0 ){
    /* created during the run (f.vec.intent did not exist) */
    struct stat sn;
    if( stat("f.vec.intent", &sn) || sn.st_ino!=st.st_ino ) return;
    inoNote = st.st_ino;
  }
  if( st.st_ino!=inoNote ) return;
  free(aNoteSynced);
  nNoteSynced = (size_t)st.st_size;
  aNoteSynced = malloc(nNoteSynced + 1);
  hasNoteSynced = aNoteSynced && pread(fd, aNoteSynced, nNoteSynced, 0)==(ssize_t)nNoteSynced;
}

static void snapshot_if_vec(int fd){
  struct stat st;
  if( inoVec ) snapshot_note(fd);
  if( fstat(fd, &st) || st.st_ino!=inoVec ) return;
  memset(hdrDirty, 0, sizeof(hdrDirty));
  free(aSynced);
  aSynced = malloc((size_t)st.st_size + 1);
  nSynced = (size_t)st.st_size;
  if( aSynced && pread(fd, aSynced, nSynced, 0)!=(ssize_t)nSynced ) nSynced = 0;
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
  ssize_t w = cvec_io_default.xPwrite(fd, b, n, o);
  if( w>0 && o<16 && is_vec(fd) ){
    for(off_t i=o; i<16 && i<o+w; i++){
      aHdr[i] = ((const unsigned char*)b)[i-o];
      hdrDirty[i] = 1;
    }
  }
  return w;
}
static int t_sync(int fd){
  if( fail_now() ){ nFailed++; errno = EIO; return -1; }
  int rc = cvec_io_default.xSync(fd);
  if( rc==0 && inoVec ) snapshot_if_vec(fd);
  return rc;
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
/* A process that stopped: nothing it would still do reaches the files. */
static ssize_t t_dead_pwrite(int fd, const void *b, size_t n, off_t o){
  (void)fd; (void)b; (void)n; (void)o; errno = EIO; return -1;
}
static int t_dead_fd(int fd){ (void)fd; errno = EIO; return -1; }
static int t_dead_truncate(int fd, off_t n){ (void)fd; (void)n; errno = EIO; return -1; }
static int t_dead_msync(void *a, size_t n){ (void)a; (void)n; errno = EIO; return -1; }
static int t_dead_rename(const char *a, const char *b){ (void)a; (void)b; errno = EIO; return -1; }
static const cvec_io_methods deadIo = {
  t_pread, t_dead_pwrite, t_dead_fd, t_dead_truncate, t_dead_msync, t_dead_rename
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

static uint32_t firstId = 1001;   /* ids of the transaction under test */

/*
** The database beside the segment, as SQLite drives it: it commits right
** after xSync returns (dbCommitted), before xCommit.  stopAfterSync: the
** process dies there, before the database commits.
*/
static int dbCommitted = 0;
static int stopAfterSync = 0;

/*
** The transaction under test: begin, NADD appends (ids firstId..), sync,
** commit.  Returns the first error code met (0 if none); always leaves the
** handle closed.
*/
static int run_txn(const char *zPath){
  char zErr[CVEC_ERRMSG_MAX];
  static float v[DIM];
  cvec_seg *p = 0;
  dbCommitted = 0;
  int rc = cvec_seg_open(zPath, "f.vec", DIM, 0, &p, zErr);
  if( rc ) return rc;
  rc = cvec_seg_begin_write(p);
  for(uint32_t i=0; rc==CVEC_OK && i<NADD; i++){
    vec_of(v, firstId+i);
    rc = cvec_seg_append(p, firstId+i, v);
  }
  if( rc==CVEC_OK ) rc = cvec_seg_sync(p);
  if( rc==CVEC_OK && stopAfterSync ){
    cvec_io = deadIo;                  /* dead: close writes nothing */
    cvec_seg_close(p);
    return CVEC_IOERR;
  }
  if( rc==CVEC_OK && nFailed==0 ){
    dbCommitted = 1;        /* (a crash inside sync fails its sync) */
    rc = cvec_seg_commit(p);
  }else if( rc==CVEC_OK ){
    dbCommitted = eFail!=F_CRASH;
    rc = dbCommitted ? cvec_seg_commit(p) : CVEC_IOERR;
  }else{
    (void)cvec_seg_rollback(p);
  }
  cvec_seg_close(p);
  return rc;
}

/*
** The next start: a writer takes the lock and settles what the transaction
** left, asking "the database" (dbCommitted) as the virtual table does.  A
** tail that no note explains would be a failure of the protocol.
** Returns 0, or -1 with a reason.
*/
static int settle(const char *zPath, int committed, char *zWhy){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *p = 0;
  if( cvec_seg_open(zPath, "f.vec", DIM, 0, &p, zErr) ){
    snprintf(zWhy, 200, "does not open: %.150s", zErr);
    return -1;
  }
  int rc = cvec_seg_begin_write(p);
  cvec_tail_info t;
  if( rc==CVEC_OK ){
    cvec_seg_tail(p, &t);
    if( t.kind==CVEC_TAIL_FOREIGN ){
      snprintf(zWhy, 200, "a tail of %llu bytes that no note explains",
               (unsigned long long)t.nBytes);
      rc = -1;
    }else if( t.kind==CVEC_TAIL_INTENT ){
      rc = cvec_seg_settle(p, committed && t.newCount>0);
      if( rc ) snprintf(zWhy, 200, "settle: %.150s", cvec_seg_errmsg(p));
    }
  }else{
    snprintf(zWhy, 200, "begin_write: %.150s", cvec_seg_errmsg(p));
  }
  (void)cvec_seg_rollback(p);
  cvec_seg_close(p);
  return rc ? -1 : 0;
}

/* The id of record i: ids 1..NBASE, then transaction A's, then B's. */
static uint32_t id_at(uint32_t i){
  return i<NBASE ? i+1 : i<NBASE+NADD ? 1001+(i-NBASE) : 2001+(i-NBASE-NADD);
}

/*
** The segment at zPath holds exactly nLow records or nLow+NADD (the state
** before or after the transaction under test): right ids, vectors and
** lookups, the next transaction's first id not found, and, when atRest,
** no bytes past the records.  Returns the count, or -1 with a reason.
*/
static int state_of(const char *zPath, uint32_t nLow, int atRest, char *zWhy){
  char zErr[CVEC_ERRMSG_MAX];
  static float v[DIM];
  cvec_seg *p = 0;
  if( cvec_seg_open(zPath, "f.vec", DIM, 0, &p, zErr) ){
    snprintf(zWhy, 200, "does not open: %.150s", zErr);
    return -1;
  }
  uint32_t n = cvec_seg_count(p);
  int ok = n==nLow || n==nLow+NADD;
  if( !ok ) sprintf(zWhy, "count %u", n);
  for(uint32_t i=0; ok && i<n; i++){
    uint32_t id = id_at(i);
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
  if( ok && cvec_seg_lookup(p, id_at(n))>=0 ){
    sprintf(zWhy, "a rolled-back id is found");
    ok = 0;
  }
  struct stat st;
  if( ok && atRest
   && (stat(zPath, &st) || st.st_size != 16 + (off_t)n*(4+4*DIM)) ){
    sprintf(zWhy, "%lld bytes at rest for %u records", (long long)st.st_size, n);
    ok = 0;
  }
  cvec_seg_close(p);
  return ok ? (int)n : -1;
}


static int write_file(const char *zPath, const char *a, size_t n){
  FILE *f = fopen(zPath, "wb");
  if( f==0 ) return -1;
  int rc = fwrite(a, 1, n, f)==n ? 0 : -1;
  if( fclose(f) ) rc = -1;
  return rc;
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
  int s = state_of("f.vec", NBASE, 1, zWhy);
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
      unlink("f.vec.intent");
      cvec_io = testIo;
      nCall = 0; iFail = k; eFail = aMode[m].e; nFailed = 0;
      rc = run_txn("f.vec");
      cvec_io = cvec_io_default;
      zWhy[0] = 0;
      /* the state must be the database's: after iff it committed */
      s = settle("f.vec", dbCommitted, zWhy);
      if( s==0 ) s = state_of("f.vec", NBASE, 1, zWhy);
      int want = dbCommitted ? NBASE+NADD : NBASE;
      if( s==want ){
        nPass++;
        if( s==NBASE ) nBefore++; else nAfter++;
      }else{
        nFail++;
        printf("1.%d.%d %s at operation %d... FAILED: rc=%d, database %s, "
               "state %d%s%s\n", m, k, aMode[m].z, k, rc,
               dbCommitted ? "committed" : "rolled back", s,
               zWhy[0] ? ": " : "", zWhy);
      }
    }
  }
  printf("1.x %d fault points x 4 kinds: %d left the state before, %d after "
         "(each the database's)\n", nOps, nBefore, nAfter);

  /* Part 2: power loss during transaction B, after A committed. */
  copy_file("base.vec", "f.vec"); copy_file("base.vec.idx", "f.vec.idx");
  unlink("f.vec.intent");
  firstId = 1001;
  rc = run_txn("f.vec");                  /* A, committed and synced */
  copy_file("f.vec", "afterA.vec"); copy_file("f.vec.idx", "afterA.vec.idx");
  copy_file("f.vec.intent", "afterA.vec.intent");
  firstId = 2001;
  cvec_io = testIo;
  nCall = 0; iFail = -1; eFail = F_NONE;
  int rcB = run_txn("f.vec");             /* count B's operations */
  int nOpsB = nCall;
  cvec_io = cvec_io_default;
  if( rc==0 && rcB==0 ){
    nPass++; printf("2.0 A and B commit (%d file operations in B)... Ok\n", nOpsB);
  }else{
    nFail++; printf("2.0 A and B commit... FAILED rc=%d %d\n", rc, rcB);
  }
  int nA = 0, nAB = 0;
  struct stat st;
  /* k = nOpsB+1: B's rows synced, the process dies before the database
  ** commits (between xSync and the database's commit) */
  for(int k=0; k<=nOpsB+1; k++){
    copy_file("afterA.vec", "f.vec"); copy_file("afterA.vec.idx", "f.vec.idx");
    copy_file("afterA.vec.intent", "f.vec.intent");
    stat("f.vec", &st);
    inoVec = st.st_ino;
    stat("f.vec.intent", &st);
    inoNote = st.st_ino;
    /* what survives a power loss at the start: A, synced by its commit,
    ** and A's note as it was synced (open, new count: its "done" is not
    ** synced, so the worst case loses it) */
    free(aSynced); aSynced = 0; nSynced = 0;
    FILE *f = fopen("f.vec", "rb");
    if( f ){
      fseek(f, 0, SEEK_END); nSynced = (size_t)ftell(f); rewind(f);
      aSynced = malloc(nSynced+1);
      if( aSynced==0 || fread(aSynced, 1, nSynced, f)!=nSynced ) nSynced = 0;
      fclose(f);
    }
    hasNoteSynced = 0;
    memset(hdrDirty, 0, sizeof(hdrDirty));
    cvec_io = testIo;
    stopAfterSync = k==nOpsB+1;
    nCall = 0; iFail = stopAfterSync ? -1 : k; eFail = F_CRASH; nFailed = 0;
    rcB = run_txn("f.vec");
    stopAfterSync = 0;
    cvec_io = cvec_io_default;
    inoVec = 0; inoNote = 0;
    /* the power goes: unsynced writes are lost but for the header's, the
    ** index is rebuilt, the note is as last synced */
    for(int i=0; i<16 && (size_t)i<nSynced; i++){
      if( hdrDirty[i] ) aSynced[i] = (char)aHdr[i];
    }
    write_file("f.vec", aSynced, nSynced);
    unlink("f.vec.idx");
    if( hasNoteSynced ) write_file("f.vec.intent", aNoteSynced, nNoteSynced);
    zWhy[0] = 0;
    s = settle("f.vec", dbCommitted, zWhy);
    if( s==0 ) s = state_of("f.vec", NBASE+NADD, 1, zWhy);
    /* B's rows are there exactly when its database committed */
    int want = dbCommitted ? NBASE+2*NADD : NBASE+NADD;
    if( s==want ){
      nPass++;
      if( s==NBASE+NADD ) nA++; else nAB++;
    }else{
      nFail++;
      printf("2.1.%d power loss at %s of B... FAILED: rc=%d, database %s, "
             "state %d%s%s\n", k, stopAfterSync ? "the database commit" :
             "an operation", rcB, dbCommitted ? "committed" : "rolled back",
             s, zWhy[0] ? ": " : "", zWhy);
    }
  }
  printf("2.x %d crash points: %d left A's state, %d A's and B's (each the "
         "database's)\n", nOpsB+2, nA, nAB);
  free(aSynced);
  free(aNoteSynced);
  unlink("afterA.vec"); unlink("afterA.vec.idx"); unlink("afterA.vec.intent");
  unlink("f.vec"); unlink("f.vec.idx"); unlink("f.vec.intent");
  unlink("base.vec"); unlink("base.vec.idx"); unlink("base.vec.intent");
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
