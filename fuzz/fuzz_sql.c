/*
** fuzz_sql.c — libFuzzer target for the SQL layer: INSERT and query
** arguments of a cvec_segment table, read from the input as a small program.
**
** Each run opens an in-memory database, creates a table over a fresh
** segment (dimension and metric= from the first byte) in a private
** directory, and then runs operations, one per opcode byte, with values
** taken from the bytes that follow (integers, reals, text, JSON, blobs of
** any length, NULL):
**
**   INSERT [OR IGNORE|REPLACE|FAIL|ABORT|ROLLBACK] with (id, vector),
**     (rowid, vector), (vector) or (rowid, id, vector); several rows at
**     once; INSERT ... SELECT from the table itself
**   SELECT ... WHERE id = ?, id IN (...), ranges, LIMIT ? OFFSET ?
**   BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK TO
**   UPDATE and DELETE (refused), cvec_to_json / cvec_from_json
**   KNN: vector MATCH ? AND k = ? (query and k of any type and value),
**     maybe with id IN (list), id IN (SELECT ...), LIMIT/OFFSET, or a
**     LIMIT alone as k; cvec_distance_l2/cosine/dot on any two values
**   a consistency check, also through a second connection
**
** CHECKS (abort() on failure; a failing statement is fine, a wrong answer
** is not):
**   - a single-row INSERT succeeds exactly when its id is valid and unused
**     and cvec_from_json() accepts its vector with the table's dimension;
**     then the row reads back with that vector and last_insert_rowid() is
**     its id (max(id)+1 for a NULL id); a duplicate fails with
**     SQLITE_CONSTRAINT, or changes nothing under OR IGNORE; OR REPLACE,
**     UPDATE and DELETE always fail and change nothing;
**   - a failed statement leaves none of its rows (except OR FAIL); a
**     transaction that ends other than by COMMIT leaves the count it
**     started with; ROLLBACK TO leaves the count of its SAVEPOINT;
**   - id = ?, id IN (...) and ranges give the rows of the same condition
**     checked by SQLite on a full scan; LIMIT/OFFSET give the slice of the
**     full scan;
**   - count(*), the rows of a full scan and the lookups of every scanned id
**     agree; ids are unique and in range; every vector has the dimension's
**     size and finite values and survives cvec_to_json/cvec_from_json; a
**     second connection sees the committed count;
**   - a KNN search succeeds exactly when cvec_from_json() gives its query
**     the table's dimension and k is an integer in 1..4096 as SQLite's
**     numeric affinity reads it (a whole REAL counts); then its rows are
**     those of a full scan (under the same id condition) sorted by
**     (cvec_distance_<metric>(vector, query), id) and cut to k (then
**     LIMIT/OFFSET): same ids, same order, same distances to the bit;
**   - cvec_distance_*(a, b) is NULL when a or b is NULL, else succeeds
**     exactly when cvec_from_json() accepts both with the same size; it is
**     then a finite REAL, the same for (b, a), near the value computed in
**     long double (l2 >= 0 and 0 for equal values, cosine in [0, 2] and 1
**     with a zero vector);
**   - at the end, after closing, a new connection sees the same rows.
**
** The extension: with CVEC_FUZZ_STATIC (the `make fuzz` build) its sources
** are compiled in, so that libFuzzer sees their coverage; otherwise (the
** replay under `make check`) the module at $CVEC_EXT is loaded.
*/
#define _GNU_SOURCE 1
#include <sqlite3.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef CVEC_FUZZ_STATIC
int sqlite3_cvec_init(sqlite3 *db, char **pzErrMsg,
                      const sqlite3_api_routines *pApi);
#endif

#define FAIL(...) do{ fprintf(stderr, "fuzz_sql: " __VA_ARGS__);       \
                      fputc('\n', stderr); abort(); }while(0)

#define MAX_OPS 64
#define MAX_ROWS 2000      /* keep each run small: INSERT ... SELECT doubles */

/* ------------------------------------------------------------------------ */
/* Setup                                                                     */
/* ------------------------------------------------------------------------ */

static char *zDir = 0;          /* private directory for the segment */
static const char *zExt = 0;    /* module to load, when not compiled in */
static int verbose = 0;         /* CVEC_FUZZ_VERBOSE: print each statement */
static sqlite3 *dbAff = 0;      /* plain connection: SQLite's numeric affinity */

static void clean_dir(void){
  if( zDir==0 ) return;
  DIR *d = opendir(zDir);
  if( d==0 ) return;
  struct dirent *e;
  while( (e = readdir(d))!=0 ){
    if( e->d_name[0]=='.' ) continue;
    char *z;
    if( asprintf(&z, "%s/%s", zDir, e->d_name)<0 ) continue;
    unlink(z);
    free(z);
  }
  closedir(d);
}

static void remove_dir(void){
  if( zDir==0 ) return;
  clean_dir();
  rmdir(zDir);
}

static void init_once(void){
  if( zDir ) return;
  verbose = getenv("CVEC_FUZZ_VERBOSE")!=0;
#ifdef CVEC_FUZZ_STATIC
  sqlite3_auto_extension((void(*)(void))sqlite3_cvec_init);
#else
  zExt = getenv("CVEC_EXT");
  if( zExt==0 || zExt[0]==0 ){
    fprintf(stderr, "fuzz_sql: set CVEC_EXT to the built module "
                    "(.libs/cvec without the suffix)\n");
    exit(1);
  }
#endif
  const char *zTmp = getenv("TMPDIR");
  if( zTmp==0 || zTmp[0]==0 ) zTmp = "/tmp";
  if( asprintf(&zDir, "%s/cvec-fuzz-sql-XXXXXX", zTmp)<0 ) FAIL("oom");
  if( mkdtemp(zDir)==0 ) FAIL("mkdtemp %s: %s", zDir, strerror(errno));
  atexit(remove_dir);
  /* a plain connection whose table shows what SQLite's numeric affinity
  ** makes of a text (op_knn's k) */
  if( sqlite3_open(":memory:", &dbAff)!=SQLITE_OK
   || sqlite3_exec(dbAff, "CREATE TABLE a(x NUMERIC)", 0, 0, 0)!=SQLITE_OK ){
    FAIL("affinity db: %s", sqlite3_errmsg(dbAff));
  }
}

