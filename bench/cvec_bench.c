/*
** cvec_bench.c -- cvec_segment beside a plain SQLite table, same data.
**
** For each configuration (N vectors of dimension D) the program fills two
** databases with the same vectors and measures the same operations on both:
**
**   cvec   CREATE VIRTUAL TABLE t USING cvec_segment(dir='...', dimension=D)
**          (default sync=full: each commit is fdatasync'ed)
**   plain  CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB)
**          with SQLite's defaults: rollback journal (journal_mode=delete),
**          synchronous=FULL, cache_size=-2000 (2 MB); the output's header
**          prints the values this SQLite actually uses.
**
** Both tables hold ids 1..N, inserted in order; every vector is D float32
** (little-endian, the blob format cvec expects).  The vectors come from a
** fixed-seed PRNG: a pool of 1024 random vectors with values in [-1, 1), and
** the vector of id i is pool[(i-1) % 1024] with its first element set to i,
** so that every read is checked (first float == id, size == 4D).
**
** Figures, each for cvec and plain, with the ratio cvec/plain:
**
**   1. bulk insert of N vectors in one transaction: BEGIN, one prepared
**      INSERT binding an id and a BLOB per row, COMMIT (the COMMIT and its
**      syncs are inside the time); vectors/s.  Each run writes a new
**      database (and a new segment directory); the last one stays for the
**      figures below.
**   2. point lookups at random ids, SELECT vector FROM t WHERE id = ?,
**      reading the blob with sqlite3_column_blob: K = min(N, 100000)
**      lookups per run (a) each in its own autocommit statement, (b) all
**      inside one BEGIN ... COMMIT; microseconds per lookup.  Each run has
**      its own random ids, the same for both engines.
**   3. full scan, SELECT vector FROM t, adding up the first float of every
**      blob; rows/s.  A run repeats the scan max(1, 1e6/N) times.
**   4. join with metadata: meta(id INTEGER PRIMARY KEY, lang TEXT) holds N
**      rows, about 10% of them (chosen by the PRNG) with lang = 'en'; no
**      index on lang and no ANALYZE, the common case:
**        SELECT v.vector FROM meta m JOIN t v ON v.id = m.id
**         WHERE m.lang = 'en'
**      milliseconds per query (every row stepped, every blob touched).  A
**      run repeats the query max(1, 1e6/N) times.  The output shows
**      EXPLAIN QUERY PLAN for both engines.
**   5. first lookup on a fresh connection: from sqlite3_open_v2, through
**      (cvec only) sqlite3_enable_load_extension and sqlite3_load_extension,
**      to the first row of one lookup by id; microseconds.  The load alone
**      is reported too.  The files are in the OS page cache (they were just
**      written and read): a warm open, not a cold one from disk.  For cvec
**      it includes opening the segment and its id index.
**   6. the raw sequential write rate of the disk, in the same directory:
**      N x (4 + 4D) bytes (the size of the segment's records) written in
**      1 MiB chunks, then fsync; MB/s and vectors/s.  Each engine's bulk
**      insert is also shown as a % of it.  On a virtual machine this rate
**      follows the host's caching and can swing several-fold between
**      runs (the output gives the range), so a % above 100 can happen.
**   7. memory: each engine runs in its own child process, which reports
**      VmHWM (peak resident set) and the largest RssAnon (private anonymous
**      memory, sampled after every step) from /proc/self/status.  VmHWM
**      counts the pages of cvec's memory-mapped files that the process
**      touched: page cache, shared and reclaimable, not heap.  RssAnon is
**      the heap.  Both children start from the same small parent.
**
** Noise.  Absolute times are noisy on a shared machine; the ratios are what
** the benchmark is for.  To keep a changing background load from landing on
** one engine only, the two children run side by side and the parent
** interleaves them run by run (cvec then plain, then plain then cvec, ...),
** with the raw disk runs interleaved with the insert runs.  Every figure is
** the median of its runs: 5 runs of each measurement, 20 of the fresh
** connection.  The last column, "paired runs", gives the smallest and
** largest ratio of the runs made back to back: a wide range means the
** figure is noisy.
**
** Configurations: N = 10k, 100k and 1M at dimension 128, and N = 100k at
** dimension 384 and 768.  The files of a configuration are deleted after
** it (1M x 128 is about 0.55 GB per engine).  The default run takes about
** two minutes on a 2-core virtual machine.
**
** Build and run (from the build directory):
**
**   make bench                          all configurations
**   make bench BENCH_ARGS=--quick       10k x 128 and 100k x 128 only
**   make bench BENCH_ARGS='--n 1M --dim 128'
**
** or directly:
**
**   bench/cvec_bench --ext .libs/cvec [options]
**
** Options:
**   --ext PATH      the extension to load (required; as for
**                   sqlite3_load_extension, the suffix may be left out)
**   --dir DIR       scratch directory (default: a new directory under
**                   $TMPDIR or /tmp).  Created if missing and then removed
**                   at the end; if it exists, only what the benchmark puts
**                   in it is removed.
**   --quick         only 10k x 128 and 100k x 128
**   --n LIST        numbers of vectors, comma-separated, k and M suffixes
**                   allowed (10k,100k); with --dim, or alone, the
**                   configurations are every --n with every --dim
**                   (missing --n means 100k, missing --dim 128)
**   --dim LIST      dimensions, comma-separated
**   --k K           lookups per run (default min(N, 100000))
**   --k-autocommit K  lookups per run in autocommit (default: as --k)
**
** Standard output carries the report; progress goes to standard error when
** that is a terminal.  Every SQLite call is checked: on an error the program
** prints it, removes its files and exits with status 1.  It assumes a
** little-endian host (the segment blob format) and says so if it is not.
*/
#define _XOPEN_SOURCE 700

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */
/* ------------------------------------------------------------------------ */

#define SEED          0x63766563u   /* "cvec" */
#define POOL          1024          /* distinct random vectors */
#define MAX_CONFIGS   64
#define RUNS          5             /* runs of each measurement */
#define FRESH_RUNS    20            /* runs of the fresh connection */
#define MAX_RUNS      FRESH_RUNS
#define CHUNK         (1u<<20)      /* raw disk test: 1 MiB writes */
#define MAX_N         16000000L     /* first float == id stays exact */
#define MAX_DIM       65536
#define PATH_MAX_LEN  4096

enum { ENG_CVEC, ENG_PLAIN, N_ENG };
static const char *const azEngine[N_ENG] = { "cvec", "plain" };

