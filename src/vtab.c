/*
** vtab.c — the cvec_segment virtual table: one CVEC segment file as a table
** (id INTEGER PRIMARY KEY, vector BLOB).
**
**   CREATE VIRTUAL TABLE items USING cvec_segment(dir='vectors', segment=0,
**                                                 dimension=384);
**   INSERT INTO items(id, vector) VALUES (1, ?);      -- BLOB or JSON text
**   SELECT vector FROM items WHERE id = 1;
**
** This file is a thin layer over the storage core (cvec_segment.h): it parses
** the table's arguments, turns SQL values into ids and vectors, chooses
** between a lookup by id and a scan, and maps SQLite's transaction calls onto
** the core's commit protocol:
**
**   first INSERT     cvec_seg_begin_write (lock, re-read the count), settle
**                    what a crash left, bump the shadow row (prepare_write)
**   INSERT           cvec_seg_append
**   xSync            cvec_seg_sync        (rows durable; may run twice)
**   xCommit          cvec_seg_commit      (count written; lock released)
**   xRollback        cvec_seg_rollback    (tail cut back; lock released)
**   xSavepoint(i)    remember the number of pending rows
**   xRollbackTo(i)   cvec_seg_truncate_pending to that number (-1: to 0)
**
** The segment is opened at xConnect if it can be; if it cannot (missing or
** corrupt file), the table still connects so that DROP TABLE works, and every
** statement that touches it retries the open and reports why it failed.
*/
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "cvec_ext.h"
#include "cvec_segment.h"
#include "distance.h"
#include "topk.h"

#include <errno.h>
#include <limits.h>
#include <time.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Structures                                                                */
/* ------------------------------------------------------------------------ */

typedef struct cvec_vtab cvec_vtab;
typedef struct cvec_cursor cvec_cursor;

struct cvec_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  cvec_registry *pReg;   /* the connection's list of tables */
  cvec_vtab *pNextReg;   /* next table in it */
  char *zDb;             /* schema name ("main", an attached name) */
  char *zTable;          /* table name, for constraint messages */
  char *zOwner;          /* owner text of our intent notes: "table T in
                         ** FILE", or "" for a database with no file */
  sqlite3_int64 tid;     /* table id from the shadow row, 0 until read */
  sqlite3_stmt *pShadowRead;  /* SELECT txn, tid FROM <table>_cvec ... */
  sqlite3_stmt *pShadowBump;  /* UPDATE <table>_cvec SET txn = ?1 */
  int bumpLevel;         /* the shadow row got this transaction's number
                         ** while nMark was bumpLevel; -1: not yet (a
                         ** ROLLBACK TO below that level undoes it) */
  char *zPath;           /* the segment file, resolved against the db's dir */
  char *zName;           /* the segment file as the user wrote it */
  uint32_t dim;          /* dimension= argument, 0 if not given */
  int syncMode;          /* CVEC_SYNC_FULL or CVEC_SYNC_OFF */
  int metric;            /* metric=: CVEC_METRIC_* of MATCH searches */
  int readonly;          /* readonly=1, or a read-only database */
  cvec_seg *seg;         /* NULL until the file opens */
  uint32_t *aMark;       /* aMark[i]: pending rows when savepoint i opened */
  int nMark;             /* savepoints 0..nMark-1 are open */
  int nMarkAlloc;
  int nCursor;           /* open cursors: while there are any, blobs handed
                         ** out as SQLITE_STATIC may still be in use */
  cvec_cursor *pCursors; /* the open cursors */
  sqlite3_int64 iNameCheck; /* when (ms) the file's name was last checked */
};

/*
** Query plans: idxNum is one PLAN_ value, plus for PLAN_SCAN the flags of the
** LIMIT and OFFSET it consumed; their values follow in argv in that order.
** EXPLAIN QUERY PLAN shows idxNum ("INDEX 1:").
*/
#define PLAN_SCAN    0   /* every record, in file order */
#define PLAN_LOOKUP  1   /* argv[0] is an id: at most one record */
#define PLAN_IN      2   /* argv[0] is an IN list of ids, all at once */
#define PLAN_KNN     3   /* argv[0] is the query vector of a MATCH: the k
                         ** nearest, by distance then id (SPEC §6) */
#define SCAN_LIMIT   4   /* a LIMIT value follows in argv */
#define SCAN_OFFSET  8   /* an OFFSET value follows in argv */
/* With PLAN_KNN, in this order after the query: */
#define KNN_K       16   /* the value of "k = ?" */
#define KNN_LIMIT   32   /* a LIMIT (ORDER BY distance consumed, or none) */
#define KNN_IN      64   /* an IN list of ids: search among them only */
#define KNN_EQ     128   /* one id: search among it only */
#define KNN_OFFSET 256   /* with KNN_LIMIT: the OFFSET, which SQLite applies
                         ** itself after the search: search LIMIT+OFFSET */

/* Columns; distance and k are HIDDEN (not in SELECT *, not stored). */
#define COL_ID        0
#define COL_VECTOR    1
#define COL_DISTANCE  2
#define COL_K         3

/* The largest k (or LIMIT) of a search: the results are kept in memory. */
#define KNN_MAX_K  4096

