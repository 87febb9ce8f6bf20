/*
** unit_window.c — vectors and database rows commit together (SPEC §4), at
** every instant of a commit, through the real virtual table and SQLite.
**
** cvec is linked in (SQLITE_CORE) so that this program can replace the
** storage core's file operations (cvec_io).  A transaction inserts rows into
** an ordinary table (docs) and the same ids into a cvec_segment table (v),
** enough of them to spill into the segment's tail before COMMIT.  A clean
** run counts the segment's file operations from BEGIN to the end of COMMIT.
** Then, for each operation k, a forked child runs the same transaction and
** dies (SIGKILL to itself, as kill -9) just before operation k; one more
** child dies in SQLite's commit hook, which runs after every xSync and
** before the database commits.  Operations in xSync come before the
** database's commit, those in xCommit after it: so the deaths cover both
** sides of the commit window.
**
** After each death a new connection must show the transaction in both
** tables or in neither: a plain SELECT (which rolls a committed transaction
** forward), then a write that is rolled back (which settles whatever is
** left), then the same checks again, every vector exact, and the segment at
** rest (no bytes past its records, cvec_check silent).
** Prints "N passed, M failed".
*/
#define _POSIX_C_SOURCE 200809L   /* kill() */
#include <sqlite3.h>

#include "cvec_segment.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int sqlite3_cvec_init(sqlite3 *db, char **pzErrMsg,
                      const sqlite3_api_routines *pApi);

static int nPass = 0, nFail = 0;

#define DIM    256          /* 1028-byte records: 1020 fill the 1 MiB buffer */
#define NBASE  3
#define NADD   1500

/* ---- operations, and death at one of them ------------------------------- */

static int nCall = 0;       /* segment file operations seen */
static int iDie = -1;       /* die just before this one */

/* Die as kill -9 does: nothing more runs (no exit handlers, and under
** valgrind no leak check that could change the exit status). */
static void die(void){
  kill(getpid(), SIGKILL);
  _exit(0);   /* not reached */
}

static void maybe_die(void){
  if( nCall++ == iDie ) die();
}
static ssize_t d_pread(int fd, void *b, size_t n, off_t o){
  maybe_die(); return cvec_io_default.xPread(fd, b, n, o);
}
static ssize_t d_pwrite(int fd, const void *b, size_t n, off_t o){
  maybe_die(); return cvec_io_default.xPwrite(fd, b, n, o);
}
static int d_sync(int fd){ maybe_die(); return cvec_io_default.xSync(fd); }
static int d_ftruncate(int fd, off_t n){
  maybe_die(); return cvec_io_default.xFtruncate(fd, n);
}
static int d_msync(void *a, size_t n){ maybe_die(); return cvec_io_default.xMsync(a, n); }
static int d_rename(const char *a, const char *b){
  maybe_die(); return cvec_io_default.xRename(a, b);
}
static const cvec_io_methods dieIo = {
  d_pread, d_pwrite, d_sync, d_ftruncate, d_msync, d_rename
};

static int die_in_hook(void *p){ (void)p; die(); return 0; }

/* ---- helpers ------------------------------------------------------------ */

static sqlite3 *open_db(void){
  sqlite3 *db = 0;
  char *zErr = 0;
  if( sqlite3_open("w.db", &db)!=SQLITE_OK
   || sqlite3_cvec_init(db, &zErr, 0)!=SQLITE_OK ){
    printf("cannot open w.db or register cvec: %s\n", zErr ? zErr : sqlite3_errmsg(db));
    exit(1);
  }
  return db;
}