typedef struct config { long n; int dim; } config;

/* Options */
static const char *g_ext = 0;
static long g_k = 0;
static long g_k_ac = 0;
static int g_progress = 0;

/* ------------------------------------------------------------------------ */
/* Errors and cleanup                                                        */
/* ------------------------------------------------------------------------ */

static const char *g_who = "cvec_bench";   /* prefix of error messages */
static pid_t g_parent = 0;                 /* the parent's pid */
static pid_t g_child[N_ENG];               /* running children, or 0 */
static char g_root[PATH_MAX_LEN];          /* scratch directory */
static int g_ownRoot = 0;                  /* we created it: remove it all */
static char g_cfgDir[PATH_MAX_LEN];        /* current configuration's dir */

static void rm_rf(const char *zPath);

/* In the parent: stop the children and remove the files. */
static void cleanup(void){
  if( getpid()!=g_parent ) return;
  for(int e=0; e<N_ENG; e++){
    if( g_child[e]>0 ){
      int status;
      kill(g_child[e], SIGKILL);
      waitpid(g_child[e], &status, 0);
      g_child[e] = 0;
    }
  }
  if( g_cfgDir[0] ) rm_rf(g_cfgDir);
  if( g_ownRoot && g_root[0] ) rm_rf(g_root);
}

static _Noreturn void die(const char *zFmt, ...){
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s: ", g_who);
  va_start(ap, zFmt);
  vfprintf(stderr, zFmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  cleanup();
  exit(1);
}

static void progress(const char *zFmt, ...){
  va_list ap;
  if( !g_progress ) return;
  va_start(ap, zFmt);
  vfprintf(stderr, zFmt, ap);
  va_end(ap);
  fflush(stderr);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static double now(void){
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec*1e-9;
}

static uint64_t rnd(uint64_t *s){             /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z>>30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z>>27)) * 0x94d049bb133111ebULL;
  return z ^ (z>>31);
}

static int cmp_double(const void *a, const void *b){
  double x = *(const double*)a, y = *(const double*)b;
  return x<y ? -1 : x>y;
}

static double median(const double *a, int n){
  double t[MAX_RUNS];
  memcpy(t, a, sizeof(double)*(size_t)n);
  qsort(t, (size_t)n, sizeof(double), cmp_double);
  return n%2 ? t[n/2] : (t[n/2-1]+t[n/2])/2;
}

static int rm_cb(const char *zPath, const struct stat *sb, int flag,
                 struct FTW *ftw){
  (void)sb; (void)flag; (void)ftw;
  if( remove(zPath) && errno!=ENOENT ){
    fprintf(stderr, "%s: cannot remove %s: %s\n", g_who, zPath, strerror(errno));
  }
  return 0;
}

/* rm -rf */
static void rm_rf(const char *zPath){
  struct stat st;
  if( lstat(zPath, &st) ) return;
  nftw(zPath, rm_cb, 16, FTW_DEPTH|FTW_PHYS);
}

static void make_dir(const char *zPath){
  if( mkdir(zPath, 0777) && errno!=EEXIST ){
    die("cannot create directory %s: %s", zPath, strerror(errno));
  }
}

/* snprintf for paths: a path that does not fit is an error, not cut. */
static void mkpath(char *zOut, const char *zFmt, ...){
  va_list ap;
  int n;
  va_start(ap, zFmt);
  n = vsnprintf(zOut, PATH_MAX_LEN, zFmt, ap);
  va_end(ap);
  if( n<0 || n>=PATH_MAX_LEN ) die("path too long: %s...", zOut);
}

/* The kB value of a "Name:   1234 kB" line of /proc/self/status, in MiB. */
static double status_mib(const char *zName){
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t n = strlen(zName);
  double v = -1;
  if( f==0 ) return -1;
  while( fgets(line, sizeof(line), f) ){
    if( strncmp(line, zName, n)==0 && line[n]==':' ){
      v = strtod(line+n+1, 0) / 1024.0;
      break;
    }
  }
  fclose(f);
  return v;
}

/* Whole reads and writes on a pipe; read_full returns 0 at a short read. */
static int read_full(int fd, void *p, size_t n){
  char *z = p;
  while( n>0 ){
    ssize_t r = read(fd, z, n);
    if( r<0 && errno==EINTR ) continue;
    if( r<=0 ) return 0;
    z += r;
    n -= (size_t)r;
  }
  return 1;
}

static int write_full(int fd, const void *p, size_t n){
  const char *z = p;
  while( n>0 ){
    ssize_t w = write(fd, z, n);
    if( w<0 && errno==EINTR ) continue;
    if( w<=0 ) return 0;
    z += w;
    n -= (size_t)w;
  }
  return 1;
}

/* ------------------------------------------------------------------------ */
/* SQLite helpers: every call checked                                        */
/* ------------------------------------------------------------------------ */