static sqlite3 *open_db(void){
  sqlite3 *db = 0;
  if( sqlite3_open(":memory:", &db)!=SQLITE_OK ) FAIL("sqlite3_open");
  if( zExt ){
    char *zErr = 0;
    sqlite3_enable_load_extension(db, 1);
    if( sqlite3_load_extension(db, zExt, 0, &zErr)!=SQLITE_OK ){
      fprintf(stderr, "fuzz_sql: cannot load %s: %s\n", zExt, zErr);
      exit(1);
    }
  }
  return db;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct { const uint8_t *a; size_t n, i; } input;

static int in_eof(const input *in){ return in->i>=in->n; }
static uint32_t in_byte(input *in){ return in->i<in->n ? in->a[in->i++] : 0; }
static uint32_t in_u16(input *in){ uint32_t x = in_byte(in); return x | in_byte(in)<<8; }
static uint32_t in_u32(input *in){ uint32_t x = in_u16(in); return x | in_u16(in)<<16; }
static uint64_t in_u64(input *in){ uint64_t x = in_u32(in); return x | (uint64_t)in_u32(in)<<32; }

/* Up to n bytes of input (fewer at its end); *pn the number taken. */
static const uint8_t *in_bytes(input *in, size_t n, size_t *pn){
  if( n > in->n - in->i ) n = in->n - in->i;
  const uint8_t *a = in->a + in->i;
  in->i += n;
  *pn = n;
  return a;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

enum { V_NULL, V_INT, V_REAL, V_TEXT, V_BLOB, V_ZEROBLOB };

typedef struct {
  int type;
  sqlite3_int64 i;
  double r;
  char *z;         /* malloc()ed text or blob */
  int n;
} val;

static void val_clear(val *v){
  free(v->z);
  memset(v, 0, sizeof(*v));
}

static void val_set_bytes(val *v, int type, const void *a, size_t n){
  v->type = type;
  v->z = malloc(n+1);
  if( v->z==0 ) FAIL("oom");
  if( n ) memcpy(v->z, a, n);
  v->z[n] = 0;
  v->n = (int)n;
}

static void val_bind(sqlite3_stmt *s, int i, const val *v){
  switch( v->type ){
    case V_NULL: sqlite3_bind_null(s, i); break;
    case V_INT:  sqlite3_bind_int64(s, i, v->i); break;
    case V_REAL: sqlite3_bind_double(s, i, v->r); break;
    case V_TEXT: sqlite3_bind_text(s, i, v->z, v->n, SQLITE_TRANSIENT); break;
    case V_BLOB: sqlite3_bind_blob(s, i, v->z, v->n, SQLITE_TRANSIENT); break;
    case V_ZEROBLOB: sqlite3_bind_zeroblob(s, i, v->n); break;
  }
}

static const sqlite3_int64 aSpecial[] = {
  0, -1, 1, 2, 3, 4294967295LL, 4294967294LL, 4294967296LL, 2147483648LL,
  INT64_MAX, INT64_MIN, -4294967295LL
};

/* A value for an id, a LIMIT, an IN list element... */
static void gen_scalar(input *in, val *v){
  memset(v, 0, sizeof(*v));
  uint32_t t = in_byte(in);
  switch( t % 12 ){
    case 0: v->type = V_NULL; break;
    case 1: case 2: v->type = V_INT; v->i = in_byte(in) % 24; break;
    case 3: v->type = V_INT; v->i = in_u32(in); break;
    case 4: v->type = V_INT; v->i = (sqlite3_int64)in_u64(in); break;
    case 5: v->type = V_INT;
            v->i = aSpecial[in_byte(in) % (sizeof(aSpecial)/sizeof(aSpecial[0]))];
            break;
    case 6: v->type = V_REAL; v->r = (double)(in_byte(in) % 24); break;
    case 7: v->type = V_REAL; v->r = (double)(in_byte(in) % 24) + 0.5; break;
    case 8: {
      uint64_t u = in_u64(in);
      v->type = V_REAL;
      memcpy(&v->r, &u, 8);
      if( isnan(v->r) ) v->type = V_NULL;   /* SQLite binds NaN as NULL */
      break;
    }
    case 9: {   /* a number as text, in some spelling */
      static const char *azFmt[] = { "%u", " %u ", "%u.0", "%ue0", "0x%x",
                                     "+%u", "%u.5", "%uabc", "-%u", "%u " };
      char z[48];
      uint32_t x = in_byte(in);
      const char *zFmt = azFmt[x % 10];
      snprintf(z, sizeof(z), zFmt, (x>>4) % 24);
      val_set_bytes(v, V_TEXT, z, strlen(z));
      break;
    }
    case 10: {
      size_t n;
      const uint8_t *a = in_bytes(in, in_byte(in) % 16, &n);
      val_set_bytes(v, (t>>4)&1 ? V_BLOB : V_TEXT, a, n);
      break;
    }
    case 11: v->type = V_INT; v->i = in_byte(in) % 24 + 4294967280LL; break;
  }
}

/* A float from 4 input bytes; sane ones unless raw. */
static float gen_float(input *in, int raw){
  uint32_t u = in_u32(in);
  float f;
  if( !raw && (u & 0x7f800000u)==0x7f800000u ) u &= ~0x00800000u;
  memcpy(&f, &u, 4);
  return f;
}

/* A value for a vector: mostly valid, often not. */
static void gen_vector(input *in, val *v, int dim){
  memset(v, 0, sizeof(*v));
  uint32_t t = in_byte(in);
  switch( t % 10 ){
    case 0: case 1: case 2: case 3: {   /* a valid blob */
      float *a = malloc(4*(size_t)dim);
      if( a==0 ) FAIL("oom");
      for(int i=0; i<dim; i++) a[i] = gen_float(in, 0);
      val_set_bytes(v, V_BLOB, a, 4*(size_t)dim);
      free(a);
      break;
    }
    case 4: case 5: {                    /* JSON text */
      size_t cap = 64 + (size_t)dim*40, j = 0;
      char *z = malloc(cap);
      if( z==0 ) FAIL("oom");
      int nEl = dim;
      if( t & 0x10 ) nEl += (int)(in_byte(in) % 3) - 1;   /* one off */
      j += (size_t)snprintf(z+j, cap-j, "%s[", (t & 0x20) ? " \n" : "");
      for(int i=0; i<nEl; i++){
        uint32_t k = in_byte(in);
        if( i ) z[j++] = ',';
        if( k & 1 ) z[j++] = ' ';
        switch( (k>>1) % 4 ){
          case 0: j += (size_t)snprintf(z+j, cap-j, "%d", (int)(k>>3) - 8); break;
          case 1: j += (size_t)snprintf(z+j, cap-j, "%.9g", (double)gen_float(in, 0)); break;
          case 2: j += (size_t)snprintf(z+j, cap-j, "%.3e", (double)gen_float(in, 0)); break;
          case 3: j += (size_t)snprintf(z+j, cap-j, "-0.%u", k); break;
        }
      }
      j += (size_t)snprintf(z+j, cap-j, "]%s", (t & 0x40) ? "\t" : "");
      val_set_bytes(v, V_TEXT, z, j);
      free(z);
      break;
    }
    case 6: {                            /* raw text or blob */
      size_t n;
      const uint8_t *a = in_bytes(in, in_byte(in) % 48, &n);
      val_set_bytes(v, (t & 0x10) ? V_BLOB : V_TEXT, a, n);
      break;
    }
    case 7: {                            /* a blob of floats, maybe not finite */
      float *a = malloc(4*(size_t)dim);
      if( a==0 ) FAIL("oom");
      for(int i=0; i<dim; i++) a[i] = gen_float(in, 1);
      val_set_bytes(v, V_BLOB, a, 4*(size_t)dim);
      free(a);
      break;
    }
    case 8:
      v->type = V_ZEROBLOB;
      v->n = (t & 0x10) ? 4*dim : (int)in_byte(in);
      break;
    default:
      gen_scalar(in, v);
      break;
  }
}

static void val_describe(const val *v, char *z, size_t n){
  switch( v->type ){
    case V_NULL: snprintf(z, n, "NULL"); break;
    case V_INT:  snprintf(z, n, "%lld", (long long)v->i); break;
    case V_REAL: snprintf(z, n, "%.17g", v->r); break;
    case V_TEXT: snprintf(z, n, "'%.*s'", v->n<40 ? v->n : 40, v->z); break;
    case V_BLOB: snprintf(z, n, "(%d-byte blob)", v->n); break;
    case V_ZEROBLOB: snprintf(z, n, "zeroblob(%d)", v->n); break;
  }
}

/* ------------------------------------------------------------------------ */
/* Running SQL                                                               */
/* ------------------------------------------------------------------------ */

static sqlite3 *db = 0;
static int dim = 0;

typedef struct {
  sqlite3_int64 *a;      /* first column of each row (integers) */
  int n, nAlloc;
  int rc;
  char zErr[256];
} rows;

static void rows_free(rows *r){ free(r->a); memset(r, 0, sizeof(*r)); }

/* Run zSql on dbx with the values bound in order; collect column 0. */
static int run_sql(sqlite3 *dbx, const char *zSql, const val *aV, int nV, rows *pOut){
  sqlite3_stmt *s = 0;
  rows dummy;
  if( pOut==0 ) pOut = &dummy;
  memset(pOut, 0, sizeof(*pOut));
  if( verbose ) fprintf(stderr, "SQL: %s\n", zSql);
  int rc = sqlite3_prepare_v2(dbx, zSql, -1, &s, 0);
  if( rc==SQLITE_OK ){
    for(int i=0; i<nV; i++) val_bind(s, i+1, &aV[i]);
    while( (rc = sqlite3_step(s))==SQLITE_ROW ){
      if( pOut->n==pOut->nAlloc ){
        pOut->nAlloc = pOut->nAlloc ? 2*pOut->nAlloc : 16;
        pOut->a = realloc(pOut->a, (size_t)pOut->nAlloc*sizeof(pOut->a[0]));
        if( pOut->a==0 ) FAIL("oom");
      }
      pOut->a[pOut->n++] = sqlite3_column_int64(s, 0);
    }
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  if( rc ){
    snprintf(pOut->zErr, sizeof(pOut->zErr), "%s", sqlite3_errmsg(dbx));
    if( verbose ) fprintf(stderr, "  -> rc %d: %s\n", rc, pOut->zErr);
  }
  sqlite3_finalize(s);
  pOut->rc = rc;
  if( pOut==&dummy ) rows_free(&dummy);
  return rc;
}

/* A statement that must succeed, returning one integer. */
static sqlite3_int64 one_int(sqlite3 *dbx, const char *zSql, const val *aV, int nV){
  rows r;
  if( run_sql(dbx, zSql, aV, nV, &r) ) FAIL("%s: %s", zSql, r.zErr);
  if( r.n!=1 ) FAIL("%s: %d rows", zSql, r.n);
  sqlite3_int64 x = r.a[0];
  rows_free(&r);
  return x;
}

static sqlite3_int64 count_rows(void){
  return one_int(db, "SELECT count(*) FROM t", 0, 0);
}

static int cmp_i64(const void *a, const void *b){
  sqlite3_int64 x = *(const sqlite3_int64*)a, y = *(const sqlite3_int64*)b;
  return x<y ? -1 : x>y;
}

/* Both queries must give the same rows (as sets if sorted), or both fail. */
static void same_rows(const char *zA, const char *zB, const val *aV, int nV,
                      int sorted){
  rows a, b;
  run_sql(db, zA, aV, nV, &a);
  run_sql(db, zB, aV, nV, &b);
  if( (a.rc==SQLITE_OK)!=(b.rc==SQLITE_OK) ){
    FAIL("%s: rc %d (%s)\n%s: rc %d (%s)", zA, a.rc, a.zErr, zB, b.rc, b.zErr);
  }
  if( a.rc==SQLITE_OK ){
    if( sorted ){
      if( a.n ) qsort(a.a, (size_t)a.n, sizeof(a.a[0]), cmp_i64);
      if( b.n ) qsort(b.a, (size_t)b.n, sizeof(b.a[0]), cmp_i64);
    }
    if( a.n!=b.n || (a.n && memcmp(a.a, b.a, (size_t)a.n*sizeof(a.a[0]))!=0) ){
      char zV[64] = "";
      if( nV ) val_describe(&aV[0], zV, sizeof(zV));
      FAIL("%s (?1=%s): %d rows\n%s: %d rows differ", zA, zV, a.n, zB, b.n);
    }
  }
  rows_free(&a);
  rows_free(&b);
}

/* ------------------------------------------------------------------------ */
/* The model of the transaction state                                        */
/* ------------------------------------------------------------------------ */

static sqlite3_int64 curCount;        /* count(*) after the last statement */
static sqlite3_int64 txnStartCount;   /* count when the transaction began */
static sqlite3_int64 committedCount;  /* count of the last committed state */
static struct { int name; sqlite3_int64 count; } aSp[MAX_OPS+1];
static int nSp;                       /* open savepoints */

/* Call after every statement: enforces what a transaction's end means.
** wasCommit: the statement was a COMMIT (or RELEASE) that succeeded. */
static void after_stmt(int wasAuto, int wasCommit, const char *zSql){
  int isAuto = sqlite3_get_autocommit(db);
  sqlite3_int64 n = count_rows();
  if( !wasAuto && isAuto && !wasCommit ){
    /* The transaction ended by a rollback of some kind. */
    if( n!=txnStartCount ){
      FAIL("after %s: the transaction rolled back, count %lld, it began "
           "with %lld", zSql, (long long)n, (long long)txnStartCount);
    }
  }
  if( isAuto ){
    nSp = 0;
    committedCount = n;
  }
  curCount = n;
}

/* ------------------------------------------------------------------------ */
/* Operations                                                                */
/* ------------------------------------------------------------------------ */

static const char *azConflict[] = { "", " OR IGNORE", " OR REPLACE", " OR FAIL",
                                    " OR ABORT", " OR ROLLBACK" };
enum { C_NONE, C_IGNORE, C_REPLACE, C_FAIL, C_ABORT, C_ROLLBACK };

/* The id an INSERT of value v means, as INTEGER PRIMARY KEY would read it:
** 1 valid (*pId), 0 invalid, -1 NULL (assigned), -2 unknown (text, blob:
** not modelled). */
static int expected_id(const val *v, sqlite3_int64 *pId){
  switch( v->type ){
    case V_NULL: return -1;
    case V_INT:
      *pId = v->i;
      return v->i>=1 && v->i<=4294967295LL;
    case V_REAL:
      if( !(v->r==floor(v->r)) ) return 0;
      if( v->r<1.0 || v->r>4294967295.0 ) return 0;
      *pId = (sqlite3_int64)v->r;
      return 1;
    default:
      return -2;
  }
}

/* Is v a valid vector for the table?  Asks cvec_from_json. */
static int vector_ok(const val *v){
  rows r;
  run_sql(db, "SELECT length(cvec_from_json(?1))", v, 1, &r);
  int ok = r.rc==SQLITE_OK && r.n==1 && r.a[0]==4*(sqlite3_int64)dim
        && v->type!=V_NULL;
  rows_free(&r);
  return ok;
}

static int id_exists(sqlite3_int64 id){
  val v = { V_INT, id, 0, 0, 0 };
  return one_int(db, "SELECT count(*) FROM t WHERE coalesce(id = ?1, 0)", &v, 1)>0;
}

static void op_insert_one(input *in){
  uint32_t b = in_byte(in);
  int conflict = (int)(b % 6);
  int form = (int)((b>>3) % 4);
  val vId, vRowid, vVec;
  gen_scalar(in, &vId);
  gen_vector(in, &vVec, dim);
  memset(&vRowid, 0, sizeof(vRowid));
  char zSql[160];
  val aV[3];
  int nV = 0;
  const val *pId = &vId;   /* the id in effect */
  int agree = 1;           /* rowid and id agree (form 3) */
  switch( form ){
    case 0:
      snprintf(zSql, sizeof(zSql), "INSERT%s INTO t(id, vector) VALUES (?1, ?2)",
               azConflict[conflict]);
      aV[0] = vId; aV[1] = vVec; nV = 2;
      break;
    case 1:
      snprintf(zSql, sizeof(zSql), "INSERT%s INTO t(rowid, vector) VALUES (?1, ?2)",
               azConflict[conflict]);
      aV[0] = vId; aV[1] = vVec; nV = 2;
      break;
    case 2:
      snprintf(zSql, sizeof(zSql), "INSERT%s INTO t(vector) VALUES (?1)",
               azConflict[conflict]);
      val_clear(&vId);
      aV[0] = vVec; nV = 1;
      break;
    default:
      /* rowid and id: the same value, or another one */
      if( in_byte(in) & 1 ){
        gen_scalar(in, &vRowid);
      }else{
        vRowid = vId;
        if( vId.z ){ vRowid.z = 0; val_set_bytes(&vRowid, vId.type, vId.z, (size_t)vId.n); }
      }
      snprintf(zSql, sizeof(zSql),
               "INSERT%s INTO t(rowid, id, vector) VALUES (?1, ?2, ?3)",
               azConflict[conflict]);
      aV[0] = vRowid; aV[1] = vId; aV[2] = vVec; nV = 3;
      if( vId.type==V_NULL ) pId = &vRowid;
      else if( vRowid.type!=V_NULL ){
        sqlite3_int64 a = 0, c = 0;
        int ea = expected_id(&vRowid, &a), ec = expected_id(&vId, &c);
        if( ea==-2 || ec==-2 ) agree = -1;          /* unknown */
        else agree = ea==1 && ec==1 && a==c;
      }
      break;
  }

  /* What should happen. */
  sqlite3_int64 id = 0;
  int eId = expected_id(pId, &id);
  int vecOk = vector_ok(&vVec);
  sqlite3_int64 maxId = one_int(db, "SELECT coalesce(max(id), 0) FROM t", 0, 0);
  if( eId==-1 ){
    id = maxId+1;
    eId = maxId<4294967295LL ? 1 : 0;
  }
  int exists = eId==1 && id_exists(id);
  int wasAuto = sqlite3_get_autocommit(db);
  sqlite3_int64 before = curCount;
  if( !wasAuto || nSp ) { /* in a transaction: txnStartCount is set */ }
  else txnStartCount = before;

  rows r;
  int rc = run_sql(db, zSql, aV, nV, &r);
  sqlite3_int64 lastId = sqlite3_last_insert_rowid(db);
  after_stmt(wasAuto, 0, zSql);

  char zD[3][64];
  for(int i=0; i<nV; i++) val_describe(&aV[i], zD[i], sizeof(zD[i]));
#define DESCR zSql, zD[0], nV>1 ? zD[1] : "", nV>2 ? zD[2] : ""
  if( conflict==C_REPLACE ){
    if( rc==SQLITE_OK ) FAIL("%s (%s, %s, %s): OR REPLACE succeeded", DESCR);
  }
  if( rc!=SQLITE_OK && conflict!=C_FAIL && !(wasAuto==0 && sqlite3_get_autocommit(db)) ){
    if( curCount!=before ){
      FAIL("%s (%s, %s, %s) failed (%s) but the count went from %lld to %lld",
           DESCR, r.zErr, (long long)before, (long long)curCount);
    }
  }
  if( rc==SQLITE_OK && curCount!=before && curCount!=before+1 ){
    FAIL("%s: count from %lld to %lld", zSql, (long long)before, (long long)curCount);
  }
  if( rc==SQLITE_OK && conflict!=C_IGNORE && curCount!=before+1 ){
    FAIL("%s (%s, %s, %s) succeeded but the count went from %lld to %lld",
         DESCR, (long long)before, (long long)curCount);
  }
  if( eId>=0 && agree>=0 && conflict!=C_REPLACE ){
    int shouldWork = eId==1 && vecOk && agree && !exists;
    if( shouldWork && rc!=SQLITE_OK ){
      FAIL("%s (%s, %s, %s) failed: %s", DESCR, r.zErr);
    }
    if( eId==1 && vecOk && agree && exists ){
      if( conflict==C_IGNORE ){
        if( rc!=SQLITE_OK || curCount!=before ){
          FAIL("%s (%s, %s, %s): duplicate under OR IGNORE: rc %d, count %lld -> %lld",
               DESCR, rc, (long long)before, (long long)curCount);
        }
      }else if( (rc & 0xff)!=SQLITE_CONSTRAINT ){
        FAIL("%s (%s, %s, %s): duplicate id %lld gave rc %d (%s)", DESCR,
             (long long)id, rc, r.zErr);
      }
    }
    if( !shouldWork && rc==SQLITE_OK && !(exists && conflict==C_IGNORE) ){
      FAIL("%s (%s, %s, %s) succeeded; id ok %d, vector ok %d, agree %d, "
           "exists %d", DESCR, eId, vecOk, agree, exists);
    }
    if( shouldWork ){
      if( lastId!=id ) FAIL("%s: last_insert_rowid %lld, want %lld", zSql,
                            (long long)lastId, (long long)id);
      val w[2] = { { V_INT, id, 0, 0, 0 }, vVec };
      if( one_int(db, "SELECT count(*) FROM t WHERE id = ?1 "
                      "AND vector = cvec_from_json(?2)", w, 2)!=1 ){
        FAIL("%s (%s, %s, %s): the row does not read back", DESCR);
      }
    }
  }else if( rc==SQLITE_OK && curCount==before+1 ){
    /* not modelled: the new row must be there under last_insert_rowid */
    val w[2] = { { V_INT, lastId, 0, 0, 0 }, vVec };
    if( one_int(db, "SELECT count(*) FROM t WHERE id = ?1 "
                    "AND vector = cvec_from_json(?2)", w, 2)!=1 ){
      FAIL("%s (%s, %s, %s): row %lld does not read back", DESCR, (long long)lastId);
    }
  }
#undef DESCR
  rows_free(&r);
  val_clear(&vId);
  val_clear(&vVec);
  if( vRowid.z ) val_clear(&vRowid);
}

/* Several rows in one statement; or INSERT ... SELECT from the table. */
static void op_insert_many(input *in, int fromSelf){
  uint32_t b = in_byte(in);
  int conflict = (int)(b % 6);
  int nRow = 2 + (int)((b>>3) % 3);
  char zSql[400];
  val aV[8];
  int nV = 0;
  if( fromSelf ){
    gen_scalar(in, &aV[0]);
    gen_scalar(in, &aV[1]);
    nV = 2;
    snprintf(zSql, sizeof(zSql), "INSERT%s INTO t(id, vector) SELECT id + ?1, "
             "vector FROM t LIMIT ?2", azConflict[conflict]);
    if( curCount*2 > MAX_ROWS ){ val_clear(&aV[0]); val_clear(&aV[1]); return; }
  }else{
    int j = snprintf(zSql, sizeof(zSql), "INSERT%s INTO t(id, vector) VALUES ",
                     azConflict[conflict]);
    for(int i=0; i<nRow; i++){
      gen_scalar(in, &aV[nV]); nV++;
      gen_vector(in, &aV[nV], dim); nV++;
      j += snprintf(zSql+j, sizeof(zSql)-(size_t)j, "%s(?%d, ?%d)", i ? ", " : "",
                    2*i+1, 2*i+2);
    }
  }
  int wasAuto = sqlite3_get_autocommit(db);
  sqlite3_int64 before = curCount;
  if( wasAuto ) txnStartCount = before;
  rows r;
  int rc = run_sql(db, zSql, aV, nV, &r);
  after_stmt(wasAuto, 0, zSql);
  if( rc!=SQLITE_OK && conflict!=C_FAIL && !(wasAuto==0 && sqlite3_get_autocommit(db)) ){
    if( curCount!=before ){
      FAIL("%s failed (%s) but the count went from %lld to %lld",
           zSql, r.zErr, (long long)before, (long long)curCount);
    }
  }
  if( rc==SQLITE_OK && conflict==C_REPLACE && curCount!=before ){
    FAIL("%s: OR REPLACE inserted rows", zSql);   /* none selected is fine */
  }
  if( rc==SQLITE_OK && !fromSelf && conflict!=C_IGNORE && curCount!=before+nRow ){
    FAIL("%s succeeded but the count went from %lld to %lld", zSql,
         (long long)before, (long long)curCount);
  }
  if( curCount<before && !(wasAuto==0 && sqlite3_get_autocommit(db)) ){
    FAIL("%s: count went down", zSql);
  }
  rows_free(&r);
  for(int i=0; i<nV; i++) val_clear(&aV[i]);
}

static void op_lookup(input *in){
  val v;
  gen_scalar(in, &v);
  uint32_t b = in_byte(in);
  if( b & 1 ){
    same_rows("SELECT id FROM t WHERE id = ?1",
              "SELECT id FROM t WHERE coalesce(id = ?1, 0)", &v, 1, 0);
  }else if( b & 2 ){
    same_rows("SELECT rowid FROM t WHERE rowid = ?1",
              "SELECT rowid FROM t WHERE coalesce(rowid = ?1, 0)", &v, 1, 0);
  }else{
    /* the vector too, and a join on id */
    same_rows("SELECT length(vector) FROM t WHERE id = ?1",
              "SELECT length(vector) FROM t WHERE coalesce(id = ?1, 0)", &v, 1, 0);
    same_rows("SELECT t.id FROM (SELECT ?1 AS x UNION ALL SELECT ?1 + 1) AS k "
              "JOIN t ON t.id = k.x",
              "SELECT t.id FROM (SELECT ?1 AS x UNION ALL SELECT ?1 + 1) AS k "
              "JOIN t ON coalesce(t.id = k.x, 0)", &v, 1, 1);
  }
  val_clear(&v);
}

static void op_in(input *in){
  int n = 1 + (int)(in_byte(in) % 6);
  val aV[6];
  char zA[200], zB[200], zL[100];
  int j = 0;
  for(int i=0; i<n; i++){
    gen_scalar(in, &aV[i]);
    j += snprintf(zL+j, sizeof(zL)-(size_t)j, "%s?%d", i ? ", " : "", i+1);
  }
  snprintf(zA, sizeof(zA), "SELECT id FROM t WHERE id IN (%s)", zL);
  snprintf(zB, sizeof(zB), "SELECT id FROM t WHERE coalesce(id IN (%s), 0)", zL);
  same_rows(zA, zB, aV, n, 1);
  for(int i=0; i<n; i++) val_clear(&aV[i]);
}

static void op_range(input *in){
  static const char *azCond[] = {
    "id > ?1", "id < ?1", "id >= ?1 AND id <= ?2", "id BETWEEN ?1 AND ?2",
    "rowid > ?1 AND id < ?2", "id = ?1 OR id = ?2", "id <> ?1", "id IS ?1",
  };
  uint32_t b = in_byte(in);
  const char *zCond = azCond[b % 8];
  val aV[2];
  gen_scalar(in, &aV[0]);
  gen_scalar(in, &aV[1]);
  char zA[200], zB[200];
  snprintf(zA, sizeof(zA), "SELECT id FROM t WHERE %s", zCond);
  snprintf(zB, sizeof(zB), "SELECT id FROM t WHERE coalesce(%s, 0)", zCond);
  same_rows(zA, zB, aV, 2, 1);
  val_clear(&aV[0]);
  val_clear(&aV[1]);
}

/* Every id of a full scan, in scan order. */
static void full_scan(rows *r){
  if( run_sql(db, "SELECT id FROM t", 0, 0, r) ) FAIL("scan: %s", r->zErr);
}

static void op_limit(input *in){
  uint32_t b = in_byte(in);
  val aV[2];
  gen_scalar(in, &aV[0]);
  gen_scalar(in, &aV[1]);
  rows a, full;
  const char *zSql = (b & 1) ? "SELECT id FROM t LIMIT ?1 OFFSET ?2"
                             : "SELECT id FROM t LIMIT ?1";
  run_sql(db, zSql, aV, (b & 1) ? 2 : 1, &a);
  if( aV[0].type==V_INT && (!(b & 1) || aV[1].type==V_INT) ){
    if( a.rc ) FAIL("%s: %s", zSql, a.zErr);
    full_scan(&full);
    sqlite3_int64 lim = aV[0].i, off = (b & 1) ? aV[1].i : 0;
    if( off<0 ) off = 0;
    sqlite3_int64 from = off<full.n ? off : full.n;
    sqlite3_int64 to = full.n;
    if( lim>=0 && lim < to-from ) to = from+lim;
    if( a.n!=to-from
     || (a.n && memcmp(a.a, full.a+from, (size_t)a.n*sizeof(a.a[0]))!=0) ){
      FAIL("%s (%lld, %lld): %d rows, not rows %lld..%lld of the %d of a scan",
           zSql, (long long)aV[0].i, (long long)off, a.n, (long long)from,
           (long long)to, full.n);
    }
    rows_free(&full);
  }else{
    /* Other values: as SQLite reads them on its own (the WHERE term keeps
    ** the table from taking the LIMIT) */
    const char *zRef = (b & 1)
        ? "SELECT id FROM t WHERE coalesce(id, 1) LIMIT ?1 OFFSET ?2"
        : "SELECT id FROM t WHERE coalesce(id, 1) LIMIT ?1";
    rows ref;
    run_sql(db, zRef, aV, (b & 1) ? 2 : 1, &ref);
    if( (a.rc==SQLITE_OK)!=(ref.rc==SQLITE_OK) ){
      FAIL("%s: rc %d (%s), %s: rc %d", zSql, a.rc, a.zErr, zRef, ref.rc);
    }
    if( a.rc==SQLITE_OK && (a.n!=ref.n
        || (a.n && memcmp(a.a, ref.a, (size_t)a.n*sizeof(a.a[0]))!=0)) ){
      char z0[64], z1[64];
      val_describe(&aV[0], z0, sizeof(z0));
      val_describe(&aV[1], z1, sizeof(z1));
      FAIL("%s (%s, %s): %d rows, SQLite's own LIMIT gives %d", zSql, z0, z1,
           a.n, ref.n);
    }
    rows_free(&ref);
  }
  rows_free(&a);
  val_clear(&aV[0]);
  val_clear(&aV[1]);
}

static void op_txn(input *in, int kind){
  uint32_t b = in_byte(in);
  int name = (int)(b % 3);
  char zSql[64];
  int wasAuto = sqlite3_get_autocommit(db);
  sqlite3_int64 before = curCount;
  switch( kind ){
    case 0: snprintf(zSql, sizeof(zSql), (b & 8) ? "BEGIN IMMEDIATE" : "BEGIN"); break;
    case 1: snprintf(zSql, sizeof(zSql), "COMMIT"); break;
    case 2: snprintf(zSql, sizeof(zSql), "ROLLBACK"); break;
    case 3: snprintf(zSql, sizeof(zSql), "SAVEPOINT s%d", name); break;
    case 4: snprintf(zSql, sizeof(zSql), "RELEASE s%d", name); break;
    default: snprintf(zSql, sizeof(zSql), "ROLLBACK TO s%d", name); break;
  }
  rows r;
  int rc = run_sql(db, zSql, 0, 0, &r);
  rows_free(&r);
  int commit = rc==SQLITE_OK && (kind==1 || kind==4);
  if( rc==SQLITE_OK && wasAuto && !sqlite3_get_autocommit(db) ){
    txnStartCount = before;
  }
  if( rc==SQLITE_OK && kind==3 ){
    if( nSp<MAX_OPS+1 ){ aSp[nSp].name = name; aSp[nSp].count = before; nSp++; }
  }
  int iFound = -1;
  if( kind==4 || kind==5 ){
    for(int i=nSp-1; i>=0; i--) if( aSp[i].name==name ){ iFound = i; break; }
  }
  if( rc==SQLITE_OK && kind==4 && iFound>=0 ) nSp = iFound;
  after_stmt(wasAuto, commit, zSql);
  if( rc==SQLITE_OK && kind==5 && iFound>=0 ){
    nSp = iFound+1;
    if( curCount!=aSp[iFound].count ){
      FAIL("ROLLBACK TO s%d: count %lld, the savepoint began with %lld",
           name, (long long)curCount, (long long)aSp[iFound].count);
    }
  }
  if( rc==SQLITE_OK && kind==2 && curCount!=txnStartCount && !wasAuto ){
    FAIL("ROLLBACK: count %lld, the transaction began with %lld",
         (long long)curCount, (long long)txnStartCount);
  }
  if( rc!=SQLITE_OK && sqlite3_get_autocommit(db)==wasAuto && curCount!=before ){
    FAIL("%s failed but the count changed", zSql);
  }
}

static void op_refused(input *in){
  static const char *azSql[] = {
    "UPDATE t SET vector = vector WHERE id = ?1",
    "UPDATE t SET id = ?1 WHERE id = (SELECT max(id) FROM t)",
    "DELETE FROM t WHERE id = ?1",
    "DELETE FROM t WHERE id > ?1",
    "INSERT OR REPLACE INTO t(id, vector) SELECT id, vector FROM t WHERE id = ?1",
    "REPLACE INTO t(id, vector) SELECT ?1, vector FROM t LIMIT 1",
  };
  uint32_t b = in_byte(in);
  const char *zSql = azSql[b % 6];
  val v;
  gen_scalar(in, &v);
  int wasAuto = sqlite3_get_autocommit(db);
  sqlite3_int64 before = curCount;
  if( wasAuto ) txnStartCount = before;
  /* Does the statement touch a row?  Then it must fail. */
  rows r;
  run_sql(db, zSql, &v, 1, &r);
  after_stmt(wasAuto, 0, zSql);
  if( !(wasAuto==0 && sqlite3_get_autocommit(db)) && curCount!=before ){
    FAIL("%s changed the count from %lld to %lld", zSql, (long long)before,
         (long long)curCount);
  }
  rows_free(&r);
  val_clear(&v);
}

static void op_functions(input *in){
  val v;
  gen_vector(in, &v, dim);
  rows a, b;
  /* from_json(to_json(x)) == from_json(x) whenever to_json(x) works */
  run_sql(db, "SELECT cvec_from_json(cvec_to_json(?1)) IS cvec_from_json(?1)",
          &v, 1, &a);
  if( a.rc==SQLITE_OK && (a.n!=1 || a.a[0]!=1) ){
    char z[64];
    val_describe(&v, z, sizeof(z));
    FAIL("cvec_to_json round trip of %s", z);
  }
  run_sql(db, "SELECT length(cvec_from_json(?1))", &v, 1, &b);
  if( (a.rc==SQLITE_OK)!=(b.rc==SQLITE_OK) ){
    FAIL("cvec_to_json and cvec_from_json disagree on a value: %s / %s",
         a.zErr, b.zErr);
  }
  rows_free(&a);
  rows_free(&b);
  val_clear(&v);
}

/* ------------------------------------------------------------------------ */
/* Nearest-neighbour search and the distance functions                       */
/* ------------------------------------------------------------------------ */

#define KNN_MAX_K 4096   /* README: k is an integer from 1 to 4096 */

static int metric = 0;   /* the table's metric=: 0 l2, 1 cosine, 2 dot */
static const char *azDistFn[] = {
  "cvec_distance_l2", "cvec_distance_cosine", "cvec_distance_dot"
};

/* The first row's column 0 of a statement, whatever its type. */
typedef struct {
  int rc, nRow, type;
  sqlite3_int64 i;
  double r;
  unsigned char *a;   /* malloc()ed copy of a blob or text */
  int n;
  char zErr[256];
} one;

static void one_free(one *o){ free(o->a); memset(o, 0, sizeof(*o)); }

static int run_one(sqlite3 *dbx, const char *zSql, const val *aV, int nV, one *o){
  sqlite3_stmt *s = 0;
  memset(o, 0, sizeof(*o));
  if( verbose ) fprintf(stderr, "SQL: %s\n", zSql);
  int rc = sqlite3_prepare_v2(dbx, zSql, -1, &s, 0);
  if( rc==SQLITE_OK ){
    for(int i=0; i<nV; i++) val_bind(s, i+1, &aV[i]);
    while( (rc = sqlite3_step(s))==SQLITE_ROW ){
      if( o->nRow++ ) continue;
      o->type = sqlite3_column_type(s, 0);
      o->i = sqlite3_column_int64(s, 0);
      o->r = sqlite3_column_double(s, 0);
      if( o->type==SQLITE_BLOB || o->type==SQLITE_TEXT ){
        const void *p = o->type==SQLITE_BLOB ? sqlite3_column_blob(s, 0)
                                             : (const void*)sqlite3_column_text(s, 0);
        o->n = sqlite3_column_bytes(s, 0);
        o->a = malloc((size_t)o->n + 1);
        if( o->a==0 ) FAIL("oom");
        if( o->n ) memcpy(o->a, p, (size_t)o->n);
        o->a[o->n] = 0;
      }
    }
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  if( rc ){
    snprintf(o->zErr, sizeof(o->zErr), "%s", sqlite3_errmsg(dbx));
    if( verbose ) fprintf(stderr, "  -> rc %d: %s\n", rc, o->zErr);
  }
  sqlite3_finalize(s);
  o->rc = rc;
  return rc;
}

/* Is v a valid k, as SQLite's numeric affinity reads it (an integer in
** 1..KNN_MAX_K; a real counts when it is a whole number)? */
static int k_valid(const val *v, sqlite3_int64 *pk){
  double r;
  switch( v->type ){
    case V_INT:
      *pk = v->i;
      return v->i>=1 && v->i<=KNN_MAX_K;
    case V_REAL:
      r = v->r;
      break;
    case V_TEXT: {
      /* what a column of NUMERIC (or INTEGER) affinity makes of the text */
      one o;
      if( sqlite3_exec(dbAff, "DELETE FROM a", 0, 0, 0) ) FAIL("affinity db");
      if( run_one(dbAff, "INSERT INTO a VALUES (?1)", v, 1, &o) ) FAIL("affinity db");
      one_free(&o);
      if( run_one(dbAff, "SELECT x FROM a", 0, 0, &o) || o.nRow!=1 ) FAIL("affinity db");
      int t = o.type;
      sqlite3_int64 i = o.i;
      r = o.r;
      one_free(&o);
      if( t==SQLITE_INTEGER ){ *pk = i; return i>=1 && i<=KNN_MAX_K; }
      if( t!=SQLITE_FLOAT ) return 0;
      break;
    }
    default:
      return 0;
  }
  if( !(r==floor(r) && r>=1.0 && r<=(double)KNN_MAX_K) ) return 0;
  *pk = (sqlite3_int64)r;
  return 1;
}

/* A value for k: mostly near the edges of 1..4096, often not valid. */
static void gen_k(input *in, val *v){
  static const struct { int type; sqlite3_int64 i; double r; const char *z; } aK[] = {
    { V_INT, 0, 0, 0 }, { V_INT, 1, 0, 0 }, { V_INT, 4095, 0, 0 },
    { V_INT, 4096, 0, 0 }, { V_INT, 4097, 0, 0 }, { V_INT, -1, 0, 0 },
    { V_INT, INT64_MAX, 0, 0 }, { V_INT, INT64_MIN, 0, 0 },
    { V_INT, 4294967297LL, 0, 0 }, { V_REAL, 0, 2.0, 0 },
    { V_REAL, 0, 2.5, 0 }, { V_REAL, 0, 4096.0, 0 }, { V_REAL, 0, 4097.0, 0 },
    { V_REAL, 0, 1e300, 0 }, { V_REAL, 0, -0.0, 0 }, { V_REAL, 0, 0.999999, 0 },
    { V_REAL, 0, 18446744073709551616.0, 0 }, { V_TEXT, 0, 0, "3" },
    { V_TEXT, 0, 0, " 3 " }, { V_TEXT, 0, 0, "3.0" }, { V_TEXT, 0, 0, "3e0" },
    { V_TEXT, 0, 0, "0x3" }, { V_TEXT, 0, 0, "3abc" }, { V_TEXT, 0, 0, "+3" },
    { V_TEXT, 0, 0, "4096.000" }, { V_TEXT, 0, 0, "4097" },
    { V_TEXT, 0, 0, "1e400" }, { V_TEXT, 0, 0, "" }, { V_BLOB, 0, 0, "3" },
    { V_NULL, 0, 0, 0 },
  };
  memset(v, 0, sizeof(*v));
  uint32_t t = in_byte(in);
  switch( t % 6 ){
    case 0: gen_scalar(in, v); break;
    case 1: case 2: v->type = V_INT; v->i = in_byte(in) % 24; break;
    case 3: v->type = V_INT; v->i = (sqlite3_int64)in_u16(in) - 64; break;
    default: {
      int j = (int)(in_byte(in) % (sizeof(aK)/sizeof(aK[0])));
      if( aK[j].z ){
        val_set_bytes(v, aK[j].type, aK[j].z, strlen(aK[j].z));
      }else{
        v->type = aK[j].type; v->i = aK[j].i; v->r = aK[j].r;
      }
      break;
    }
  }
}

/* Rows of (id, distance) */
typedef struct { sqlite3_int64 id; double d; } hit;
typedef struct {
  hit *a;
  int n, nAlloc;
  int rc;
  int nNotReal;      /* rows whose distance was not a REAL */
  char zErr[256];
} hits;

static void hits_free(hits *h){ free(h->a); memset(h, 0, sizeof(*h)); }

static int run_hits(const char *zSql, const val *aV, int nV, hits *h){
  sqlite3_stmt *s = 0;
  memset(h, 0, sizeof(*h));
  if( verbose ) fprintf(stderr, "SQL: %s\n", zSql);
  int rc = sqlite3_prepare_v2(db, zSql, -1, &s, 0);
  if( rc==SQLITE_OK ){
    for(int i=0; i<nV; i++) val_bind(s, i+1, &aV[i]);
    while( (rc = sqlite3_step(s))==SQLITE_ROW ){
      if( h->n==h->nAlloc ){
        h->nAlloc = h->nAlloc ? 2*h->nAlloc : 16;
        h->a = realloc(h->a, (size_t)h->nAlloc*sizeof(h->a[0]));
        if( h->a==0 ) FAIL("oom");
      }
      if( sqlite3_column_type(s, 1)!=SQLITE_FLOAT ) h->nNotReal++;
      h->a[h->n].id = sqlite3_column_int64(s, 0);
      h->a[h->n].d = sqlite3_column_double(s, 1);
      h->n++;
    }
    if( rc==SQLITE_DONE ) rc = SQLITE_OK;
  }
  if( rc ){
    snprintf(h->zErr, sizeof(h->zErr), "%s", sqlite3_errmsg(db));
    if( verbose ) fprintf(stderr, "  -> rc %d: %s\n", rc, h->zErr);
  }
  sqlite3_finalize(s);
  h->rc = rc;
  return rc;
}

/* The order of a search's rows: by distance, then id. */
static int cmp_hit(const void *pa, const void *pb){
  const hit *x = pa, *y = pb;
  if( x->d < y->d ) return -1;
  if( x->d > y->d ) return 1;
  return x->id<y->id ? -1 : x->id>y->id;
}

/* The vector of the iRow-th row of a scan, as a blob or as JSON text. */
static void row_vector(sqlite3_int64 iRow, int asJson, val *v){
  val w = { V_INT, iRow, 0, 0, 0 };
  one o;
  memset(v, 0, sizeof(*v));
  run_one(db, asJson ? "SELECT cvec_to_json(vector) FROM t LIMIT 1 OFFSET ?1"
                     : "SELECT vector FROM t LIMIT 1 OFFSET ?1", &w, 1, &o);
  if( o.rc ) FAIL("row_vector: %s", o.zErr);
  if( o.nRow==0 ){ v->type = V_NULL; one_free(&o); return; }
  if( o.type!=(asJson ? SQLITE_TEXT : SQLITE_BLOB) ) FAIL("row_vector: type %d", o.type);
  val_set_bytes(v, asJson ? V_TEXT : V_BLOB, o.a, (size_t)o.n);
  one_free(&o);
}

/* A query vector: as an INSERT's vector, of the table's dimension or
** another, or the vector of a row (ties, distance 0). */
static void gen_query(input *in, val *v){
  static const int aD[] = { 1, 2, 3, 4, 5, 8, 16, 128 };
  uint32_t m = in_byte(in);
  if( (m & 3)==3 && curCount>0 ){
    row_vector((sqlite3_int64)(in_byte(in) % (uint32_t)curCount), (m>>2)&1, v);
  }else if( (m & 3)==2 ){
    gen_vector(in, v, aD[(m>>2) % 8]);
  }else{
    gen_vector(in, v, dim);
  }
}

/*
** KNN: "vector MATCH ?1 AND k = ?2" in several spellings, maybe with an id
** pre-filter (IN list, IN subquery) or LIMIT/OFFSET, or with LIMIT as k.
** Expected: success exactly when the query is a vector of the table's
** dimension and k is valid; then the rows of the same condition on a full
** scan, each with cvec_distance_<metric>(vector, ?1), sorted by (distance,
** id), cut to k (and sliced by LIMIT/OFFSET): the same ids, in the same
** order, with the same distances to the bit.
*/
static void op_knn(input *in){
  uint32_t f = in_byte(in);
  int form = (int)(f % 8);
  int ordered = (f>>3) & 1;
  val aV[8];
  int nV = 2;
  memset(aV, 0, sizeof(aV));
  gen_query(in, &aV[0]);
  gen_k(in, &aV[1]);
  char zSql[400], zRef[400], zCand[200] = "1";
  const char *zOrder = ordered ? " ORDER BY distance" : "";
  sqlite3_int64 lim = -1, off = 0;
  int hasLimit = 0, hasK = 1;
  switch( form ){
    case 0: case 1:
      snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM t WHERE "
               "vector MATCH ?1 AND k = ?2%s", zOrder);
      break;
    case 2:
      snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM t WHERE "
               "k = ?2 AND vector MATCH ?1 ORDER BY distance, id");
      break;
    case 3: case 4: {
      int n = 1 + (int)(in_byte(in) % 6);
      char zL[100];
      int j = 0;
      for(int i=0; i<n; i++){
        gen_scalar(in, &aV[nV]);
        nV++;
        j += snprintf(zL+j, sizeof(zL)-(size_t)j, "%s?%d", i ? ", " : "", nV);
      }
      snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM t WHERE "
               "vector MATCH ?1 AND k = ?2 AND id IN (%s)%s", zL, zOrder);
      snprintf(zCand, sizeof(zCand), "coalesce(id IN (%s), 0)", zL);
      break;
    }
    case 5:
      gen_scalar(in, &aV[2]);
      gen_scalar(in, &aV[3]);
      nV = 4;
      snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM t WHERE "
               "vector MATCH ?1 AND k = ?2 AND id IN (SELECT id FROM t WHERE "
               "id BETWEEN ?3 AND ?4)%s", zOrder);
      snprintf(zCand, sizeof(zCand), "coalesce(id IN (SELECT id FROM t WHERE "
               "id BETWEEN ?3 AND ?4), 0)");
      break;
    default: {
      /* k and LIMIT [OFFSET] (form 6), or LIMIT alone as k (form 7) */
      uint32_t b = in_byte(in);
      hasLimit = 1;
      hasK = form==6;
      lim = (sqlite3_int64)(b % 40) - 4;
      if( b & 0x80 ) lim = (sqlite3_int64)in_u16(in) - 8;
      aV[2].type = V_INT; aV[2].i = lim;
      nV = 3;
      if( b & 0x40 ){
        off = (sqlite3_int64)(in_byte(in) % 40) - 4;
        if( off > 30 ) off = (sqlite3_int64)in_u16(in);
        aV[3].type = V_INT; aV[3].i = off;
        nV = 4;
      }
      snprintf(zSql, sizeof(zSql), "SELECT id, distance FROM t WHERE "
               "vector MATCH ?1%s%s LIMIT ?3%s", hasK ? " AND k = ?2" : "",
               hasK ? zOrder : " ORDER BY distance", nV==4 ? " OFFSET ?4" : "");
      if( off<0 ) off = 0;
      break;
    }
  }

  sqlite3_int64 k = 0;
  int qOk = vector_ok(&aV[0]);
  int kOk = hasK ? k_valid(&aV[1], &k) : 0;
  hits r;
  run_hits(zSql, aV, nV, &r);
  char zQ[64], zK[64];
  val_describe(&aV[0], zQ, sizeof(zQ));
  val_describe(&aV[1], zK, sizeof(zK));

  if( hasLimit && lim==0 ){
    /* SQLite may skip the search: any outcome but rows */
    if( r.rc==SQLITE_OK && r.n ) FAIL("%s (?1=%s, ?2=%s): LIMIT 0 gave %d rows",
                                       zSql, zQ, zK, r.n);
  }else if( hasK ){
    if( (r.rc==SQLITE_OK)!=(qOk && kOk) ){
      FAIL("%s (?1=%s, ?2=%s): rc %d (%s); query ok %d, k ok %d", zSql, zQ, zK,
           r.rc, r.zErr, qOk, kOk);
    }
  }else if( r.rc==SQLITE_OK ){
    /* LIMIT as k: when SQLite passes it (version, plan); never beyond the
    ** largest k, never without a LIMIT */
    if( !qOk || lim<0 || lim+off>KNN_MAX_K ){
      FAIL("%s (?1=%s, LIMIT %lld OFFSET %lld) succeeded; query ok %d", zSql,
           zQ, (long long)lim, (long long)off, qOk);
    }
    k = lim+off;
  }
  if( r.rc==SQLITE_OK && !(hasLimit && lim==0) ){
    if( r.nNotReal ) FAIL("%s: %d distances not REAL", zSql, r.nNotReal);
    /* The reference: every candidate by a full scan and the function. */
    snprintf(zRef, sizeof(zRef), "SELECT id, %s(vector, ?1) FROM t WHERE %s",
             azDistFn[metric], zCand);
    hits e;
    if( run_hits(zRef, aV, nV, &e) ) FAIL("%s: %s", zRef, e.zErr);
    if( e.nNotReal ) FAIL("%s: %d distances not REAL", zRef, e.nNotReal);
    if( e.n ) qsort(e.a, (size_t)e.n, sizeof(e.a[0]), cmp_hit);
    sqlite3_int64 to = e.n < k ? e.n : k;
    sqlite3_int64 from = 0;
    if( hasLimit ){
      from = off < to ? off : to;
      if( lim>=0 && from+lim < to ) to = from+lim;
    }
    if( r.n!=to-from ){
      FAIL("%s (?1=%s, ?2=%s): %d rows, want %lld (k %lld, %d candidates, "
           "rows %lld..%lld)", zSql, zQ, zK, r.n, (long long)(to-from),
           (long long)k, e.n, (long long)from, (long long)to);
    }
    for(int i=0; i<r.n; i++){
      const hit *x = &r.a[i], *y = &e.a[from+i];
      if( x->id!=y->id || memcmp(&x->d, &y->d, sizeof(double))!=0 ){
        FAIL("%s (?1=%s, ?2=%s): row %d is (%lld, %.17g), want (%lld, %.17g) "
             "of %d candidates", zSql, zQ, zK, i, (long long)x->id, x->d,
             (long long)y->id, y->d, e.n);
      }
    }
    hits_free(&e);
  }
  hits_free(&r);
  for(int i=0; i<nV; i++) val_clear(&aV[i]);
}