static int exec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  if( rc ){
    printf("  %s: %s\n", zSql, zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  return rc;
}

static sqlite3_int64 one_int(sqlite3 *db, const char *zSql){
  sqlite3_stmt *p = 0;
  sqlite3_int64 v = -1;
  if( sqlite3_prepare_v2(db, zSql, -1, &p, 0)==SQLITE_OK
   && sqlite3_step(p)==SQLITE_ROW ){
    v = sqlite3_column_int64(p, 0);
  }else{
    printf("  %s: %s\n", zSql, sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  return v;
}

static void vec_of(float *v, int id){
  for(int i=0; i<DIM; i++) v[i] = (float)id * 0.5f + (float)i;
}

/* Insert docs and vectors for ids [from, from+n) in the current transaction. */
static int insert_rows(sqlite3 *db, int from, int n){
  static float v[DIM];
  sqlite3_stmt *pD = 0, *pV = 0;
  int rc = sqlite3_prepare_v2(db, "INSERT INTO docs(id, n) VALUES(?1, ?1*2)", -1, &pD, 0);
  if( rc==SQLITE_OK ) rc = sqlite3_prepare_v2(db, "INSERT INTO v(id, vector) VALUES(?, ?)", -1, &pV, 0);
  for(int id=from; rc==SQLITE_OK && id<from+n; id++){
    vec_of(v, id);
    sqlite3_bind_int(pD, 1, id);
    sqlite3_bind_int(pV, 1, id);
    sqlite3_bind_blob(pV, 2, v, sizeof(v), SQLITE_STATIC);
    if( sqlite3_step(pD)!=SQLITE_DONE || sqlite3_step(pV)!=SQLITE_DONE ) rc = SQLITE_ERROR;
    sqlite3_reset(pD);
    sqlite3_reset(pV);
  }
  if( rc ) printf("  insert: %s\n", sqlite3_errmsg(db));
  sqlite3_finalize(pD);
  sqlite3_finalize(pV);
  return rc;
}

/* The transaction under test, in a fresh connection. */
static int run_txn(int hook){
  sqlite3 *db = open_db();
  if( hook ) sqlite3_commit_hook(db, die_in_hook, 0);
  int rc = exec(db, "BEGIN");
  if( rc==SQLITE_OK ) rc = insert_rows(db, 100, NADD);
  if( rc==SQLITE_OK ) rc = exec(db, "COMMIT");
  sqlite3_close(db);
  return rc;
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

static const char *azFile[] = {
  "w.db", "wv/segment_0.vec", "wv/segment_0.vec.idx", "wv/segment_0.vec.intent"
};
#define NFILE 4

static void save_base(void){
  char z[200];
  for(int i=0; i<NFILE; i++){
    snprintf(z, sizeof(z), "%s.base", azFile[i]);
    if( copy_file(azFile[i], z) ){ printf("cannot save %s\n", azFile[i]); exit(1); }
  }
}
static void restore_base(void){
  char z[200];
  unlink("w.db-journal");
  for(int i=0; i<NFILE; i++){
    snprintf(z, sizeof(z), "%s.base", azFile[i]);
    if( copy_file(z, azFile[i]) ){ printf("cannot restore %s\n", azFile[i]); exit(1); }
  }
}

/*
** Both tables hold the base rows and either all of the transaction's rows
** or none, the same in both, vectors exact.  Returns the number of the
** transaction's rows (0 or NADD), or -1 with a reason printed.
*/
static int agree(sqlite3 *db, const char *zWhen){
  sqlite3_int64 nDocs = one_int(db, "SELECT count(*) FROM docs");
  sqlite3_int64 nVec = one_int(db, "SELECT count(*) FROM v");
  sqlite3_int64 nJoin = one_int(db, "SELECT count(*) FROM docs JOIN v USING(id)");
  if( nDocs!=nVec || nJoin!=nDocs || (nDocs!=NBASE && nDocs!=NBASE+NADD) ){
    printf("  %s: docs %lld, vectors %lld, both %lld\n", zWhen, nDocs, nVec, nJoin);
    return -1;
  }
  static float v[DIM];
  sqlite3_stmt *p = 0;
  int bad = 0;
  sqlite3_prepare_v2(db, "SELECT id, vector FROM v", -1, &p, 0);
  while( p && sqlite3_step(p)==SQLITE_ROW ){
    vec_of(v, sqlite3_column_int(p, 0));
    if( sqlite3_column_bytes(p, 1)!=(int)sizeof(v)
     || memcmp(sqlite3_column_blob(p, 1), v, sizeof(v))!=0 ) bad++;
  }
  sqlite3_finalize(p);
  if( bad ){
    printf("  %s: %d vectors differ\n", zWhen, bad);
    return -1;
  }
  return (int)(nDocs - NBASE);
}

/* After a death: agreement after a read, then after a settling write. */
static int check_after(char *zWhy){
  sqlite3 *db = open_db();
  int a = agree(db, "after a read");
  int rc = exec(db, "BEGIN; INSERT INTO v(id, vector) SELECT 99, vector FROM v "
                    "WHERE id = 1; ROLLBACK");
  int b = agree(db, "after a write");
  sqlite3_int64 nProblem = one_int(db, "SELECT count(*) FROM cvec_check('v')");
  sqlite3_int64 nVec = one_int(db, "SELECT count(*) FROM v");
  sqlite3_close(db);
  struct stat st;
  off_t want = 16 + (off_t)nVec * (4 + 4*DIM);
  if( a<0 || b<0 || rc ){
    strcpy(zWhy, "tables disagree");
    return -1;
  }
  if( a!=b ){
    strcpy(zWhy, "a read and a write saw different states");
    return -1;
  }
  if( nProblem!=0 || stat("wv/segment_0.vec", &st) || st.st_size!=want ){
    snprintf(zWhy, 200, "not at rest: %lld problems, %lld bytes for %lld records",
             nProblem, (long long)st.st_size, nVec);
    return -1;
  }
  return b;
}

int main(void){
  /* setup: NBASE rows in both tables */
  unlink("w.db"); unlink("w.db-journal");
  for(int i=1; i<NFILE; i++) unlink(azFile[i]);
  sqlite3 *db = open_db();
  if( exec(db, "CREATE TABLE docs(id INTEGER PRIMARY KEY, n INTEGER);"
               "CREATE VIRTUAL TABLE v USING cvec_segment(dir='wv', dimension=256);"
               "BEGIN")
   || insert_rows(db, 1, NBASE) || exec(db, "COMMIT") ){
    printf("setup failed\n0 passed, 1 failed\n");
    return 1;
  }
  sqlite3_close(db);
  save_base();

  /* a clean run counts the segment's file operations */
  cvec_io = dieIo;
  nCall = 0; iDie = -1;
  int rc = run_txn(0);
  int nOps = nCall;
  cvec_io = cvec_io_default;
  char zWhy[200] = "";
  int s = check_after(zWhy);
  if( rc==0 && s==NADD ){
    nPass++; printf("0.0 clean run (%d segment file operations)... Ok\n", nOps);
  }else{
    nFail++; printf("0.0 clean run... FAILED rc=%d state %d %s\n", rc, s, zWhy);
  }

  /* a death before each operation, and one in the commit hook */
  int nNone = 0, nAll = 0;
  for(int k=0; k<=nOps; k++){
    restore_base();
    fflush(stdout);
    pid_t pid = fork();
    if( pid==0 ){
      cvec_io = dieIo;
      nCall = 0; iDie = k<nOps ? k : -1;
      run_txn(k==nOps);
      _exit(3);                       /* lived to the end */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int died = WIFSIGNALED(status) && WTERMSIG(status)==SIGKILL;
    zWhy[0] = 0;
    s = check_after(zWhy);
    char zName[64];
    if( k<nOps ) snprintf(zName, sizeof(zName), "1.%d death before operation %d", k, k);
    else snprintf(zName, sizeof(zName), "1.%d death in the commit hook", k);
    if( died && s>=0 ){
      nPass++;
      if( s==0 ) nNone++; else nAll++;
    }else{
      nFail++;
      printf("%s... FAILED: %s%s\n", zName, died ? "" : "the child did not die; ", zWhy);
    }
  }
  printf("1.x %d deaths: %d left neither table changed, %d both\n", nOps+1,
         nNone, nAll);
  for(int i=0; i<NFILE; i++){
    char z[200];
    snprintf(z, sizeof(z), "%s.base", azFile[i]);
    unlink(z);
  }
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