static void check(sqlite3 *db, int rc, int want, const char *zWhat){
  if( rc!=want ){
    die("%s: %s (rc=%d)", zWhat, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
  }
}

static void exec(sqlite3 *db, const char *zSql){
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  if( rc!=SQLITE_OK ){
    die("%s: %s (rc=%d)", zSql, zErr ? zErr : sqlite3_errstr(rc), rc);
  }
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql){
  sqlite3_stmt *st = 0;
  check(db, sqlite3_prepare_v2(db, zSql, -1, &st, 0), SQLITE_OK, zSql);
  return st;
}

static void finalize(sqlite3 *db, sqlite3_stmt *st){
  check(db, sqlite3_finalize(st), SQLITE_OK, "sqlite3_finalize");
}

static void load_cvec(sqlite3 *db){
  char *zErr = 0;
  int rc;
  check(db, sqlite3_enable_load_extension(db, 1), SQLITE_OK,
        "sqlite3_enable_load_extension");
  rc = sqlite3_load_extension(db, g_ext, 0, &zErr);
  if( rc!=SQLITE_OK ){
    die("load_extension(%s): %s", g_ext, zErr ? zErr : sqlite3_errstr(rc));
  }
}

static sqlite3 *open_db(const char *zPath, int flags){
  sqlite3 *db = 0;
  int rc = sqlite3_open_v2(zPath, &db, flags, 0);
  if( rc!=SQLITE_OK ){
    die("sqlite3_open_v2(%s): %s", zPath,
        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
  return db;
}

static void close_db(sqlite3 *db){
  check(db, sqlite3_close(db), SQLITE_OK, "sqlite3_close");
}

/* The text of the first column of the first row of zSql. */
static void query_text(sqlite3 *db, const char *zSql, char *zOut, size_t nOut){
  sqlite3_stmt *st = prepare(db, zSql);
  check(db, sqlite3_step(st), SQLITE_ROW, zSql);
  const unsigned char *z = sqlite3_column_text(st, 0);
  snprintf(zOut, nOut, "%s", z ? (const char*)z : "NULL");
  finalize(db, st);
}

/* ------------------------------------------------------------------------ */
/* The data                                                                  */
/* ------------------------------------------------------------------------ */

static float *g_pool;      /* POOL x dim floats (allocated in the child) */
static float *g_vec;       /* one vector */

static void make_pool(int dim){
  uint64_t s = SEED;
  g_pool = malloc(sizeof(float)*(size_t)POOL*(size_t)dim);
  g_vec = malloc(sizeof(float)*(size_t)dim);
  if( g_pool==0 || g_vec==0 ) die("out of memory");
  for(size_t i=0; i<(size_t)POOL*(size_t)dim; i++){
    g_pool[i] = (float)((double)(rnd(&s)>>40) / (double)(1u<<23)) - 1.0f;
  }
}

static const float *vector_of(long id, int dim){
  memcpy(g_vec, g_pool + (size_t)((id-1)%POOL)*(size_t)dim,
         sizeof(float)*(size_t)dim);
  g_vec[0] = (float)id;
  return g_vec;
}

/* Check a blob read back for id (for any id when id is 0); returns its
** first float. */
static float check_blob(sqlite3_stmt *st, int iCol, long id, int dim){
  const void *p = sqlite3_column_blob(st, iCol);
  int n = sqlite3_column_bytes(st, iCol);
  float f;
  if( p==0 || n!=4*dim ){
    die("vector of id %ld: %d bytes, expected %d", id, n, 4*dim);
  }
  memcpy(&f, p, 4);
  if( id && f!=(float)id ){
    die("vector of id %ld has first element %g", id, (double)f);
  }
  return f;
}

static const char zLookup[] = "SELECT vector FROM t WHERE id = ?";
static const char zScan[] = "SELECT vector FROM t";
static const char zJoin[] =
  "SELECT v.vector FROM meta m JOIN t v ON v.id = m.id WHERE m.lang = 'en'";

/* The seed of the random ids of lookup run `run`: the same for both
** engines. */
static uint64_t lookup_seed(int run){
  return SEED ^ (0x1000u + (uint64_t)run*7919u);
}

/* ------------------------------------------------------------------------ */
/* The child: one engine, one configuration, driven step by step             */
/* ------------------------------------------------------------------------ */

/* Steps the parent asks for.  Each answers with a reply. */
enum { OP_INSERT, OP_META, OP_LOOKUP_AC, OP_LOOKUP_TX, OP_SCAN, OP_JOIN,
       OP_FRESH, OP_END };
static const char *const azOp[] = { "insert", "meta", "lookups", "lookups",
                                    "scan", "join", "fresh", "end" };

typedef struct cmd { int op; int run; long arg; } cmd;
typedef struct reply { double a, b; long rows; } reply;

/* What a child reports at OP_END. */
typedef struct final {
  double hwm_mib, anon_mib;
  char plan[1024];
} final;

typedef struct engine {
  int eng;
  long n;
  int dim;
  const char *zDir;
  char zDb[PATH_MAX_LEN];     /* the database of the last insert run */
  char zVecs[PATH_MAX_LEN];   /* and its segment directory */
  sqlite3 *db;                /* open from the insert until OP_FRESH */
  double anon;                /* peak RssAnon, MiB */
  char plan[1024];
} engine;

static void remove_run(engine *E){
  char zJ[PATH_MAX_LEN];
  mkpath(zJ, "%s-journal", E->zDb);
  rm_rf(E->zDb);
  rm_rf(zJ);
  rm_rf(E->zVecs);
}

/* Bulk insert into a new database; seconds. */
static double step_insert(engine *E, int run){
  char zSql[256];
  sqlite3_stmt *st;
  const long n = E->n;
  const int dim = E->dim;
  if( E->db ){
    close_db(E->db);
    E->db = 0;
    remove_run(E);
  }
  mkpath(E->zDb, "%s/r%d.db", E->zDir, run);
  mkpath(E->zVecs, "%s/r%d.vecs", E->zDir, run);
  E->db = open_db(E->zDb, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE);
  if( E->eng==ENG_CVEC ){
    load_cvec(E->db);
    snprintf(zSql, sizeof(zSql),
             "CREATE VIRTUAL TABLE t USING cvec_segment(dir='r%d.vecs', "
             "dimension=%d)", run, dim);
  }else{
    snprintf(zSql, sizeof(zSql),
             "CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB)");
  }
  exec(E->db, zSql);
  st = prepare(E->db, "INSERT INTO t(id, vector) VALUES (?, ?)");
  double t0 = now();
  exec(E->db, "BEGIN");
  for(long id=1; id<=n; id++){
    check(E->db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
    check(E->db, sqlite3_bind_blob(st, 2, vector_of(id, dim), 4*dim,
                                   SQLITE_STATIC), SQLITE_OK, "bind vector");
    check(E->db, sqlite3_step(st), SQLITE_DONE, "INSERT INTO t");
    check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
  }
  exec(E->db, "COMMIT");
  double t = now() - t0;
  finalize(E->db, st);
  return t;
}

/* The metadata table (not timed); returns the number of 'en' rows. */
static long step_meta(engine *E){
  static const char *const azLang[] = { "de", "fr", "es", "ja", "zh", "pt" };
  uint64_t s = SEED ^ 0x6d657461u;
  long nEn = 0;
  sqlite3_stmt *st;
  exec(E->db, "CREATE TABLE meta(id INTEGER PRIMARY KEY, lang TEXT)");
  st = prepare(E->db, "INSERT INTO meta(id, lang) VALUES (?, ?)");
  exec(E->db, "BEGIN");
  for(long id=1; id<=E->n; id++){
    uint64_t x = rnd(&s);
    const char *zLang = x%10==0 ? "en" : azLang[(x/10)%6];
    nEn += x%10==0;
    check(E->db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
    check(E->db, sqlite3_bind_text(st, 2, zLang, -1, SQLITE_STATIC),
          SQLITE_OK, "bind lang");
    check(E->db, sqlite3_step(st), SQLITE_DONE, "INSERT INTO meta");
    check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
  }
  exec(E->db, "COMMIT");
  finalize(E->db, st);
  return nEn;
}

/* k lookups at random ids; seconds. */
static double step_lookups(engine *E, int run, long k, int inTxn){
  uint64_t s = lookup_seed(run);
  sqlite3_stmt *st = prepare(E->db, zLookup);
  double t0 = now();
  if( inTxn ) exec(E->db, "BEGIN");
  for(long i=0; i<k; i++){
    long id = 1 + (long)(rnd(&s) % (uint64_t)E->n);
    check(E->db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
    check(E->db, sqlite3_step(st), SQLITE_ROW, zLookup);
    check_blob(st, 0, id, E->dim);
    check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
  }
  if( inTxn ) exec(E->db, "COMMIT");
  double t = now() - t0;
  finalize(E->db, st);
  return t;
}

/* `inner` full scans; seconds per scan. */
static double step_scan(engine *E, long inner){
  double want = (double)E->n*(double)(E->n+1)/2;
  sqlite3_stmt *st = prepare(E->db, zScan);
  double t0 = now();
  for(long i=0; i<inner; i++){
    double sum = 0;
    long rows = 0;
    int rc;
    while( (rc = sqlite3_step(st))==SQLITE_ROW ){
      sum += check_blob(st, 0, 0, E->dim);
      rows++;
    }
    check(E->db, rc, SQLITE_DONE, zScan);
    check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
    if( rows!=E->n || sum!=want ){
      die("scan: %ld rows, sum of ids %.0f; expected %ld and %.0f",
          rows, sum, E->n, want);
    }
  }
  double t = (now() - t0) / (double)inner;
  finalize(E->db, st);
  return t;
}

/* `inner` joins; seconds per query, and the rows of one in *pRows. */
static double step_join(engine *E, long inner, long *pRows){
  sqlite3_stmt *st;
  int rc;
  if( E->plan[0]==0 ){
    char zSql[256];
    size_t len = 0;
    snprintf(zSql, sizeof(zSql), "EXPLAIN QUERY PLAN %s", zJoin);
    st = prepare(E->db, zSql);
    while( (rc = sqlite3_step(st))==SQLITE_ROW ){
      const unsigned char *z = sqlite3_column_text(st, 3);
      if( len < sizeof(E->plan) ){
        len += (size_t)snprintf(E->plan+len, sizeof(E->plan)-len, "%s%s",
                                len ? "\n" : "", z ? (const char*)z : "");
      }
    }
    check(E->db, rc, SQLITE_DONE, zSql);
    finalize(E->db, st);
  }
  st = prepare(E->db, zJoin);
  *pRows = -1;
  double t0 = now();
  for(long i=0; i<inner; i++){
    long rows = 0;
    while( (rc = sqlite3_step(st))==SQLITE_ROW ){
      check_blob(st, 0, 0, E->dim);
      rows++;
    }
    check(E->db, rc, SQLITE_DONE, zJoin);
    check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
    if( *pRows>=0 && rows!=*pRows ) die("join: %ld rows, then %ld", *pRows, rows);
    *pRows = rows;
  }
  double t = (now() - t0) / (double)inner;
  finalize(E->db, st);
  return t;
}

/* One lookup on a new connection: seconds to the first row, and seconds
** of the load (-1 for plain). */
static void step_fresh(engine *E, int run, reply *r){
  uint64_t s = SEED ^ (0x66726573u + (uint64_t)run*131u);
  long id = 1 + (long)(rnd(&s) % (uint64_t)E->n);
  sqlite3 *db;
  sqlite3_stmt *st;
  if( E->db ){
    close_db(E->db);
    E->db = 0;
  }
  double t0 = now();
  db = open_db(E->zDb, SQLITE_OPEN_READWRITE);
  double t1 = now();
  if( E->eng==ENG_CVEC ) load_cvec(db);
  double t2 = now();
  st = prepare(db, zLookup);
  check(db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
  check(db, sqlite3_step(st), SQLITE_ROW, zLookup);
  check_blob(st, 0, id, E->dim);
  double t3 = now();
  finalize(db, st);
  close_db(db);
  r->a = t3 - t0;
  r->b = E->eng==ENG_CVEC ? t2 - t1 : -1;
}

static void sample_anon(engine *E){
  double v = status_mib("RssAnon");
  if( v > E->anon ) E->anon = v;
}

static void child_main(int eng, const config *c, const char *zDir,
                       int fdCmd, int fdReply){
  engine E;
  memset(&E, 0, sizeof(E));
  E.eng = eng;
  E.n = c->n;
  E.dim = c->dim;
  E.zDir = zDir;
  make_dir(zDir);
  make_pool(c->dim);
  sample_anon(&E);
  for(;;){
    cmd k;
    reply r;
    memset(&r, 0, sizeof(r));
    if( !read_full(fdCmd, &k, sizeof(k)) ) die("lost the parent");
    switch( k.op ){
      case OP_INSERT:    r.a = step_insert(&E, k.run); break;
      case OP_META:      r.rows = step_meta(&E); break;
      case OP_LOOKUP_AC: r.a = step_lookups(&E, k.run, k.arg, 0); break;
      case OP_LOOKUP_TX: r.a = step_lookups(&E, k.run, k.arg, 1); break;
      case OP_SCAN:      r.a = step_scan(&E, k.arg); break;
      case OP_JOIN:      r.a = step_join(&E, k.arg, &r.rows); break;
      case OP_FRESH:     step_fresh(&E, k.run, &r); break;
      case OP_END: {
        final f;
        memset(&f, 0, sizeof(f));
        if( E.db ){ close_db(E.db); E.db = 0; }
        sample_anon(&E);
        f.anon_mib = E.anon;
        f.hwm_mib = status_mib("VmHWM");
        memcpy(f.plan, E.plan, sizeof(f.plan));
        if( !write_full(fdReply, &f, sizeof(f)) ) die("lost the parent");
        free(g_pool);
        free(g_vec);
        _exit(0);
      }
      default: die("unknown command %d", k.op);
    }
    sample_anon(&E);
    if( !write_full(fdReply, &r, sizeof(r)) ) die("lost the parent");
  }
}

/* ------------------------------------------------------------------------ */
/* The parent's side of a child                                              */
/* ------------------------------------------------------------------------ */

typedef struct child { int eng; pid_t pid; int fdCmd, fdReply; } child;

static void child_start(child *ch, int eng, const config *c,
                        const char *zDir, const child *aOther, int nOther){
  int fc[2], fr[2];
  pid_t pid;
  fflush(NULL);
  if( pipe(fc) || pipe(fr) ) die("pipe: %s", strerror(errno));
  pid = fork();
  if( pid<0 ) die("fork: %s", strerror(errno));
  if( pid==0 ){
    static char zWho[80];
    close(fc[1]);
    close(fr[0]);
    for(int i=0; i<nOther; i++){    /* the other child's pipes */
      close(aOther[i].fdCmd);
      close(aOther[i].fdReply);
    }
    snprintf(zWho, sizeof(zWho), "cvec_bench [%s, %ldx%d]", azEngine[eng],
             c->n, c->dim);
    g_who = zWho;
    child_main(eng, c, zDir, fc[0], fr[1]);
    _exit(0);
  }
  close(fc[0]);
  close(fr[1]);
  ch->eng = eng;
  ch->pid = pid;
  ch->fdCmd = fc[1];
  ch->fdReply = fr[0];
  g_child[eng] = pid;
}

/* The child died: say how, and give up. */
static _Noreturn void child_lost(child *ch){
  int status = 0;
  pid_t pid = ch->pid;
  g_child[ch->eng] = 0;
  while( waitpid(pid, &status, 0)<0 && errno==EINTR ){}
  if( WIFSIGNALED(status) ){
    die("the %s child died of signal %d", azEngine[ch->eng], WTERMSIG(status));
  }
  die("the %s child failed (its message is above)", azEngine[ch->eng]);
}

static reply child_do(child *ch, int op, int run, long arg){
  cmd k;
  reply r;
  memset(&k, 0, sizeof(k));
  k.op = op;
  k.run = run;
  k.arg = arg;
  if( !write_full(ch->fdCmd, &k, sizeof(k))
   || !read_full(ch->fdReply, &r, sizeof(r)) ){
    child_lost(ch);
  }
  return r;
}

static void child_end(child *ch, final *f){
  cmd k;
  int status = 0;
  memset(&k, 0, sizeof(k));
  k.op = OP_END;
  if( !write_full(ch->fdCmd, &k, sizeof(k))
   || !read_full(ch->fdReply, f, sizeof(*f)) ){
    child_lost(ch);
  }
  close(ch->fdCmd);
  close(ch->fdReply);
  while( waitpid(ch->pid, &status, 0)<0 && errno==EINTR ){}
  g_child[ch->eng] = 0;
  if( !WIFEXITED(status) || WEXITSTATUS(status)!=0 ){
    die("the %s child failed at its end", azEngine[ch->eng]);
  }
}

/* ------------------------------------------------------------------------ */
/* Raw disk rate                                                             */
/* ------------------------------------------------------------------------ */

/* One run: seconds to write N x (4+4D) bytes in 1 MiB chunks and fsync. */
static double raw_disk(const config *c, const char *zDir, unsigned char *buf){
  double total = (double)c->n * (4.0 + 4.0*c->dim);
  char zPath[PATH_MAX_LEN];
  mkpath(zPath, "%s/raw.bin", zDir);
  double t0 = now(), left = total;
  int fd = open(zPath, O_WRONLY|O_CREAT|O_TRUNC, 0666);
  if( fd<0 ) die("open %s: %s", zPath, strerror(errno));
  while( left>0 ){
    size_t want = left < CHUNK ? (size_t)left : CHUNK;
    ssize_t w = write(fd, buf, want);
    if( w<0 && errno==EINTR ) continue;
    if( w<=0 ) die("write %s: %s", zPath, strerror(errno));
    left -= (double)w;
  }
  if( fsync(fd) ) die("fsync %s: %s", zPath, strerror(errno));
  if( close(fd) ) die("close %s: %s", zPath, strerror(errno));
  double t = now() - t0;
  if( unlink(zPath) ) die("unlink %s: %s", zPath, strerror(errno));
  return t;
}

/* ------------------------------------------------------------------------ */
/* One configuration                                                         */
/* ------------------------------------------------------------------------ */

/* Timed phases; each has RUNS runs per engine (FRESH_RUNS for the last two) */
enum { PH_INSERT, PH_AC, PH_TX, PH_SCAN, PH_JOIN, PH_FRESH, PH_LOAD, N_PH };

typedef struct measured {
  int runs[N_PH];
  double t[N_PH][N_ENG][MAX_RUNS];   /* seconds, as the steps report them */
  double raw[RUNS];                  /* raw disk runs */
  long k_ac, k_tx, scan_inner, join_inner, join_rows;
  final fin[N_ENG];
} measured;

/* Engine of turn i (0 or 1) in run `run`: cvec first in even runs. */
static int turn(int run, int i){ return run%2==0 ? i : 1-i; }

static void measure(const config *c, const char *zCfg, measured *m){
  child ch[N_ENG];
  char zEng[PATH_MAX_LEN];
  long nEn[N_ENG] = { 0, 0 };
  unsigned char *buf;
  uint64_t s = SEED ^ 0x726177u;
  static const int aOp[N_PH] = { OP_INSERT, OP_LOOKUP_AC, OP_LOOKUP_TX,
                                 OP_SCAN, OP_JOIN, OP_FRESH, OP_FRESH };

  memset(m, 0, sizeof(*m));
  m->k_tx = g_k ? g_k : (c->n < 100000 ? c->n : 100000);
  m->k_ac = g_k_ac ? g_k_ac : m->k_tx;
  m->scan_inner = m->join_inner = c->n >= 1000000 ? 1 : 1000000 / c->n;

  for(int e=0; e<N_ENG; e++){
    mkpath(zEng, "%s/%s", zCfg, azEngine[e]);
    child_start(&ch[e], e, c, zEng, ch, e);
  }

  /* The raw disk runs go between the insert runs. */
  buf = malloc(CHUNK);
  if( buf==0 ) die("out of memory");
  for(size_t i=0; i<CHUNK; i+=8){
    uint64_t x = rnd(&s);
    memcpy(buf+i, &x, 8);
  }
  for(int ph=0; ph<N_PH; ph++){
    m->runs[ph] = ph>=PH_FRESH ? FRESH_RUNS : RUNS;
  }

  for(int ph=0; ph<N_PH; ph++){
    if( ph==PH_LOAD ) continue;    /* measured with PH_FRESH */
    progress(" %s%s", azOp[aOp[ph]],
             ph==PH_AC ? "(ac)" : ph==PH_TX ? "(txn)" : "");
    if( ph==PH_AC ){
      for(int e=0; e<N_ENG; e++) nEn[e] = child_do(&ch[e], OP_META, 0, 0).rows;
      if( nEn[0]!=nEn[1] ) die("meta: %ld and %ld 'en' rows", nEn[0], nEn[1]);
    }
    for(int run=0; run<m->runs[ph]; run++){
      long arg = ph==PH_AC ? m->k_ac : ph==PH_TX ? m->k_tx :
                 ph==PH_SCAN ? m->scan_inner : ph==PH_JOIN ? m->join_inner : 0;
      if( ph==PH_INSERT ) m->raw[run] = raw_disk(c, zCfg, buf);
      for(int i=0; i<N_ENG; i++){
        int e = turn(run, i);
        reply r = child_do(&ch[e], aOp[ph], run, arg);
        m->t[ph][e][run] = r.a;
        if( ph==PH_FRESH ) m->t[PH_LOAD][e][run] = r.b;
        if( ph==PH_JOIN ){
          if( m->join_rows && r.rows!=m->join_rows ){
            die("the join gave %ld rows, then %ld", m->join_rows, r.rows);
          }
          m->join_rows = r.rows;
        }
      }
    }
  }
  free(buf);
  if( m->join_rows!=nEn[0] ){
    die("the join gave %ld rows; meta has %ld 'en' rows", m->join_rows, nEn[0]);
  }
  for(int e=0; e<N_ENG; e++) child_end(&ch[e], &m->fin[e]);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

/* Rotating static buffers for the formatters below. */
static char *fmt_buf(void){
  static char aBuf[8][40];
  static int i = 0;
  return aBuf[i++ % 8];
}

/* An integer with thousands separators: 1,234,567 */
static const char *count(double v){
  char tmp[40], *z = fmt_buf();
  int len = snprintf(tmp, sizeof(tmp), "%.0f", v), o = 0;
  for(int j=0; j<len; j++){
    if( j>0 && tmp[j-1]!='-' && (len-j)%3==0 ) z[o++] = ',';
    z[o++] = tmp[j];
  }
  z[o] = 0;
  return z;
}

/* A number for a table cell: an integer with separators from 1000 up,
** three or four significant digits below; "-" for a missing (<0) value. */
static const char *num(double v){
  char *z;
  if( v<0 ) return "-";
  if( v>=999.5 ) return count(v);
  z = fmt_buf();
  if( v>=99.95 ) snprintf(z, 40, "%.1f", v);
  else if( v>=9.995 ) snprintf(z, 40, "%.2f", v);
  else snprintf(z, 40, "%.3f", v);
  return z;
}

#define N_FIG 10
static const char *const azFig[N_FIG] = {
  "bulk insert, one txn (vectors/s)",
  "  as % of raw write+fsync rate (%)",
  "lookup by id, autocommit (us/lookup)",
  "lookup by id, in one txn (us/lookup)",
  "full scan (rows/s)",
  "join with meta, 10% 'en' (ms/query)",
  "fresh connection to first row (us)",
  "  of which load_extension (us)",
  "peak RSS, VmHWM (MiB)",
  "peak RssAnon (MiB)",
};
/* 1: higher is better for cvec; 0: lower is better */
static const int aHigher[N_FIG] = { 1, 1, 0, 0, 1, 0, 0, 0, 0, 0 };
/* The phase behind each figure, -1 for the memory figures */
static const int aPhase[N_FIG] = {
  PH_INSERT, PH_INSERT, PH_AC, PH_TX, PH_SCAN, PH_JOIN, PH_FRESH, PH_LOAD,
  -1, -1
};

/* Figure f from a time t (seconds) of its phase; -1 when it has none. */
static double figure_of(const config *c, const measured *m, int f, double t){
  double raw = median(m->raw, RUNS);
  if( t<0 ) return -1;
  switch( f ){
    case 0: return (double)c->n / t;
    case 1: return 100.0 * raw / t;
    case 2: return 1e6 * t / (double)m->k_ac;
    case 3: return 1e6 * t / (double)m->k_tx;
    case 4: return (double)c->n / t;
    case 5: return 1e3 * t;
    case 6: return 1e6 * t;
    case 7: return 1e6 * t;
  }
  return -1;
}

static void print_plan(const char *zEng, const char *zPlan){
  const char *z = zPlan;
  printf("  %s:\n", zEng);
  while( *z ){
    const char *e = strchr(z, '\n');
    int len = e ? (int)(e-z) : (int)strlen(z);
    printf("    %.*s\n", len, z);
    z += len;
    if( *z ) z++;
  }
}

static void print_config(const config *c, const measured *m,
                         double ratio[N_FIG], double elapsed){
  double bytes = (double)c->n * (4.0 + 4.0*c->dim);
  double raw = median(m->raw, RUNS);

  printf("\n== N = %s vectors, dimension %d: %s MB of records "
         "(%d bytes each) ==\n\n", count((double)c->n), c->dim,
         num(bytes/1e6), 4+4*c->dim);
  double rawLo = m->raw[0], rawHi = m->raw[0];
  for(int run=1; run<RUNS; run++){
    if( m->raw[run]<rawLo ) rawLo = m->raw[run];
    if( m->raw[run]>rawHi ) rawHi = m->raw[run];
  }
  printf("raw disk, same directory: %s MB written in 1 MiB chunks + fsync: "
         "%s MB/s = %s vectors/s\n  (runs: %s to %s MB/s)\n\n",
         num(bytes/1e6), num(bytes/1e6/raw), num((double)c->n/raw),
         num(bytes/1e6/rawHi), num(bytes/1e6/rawLo));
  printf("%-38s | %12s | %12s | %10s | %s\n", "figure", "cvec", "plain",
         "cvec/plain", "paired runs");
  printf("---------------------------------------+--------------+"
         "--------------+------------+-------------\n");
  for(int f=0; f<N_FIG; f++){
    int ph = aPhase[f];
    double x, y;
    char zR[32], zRange[48];
    zRange[0] = 0;
    if( ph<0 ){
      x = f==8 ? m->fin[ENG_CVEC].hwm_mib : m->fin[ENG_CVEC].anon_mib;
      y = f==8 ? m->fin[ENG_PLAIN].hwm_mib : m->fin[ENG_PLAIN].anon_mib;
    }else{
      int n = m->runs[ph];
      double lo = 0, hi = 0;
      x = figure_of(c, m, f, median(m->t[ph][ENG_CVEC], n));
      y = figure_of(c, m, f, median(m->t[ph][ENG_PLAIN], n));
      for(int run=0; run<n; run++){
        double a = figure_of(c, m, f, m->t[ph][ENG_CVEC][run]);
        double b = figure_of(c, m, f, m->t[ph][ENG_PLAIN][run]);
        if( a<0 || b<=0 ){ lo = -1; break; }
        if( run==0 || a/b<lo ) lo = a/b;
        if( run==0 || a/b>hi ) hi = a/b;
      }
      if( lo>=0 ) snprintf(zRange, sizeof(zRange), "%.2f - %.2f", lo, hi);
    }
    ratio[f] = (x>=0 && y>0) ? x/y : -1;
    if( ratio[f]>=0 ) snprintf(zR, sizeof(zR), "%.2f", ratio[f]);
    else snprintf(zR, sizeof(zR), "-");
    printf("%-38s | %12s | %12s | %10s | %s\n", azFig[f], num(x), num(y), zR,
           zRange);
  }
  printf("\nmedians of %d runs (fresh connection: %d); per run: "
         "%s lookups (autocommit: %s), %s scan%s, %s join%s of %s rows\n",
         RUNS, FRESH_RUNS, count((double)m->k_tx), count((double)m->k_ac),
         count((double)m->scan_inner), m->scan_inner==1 ? "" : "s",
         count((double)m->join_inner), m->join_inner==1 ? "" : "s",
         count((double)m->join_rows));
  printf("EXPLAIN QUERY PLAN of the join:\n");
  print_plan("cvec", m->fin[ENG_CVEC].plan);
  print_plan("plain", m->fin[ENG_PLAIN].plan);
  printf("(configuration took %.0f s)\n", elapsed);
  fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

static const char *sync_name(const char *z){
  static const char *const az[] = { "OFF", "NORMAL", "FULL", "EXTRA" };
  return z[0]>='0' && z[0]<='3' && z[1]==0 ? az[z[0]-'0'] : "?";
}

static void usage(FILE *f){
  fprintf(f,
    "usage: cvec_bench --ext PATH [--dir DIR] [--quick] [--n LIST] [--dim LIST]\n"
    "                  [--k K] [--k-autocommit K]\n"
    "  --ext PATH   the cvec extension (e.g. .libs/cvec)\n"
    "  --dir DIR    scratch directory (default: new one under $TMPDIR or /tmp)\n"
    "  --quick      only 10k x 128 and 100k x 128\n"
    "  --n LIST     vector counts, e.g. 10k,100k,1M (with --dim: every pair)\n"
    "  --dim LIST   dimensions, e.g. 128,384\n"
    "  --k K        lookups per run (default min(N, 100000))\n"
    "  --k-autocommit K  lookups per run in autocommit (default as --k)\n");
}

/* "10k", "1M", "100000" */
static long parse_count(const char *z, const char *zOpt){
  char *e;
  errno = 0;
  double v = strtod(z, &e);
  if( e==z || errno ) die("%s: bad number '%s'", zOpt, z);
  if( *e=='k' || *e=='K' ){ v *= 1e3; e++; }
  else if( *e=='m' || *e=='M' ){ v *= 1e6; e++; }
  if( *e!=0 || v<1 || v>1e12 || v!=(double)(long)v ){
    die("%s: bad number '%s'", zOpt, z);
  }
  return (long)v;
}

static int parse_list(const char *z, const char *zOpt, long *a, int nMax){
  char buf[256];
  int n = 0;
  snprintf(buf, sizeof(buf), "%s", z);
  for(char *p = strtok(buf, ","); p; p = strtok(0, ",")){
    if( n>=nMax ) die("%s: too many values", zOpt);
    a[n++] = parse_count(p, zOpt);
  }
  if( n==0 ) die("%s: no values", zOpt);
  return n;
}

static void print_header(int argc, char **argv){
  char zCvecVer[64], zJournal[32], zSync[32], zPage[32], zCache[32];
  char zProbe[PATH_MAX_LEN], zDate[64];
  sqlite3 *db;
  time_t tt = time(0);
  struct utsname u;

  /* What the extension and this SQLite say about themselves. */
  mkpath(zProbe, "%s/probe.db", g_root);
  db = open_db(zProbe, SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE);
  load_cvec(db);
  query_text(db, "SELECT cvec_version()", zCvecVer, sizeof(zCvecVer));
  query_text(db, "PRAGMA journal_mode", zJournal, sizeof(zJournal));
  query_text(db, "PRAGMA synchronous", zSync, sizeof(zSync));
  query_text(db, "PRAGMA page_size", zPage, sizeof(zPage));
  query_text(db, "PRAGMA cache_size", zCache, sizeof(zCache));
  close_db(db);
  rm_rf(zProbe);

  strftime(zDate, sizeof(zDate), "%Y-%m-%d %H:%M:%S UTC", gmtime(&tt));
  printf("cvec_bench: cvec_segment beside a plain SQLite table\n\n");
  printf("date:      %s\n", zDate);
  printf("command:  ");
  for(int i=0; i<argc; i++) printf(" %s", argv[i]);
  printf("\n");
  printf("SQLite:    %s (%s)\n", sqlite3_libversion(), sqlite3_sourceid());
  printf("cvec:      %s, loaded from %s\n", zCvecVer, g_ext);
  if( uname(&u)==0 ){
    printf("machine:   %s %s %s, %ld CPUs online, %.1f GiB RAM\n",
           u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN),
           (double)sysconf(_SC_PHYS_PAGES)*(double)sysconf(_SC_PAGESIZE)
             / (1024.0*1024*1024));
  }
  printf("scratch:   %s\n", g_root);
  printf("plain:     CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB), "
         "SQLite defaults:\n"
         "           journal_mode=%s (rollback journal), synchronous=%s "
         "(%s),\n           page_size=%s, cache_size=%s (KiB when negative)\n",
         zJournal, zSync, sync_name(zSync), zPage, zCache);
  printf("cvec:      CREATE VIRTUAL TABLE t USING cvec_segment(dir=..., "
         "dimension=D),\n           default sync=full; its database "
         "(meta) has the same SQLite defaults\n");
  printf("data:      ids 1..N inserted in order, D random float32 each "
         "(fixed seed);\n           lookups at random ids; meta(id, lang) "
         "has N rows, ~10%% lang='en',\n           no index on lang, "
         "no ANALYZE\n");
  printf("method:    each engine runs in its own child process (for its "
         "memory\n           figures); the runs of the two alternate "
         "(cvec first, then plain\n           first); files are in the OS "
         "page cache (warm); a configuration's\n           files are "
         "deleted after it\n");
  printf("reading:   cvec/plain > 1 means cvec is faster for rates (/s, %%) "
         "and slower\n           or bigger for times and memory; 'paired "
         "runs' is the range of\n           the ratios of runs made back "
         "to back\n");
  fflush(stdout);
}

int main(int argc, char **argv){
  static const config aDefault[] = {
    { 10000, 128 }, { 100000, 128 }, { 1000000, 128 },
    { 100000, 384 }, { 100000, 768 },
  };
  static double aRatio[MAX_CONFIGS][N_FIG];
  static measured m;
  config aCfg[MAX_CONFIGS];
  int nCfg = 0;
  long aN[16], aDim[16];
  int nN = 0, nDim = 0, quick = 0;
  const char *zDirOpt = 0;
  double tStart = now();

  g_parent = getpid();
  signal(SIGPIPE, SIG_IGN);   /* a dead child shows as a short read/write */
  {
    uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    if( b!=1 ) die("this benchmark assumes a little-endian host");
  }

  for(int i=1; i<argc; i++){
    const char *z = argv[i];
    const char *zVal = i+1<argc ? argv[i+1] : 0;
    if( strcmp(z, "--help")==0 || strcmp(z, "-h")==0 ){
      usage(stdout);
      return 0;
    }else if( strcmp(z, "--quick")==0 ){
      quick = 1;
      continue;
    }
    if( zVal==0 ){ usage(stderr); die("%s: needs a value (or is unknown)", z); }
    i++;
    if( strcmp(z, "--ext")==0 ){
      g_ext = zVal;
    }else if( strcmp(z, "--dir")==0 ){
      zDirOpt = zVal;
    }else if( strcmp(z, "--n")==0 ){
      nN = parse_list(zVal, z, aN, 16);
    }else if( strcmp(z, "--dim")==0 ){
      nDim = parse_list(zVal, z, aDim, 16);
    }else if( strcmp(z, "--k")==0 ){
      g_k = parse_count(zVal, z);
    }else if( strcmp(z, "--k-autocommit")==0 ){
      g_k_ac = parse_count(zVal, z);
    }else{
      usage(stderr);
      die("unknown option %s", z);
    }
  }
  if( g_ext==0 ){ usage(stderr); die("--ext is required"); }

  if( nN || nDim ){
    if( quick ) die("--quick and --n/--dim exclude each other");
    if( nN==0 ){ aN[0] = 100000; nN = 1; }
    if( nDim==0 ){ aDim[0] = 128; nDim = 1; }
    for(int i=0; i<nN; i++){
      for(int j=0; j<nDim; j++){
        if( aN[i]>MAX_N ) die("--n: at most %ld", MAX_N);
        if( aDim[j]>MAX_DIM ) die("--dim: at most %d", MAX_DIM);
        if( nCfg>=MAX_CONFIGS ) die("too many configurations");
        aCfg[nCfg].n = aN[i];
        aCfg[nCfg].dim = (int)aDim[j];
        nCfg++;
      }
    }
  }else{
    int nDef = quick ? 2 : (int)(sizeof(aDefault)/sizeof(aDefault[0]));
    for(int i=0; i<nDef; i++) aCfg[nCfg++] = aDefault[i];
  }

  /* Scratch directory */
  if( zDirOpt ){
    struct stat st;
    mkpath(g_root, "%s", zDirOpt);
    if( stat(g_root, &st)==0 ){
      if( !S_ISDIR(st.st_mode) ) die("--dir %s: not a directory", g_root);
    }else{
      make_dir(g_root);
      g_ownRoot = 1;
    }
  }else{
    const char *zTmp = getenv("TMPDIR");
    if( zTmp==0 || zTmp[0]==0 ) zTmp = "/tmp";
    mkpath(g_root, "%s/cvec_bench.XXXXXX", zTmp);
    if( mkdtemp(g_root)==0 ) die("mkdtemp %s: %s", g_root, strerror(errno));
    g_ownRoot = 1;
  }
  g_progress = isatty(2);

  print_header(argc, argv);

  for(int ci=0; ci<nCfg; ci++){
    const config *c = &aCfg[ci];
    double t0 = now();
    mkpath(g_cfgDir, "%s/n%ld-d%d", g_root, c->n, c->dim);
    make_dir(g_cfgDir);
    progress("[%ld x %d]", c->n, c->dim);
    measure(c, g_cfgDir, &m);
    progress(" done\n");
    rm_rf(g_cfgDir);
    g_cfgDir[0] = 0;
    print_config(c, &m, aRatio[ci], now()-t0);
  }

  /* Summary: the ratios of every configuration side by side. */
  printf("\n== summary: cvec/plain ==\n\n");
  printf("%-38s |", "figure");
  for(int ci=0; ci<nCfg; ci++){
    char zN[24], z[40];
    long n = aCfg[ci].n;
    if( n>=1000000 && n%1000000==0 ) snprintf(zN, sizeof(zN), "%ldM", n/1000000);
    else if( n>=1000 && n%1000==0 ) snprintf(zN, sizeof(zN), "%ldk", n/1000);
    else snprintf(zN, sizeof(zN), "%ld", n);
    snprintf(z, sizeof(z), "%s x %d", zN, aCfg[ci].dim);
    printf(" %11s |", z);
  }
  printf(" better\n");
  for(int f=0; f<N_FIG; f++){
    if( f==7 ) continue;   /* load_extension: cvec only */
    printf("%-38s |", azFig[f]);
    for(int ci=0; ci<nCfg; ci++){
      if( aRatio[ci][f]>=0 ) printf(" %11.2f |", aRatio[ci][f]);
      else printf(" %11s |", "-");
    }
    printf(" %s\n", aHigher[f] ? "higher" : "lower");
  }
  printf("\n('better': the direction that favours cvec; higher for rates, "
         "lower for times and memory)\n");
  printf("total time: %.0f s\n", now() - tStart);

  if( g_ownRoot ) rm_rf(g_root);
  return 0;
}
