/*
** unit_static.c — blobs handed out without a copy (SQLITE_STATIC) stay
** valid for as long as SQLite may use them, through the sqlite3 C API
** (Tcl and Python copy every value, so they cannot show this).
**
** Connection 1 steps a SELECT to its first row and keeps the vector pointer
** that sqlite3_column_blob() gave.  Connection 2 then commits enough rows to
** make the file grow, and a second statement of connection 1 sees them, which
** makes it map the file anew.  The first pointer must still read the same
** bytes: the old map is kept until the last cursor closes.  Without that, the
** read faults.  Also: max(vector), whose accumulator keeps a pointer to the
** largest blob seen.  Prints "N passed, M failed".
*/
#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nPass = 0, nFail = 0;

#define CHECK(name, cond) do{                                         \
  if( cond ){ nPass++; printf("%s... Ok\n", name); }                  \
  else{ nFail++; printf("%s... FAILED at line %d: %s\n", name, __LINE__, #cond); } \
}while(0)

static sqlite3 *open_db(const char *zExt){
  sqlite3 *db = 0;
  char *zErr = 0;
  if( sqlite3_open("static.db", &db)!=SQLITE_OK
   || sqlite3_enable_load_extension(db, 1)!=SQLITE_OK
   || sqlite3_load_extension(db, zExt, 0, &zErr)!=SQLITE_OK ){
    printf("cannot open or load: %s\n", zErr ? zErr : sqlite3_errmsg(db));
    exit(1);
  }
  return db;
}

static void exec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr)!=SQLITE_OK ){
    printf("%s: %s\n", zSql, zErr);
    exit(1);
  }
}

int main(void){
  const char *zExt = getenv("CVEC_EXT");
  if( zExt==0 ){ printf("CVEC_EXT is not set\n0 passed, 1 failed\n"); return 1; }
  sqlite3 *db1 = open_db(zExt);
  /* WAL, so that connection 2 can commit while connection 1 reads */
  exec(db1, "PRAGMA journal_mode=WAL;"
            "CREATE VIRTUAL TABLE v USING cvec_segment(dir='vs', dimension=64);"
            "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value+1"
            "  FROM s WHERE value<100)"
            "INSERT INTO v(id, vector) SELECT value, cvec_from_json('[' || value"
            "  || replace(hex(zeroblob(63)), '00', ',0.5') || ']') FROM s;");
  sqlite3 *db2 = open_db(zExt);

  sqlite3_stmt *pA, *pB;
  sqlite3_prepare_v2(db1, "SELECT vector FROM v WHERE id = 7", -1, &pA, 0);
  CHECK("1.0 first row", sqlite3_step(pA)==SQLITE_ROW);
  const float *a = sqlite3_column_blob(pA, 0);
  float keep[64];
  memcpy(keep, a, sizeof(keep));
  CHECK("1.1 the vector of id 7", sqlite3_column_bytes(pA, 0)==256
        && keep[0]==7.0f && keep[63]==0.5f);

  /* 20000 rows of 260 bytes: the file grows by ~5 MB */
  exec(db2, "WITH RECURSIVE s(value) AS (SELECT 1000 UNION ALL SELECT value+1"
            "  FROM s WHERE value<20999)"
            "INSERT INTO v(id, vector) SELECT value, cvec_from_json('[' || value"
            "  || replace(hex(zeroblob(63)), '00', ',1.5') || ']') FROM s;");
  sqlite3_prepare_v2(db1, "SELECT count(*), sum(length(vector)) FROM v", -1, &pB, 0);
  CHECK("1.2 connection 1 sees the new rows", sqlite3_step(pB)==SQLITE_ROW
        && sqlite3_column_int(pB, 0)==20100
        && sqlite3_column_int64(pB, 1)==20100*256);
  sqlite3_finalize(pB);
  CHECK("1.3 the first pointer still reads the same bytes",
        memcmp(a, keep, sizeof(keep))==0);
  sqlite3_finalize(pA);

  /* An aggregate keeps the largest vector seen so far as a pointer. */
  sqlite3_prepare_v2(db1, "SELECT max(vector), count(*) FROM v WHERE id > 20900 OR id < 3",
                     -1, &pA, 0);
  CHECK("2.0 max(vector)", sqlite3_step(pA)==SQLITE_ROW
        && sqlite3_column_bytes(pA, 0)==256 && sqlite3_column_int(pA, 1)==101);
  const unsigned char *m = sqlite3_column_blob(pA, 0);
  /* max() compares blobs bytewise: find that row by copying each one */
  unsigned char best[256];
  int nBest = 0;
  sqlite3_prepare_v2(db1, "SELECT vector FROM v WHERE id > 20900 OR id < 3",
                     -1, &pB, 0);
  while( sqlite3_step(pB)==SQLITE_ROW ){
    const unsigned char *b = sqlite3_column_blob(pB, 0);
    if( nBest==0 || memcmp(b, best, 256)>0 ){ memcpy(best, b, 256); nBest++; }
  }
  sqlite3_finalize(pB);
  CHECK("2.1 max(vector) is the bytewise largest vector",
        m && nBest>0 && memcmp(m, best, 256)==0);
  sqlite3_finalize(pA);

  sqlite3_close(db2);
  sqlite3_close(db1);
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