/* The floats of a vector value as cvec_from_json decodes it; -1 on error,
** else the count (*paF malloc()ed). */
static int decode_vector(const val *v, float **paF){
  one o;
  *paF = 0;
  run_one(db, "SELECT cvec_from_json(?1)", v, 1, &o);
  int n = -1;
  if( o.rc==SQLITE_OK ){
    if( o.nRow!=1 || o.type!=SQLITE_BLOB || o.n%4 || o.n==0 ){
      FAIL("cvec_from_json gave %d rows of type %d, %d bytes", o.nRow, o.type, o.n);
    }
    n = o.n/4;
    *paF = malloc((size_t)o.n);
    if( *paF==0 ) FAIL("oom");
    memcpy(*paF, o.a, (size_t)o.n);
    for(int i=0; i<n; i++){
      if( !isfinite((*paF)[i]) ) FAIL("cvec_from_json let a non-finite value by");
    }
  }
  one_free(&o);
  return n;
}

/* sqrt in long double by Newton's method from above (the replay program is
** not linked with libm). */
static long double sqrt_ld(long double x){
  if( !(x>0) ) return 0;
  long double r = x>1 ? x : 1;
  for(;;){
    long double nr = (r + x/r)/2;
    if( !(nr<r) ) return r;
    r = nr;
  }
}