/*
** A cursor's snapshot is records [0, snap): the segment as it was when the
** cursor opened, which SQLite does when the statement starts (the commits of
** other connections up to then, and this connection's pending rows).  Every
** xFilter of the cursor, one per outer row when the table is the inner loop
** of a join, keeps it, so a statement does not see commits made while it
** runs, nor rows its own connection inserts meanwhile.  A ROLLBACK TO or ROLLBACK while the cursor
** is open lowers snap and end to what is left (vtab_clamp_cursors), so rows
** inserted after it are not taken for the ones it removed.
**
** A scan walks records [i, end), end <= snap.
*/
struct cvec_cursor {
  sqlite3_vtab_cursor base;
  cvec_cursor *pNext;    /* next open cursor of the same table */
  uint32_t snap;         /* records visible to this cursor */
  uint32_t i;            /* current record number */
  uint32_t end;          /* one past the last record this cursor may visit */
  sqlite3_int64 nLeft;   /* rows LIMIT still allows, or -1 for no limit */
  uint32_t *aRec;        /* PLAN_IN: the records found, visited in order */
  uint32_t nRec, iRec, nRecAlloc;
  int bKnn;              /* PLAN_KNN: the rows are hits[0..nHit) */
  cvec_topk hits;        /* ... sorted by distance then id */
  uint32_t iHit;         /* ... the current one */
  uint32_t kUsed;        /* ... column k: the "k = N" given, else the
                         ** LIMIT that served as k */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Replace the table's error message (freeing the old one). */
static void set_error(cvec_vtab *p, const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = sqlite3_vmprintf(zFmt, ap);
  va_end(ap);
}

/* Take ownership of a sqlite3_malloc()ed message. */
static void take_error(cvec_vtab *p, char *zErr){
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = zErr;
}

int cvec_sqlite_code(int rc){
  switch( rc ){
    case CVEC_OK:         return SQLITE_OK;
    case CVEC_NOMEM:      return SQLITE_NOMEM;
    case CVEC_IOERR:      return SQLITE_IOERR;
    case CVEC_CANTOPEN:   return SQLITE_CANTOPEN;
    case CVEC_NOTFOUND:   return SQLITE_CANTOPEN;
    case CVEC_CORRUPT:    return SQLITE_CORRUPT_VTAB;
    case CVEC_BUSY:       return SQLITE_BUSY;
    case CVEC_READONLY:   return SQLITE_READONLY;
    case CVEC_CONSTRAINT: return SQLITE_CONSTRAINT_PRIMARYKEY;
    case CVEC_FULL:       return SQLITE_FULL;
    case CVEC_RANGE:      return SQLITE_MISMATCH;
    case CVEC_INTERRUPT:  return SQLITE_INTERRUPT;
    default:              return SQLITE_ERROR;
  }
}

/* Report the core's last error on p and return the SQLite code. */
static int seg_error(cvec_vtab *p, int rc){
  set_error(p, CVEC_PREFIX "%s", cvec_seg_errmsg(p->seg));
  return cvec_sqlite_code(rc);
}

/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct cvec_args {
  char *zDir;            /* dir= */
  char *zFile;           /* file= */
  sqlite3_int64 segment; /* segment=, -1 if not given */
  sqlite3_int64 dim;     /* dimension=, 0 if not given */
  int syncMode;          /* sync= */
  int readonly;          /* readonly= */
  int metric;            /* metric= */
} cvec_args;

static void args_free(cvec_args *a){
  sqlite3_free(a->zDir);
  sqlite3_free(a->zFile);
}

/* Strip one level of matching '...' or "..." quotes (doubled quotes inside
** stand for one), as SQLite's own modules read their arguments. */
static char *unquote(const char *z, int n){
  while( n>0 && (z[0]==' ' || z[0]=='\t') ){ z++; n--; }
  while( n>0 && (z[n-1]==' ' || z[n-1]=='\t') ) n--;
  char *zOut = sqlite3_malloc(n+1);
  if( zOut==0 ) return 0;
  if( n>=2 && (z[0]=='\'' || z[0]=='"') && z[n-1]==z[0] ){
    char q = z[0];
    int j = 0;
    for(int i=1; i<n-1; i++){
      zOut[j++] = z[i];
      if( z[i]==q && i+1<n-1 && z[i+1]==q ) i++;
    }
    zOut[j] = 0;
  }else{
    memcpy(zOut, z, n);
    zOut[n] = 0;
  }
  return zOut;
}

/* Parse an unsigned decimal integer in [lo, hi]; -1 if it is not one. */
static sqlite3_int64 parse_uint(const char *z, sqlite3_int64 lo, sqlite3_int64 hi){
  sqlite3_int64 v = 0;
  if( z[0]==0 ) return -1;
  for(const char *s=z; *s; s++){
    if( *s<'0' || *s>'9' ) return -1;
    v = v*10 + (*s-'0');
    if( v>hi ) return -1;
  }
  return v<lo ? -1 : v;
}

/*
** Parse the module arguments argv[3..argc) into *a.  On error returns
** SQLITE_ERROR with *pzErr set.
*/
static int parse_args(int argc, const char *const*argv, cvec_args *a,
                      char **pzErr){
  int seen[7] = {0,0,0,0,0,0,0};
  static const char *azKey[] = {"dir","segment","file","dimension","sync",
                                "readonly","metric"};
  memset(a, 0, sizeof(*a));
  a->segment = -1;
  a->syncMode = CVEC_SYNC_FULL;
  for(int i=3; i<argc; i++){
    const char *z = argv[i];
    const char *eq = strchr(z, '=');
    if( eq==0 ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "argument '%s' is not key=value", z);
      return SQLITE_ERROR;
    }
    int nKey = (int)(eq - z);
    while( nKey>0 && (z[nKey-1]==' ' || z[nKey-1]=='\t') ) nKey--;
    while( nKey>0 && (z[0]==' ' || z[0]=='\t') ){ z++; nKey--; }
    int k;
    for(k=0; k<7; k++){
      if( (int)strlen(azKey[k])==nKey && sqlite3_strnicmp(z, azKey[k], nKey)==0 ){
        break;
      }
    }
    if( k==7 ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "unknown argument '%.*s'", nKey, z);
      return SQLITE_ERROR;
    }
    if( seen[k]++ ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "argument '%s' given twice", azKey[k]);
      return SQLITE_ERROR;
    }
    char *zVal = unquote(eq+1, (int)strlen(eq+1));
    if( zVal==0 ) return SQLITE_NOMEM;
    int bad = 0;
    const char *zWant = 0;
    switch( k ){
      case 0: a->zDir = zVal; zVal = 0; bad = a->zDir[0]==0;
              zWant = "a directory"; break;
      case 1: a->segment = parse_uint(zVal, 0, CVEC_MAX_ID);
              bad = a->segment<0; zWant = "an integer in 0..4294967295"; break;
      case 2: a->zFile = zVal; zVal = 0; bad = a->zFile[0]==0;
              zWant = "a file path"; break;
      case 3: a->dim = parse_uint(zVal, 1, CVEC_MAX_DIM);
              bad = a->dim<0; zWant = "an integer in 1..65536"; break;
      case 4:
        if( sqlite3_stricmp(zVal, "full")==0 ) a->syncMode = CVEC_SYNC_FULL;
        else if( sqlite3_stricmp(zVal, "off")==0 ) a->syncMode = CVEC_SYNC_OFF;
        else bad = 1;
        zWant = "full or off"; break;
      case 5:
        if( strcmp(zVal, "1")==0 ) a->readonly = 1;
        else if( strcmp(zVal, "0")==0 ) a->readonly = 0;
        else bad = 1;
        zWant = "0 or 1"; break;
      case 6:
        if( sqlite3_stricmp(zVal, "l2")==0 ) a->metric = CVEC_METRIC_L2;
        else if( sqlite3_stricmp(zVal, "cosine")==0 ) a->metric = CVEC_METRIC_COSINE;
        else if( sqlite3_stricmp(zVal, "dot")==0 ) a->metric = CVEC_METRIC_DOT;
        else bad = 1;
        zWant = "l2, cosine or dot"; break;
    }
    if( bad ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "%s='%s' is not %s", azKey[k],
                               zVal ? zVal : "", zWant);
      sqlite3_free(zVal);
      return SQLITE_ERROR;
    }
    sqlite3_free(zVal);
  }
  if( a->zDir && a->zFile ){
    *pzErr = sqlite3_mprintf(CVEC_PREFIX "give dir= or file=, not both");
    return SQLITE_ERROR;
  }
  if( a->zDir==0 && a->zFile==0 ){
    *pzErr = sqlite3_mprintf(CVEC_PREFIX "dir= or file= is required");
    return SQLITE_ERROR;
  }
  if( a->zFile && a->segment>=0 ){
    *pzErr = sqlite3_mprintf(CVEC_PREFIX "segment= goes with dir=, not file=");
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

/*
** The file's name as the user wrote it (zName) and the path to open (zPath):
** a relative path is taken relative to the directory of the database file
** that holds the table, so a database and its vectors can move together.
** In-memory and temporary databases have no file: the path then stays
** relative to the process's working directory.
*/
static int resolve_path(sqlite3 *db, const char *zDb, const cvec_args *a,
                        char **pzName, char **pzPath){
  if( a->zFile ){
    *pzName = sqlite3_mprintf("%s", a->zFile);
  }else{
    sqlite3_int64 seg = a->segment<0 ? 0 : a->segment;
    size_t n = strlen(a->zDir);
    int slash = n>0 && a->zDir[n-1]=='/';
    *pzName = sqlite3_mprintf("%s%ssegment_%lld.vec", a->zDir, slash ? "" : "/",
                              seg);
  }
  if( *pzName==0 ) return SQLITE_NOMEM;
  const char *zDbFile = sqlite3_db_filename(db, zDb);
  const char *zSlash = zDbFile ? strrchr(zDbFile, '/') : 0;
  if( (*pzName)[0]!='/' && zSlash ){
    *pzPath = sqlite3_mprintf("%.*s/%s", (int)(zSlash-zDbFile), zDbFile, *pzName);
  }else{
    *pzPath = sqlite3_mprintf("%s", *pzName);
  }
  return *pzPath ? SQLITE_OK : SQLITE_NOMEM;
}

/* ------------------------------------------------------------------------ */
/* The shadow table and crash settlement                                     */
/* ------------------------------------------------------------------------ */

/*
** Vectors and the database's rows commit together (SPEC §4) through the
** shadow table "<table>_cvec"(txn, tid), one row:
**   tid  a random table id, set when the table is created: it names the
**        table in the segment's intent notes, and stays with the table
**        through ALTER TABLE RENAME and a move of the database file;
**   txn  a random number, new for each write transaction, set by the first
**        INSERT of the transaction inside the same database transaction.
** The intent note of the transaction records both (segment_intent.h).
** After a crash, the note and the row answer the one question the segment
** cannot: did the database commit the transaction?  It did exactly if the
** row holds the note's txn (a random number, so a later transaction that
** reused a count could not be taken for it); then the synced records are
** rolled forward, otherwise they go.
**
** Only the table that wrote a note settles it: another table, or another
** database sharing the segment, gets an error until then (it reads by count
** meanwhile).  A database without a file (in-memory, temporary) cannot be
** asked after a crash: its notes have table id 0, and a transaction whose
** rows were synced (xSync returned, so SQLite was committing) is rolled
** forward.
*/
static int shadow_exec(cvec_vtab *p, char *zSql){
  if( zSql==0 ) return SQLITE_NOMEM;
  char *zErr = 0;
  int rc = sqlite3_exec(p->db, zSql, 0, 0, &zErr);
  sqlite3_free(zSql);
  if( rc ){
    set_error(p, CVEC_PREFIX "%s_cvec: %s", p->zTable,
              zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  return rc;
}

/* A random number in 1..2^63-1. */
static sqlite3_int64 random_id(void){
  sqlite3_uint64 v = 0;
  sqlite3_randomness(sizeof(v), &v);
  v &= 0x7FFFFFFFFFFFFFFFull;
  return v ? (sqlite3_int64)v : 1;
}

static int shadow_create(cvec_vtab *p){
  /* (the nested INSERT moves last_insert_rowid and changes(): keep the
  ** application's) */
  sqlite3_int64 iLast = sqlite3_last_insert_rowid(p->db);
  int rc = shadow_exec(p, sqlite3_mprintf(
      "CREATE TABLE IF NOT EXISTS \"%w\".\"%w_cvec\"(txn INTEGER NOT NULL,"
      " tid INTEGER NOT NULL);"
      "INSERT INTO \"%w\".\"%w_cvec\"(txn, tid) SELECT 0, %lld WHERE NOT EXISTS"
      " (SELECT 1 FROM \"%w\".\"%w_cvec\")",
      p->zDb, p->zTable, p->zDb, p->zTable, random_id(), p->zDb, p->zTable));
  sqlite3_set_last_insert_rowid(p->db, iLast);
  return rc;
}

/* Finalize the cached shadow-table statements (before the table is renamed
** or dropped, and at disconnect). */
static void shadow_finalize(cvec_vtab *p){
  sqlite3_finalize(p->pShadowRead);
  sqlite3_finalize(p->pShadowBump);
  p->pShadowRead = p->pShadowBump = 0;
}

/* The shadow table cannot be read (dropped by hand, or a table made by an
** older cvec): say what it is for and how to make it again. */
static void shadow_error(cvec_vtab *p){
  set_error(p, CVEC_PREFIX "%s: cannot read its shadow table %s_cvec (%s); "
            "it holds what commits vectors with the database: recreate the "
            "table, or create it with CREATE TABLE \"%w\".\"%w_cvec\"(txn "
            "INTEGER NOT NULL, tid INTEGER NOT NULL)", p->zTable, p->zTable,
            sqlite3_errmsg(p->db), p->zDb, p->zTable);
}

/*
** *pp, prepared once from zFmt (with the schema and table names) and kept:
** the first INSERT of every write transaction runs both statements.
*/
static int shadow_stmt(cvec_vtab *p, sqlite3_stmt **pp, const char *zFmt){
  if( *pp ) return SQLITE_OK;
  char *zSql = sqlite3_mprintf(zFmt, p->zDb, p->zTable);
  if( zSql==0 ) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT, pp, 0);
  sqlite3_free(zSql);
  if( rc ){
    shadow_error(p);
    sqlite3_finalize(*pp);
    *pp = 0;
  }
  return rc;
}

/*
** The shadow row: *pTxn and *pTid (0 and 0 if the row is missing).  Also
** makes the table id the one this table's notes carry.
*/
static int shadow_read(cvec_vtab *p, sqlite3_int64 *pTxn, sqlite3_int64 *pTid){
  int rc = shadow_stmt(p, &p->pShadowRead, "SELECT txn, tid FROM \"%w\".\"%w_cvec\" "
                                           "ORDER BY rowid LIMIT 1");
  if( rc ) return rc;
  *pTxn = *pTid = 0;
  rc = sqlite3_step(p->pShadowRead);
  if( rc==SQLITE_ROW ){
    *pTxn = sqlite3_column_int64(p->pShadowRead, 0);
    *pTid = sqlite3_column_int64(p->pShadowRead, 1);
    rc = SQLITE_OK;
  }else if( rc==SQLITE_DONE ){
    rc = SQLITE_OK;
  }
  if( rc ) shadow_error(p);
  sqlite3_reset(p->pShadowRead);
  if( rc==SQLITE_OK && *pTid!=0 ) p->tid = *pTid;
  return rc;
}

/* Set the shadow row's txn to iNew; *pChanged: whether a row was there. */
static int shadow_bump(cvec_vtab *p, sqlite3_int64 iNew, int *pChanged){
  int rc = shadow_stmt(p, &p->pShadowBump, "UPDATE \"%w\".\"%w_cvec\" SET txn = ?1");
  if( rc ) return rc;
  sqlite3_bind_int64(p->pShadowBump, 1, iNew);
  rc = sqlite3_step(p->pShadowBump);
  rc = rc==SQLITE_DONE ? SQLITE_OK : rc;
  if( rc ) set_error(p, CVEC_PREFIX "%s_cvec: %s", p->zTable, sqlite3_errmsg(p->db));
  *pChanged = sqlite3_changes(p->db)>0;
  sqlite3_reset(p->pShadowBump);
  return rc;
}

/* "table T in FILE" for a database with a file, else "". */
static int make_owner(cvec_vtab *p){
  const char *zFile = sqlite3_db_filename(p->db, p->zDb);
  sqlite3_free(p->zOwner);
  p->zOwner = (zFile && zFile[0]) ? sqlite3_mprintf("table %s in %s", p->zTable, zFile)
                                  : sqlite3_mprintf("");
  return p->zOwner ? SQLITE_OK : SQLITE_NOMEM;
}

static int has_file(cvec_vtab *p){ return p->zOwner && p->zOwner[0]; }

/* The integer a "PRAGMA name" gives, 0 if it cannot be read: SQLite has no
** other way to read the busy timeout, or query_only. */
static int pragma_int(sqlite3 *db, const char *zPragma){
  sqlite3_stmt *pStmt = 0;
  int v = 0;
  if( sqlite3_prepare_v2(db, zPragma, -1, &pStmt, 0)==SQLITE_OK
   && sqlite3_step(pStmt)==SQLITE_ROW ){
    v = sqlite3_column_int(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  return v;
}

/*
** Whether the transaction of note t committed: 1 yes, 0 no, -1 the note is
** not this table's (another table or database must settle it).
*/
static int note_committed(cvec_vtab *p, const cvec_tail_info *t, int *pRc){
  *pRc = SQLITE_OK;
  if( t->tid==0 && t->zOwner[0]==0 ) return t->newCount>0;
  if( !has_file(p) ) return -1;
  sqlite3_int64 txn, tid;
  *pRc = shadow_read(p, &txn, &tid);
  if( *pRc ) return -1;
  if( tid==0 || (sqlite3_uint64)tid!=t->tid ) return -1;
  return t->newCount>0 && (sqlite3_uint64)txn==t->txn;
}

/*
** The write lock is held and begin_write found a tail a crashed transaction
** left (t).  Settle it if this table wrote it: forward if the database
** committed it, else (only when mayCut: a writer, whose database snapshot is
** the latest, as SQLite's write lock on the database makes it) cut it.
** A reader never cuts: its snapshot may predate the commit.
*/
static int settle_tail(cvec_vtab *p, const cvec_tail_info *t, int mayCut){
  int rc;
  int committed = note_committed(p, t, &rc);
  if( rc ) return rc;
  if( committed<0 ){
    if( !mayCut ) return SQLITE_OK;
    set_error(p, CVEC_PREFIX "%s: a transaction of %s did not finish (a "
              "crash?); open that table to settle it, or run cvec_repair",
              p->zName, t->zOwner[0] ? t->zOwner : "another table");
    return SQLITE_BUSY;
  }
  if( !committed && !mayCut ) return SQLITE_OK;
  int crc = cvec_seg_settle(p->seg, committed);
  if( crc ) return seg_error(p, crc);
  sqlite3_log(SQLITE_NOTICE, CVEC_PREFIX "%s: a transaction of %s did not "
              "finish; %s", p->zName, t->zOwner[0] ? t->zOwner : "a database without a file",
              committed ? "the database committed it: rolled forward"
                        : "rolled back");
  return SQLITE_OK;
}

/* Settle what a crash left, under the write lock (mayCut: see settle_tail). */
static int settle_locked(cvec_vtab *p, int mayCut){
  cvec_tail_info t;
  cvec_seg_tail(p->seg, &t);
  if( t.kind==CVEC_TAIL_INTENT ) return settle_tail(p, &t, mayCut);
  if( t.kind==CVEC_TAIL_FOREIGN && mayCut ){
    return seg_error(p, cvec_seg_settle(p->seg, 0));
  }
  return SQLITE_OK;
}

/*
** At an INSERT with no pending rows, under the write lock: settle what a
** crash left, then (once per transaction, see bumpLevel) give the
** transaction its number in the shadow row, inside the database
** transaction, and in the segment's notes.
*/
static int prepare_write(cvec_vtab *p){
  int rc = settle_locked(p, 1);
  if( rc ) return rc;
  if( !has_file(p) ){
    return cvec_seg_set_owner(p->seg, "", 0) ? SQLITE_NOMEM : SQLITE_OK;
  }
  if( p->bumpLevel>=0 ) return SQLITE_OK;
  sqlite3_int64 txn, tid;
  rc = shadow_read(p, &txn, &tid);
  if( rc ) return rc;
  if( p->tid==0 ) p->tid = random_id();
  if( cvec_seg_set_owner(p->seg, p->zOwner, (sqlite3_uint64)p->tid) ) return SQLITE_NOMEM;
  sqlite3_int64 iNew = random_id();
  int changed = 0;
  rc = shadow_bump(p, iNew, &changed);
  if( rc==SQLITE_OK && !changed ){
    /* The row was deleted by hand: put it back, or the database would not
    ** record the commit and a crash after it would be cut.  (An INSERT
    ** moves last_insert_rowid: keep the application's.) */
    sqlite3_int64 iLast = sqlite3_last_insert_rowid(p->db);
    rc = shadow_exec(p, sqlite3_mprintf("INSERT INTO \"%w\".\"%w_cvec\"(txn, tid) "
                                        "VALUES(%lld, %lld)", p->zDb, p->zTable,
                                        iNew, p->tid));
    sqlite3_set_last_insert_rowid(p->db, iLast);
  }
  if( rc ) return rc;
  cvec_seg_set_txn(p->seg, (sqlite3_uint64)iNew);
  p->bumpLevel = p->nMark;
  return SQLITE_OK;
}

/*
** A statement starts and the last refresh saw bytes past the count: a
** transaction of this table may have crashed after its database committed.
** Look at the note without the lock (a reader must not get in a writer's
** way), and only if it is this table's and the shadow row says it
** committed, take the lock and roll it forward, so that readers see what
** the database says was committed.  Never a cut here (see settle_tail).
*/
static void settle_on_read(cvec_vtab *p){
  cvec_tail_info t;
  int rc;
  if( p->readonly || cvec_seg_in_write(p->seg) || !cvec_seg_has_tail(p->seg) ) return;
  if( cvec_seg_peek_tail(p->seg, &t) || t.kind!=CVEC_TAIL_INTENT
   || note_committed(p, &t, &rc)!=1 || pragma_int(p->db, "PRAGMA query_only") ){
    /* (under query_only a settlement waits for a writable connection) */
    goto done;
  }
  if( cvec_seg_begin_write(p->seg) ) goto done;   /* a writer is at work */
  (void)settle_locked(p, 0);
  (void)cvec_seg_rollback(p->seg);             /* releases the lock */
done:
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = 0;
}

/* ------------------------------------------------------------------------ */
/* Create, connect, disconnect                                               */
/* ------------------------------------------------------------------------ */

/* Open the segment if it is not open yet; report why not on failure. */
static int open_segment(cvec_vtab *p, int flags, char **pzErr){
  char zErr[CVEC_ERRMSG_MAX];
  if( p->seg ) return SQLITE_OK;
  if( p->readonly ) flags |= CVEC_OPEN_READONLY;
  int rc = cvec_seg_open(p->zPath, p->zName, p->dim, flags, &p->seg, zErr);
  if( rc ){
    char *z;
    if( rc==CVEC_NOTFOUND && p->dim==0 && !p->readonly
     && (flags & CVEC_OPEN_CREATE) ){
      z = sqlite3_mprintf(CVEC_PREFIX "%s; dimension= is required to create it",
                          zErr);
    }else{
      z = sqlite3_mprintf(CVEC_PREFIX "%s", zErr);
    }
    if( pzErr ){
      sqlite3_free(*pzErr);
      *pzErr = z;
    }else{
      take_error(p, z);
    }
    return cvec_sqlite_code(rc);
  }
  cvec_seg_set_sync(p->seg, p->syncMode);
  if( cvec_seg_set_owner(p->seg, p->zOwner, (sqlite3_uint64)p->tid) ){
    cvec_seg_close(p->seg);
    p->seg = 0;
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* The registry of open tables                                               */
/* ------------------------------------------------------------------------ */

struct cvec_registry {
  int nRef;
  cvec_vtab *pFirst;
};

cvec_registry *cvec_registry_new(void){
  cvec_registry *r = sqlite3_malloc(sizeof(*r));
  if( r ){ r->nRef = 1; r->pFirst = 0; }
  return r;
}

void cvec_registry_ref(cvec_registry *pReg){ pReg->nRef++; }

void cvec_registry_unref(void *pArg){
  cvec_registry *r = pArg;
  if( --r->nRef==0 ) sqlite3_free(r);
}

int cvec_vtab_find(cvec_registry *pReg, const char *zTable,
                   const char **pzPath, const char **pzName){
  for(cvec_vtab *p=pReg->pFirst; p; p=p->pNextReg){
    if( sqlite3_stricmp(p->zTable, zTable)==0 ){
      *pzPath = p->zPath;
      *pzName = p->zName;
      return 1;
    }
  }
  return 0;
}

static int vtab_disconnect(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  if( p->pReg ){
    for(cvec_vtab **pp=&p->pReg->pFirst; *pp; pp=&(*pp)->pNextReg){
      if( *pp==p ){ *pp = p->pNextReg; break; }
    }
  }
  cvec_seg_close(p->seg);
  shadow_finalize(p);
  sqlite3_free(p->base.zErrMsg);
  sqlite3_free(p->zDb);
  sqlite3_free(p->zOwner);
  sqlite3_free(p->zTable);
  sqlite3_free(p->zPath);
  sqlite3_free(p->zName);
  sqlite3_free(p->aMark);
  sqlite3_free(p);
  return SQLITE_OK;
}

/*
** xCreate (isCreate) and xConnect.  Only xCreate may create the file; xConnect
** never fails for a missing or damaged file (see the header comment).
*/
static int vtab_init(sqlite3 *db, void *pAux, int argc, const char *const*argv,
                     sqlite3_vtab **ppVtab, char **pzErr, int isCreate){
  cvec_args a;
  cvec_vtab *p = 0;
  int rc = parse_args(argc, argv, &a, pzErr);
  if( rc ) goto fail;

  p = sqlite3_malloc(sizeof(*p));
  if( p==0 ){ rc = SQLITE_NOMEM; goto fail; }
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->dim = (uint32_t)a.dim;
  p->bumpLevel = -1;
  p->syncMode = a.syncMode;
  p->metric = a.metric;
  p->readonly = a.readonly || sqlite3_db_readonly(db, argv[1])==1;
  p->zTable = sqlite3_mprintf("%s", argv[2]);
  p->zDb = sqlite3_mprintf("%s", argv[1]);
  if( p->zTable==0 || p->zDb==0 ){ rc = SQLITE_NOMEM; goto fail; }
  rc = make_owner(p);
  if( rc ) goto fail;
  rc = resolve_path(db, argv[1], &a, &p->zName, &p->zPath);
  if( rc ) goto fail;

  rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER PRIMARY KEY, "
                                "vector BLOB, distance HIDDEN REAL, "
                                "k HIDDEN INTEGER)");
  if( rc ) goto fail;
  /* It opens and appends to files named by its arguments: never from a
  ** trigger or a view, where a schema change could aim it elsewhere. */
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  /* Duplicate ids are reported before anything changes, so SQLite may apply
  ** OR IGNORE / OR FAIL / OR ABORT to them. */
  sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);

  if( isCreate ){
    if( p->readonly && a.readonly==0 ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "cannot create %s: the database is "
                               "read-only", p->zName);
      rc = SQLITE_READONLY;
      goto fail;
    }
    rc = open_segment(p, CVEC_OPEN_CREATE, pzErr);
    if( rc ) goto fail;
    if( !p->readonly ){
      rc = shadow_create(p);
      if( rc ){
        *pzErr = p->base.zErrMsg;
        p->base.zErrMsg = 0;
        goto fail;
      }
    }
  }else{
    char *zIgnored = 0;
    (void)open_segment(p, 0, &zIgnored);
    sqlite3_free(zIgnored);
  }
  args_free(&a);
  p->pReg = (cvec_registry*)pAux;
  p->pNextReg = p->pReg->pFirst;
  p->pReg->pFirst = p;
  *ppVtab = &p->base;
  return SQLITE_OK;

fail:
  args_free(&a);
  if( p ) vtab_disconnect(&p->base);
  if( rc==SQLITE_NOMEM && *pzErr==0 ) *pzErr = sqlite3_mprintf(CVEC_PREFIX "out of memory");
  return rc;
}

static int vtab_create(sqlite3 *db, void *pAux, int argc,
                       const char *const*argv, sqlite3_vtab **ppVtab,
                       char **pzErr){
  return vtab_init(db, pAux, argc, argv, ppVtab, pzErr, 1);
}

static int vtab_connect(sqlite3 *db, void *pAux, int argc,
                        const char *const*argv, sqlite3_vtab **ppVtab,
                        char **pzErr){
  return vtab_init(db, pAux, argc, argv, ppVtab, pzErr, 0);
}

/* DROP TABLE leaves the segment file in place: it is data that other tools
** may share (SPEC §3). */
static int vtab_destroy(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  /* The shadow row goes with the table: settle what a crash of this table
  ** left first, while it can still be asked (DROP runs in a write
  ** transaction of the database, so its snapshot is the latest).  A file
  ** that cannot be opened or locked is left as it is. */
  if( p->seg && !p->readonly && !cvec_seg_in_write(p->seg) && has_file(p)
   && cvec_seg_begin_write(p->seg)==CVEC_OK ){
    (void)settle_locked(p, 1);
    (void)cvec_seg_rollback(p->seg);
  }
  shadow_finalize(p);
  int rc = shadow_exec(p, sqlite3_mprintf("DROP TABLE IF EXISTS \"%w\".\"%w_cvec\"",
                                          p->zDb, p->zTable));
  /* SQLite refuses to drop a table while another statement of the
  ** connection reads (SQLITE_LOCKED): the shadow table then stays behind,
  ** an orphan that a later table of the same name takes over. */
  if( rc && rc!=SQLITE_LOCKED ) return rc;
  return vtab_disconnect(pVtab);
}

/* "<table>_cvec" is this module's shadow table (read-only to SQL in
** defensive mode; SQLite 3.26+). */
static int vtab_shadow_name(const char *zSuffix){
  return sqlite3_stricmp(zSuffix, "cvec")==0;
}

static int vtab_rename(sqlite3_vtab *pVtab, const char *zNew){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  char *z = sqlite3_mprintf("%s", zNew);
  if( z==0 ) return SQLITE_NOMEM;
  shadow_finalize(p);   /* they name the old table */
  if( !p->readonly ){
    int rc = shadow_exec(p, sqlite3_mprintf(
        "ALTER TABLE \"%w\".\"%w_cvec\" RENAME TO \"%w_cvec\"",
        p->zDb, p->zTable, zNew));
    if( rc ){ sqlite3_free(z); return rc; }
  }
  sqlite3_free(p->zTable);
  p->zTable = z;
  /* notes written from now on name the new table in messages; the table
  ** id, which settlement matches, stays */
  int rc = make_owner(p);
  if( rc==SQLITE_OK && p->seg
   && cvec_seg_set_owner(p->seg, p->zOwner, (sqlite3_uint64)p->tid) ) rc = SQLITE_NOMEM;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Query planning                                                            */
/* ------------------------------------------------------------------------ */

/*
** Plans: PLAN_LOOKUP for a usable "id = ?" or "rowid = ?", PLAN_IN for
** id IN (...) (the whole list in one xFilter); PLAN_SCAN otherwise.
** Ranges and all other constraints are left to SQLite to check on the rows
** of a scan.
**
** Costs: a lookup is 1.  A scan is SCAN_BASE_COST plus one per record.  The
** base makes a scan of even a small segment cost more than SQLite's own scan
** of a table it knows nothing about (it assumes about a million rows), so that
** in a join on id the planner loops over the metadata table and looks each
** id up here: vectors usually sit beside metadata rows one to one, and the
** metadata side is the one a WHERE clause filters.  (Measured on 3.40: a base
** of 3e6 still put the scan outside, 1e7 puts the lookup inside.)
*/
#define SCAN_BASE_COST 1e7

/*
** PLAN_KNN: "vector MATCH ?" with "k = ?" and/or a LIMIT, and an id
** pre-filter.  ORDER BY distance (then id) is the search's own order.
**
** A LIMIT is taken as k only if SQLite offers it (one table, every WHERE
** term ours) and nothing reorders the rows after (no ORDER BY, or ours).
** An "id = ?" that only a join can supply would run one search per outer
** row (each "the nearest among one id"): it is costed out, so that the
** search runs once and the join filters its k rows.  To search among the
** rows of another table, use "id IN (SELECT ...)" (README).
*/
static int best_index_knn(cvec_vtab *p, sqlite3_index_info *pInfo, int iMatch,
                          int iK, int iEq, int iLimit, int iOffset){
  int n = 0;
  pInfo->idxNum = PLAN_KNN;
  pInfo->aConstraintUsage[iMatch].argvIndex = ++n;
  pInfo->aConstraintUsage[iMatch].omit = 1;
  if( iK>=0 ){
    pInfo->aConstraintUsage[iK].argvIndex = ++n;
    pInfo->aConstraintUsage[iK].omit = 1;
    pInfo->idxNum |= KNN_K;
  }
  int ordered = 0;
  if( pInfo->nOrderBy>=1 && pInfo->nOrderBy<=2
   && pInfo->aOrderBy[0].iColumn==COL_DISTANCE && !pInfo->aOrderBy[0].desc
   && (pInfo->nOrderBy==1 || (!pInfo->aOrderBy[1].desc
       && (pInfo->aOrderBy[1].iColumn==COL_ID || pInfo->aOrderBy[1].iColumn==-1))) ){
    pInfo->orderByConsumed = 1;
    ordered = 1;
  }
  if( iLimit>=0 && (pInfo->nOrderBy==0 || ordered) ){
    pInfo->aConstraintUsage[iLimit].argvIndex = ++n;
    pInfo->idxNum |= KNN_LIMIT;
    if( iOffset>=0 ){
      pInfo->aConstraintUsage[iOffset].argvIndex = ++n;
      pInfo->idxNum |= KNN_OFFSET;
    }
  }
  double nRow = p->seg ? (double)cvec_seg_nrec(p->seg) : 1e6;
  double cost = 10.0 + nRow;
  if( iEq>=0 ){
    pInfo->aConstraintUsage[iEq].argvIndex = ++n;
    pInfo->aConstraintUsage[iEq].omit = 1;
    if( sqlite3_vtab_in(pInfo, iEq, -1) ){
      sqlite3_vtab_in(pInfo, iEq, 1);
      pInfo->idxNum |= KNN_IN;
      cost = 100.0;
    }else{
      pInfo->idxNum |= KNN_EQ;
      cost = 1e12;   /* see above */
    }
  }
  pInfo->estimatedCost = cost;
  pInfo->estimatedRows = 10;
  return SQLITE_OK;
}

static int vtab_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  int iEq = -1, iLimit = -1, iOffset = -1, nOther = 0;
  int iMatch = -1, iK = -1, nMatch = 0, nK = 0;
  for(int i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if( c->op==SQLITE_INDEX_CONSTRAINT_MATCH && c->iColumn==COL_VECTOR ){
      nMatch++;
      if( c->usable && iMatch<0 ) iMatch = i;
      continue;
    }
    if( c->op==SQLITE_INDEX_CONSTRAINT_EQ && c->iColumn==COL_K ){
      nK++;
      if( c->usable && iK<0 ) iK = i;
      continue;
    }
    if( c->op==SQLITE_INDEX_CONSTRAINT_LIMIT ){
      if( c->usable ) iLimit = i;
    }else if( c->op==SQLITE_INDEX_CONSTRAINT_OFFSET ){
      if( c->usable ) iOffset = i;
    }else{
      nOther++;
      if( iEq<0 && c->usable && c->op==SQLITE_INDEX_CONSTRAINT_EQ
       && (c->iColumn==0 || c->iColumn==-1) ){
        iEq = i;
      }
    }
  }
  if( nMatch>0 ){
    /* A MATCH can only be answered by the search: a plan without it (its
    ** argument not known yet) is no plan. */
    if( iMatch<0 ) return SQLITE_CONSTRAINT;
    /* The search itself is the only filter when nothing is left for
    ** SQLite to check: then (only) a LIMIT may serve as k.  SQLite before
    ** 3.46 offers LIMIT even with other terms left over. */
    int alone = nMatch==1 && nK<=1 && nOther==(iEq>=0);
    if( !alone ) iLimit = iOffset = -1;
    /* A "k = ?" that only a join supplies: wait for the plan where it is
    ** usable rather than search without it. */
    if( nK>0 && iK<0 && iLimit<0 ) return SQLITE_CONSTRAINT;
    return best_index_knn(p, pInfo, iMatch, iK, iEq, iLimit, iOffset);
  }
  if( iEq>=0 ){
    pInfo->aConstraintUsage[iEq].argvIndex = 1;
    pInfo->aConstraintUsage[iEq].omit = 1;
    if( sqlite3_vtab_in(pInfo, iEq, -1) ){
      /* id IN (...): take the whole list in one xFilter */
      sqlite3_vtab_in(pInfo, iEq, 1);
      pInfo->idxNum = PLAN_IN;
      pInfo->estimatedCost = 10.0;
      pInfo->estimatedRows = 10;
    }else{
      pInfo->idxNum = PLAN_LOOKUP;
      pInfo->estimatedCost = 1.0;
      pInfo->estimatedRows = 1;
      pInfo->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    }
    return SQLITE_OK;
  }
  double nRow = 1e6;   /* a guess, when the file cannot be opened */
  if( p->seg ) nRow = (double)cvec_seg_nrec(p->seg);
  pInfo->idxNum = PLAN_SCAN;
  pInfo->estimatedCost = SCAN_BASE_COST + nRow;
  pInfo->estimatedRows = (sqlite3_int64)nRow;
  /* LIMIT and OFFSET apply to the rows the scan returns only when nothing
  ** else filters or reorders them (SQLite offers them in few cases; this
  ** is the safe subset of those). */
  if( nOther==0 && pInfo->nOrderBy==0 ){
    int n = 0;
    if( iLimit>=0 ){
      pInfo->aConstraintUsage[iLimit].argvIndex = ++n;
      pInfo->aConstraintUsage[iLimit].omit = 1;
      pInfo->idxNum |= SCAN_LIMIT;
    }
    if( iOffset>=0 ){
      pInfo->aConstraintUsage[iOffset].argvIndex = ++n;
      pInfo->aConstraintUsage[iOffset].omit = 1;
      pInfo->idxNum |= SCAN_OFFSET;
    }
  }
  return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Cursors                                                                   */
/* ------------------------------------------------------------------------ */

/* Milliseconds between checks that a reader's file still has its name. */
#define NAME_CHECK_MS 100

/*
** A segment replaced behind a reader's back (a new file renamed over it)
** would otherwise be read in its old version for as long as the table stays
** open, and an index file cut or overwritten in place would be trusted.
** Checking costs a path lookup and an fstat, so a table does it at most
** every NAME_CHECK_MS, when a statement starts and no other statement of
** the connection is reading the table; it then opens the new file, or finds
** the index again.
*/
static int follow_renamed_file(cvec_vtab *p){
  if( p->seg==0 || p->nCursor>0 || cvec_seg_in_write(p->seg) ) return SQLITE_OK;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  sqlite3_int64 now = (sqlite3_int64)ts.tv_sec*1000 + ts.tv_nsec/1000000;
  if( now - p->iNameCheck < NAME_CHECK_MS ) return SQLITE_OK;
  p->iNameCheck = now;
  int crc = cvec_seg_revalidate(p->seg);
  if( crc!=CVEC_STALE ) return crc ? seg_error(p, crc) : SQLITE_OK;
  cvec_seg_close(p->seg);
  p->seg = 0;
  return open_segment(p, 0, 0);
}

static int cursor_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  /* The cursor's snapshot: the latest commits of other connections, plus
  ** this connection's pending rows. */
  int rc = follow_renamed_file(p);
  if( rc==SQLITE_OK ) rc = open_segment(p, 0, 0);
  if( rc ) return rc;
  rc = cvec_seg_refresh(p->seg);
  if( rc ) return seg_error(p, rc);
  if( p->nCursor==0 ) settle_on_read(p);
  cvec_cursor *c = sqlite3_malloc(sizeof(*c));
  if( c==0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  c->snap = cvec_seg_nrec(p->seg);
  p->nCursor++;
  c->pNext = p->pCursors;
  p->pCursors = c;
  *ppCur = &c->base;
  return SQLITE_OK;
}

/*
** Blobs of committed records are handed out as SQLITE_STATIC pointers into
** the segment's map (cursor_column).  SQLite may keep such a pointer beyond
** the row (an aggregate's accumulator, the application's
** sqlite3_column_blob() result), but not beyond the statement, and a
** statement's cursors stay open until it is reset or finalized.  So maps
** replaced while cursors were open are unmapped when the last one closes.
*/
static int cursor_close(sqlite3_vtab_cursor *cur){
  cvec_cursor *c = (cvec_cursor*)cur;
  cvec_vtab *p = (cvec_vtab*)cur->pVtab;
  for(cvec_cursor **pp=&p->pCursors; *pp; pp=&(*pp)->pNext){
    if( *pp==c ){ *pp = c->pNext; break; }
  }
  if( --p->nCursor==0 && p->seg ) cvec_seg_release_maps(p->seg);
  if( c->bKnn ) cvec_topk_free(&c->hits);
  sqlite3_free(c->aRec);
  sqlite3_free(c);
  return SQLITE_OK;
}

static cvec_seg *cursor_seg(cvec_cursor *c){
  return ((cvec_vtab*)c->base.pVtab)->seg;
}

/* Move to the first visible record at or after c->i. */
static int cursor_settle(cvec_cursor *c){
  cvec_seg *s = cursor_seg(c);
  while( c->i < c->end && !cvec_seg_record_visible(s, c->i) ) c->i++;
  if( cvec_seg_broken(s) ){
    return seg_error((cvec_vtab*)c->base.pVtab, CVEC_NOMEM);
  }
  return SQLITE_OK;
}

/* The table's segment lost records [n, ...) (ROLLBACK, ROLLBACK TO): no
** open cursor may visit them, or rows inserted after them. */
static void vtab_clamp_cursors(cvec_vtab *p){
  uint32_t n = p->seg ? cvec_seg_nrec(p->seg) : 0;
  for(cvec_cursor *c=p->pCursors; c; c=c->pNext){
    if( c->snap > n ) c->snap = n;
    if( c->end > n ) c->end = n;
  }
}

/* Record the found record r for a PLAN_IN cursor. */
static int cursor_push(cvec_cursor *c, uint32_t r){
  if( c->nRec>=c->nRecAlloc ){
    uint32_t n = c->nRecAlloc ? c->nRecAlloc*2 : 16;
    uint32_t *a = sqlite3_realloc64(c->aRec, (sqlite3_uint64)n*sizeof(*a));
    if( a==0 ) return SQLITE_NOMEM;
    c->aRec = a;
    c->nRecAlloc = n;
  }
  c->aRec[c->nRec++] = r;
  return SQLITE_OK;
}

/* A LIMIT or OFFSET value as a count: negative (or not a number) means none. */
static sqlite3_int64 count_value(sqlite3_value *v){
  int t = sqlite3_value_numeric_type(v);
  if( t!=SQLITE_INTEGER && t!=SQLITE_FLOAT ) return -1;
  return sqlite3_value_int64(v);
}

static char *describe_value(sqlite3_value *v, int eType);

/* Polled by a long search: has sqlite3_interrupt() been called? */
static int knn_interrupted(void *pArg){
#if SQLITE_VERSION_NUMBER >= 3041000
  /* sqlite3_is_interrupted() exists from 3.41; an older library's API
  ** table has no such slot, and then a search runs to its end */
  if( sqlite3_libversion_number() >= 3041000 ){
    return sqlite3_is_interrupted((sqlite3*)pArg);
  }
#endif
  (void)pArg;
  return 0;
}

static int cmp_u32(const void *a, const void *b){
  uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
  return x<y ? -1 : x>y;
}

/*
** PLAN_KNN: run the search now and keep its rows (at most KNN_MAX_K) in the
** cursor.  argv: the query, then the values the KNN_ flags say.
*/
static int knn_filter(cvec_cursor *c, cvec_vtab *p, int idxNum,
                      sqlite3_value **argv){
  int iArg = 1;
  sqlite3_int64 k = -1;
  uint32_t dim = cvec_seg_dimension(p->seg);
  if( idxNum & KNN_K ){
    /* an integer, or a real with no fraction (2.0), in 1..KNN_MAX_K; a
    ** real is range-checked before the cast (outside int64 it is UB) */
    sqlite3_value *v = argv[iArg++];
    int t = sqlite3_value_numeric_type(v);
    double r = sqlite3_value_double(v);
    if( t==SQLITE_INTEGER ){
      k = sqlite3_value_int64(v);
    }else if( t==SQLITE_FLOAT && r>=1 && r<=KNN_MAX_K && r==(double)(sqlite3_int64)r ){
      k = (sqlite3_int64)r;
    }
    if( k<1 || k>KNN_MAX_K ){
      char *zV = describe_value(v, sqlite3_value_type(v));
      set_error(p, CVEC_PREFIX "%s: k = %s is not an integer in 1..%d",
                p->zTable, zV ? zV : "?", KNN_MAX_K);
      sqlite3_free(zV);
      return SQLITE_ERROR;
    }
  }
  sqlite3_int64 kGiven = k;      /* column k shows it, whatever LIMIT does */
  if( idxNum & KNN_LIMIT ){
    sqlite3_int64 n = sqlite3_value_int64(argv[iArg++]);
    if( idxNum & KNN_OFFSET ){
      /* SQLite skips the OFFSET rows of what the search returns */
      sqlite3_int64 o = sqlite3_value_int64(argv[iArg++]);
      if( n>=0 && o>0 ) n = (o>KNN_MAX_K || n>KNN_MAX_K) ? KNN_MAX_K+1 : n+o;
    }
    if( n>=0 && (k<0 || n<k) ){
      if( n>KNN_MAX_K ){
        set_error(p, CVEC_PREFIX "%s: LIMIT (with OFFSET) is more than the %d "
                  "nearest rows a search returns", p->zTable, KNN_MAX_K);
        return SQLITE_ERROR;
      }
      k = n;
    }
  }
  if( k<0 ){
    set_error(p, CVEC_PREFIX "%s: a MATCH search needs k = N (or ORDER BY "
              "distance LIMIT N, which SQLite passes on from version 3.41)",
              p->zTable);
    return SQLITE_ERROR;
  }
  /* the query, decoded (and copied where it is not float-aligned) */
  const unsigned char *aQ;
  uint32_t nQ;
  void *pFree = 0;
  char *zErr = 0;
  int rc = cvec_vector_from_value(argv[0], "query vector", 0, dim, &aQ, &nQ,
                                  &pFree, &zErr);
  if( rc ){
    take_error(p, zErr);
    return rc;
  }
  float *aCopy = 0;
  const float *q = cvec_native_floats(aQ, dim, &aCopy);
  if( q==0 ){ sqlite3_free(pFree); return SQLITE_NOMEM; }
  /* the pre-filter: the records of the ids given, each once */
  if( idxNum & (KNN_IN|KNN_EQ) ){
    sqlite3_value *vIds = argv[iArg++];
    uint32_t id;
    if( idxNum & KNN_EQ ){
      if( cvec_id_from_value(vIds, &id)==CVEC_ID_OK ){
        int64_t r = cvec_seg_lookup(p->seg, id);
        if( r>=0 && r<(int64_t)c->snap && cursor_push(c, (uint32_t)r) ) rc = SQLITE_NOMEM;
      }
    }else{
      sqlite3_value *v;
      int irc;
      for(irc = sqlite3_vtab_in_first(vIds, &v); irc==SQLITE_OK && v && rc==SQLITE_OK;
          irc = sqlite3_vtab_in_next(vIds, &v)){
        if( cvec_id_from_value(v, &id)!=CVEC_ID_OK ) continue;
        int64_t r = cvec_seg_lookup(p->seg, id);
        if( r>=0 && r<(int64_t)c->snap && cursor_push(c, (uint32_t)r) ) rc = SQLITE_NOMEM;
      }
      if( rc==SQLITE_OK && irc!=SQLITE_DONE && irc!=SQLITE_OK ) rc = irc;
    }
    if( rc==SQLITE_OK && cvec_seg_broken(p->seg) ) rc = seg_error(p, CVEC_NOMEM);
    if( rc==SQLITE_OK && c->nRec>1 ){
      qsort(c->aRec, c->nRec, sizeof(c->aRec[0]), cmp_u32);
      uint32_t n = 1;
      for(uint32_t j=1; j<c->nRec; j++){
        if( c->aRec[j]!=c->aRec[n-1] ) c->aRec[n++] = c->aRec[j];
      }
      c->nRec = n;
    }
  }
  if( rc==SQLITE_OK ){
    cvec_knn_query a;
    memset(&a, 0, sizeof(a));
    a.q = q;
    a.metric = p->metric;
    a.k = (uint32_t)k;
    a.nVisible = c->snap;
    if( idxNum & (KNN_IN|KNN_EQ) ){
      static const uint32_t none = 0;
      a.aRec = c->nRec ? c->aRec : &none;   /* not NULL: no record at all */
      a.nRec = c->nRec;
    }
    a.xInterrupted = knn_interrupted;
    a.pArg = p->db;
    int crc = cvec_seg_knn(p->seg, &a, &c->hits);
    if( crc ) rc = seg_error(p, crc);
  }
  sqlite3_free(aCopy);
  sqlite3_free(pFree);
  c->nRec = 0;
  if( rc ) return rc;
  c->bKnn = 1;
  c->kUsed = (uint32_t)(kGiven>0 ? kGiven : k);
  c->iHit = 0;
  if( c->hits.n>0 ){
    c->i = c->hits.a[0].rec;
    c->end = c->snap;
  }
  return SQLITE_OK;
}

static int cursor_filter(sqlite3_vtab_cursor *cur, int idxNum,
                         const char *idxStr, int argc, sqlite3_value **argv){
  cvec_cursor *c = (cvec_cursor*)cur;
  cvec_vtab *p = (cvec_vtab*)cur->pVtab;
  (void)idxStr; (void)argc;
  c->i = c->end = 0;
  c->nRec = c->iRec = 0;
  c->nLeft = -1;
  if( c->bKnn ){
    cvec_topk_free(&c->hits);
    c->bKnn = 0;
  }
  int rc;
  uint32_t id;
  switch( idxNum & 3 ){
    case PLAN_KNN:
      return knn_filter(c, p, idxNum, argv);
    case PLAN_LOOKUP:
      if( cvec_id_from_value(argv[0], &id)==CVEC_ID_OK ){
        int64_t r = cvec_seg_lookup(p->seg, id);
        if( r>=0 && r<(int64_t)c->snap ){
          c->i = (uint32_t)r;
          c->end = c->i + 1;
        }
        if( cvec_seg_broken(p->seg) ) return seg_error(p, CVEC_NOMEM);
      }
      return SQLITE_OK;
    case PLAN_IN: {
      sqlite3_value *v;
      for(rc = sqlite3_vtab_in_first(argv[0], &v);
          rc==SQLITE_OK && v;
          rc = sqlite3_vtab_in_next(argv[0], &v)){
        if( cvec_id_from_value(v, &id)!=CVEC_ID_OK ) continue;
        int64_t r = cvec_seg_lookup(p->seg, id);
        if( cvec_seg_broken(p->seg) ) return seg_error(p, CVEC_NOMEM);
        if( r>=0 && r<(int64_t)c->snap && cursor_push(c, (uint32_t)r) ){
          return SQLITE_NOMEM;
        }
      }
      if( rc!=SQLITE_DONE && rc!=SQLITE_OK ) return rc;
      if( c->nRec>0 ){
        c->i = c->aRec[0];
        c->end = c->snap;
      }
      return SQLITE_OK;
    }
  }
  int iArg = 0;
  sqlite3_int64 nOffset = 0;
  if( idxNum & SCAN_LIMIT ) c->nLeft = count_value(argv[iArg++]);
  if( idxNum & SCAN_OFFSET ) nOffset = count_value(argv[iArg++]);
  c->end = c->nLeft==0 ? 0 : c->snap;
  if( nOffset>0 && cvec_seg_nskipped(p->seg)==0 ){
    /* no id 0 and no repeated id: every record is a row, so skip the
    ** offset in one step instead of one record at a time */
    c->i = (sqlite3_int64)c->end - c->i > nOffset ? c->i + (uint32_t)nOffset
                                                   : c->end;
    nOffset = 0;
  }
  rc = cursor_settle(c);
  for(; rc==SQLITE_OK && nOffset>0 && c->i<c->end; nOffset--){
    c->i++;
    rc = cursor_settle(c);
  }
  return rc;
}

static int cursor_next(sqlite3_vtab_cursor *cur){
  cvec_cursor *c = (cvec_cursor*)cur;
  /* Hits and PLAN_IN records are not in record order: one that a ROLLBACK
  ** (TO) took away while the cursor was open (end lowered, see
  ** vtab_clamp_cursors) is skipped, not taken for the end. */
  if( c->bKnn ){
    while( ++c->iHit < c->hits.n ){
      if( c->hits.a[c->iHit].rec < c->end ){
        c->i = c->hits.a[c->iHit].rec;
        return SQLITE_OK;
      }
    }
    c->i = c->end;
    return SQLITE_OK;
  }
  if( c->nRec>0 ){
    /* PLAN_IN: the next record found */
    while( ++c->iRec < c->nRec ){
      if( c->aRec[c->iRec] < c->end ){
        c->i = c->aRec[c->iRec];
        return SQLITE_OK;
      }
    }
    c->i = c->end;
    return SQLITE_OK;
  }
  if( c->nLeft>0 && --c->nLeft==0 ){
    c->i = c->end;
    return SQLITE_OK;
  }
  c->i++;
  return cursor_settle(c);
}

static int cursor_eof(sqlite3_vtab_cursor *cur){
  cvec_cursor *c = (cvec_cursor*)cur;
  return c->i >= c->end;
}

static int cursor_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int iCol){
  cvec_cursor *c = (cvec_cursor*)cur;
  cvec_seg *s = cursor_seg(c);
  if( c->i >= cvec_seg_nrec(s) ) return SQLITE_OK;   /* NULL; see cursor_eof */
  const unsigned char *r = cvec_seg_record(s, c->i);
  if( iCol==COL_ID ){
    sqlite3_result_int64(ctx, cvec_get_u32le(r));
  }else if( iCol==COL_VECTOR ){
    /* Committed records never change and stay mapped while cursors are
    ** open (see cursor_close): no copy.  Pending ones sit in a buffer that
    ** the next INSERT may reuse: SQLite copies them. */
    sqlite3_result_blob64(ctx, r+4, cvec_seg_record_size(s)-4,
                          c->i < cvec_seg_count(s) ? SQLITE_STATIC
                                                   : SQLITE_TRANSIENT);
  }else if( c->bKnn ){
    /* distance and k: NULL outside a search */
    if( iCol==COL_DISTANCE ) sqlite3_result_double(ctx, c->hits.a[c->iHit].dist);
    else sqlite3_result_int64(ctx, c->kUsed);
  }
  return SQLITE_OK;
}

static int cursor_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *pRowid){
  cvec_cursor *c = (cvec_cursor*)cur;
  cvec_seg *s = cursor_seg(c);
  *pRowid = c->i < cvec_seg_nrec(s) ? cvec_seg_record_id(s, c->i) : 0;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */
/* ------------------------------------------------------------------------ */

/*
** Take the segment's write lock, waiting while another writer holds it for
** up to the connection's busy timeout (as SQLite itself waits for its own
** locks), polling with a backoff from 1 to 100 ms, then SQLITE_BUSY.  If
** the file was replaced or removed since the table opened it and no
** statement is reading it, the table opens what the name holds now.
** Returns an SQLite code, with the message set on p.
*/
static int begin_write_waiting(cvec_vtab *p){
  int crc = cvec_seg_begin_write(p->seg);
  if( crc==CVEC_STALE && p->nCursor==0 ){
    cvec_seg_close(p->seg);
    p->seg = 0;
    int rc = open_segment(p, 0, 0);
    if( rc ) return rc;
    crc = cvec_seg_begin_write(p->seg);
  }
  if( crc==CVEC_BUSY ){
    int ms = pragma_int(p->db, "PRAGMA busy_timeout");
    for(int waited=0, step=1; crc==CVEC_BUSY && waited<ms; ){
      int d = step < ms-waited ? step : ms-waited;
      sqlite3_sleep(d);
      waited += d;
      if( step<100 ) step *= 2;
      crc = cvec_seg_begin_write(p->seg);
    }
  }
  return crc ? seg_error(p, crc) : SQLITE_OK;
}

/* Describe an id value for a message: 7, 7.5, 'abc'.  eType is the value's
** type as given, before cvec_id_from_value() converted numeric text. */
static char *describe_value(sqlite3_value *v, int eType){
  switch( eType ){
    case SQLITE_NULL:
      return sqlite3_mprintf("NULL");
    case SQLITE_TEXT:
      return sqlite3_mprintf("'%q'", (const char*)sqlite3_value_text(v));
    case SQLITE_BLOB:
      return sqlite3_mprintf("(a %d-byte blob)", sqlite3_value_bytes(v));
    default:
      return sqlite3_mprintf("%s", (const char*)sqlite3_value_text(v));
  }
}

/*
** INSERT only (SPEC §3): argv[1] is the rowid and argv[2] the id, either may
** be NULL, and they must agree when both are given.  Every check that can
** fail on the row's own values runs before the write lock is taken, and a
** duplicate id is reported before anything changes (CONSTRAINT_SUPPORT).
*/
static int vtab_update(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                       sqlite3_int64 *pRowid){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  if( argc==1 ){
    set_error(p, CVEC_PREFIX "%s: DELETE is not supported; segments are "
                 "append-only", p->zTable);
    return SQLITE_ERROR;
  }
  if( sqlite3_value_type(argv[0])!=SQLITE_NULL ){
    set_error(p, CVEC_PREFIX "%s: UPDATE is not supported; segments are "
                 "append-only", p->zTable);
    return SQLITE_ERROR;
  }
  if( sqlite3_value_type(argv[2+COL_DISTANCE])!=SQLITE_NULL
   || sqlite3_value_type(argv[2+COL_K])!=SQLITE_NULL ){
    set_error(p, CVEC_PREFIX "%s: distance and k are not stored; they are "
                 "results of a MATCH search", p->zTable);
    return SQLITE_ERROR;
  }
  if( sqlite3_vtab_on_conflict(p->db)==SQLITE_REPLACE ){
    set_error(p, CVEC_PREFIX "%s: INSERT OR REPLACE is not supported; "
                 "segments are append-only", p->zTable);
    return SQLITE_ERROR;
  }

  /* The id: from id, else from rowid, else assigned below. */
  sqlite3_value *vId = argv[2];
  if( sqlite3_value_type(vId)==SQLITE_NULL ) vId = argv[1];
  uint32_t id = 0;
  int eIdType = sqlite3_value_type(vId);
  int eId = cvec_id_from_value(vId, &id);
  if( eId==CVEC_ID_NOTINT || eId==CVEC_ID_RANGE ){
    char *zV = describe_value(vId, eIdType);
    if( zV==0 ) return SQLITE_NOMEM;
    if( eId==CVEC_ID_NOTINT ){
      set_error(p, CVEC_PREFIX "id %s is not an integer", zV);
    }else{
      set_error(p, CVEC_PREFIX "id %s is out of range 1..%u", zV, CVEC_MAX_ID);
    }
    sqlite3_free(zV);
    return SQLITE_MISMATCH;
  }
  if( eId==CVEC_ID_OK && sqlite3_value_type(argv[1])!=SQLITE_NULL
   && sqlite3_value_type(argv[2])!=SQLITE_NULL ){
    uint32_t rid;
    int eRowidType = sqlite3_value_type(argv[1]);
    if( cvec_id_from_value(argv[1], &rid)!=CVEC_ID_OK || rid!=id ){
      char *zV = describe_value(argv[1], eRowidType);
      if( zV==0 ) return SQLITE_NOMEM;
      set_error(p, CVEC_PREFIX "rowid %s and id %u differ", zV, id);
      sqlite3_free(zV);
      return SQLITE_MISMATCH;
    }
  }

  int rc = open_segment(p, 0, 0);
  if( rc ) return rc;
  if( p->readonly || cvec_seg_readonly(p->seg) ){
    set_error(p, CVEC_PREFIX "%s is read-only", p->zName);
    return SQLITE_READONLY;
  }

  const unsigned char *aVec;
  uint32_t n;
  void *pFree = 0;
  char *zErr = 0;
  rc = cvec_vector_from_value(argv[3], eId==CVEC_ID_OK ? "vector for id %lld"
                                                       : "vector for the new row",
                              id, cvec_seg_dimension(p->seg),
                              &aVec, &n, &pFree, &zErr);
  if( rc ){
    take_error(p, zErr);
    return rc;
  }

  rc = begin_write_waiting(p);
  if( rc==SQLITE_OK && cvec_seg_pending(p->seg)==0 ) rc = prepare_write(p);
  if( rc==SQLITE_OK && n!=cvec_seg_dimension(p->seg) ){
    /* the file was replaced by one of another dimension (and reopened) */
    set_error(p, CVEC_PREFIX "vector for id %u has %u floats; table expects %u",
              id, n, cvec_seg_dimension(p->seg));
    rc = SQLITE_ERROR;
  }
  if( rc ){
    sqlite3_free(pFree);
    return rc;
  }
  if( eId==CVEC_ID_NULL ){
    /* max(id)+1, decided under the lock */
    uint32_t mx = cvec_seg_max_id(p->seg);
    if( mx==CVEC_MAX_ID ){
      sqlite3_free(pFree);
      set_error(p, CVEC_PREFIX "%s: no id left after %u; give the id explicitly",
                p->zName, CVEC_MAX_ID);
      return SQLITE_FULL;
    }
    id = mx + 1;
  }
  int crc = cvec_seg_append(p->seg, id, aVec);
  sqlite3_free(pFree);
  if( crc==CVEC_CONSTRAINT ){
    set_error(p, "UNIQUE constraint failed: %s.id", p->zTable);
    return SQLITE_CONSTRAINT_PRIMARYKEY;
  }
  if( crc ) return seg_error(p, crc);
  /* maps the append replaced are needed only by open cursors */
  if( p->nCursor==0 ) cvec_seg_release_maps(p->seg);
  *pRowid = id;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

static int vtab_begin(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  p->nMark = 0;
  p->bumpLevel = -1;
  return SQLITE_OK;
}

/* Rows durable, count not yet written: may run more than once (a COMMIT
** that got SQLITE_BUSY is retried, with more INSERTs possibly in between). */
static int vtab_sync(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  if( p->seg==0 ) return SQLITE_OK;
  int rc = cvec_seg_sync(p->seg);
  return rc ? seg_error(p, rc) : SQLITE_OK;
}

/*
** SQLite has already committed the database when it calls xCommit, and it
** ignores what xCommit returns.  A failure to write the count is logged;
** the rows stay in the tail under their intent note, and the next statement
** that settles the segment rolls them forward, since the shadow row says
** the database committed them (see "The shadow table and crash settlement").
*/
static int vtab_commit(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  p->nMark = 0;
  p->bumpLevel = -1;
  if( p->seg==0 ) return SQLITE_OK;
  int rc = cvec_seg_commit(p->seg);
  vtab_clamp_cursors(p);   /* a failed commit drops the pending rows */
  if( rc ){
    sqlite3_log(cvec_sqlite_code(rc), CVEC_PREFIX "commit of %s failed after the "
                "database committed: %s", p->zTable, cvec_seg_errmsg(p->seg));
    return seg_error(p, rc);
  }
  return SQLITE_OK;
}

static int vtab_rollback(sqlite3_vtab *pVtab){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  p->nMark = 0;
  p->bumpLevel = -1;
  if( p->seg==0 ) return SQLITE_OK;
  int rc = cvec_seg_rollback(p->seg);
  vtab_clamp_cursors(p);
  return rc ? seg_error(p, rc) : SQLITE_OK;
}

/*
** Savepoint i opens: remember how many rows are pending.  SQLite numbers
** savepoints from 0 and tells a table only of those opened after it joined
** the transaction; earlier ones (numbers below the first one it sees) had no
** pending rows of this table.
*/
static int vtab_savepoint(sqlite3_vtab *pVtab, int i){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  if( i<0 ) return SQLITE_OK;
  if( i>=p->nMarkAlloc ){
    int nNew = i+8;
    uint32_t *a = sqlite3_realloc64(p->aMark, (sqlite3_uint64)nNew*sizeof(*a));
    if( a==0 ) return SQLITE_NOMEM;
    p->aMark = a;
    p->nMarkAlloc = nNew;
  }
  uint32_t nPending = p->seg ? cvec_seg_pending(p->seg) : 0;
  for(int j=p->nMark; j<i; j++) p->aMark[j] = 0;
  p->aMark[i] = nPending;
  p->nMark = i+1;
  return SQLITE_OK;
}

static int vtab_release(sqlite3_vtab *pVtab, int i){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  if( i>=0 && i<p->nMark ) p->nMark = i;
  return SQLITE_OK;
}

/* ROLLBACK TO savepoint i (kept open); i==-1 is the transaction itself. */
static int vtab_rollback_to(sqlite3_vtab *pVtab, int i){
  cvec_vtab *p = (cvec_vtab*)pVtab;
  uint32_t keep;
  /* the shadow row's update made inside savepoint i or deeper is undone */
  if( i<0 || p->bumpLevel>i ) p->bumpLevel = -1;
  if( i<0 ){
    keep = 0;
    p->nMark = 0;
  }else if( i<p->nMark ){
    keep = p->aMark[i];
    p->nMark = i+1;
  }else{
    return SQLITE_OK;   /* opened after our last row: nothing to undo */
  }
  if( p->seg==0 ) return SQLITE_OK;
  int rc = cvec_seg_truncate_pending(p->seg, keep);
  vtab_clamp_cursors(p);
  return rc ? seg_error(p, rc) : SQLITE_OK;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

static const sqlite3_module cvecModule = {
  /* iVersion    */ 3,
  /* xCreate     */ vtab_create,
  /* xConnect    */ vtab_connect,
  /* xBestIndex  */ vtab_best_index,
  /* xDisconnect */ vtab_disconnect,
  /* xDestroy    */ vtab_destroy,
  /* xOpen       */ cursor_open,
  /* xClose      */ cursor_close,
  /* xFilter     */ cursor_filter,
  /* xNext       */ cursor_next,
  /* xEof        */ cursor_eof,
  /* xColumn     */ cursor_column,
  /* xRowid      */ cursor_rowid,
  /* xUpdate     */ vtab_update,
  /* xBegin      */ vtab_begin,
  /* xSync       */ vtab_sync,
  /* xCommit     */ vtab_commit,
  /* xRollback   */ vtab_rollback,
  /* xFindFunction */ 0,
  /* xRename     */ vtab_rename,
  /* xSavepoint  */ vtab_savepoint,
  /* xRelease    */ vtab_release,
  /* xRollbackTo */ vtab_rollback_to,
  /* xShadowName */ vtab_shadow_name,
#if SQLITE_VERSION_NUMBER >= 3044000
  /* xIntegrity  */ 0,
#endif
};

int cvec_register_vtab(sqlite3 *db, cvec_registry *pReg){
  cvec_registry_ref(pReg);
  return sqlite3_create_module_v2(db, "cvec_segment", &cvecModule, pReg,
                                  cvec_registry_unref);
}