/*
** cvec_distance_l2/cosine/dot on two arbitrary values.  NULL either side
** gives NULL; else it succeeds exactly when cvec_from_json accepts both and
** they have the same size, and gives a finite REAL that does not depend on
** the order of the arguments and is near the distance computed here in
** double (l2 >= 0, exactly 0 for a vector and itself; cosine in [0, 2],
** exactly 1 with a zero vector).
*/
static void op_distance(input *in){
  static const int aD[] = { 1, 2, 3, 4, 5, 8, 16, 128 };
  uint32_t f = in_byte(in);
  int m = (int)((f & 3) % 3);
  val aV[2];
  gen_vector(in, &aV[0], (f & 0x40) ? aD[in_byte(in) % 8] : dim);
  switch( (f>>2) % 4 ){
    case 0: gen_vector(in, &aV[1], dim); break;
    case 1: gen_vector(in, &aV[1], aD[in_byte(in) % 8]); break;
    case 2:
      aV[1] = aV[0];
      aV[1].z = 0;
      if( aV[0].z ) val_set_bytes(&aV[1], aV[0].type, aV[0].z, (size_t)aV[0].n);
      break;
    default: gen_scalar(in, &aV[1]); break;
  }
  char zSql[100], zRev[100];
  snprintf(zSql, sizeof(zSql), "SELECT %s(?1, ?2)", azDistFn[m]);
  snprintf(zRev, sizeof(zRev), "SELECT %s(?2, ?1)", azDistFn[m]);
  one o, p;
  run_one(db, zSql, aV, 2, &o);
  run_one(db, zRev, aV, 2, &p);
  char zA[64], zB[64];
  val_describe(&aV[0], zA, sizeof(zA));
  val_describe(&aV[1], zB, sizeof(zB));
#define DESCR zSql, zA, zB
  if( o.rc==SQLITE_OK && o.nRow!=1 ) FAIL("%s: %d rows", zSql, o.nRow);
  if( (o.rc==SQLITE_OK)!=(p.rc==SQLITE_OK) || (o.rc==SQLITE_OK
      && (o.type!=p.type || memcmp(&o.r, &p.r, sizeof(double))!=0)) ){
    FAIL("%s (%s, %s): %.17g (rc %d), the other way round %.17g (rc %d)",
         DESCR, o.r, o.rc, p.r, p.rc);
  }
  if( aV[0].type==V_NULL || aV[1].type==V_NULL ){
    if( o.rc!=SQLITE_OK || o.type!=SQLITE_NULL ){
      FAIL("%s (%s, %s): rc %d type %d, want NULL", DESCR, o.rc, o.type);
    }
  }else{
    float *a, *b;
    int na = decode_vector(&aV[0], &a);
    int nb = decode_vector(&aV[1], &b);
    int ok = na>0 && na==nb;
    if( (o.rc==SQLITE_OK)!=ok ){
      FAIL("%s (%s, %s): rc %d (%s); sizes %d and %d", DESCR, o.rc, o.zErr, na, nb);
    }
    if( ok ){
      if( o.type!=SQLITE_FLOAT || !isfinite(o.r) ){
        FAIL("%s (%s, %s): type %d, %g", DESCR, o.type, o.r);
      }
      double d = o.r;
      long double s = 0, sa = 0, na2 = 0, nb2 = 0;
      for(int i=0; i<na; i++){
        long double x = a[i], y = b[i];
        switch( m ){
          case 0: s += (x-y)*(x-y); break;
          default: s += x*y; sa += x*y<0 ? -(x*y) : x*y; na2 += x*x; nb2 += y*y; break;
        }
      }
      double want, tol;
      switch( m ){
        case 0:
          want = (double)sqrt_ld(s);
          tol = 1e-4*want + 1e-35;
          if( d<0 ) FAIL("%s (%s, %s): %.17g < 0", DESCR, d);
          break;
        case 1:
          if( na2==0 || nb2==0 ){
            want = 1.0; tol = 0;
          }else{
            want = (double)(1.0L - s/(sqrt_ld(na2)*sqrt_ld(nb2)));
            if( want<0 ) want = 0;
            if( want>2 ) want = 2;
            tol = 1e-3;
          }
          if( !(d>=0 && d<=2) ) FAIL("%s (%s, %s): %.17g outside [0, 2]", DESCR, d);
          break;
        default:
          want = (double)-s;
          tol = 1e-4*(double)sa + na*0x1p-140;
          break;
      }
      if( !(fabs(d-want)<=tol) ){
        FAIL("%s (%s, %s): %.17g, computed in long double %.17g", DESCR, d, want);
      }
      if( m==0 && aV[0].type==aV[1].type && aV[0].n==aV[1].n
       && (aV[0].z==0 || memcmp(aV[0].z, aV[1].z, (size_t)aV[0].n)==0) && d!=0 ){
        FAIL("%s (%s, %s): %.17g for a vector and itself", DESCR, d);
      }
    }
    free(a);
    free(b);
  }
#undef DESCR
  one_free(&o);
  one_free(&p);
  val_clear(&aV[0]);
  val_clear(&aV[1]);
}

/* count(*), a full scan and lookups agree; every vector is well-formed. */
static void check_all(const char *zWhen){
  sqlite3_int64 n = count_rows();
  sqlite3_stmt *s = 0;
  if( sqlite3_prepare_v2(db, "SELECT id, vector, rowid FROM t", -1, &s, 0) ){
    FAIL("%s: prepare scan: %s", zWhen, sqlite3_errmsg(db));
  }
  sqlite3_stmt *q = 0;
  if( sqlite3_prepare_v2(db, "SELECT vector FROM t WHERE id = ?1", -1, &q, 0) ){
    FAIL("%s: prepare lookup: %s", zWhen, sqlite3_errmsg(db));
  }
  sqlite3_int64 *aId = 0;
  int nId = 0, rc;
  sqlite3_int64 mx = 0;
  while( (rc = sqlite3_step(s))==SQLITE_ROW ){
    sqlite3_int64 id = sqlite3_column_int64(s, 0);
    if( id<1 || id>4294967295LL ) FAIL("%s: id %lld out of range", zWhen, (long long)id);
    if( sqlite3_column_int64(s, 2)!=id ) FAIL("%s: rowid differs from id", zWhen);
    if( sqlite3_column_type(s, 1)!=SQLITE_BLOB ) FAIL("%s: vector not a blob", zWhen);
    int nb = sqlite3_column_bytes(s, 1);
    const unsigned char *vb = sqlite3_column_blob(s, 1);
    if( nb!=4*dim ) FAIL("%s: vector of %d bytes", zWhen, nb);
    for(int i=0; i<dim; i++){
      float f;
      memcpy(&f, vb+4*i, 4);
      if( !isfinite(f) ) FAIL("%s: id %lld holds a non-finite value", zWhen, (long long)id);
    }
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, id);
    if( sqlite3_step(q)!=SQLITE_ROW ) FAIL("%s: scanned id %lld not found", zWhen, (long long)id);
    if( sqlite3_column_bytes(q, 0)!=nb || memcmp(sqlite3_column_blob(q, 0), vb, (size_t)nb) ){
      FAIL("%s: lookup of %lld gives another vector than the scan", zWhen, (long long)id);
    }
    if( sqlite3_step(q)!=SQLITE_DONE ) FAIL("%s: two rows for id %lld", zWhen, (long long)id);
    aId = realloc(aId, (size_t)(nId+1)*sizeof(*aId));
    if( aId==0 ) FAIL("oom");
    aId[nId++] = id;
    if( id>mx ) mx = id;
  }
  if( rc!=SQLITE_DONE ) FAIL("%s: scan: %s", zWhen, sqlite3_errmsg(db));
  sqlite3_finalize(s);
  sqlite3_finalize(q);
  if( nId!=n ) FAIL("%s: count(*) %lld, scan %d rows", zWhen, (long long)n, nId);
  if( nId ) qsort(aId, (size_t)nId, sizeof(*aId), cmp_i64);
  for(int i=1; i<nId; i++){
    if( aId[i]==aId[i-1] ) FAIL("%s: id %lld twice in a scan", zWhen, (long long)aId[i]);
  }
  free(aId);
  if( one_int(db, "SELECT coalesce(max(id), 0) FROM t", 0, 0)!=mx ) FAIL("%s: max(id)", zWhen);
  if( one_int(db, "SELECT count(*) FROM t WHERE id IN (SELECT id FROM t)", 0, 0)!=n ){
    FAIL("%s: id IN (SELECT id FROM t)", zWhen);
  }
  if( one_int(db, "SELECT count(*) FROM t WHERE "
                  "cvec_from_json(cvec_to_json(vector)) IS NOT vector", 0, 0)!=0 ){
    FAIL("%s: a vector does not survive cvec_to_json", zWhen);
  }
}

/* A second connection sees the committed rows. */
static void check_other(void){
  sqlite3 *db2 = open_db();
  char *zSql = sqlite3_mprintf("CREATE VIRTUAL TABLE t USING cvec_segment("
                               "dir=%Q, sync=off)", zDir);
  char *zErr = 0;
  if( sqlite3_exec(db2, zSql, 0, 0, &zErr) ) FAIL("second connection: %s", zErr);
  sqlite3_free(zSql);
  sqlite3_int64 n = one_int(db2, "SELECT count(*) FROM t", 0, 0);
  if( n!=committedCount ){
    FAIL("second connection sees %lld rows, %lld are committed", (long long)n,
         (long long)committedCount);
  }
  sqlite3_close(db2);
}

/* ------------------------------------------------------------------------ */
/* The entry point                                                           */
/* ------------------------------------------------------------------------ */

static void snapshot(sqlite3 *dbx, char **pz){
  /* every id and vector, in scan order, as one string */
  rows r;
  sqlite3_stmt *s = 0;
  (void)r;
  if( sqlite3_prepare_v2(dbx, "SELECT group_concat(id || ':' || hex(vector), ',') "
                              "FROM t", -1, &s, 0) ){
    FAIL("snapshot: %s", sqlite3_errmsg(dbx));
  }
  if( sqlite3_step(s)!=SQLITE_ROW ) FAIL("snapshot: %s", sqlite3_errmsg(dbx));
  const char *z = (const char*)sqlite3_column_text(s, 0);
  *pz = strdup(z ? z : "");
  sqlite3_finalize(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  static const int aDim[] = { 1, 2, 3, 4, 5, 8, 16, 128 };
  static const char *azMetricArg[] = { "", ", metric=cosine", ", metric=dot",
                                       ", metric=L2" };
  init_once();
  clean_dir();
  input in = { data, size, 0 };
  uint32_t b0 = in_byte(&in);
  dim = aDim[b0 % 8];
  metric = (int)((b0>>4) % 4);
  const char *zMetric = azMetricArg[metric];
  if( metric==3 ) metric = 0;
  db = open_db();
  char *zSql = sqlite3_mprintf("CREATE VIRTUAL TABLE t USING cvec_segment("
                               "dir=%Q, dimension=%d, sync=off%s)", zDir, dim,
                               zMetric);
  char *zErr = 0;
  if( sqlite3_exec(db, zSql, 0, 0, &zErr) ) FAIL("create: %s", zErr);
  sqlite3_free(zSql);
  curCount = txnStartCount = committedCount = 0;
  nSp = 0;

  for(int nOp=0; nOp<MAX_OPS && !in_eof(&in); nOp++){
    uint32_t op = in_byte(&in);
    switch( op % 24 ){
      case 0: case 1: case 2: case 3: op_insert_one(&in); break;
      case 4: op_insert_many(&in, 0); break;
      case 5: op_insert_many(&in, 1); break;
      case 6: case 7: op_lookup(&in); break;
      case 8: op_in(&in); break;
      case 9: op_range(&in); break;
      case 10: op_limit(&in); break;
      case 11: op_txn(&in, 0); break;
      case 12: op_txn(&in, 1); break;
      case 13: op_txn(&in, 2); break;
      case 14: op_txn(&in, 3); break;
      case 15: op_txn(&in, 4); break;
      case 16: op_txn(&in, 5); break;
      case 17: op_refused(&in); break;
      case 18: op_functions(&in); break;
      case 20: case 21: op_knn(&in); break;
      case 22: op_distance(&in); break;
      default:                               /* 19, 23 */
        check_all("check");
        check_other();
        break;
    }
    if( curCount>MAX_ROWS ) break;
  }

  /* End the transaction, check, and see the same after reopening. */
  if( !sqlite3_get_autocommit(db) ){
    int wasAuto = 0;
    int rc = run_sql(db, "COMMIT", 0, 0, 0);
    after_stmt(wasAuto, rc==SQLITE_OK, "COMMIT");
    if( !sqlite3_get_autocommit(db) ){
      run_sql(db, "ROLLBACK", 0, 0, 0);
      after_stmt(0, 0, "ROLLBACK");
    }
    if( !sqlite3_get_autocommit(db) ) FAIL("cannot end the transaction");
  }
  check_all("end");
  check_other();
  char *zBefore, *zAfter;
  snapshot(db, &zBefore);
  if( sqlite3_close(db)!=SQLITE_OK ) FAIL("close: %s", sqlite3_errmsg(db));
  db = 0;
  if( b0 & 8 ){
    /* without the index file: rebuilt at open */
    char *zIdx;
    if( asprintf(&zIdx, "%s/segment_0.vec.idx", zDir)>=0 ){ unlink(zIdx); free(zIdx); }
  }
  db = open_db();
  zSql = sqlite3_mprintf("CREATE VIRTUAL TABLE t USING cvec_segment("
                         "dir=%Q, sync=off)", zDir);
  if( sqlite3_exec(db, zSql, 0, 0, &zErr) ) FAIL("reopen: %s", zErr);
  sqlite3_free(zSql);
  snapshot(db, &zAfter);
  if( strcmp(zBefore, zAfter)!=0 ) FAIL("the rows differ after reopening");
  check_all("reopened");
  free(zBefore);
  free(zAfter);
  sqlite3_close(db);
  db = 0;
  return 0;
}
