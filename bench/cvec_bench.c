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
**          synchronous=FULL, cache_size=-2000 (2 MB); the header of the
**          output prints the values this SQLite actually uses.
**
** Both tables hold ids 1..N, inserted in order; every vector is D float32
** (little-endian, the blob format cvec expects).  The vectors come from a
** fixed-seed PRNG: a pool of 1024 random vectors with values in [-1, 1), and
** the vector of id i is pool[(i-1) % 1024] with its first element set to i,
** so that every read can be checked (first float == id).
**
** Figures, each for cvec and plain, and the ratio cvec/plain:
**
**   1. bulk insert of N vectors in one transaction (BEGIN, one prepared
**      INSERT binding an id and a BLOB per row, COMMIT; the COMMIT and its
**      fsyncs are inside the time), in vectors/s.  Each run writes a new
**      database (and a new segment directory); median of 5 runs up to
**      64 MiB of vectors, of 3 above.
**   2. point lookups by random id, SELECT vector FROM t WHERE id = ?, reading
**      the blob with sqlite3_column_blob: K = min(N, 100000) lookups
**      (a) each in its own autocommit statement, (b) all inside one
**      BEGIN ... COMMIT; in microseconds per lookup.  Median of 3 runs (5
**      when K < 100000), each run with its own random ids.
**   3. full scan, SELECT vector FROM t, adding up the first float of every
**      blob, in rows/s.  A run repeats the scan max(1, 1e6/N) times; median
**      of 5 runs.
**   4. join with metadata: meta(id INTEGER PRIMARY KEY, lang TEXT) holds N
**      rows, about 10% of them (chosen by the PRNG) with lang = 'en'; no
**      index on lang and no ANALYZE, the common case:
**        SELECT v.vector FROM meta m JOIN t v ON v.id = m.id
**         WHERE m.lang = 'en'
**      in milliseconds per query (all rows stepped, every blob touched).
**      EXPLAIN QUERY PLAN is printed for both engines.  Repeats and medians
**      as for the scan.
**   5. first lookup on a fresh connection: the time from sqlite3_open_v2,
**      through (cvec only) sqlite3_enable_load_extension and
**      sqlite3_load_extension, to the first row of one lookup by id;
**      the load is also reported alone.  Median of 20.  The files are in
**      the OS page cache (they were just written and read): this is a warm
**      open, not a cold one from disk.  For cvec it includes opening the
**      segment, which builds the id index.
**   6. the raw sequential write rate of the disk in the same directory:
**      N x (4 + 4D) bytes (the size of the segment's records) written in
**      1 MiB chunks, then fsync, in MB/s and vectors/s; each engine's bulk
**      insert is also shown as a % of it.  Median of 5 or 3 runs as for 1.
**   7. memory: each engine's measurements for a configuration run in a
**      forked child process, which reports VmHWM (peak resident set) and
**      the largest RssAnon (private, anonymous memory; sampled after each
**      phase) from /proc/self/status.  VmHWM counts the pages of cvec's
**      memory-mapped segment file that the process touched: they are page
**      cache, shared and reclaimable, not heap; RssAnon is the heap.
**
** Configurations: N = 10k, 100k and 1M at dimension 128, and N = 100k at
** dimension 384 and 768.  The files of a configuration are deleted after
** it (1M x 128 is about 0.5 GB per engine).  On a 2-core machine the whole
** default run takes about 6-7 minutes.
**
** Absolute times are noisy on a shared machine; the ratios are what the
** benchmark is for.
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
**                   $TMPDIR or /tmp).  Created if missing, and then
**                   removed at the end; if it exists, only what the
**                   benchmark puts in it is removed.
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
** it is a terminal.  Every SQLite call is checked: on an error the program
** prints it and exits with status 1.  The program assumes a little-endian
** host (the segment blob format) and says so if it is not.
*/
#define _XOPEN_SOURCE 700

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#define FRESH_RUNS    20
#define MAX_RUNS      FRESH_RUNS
#define CHUNK         (1u<<20)      /* raw disk test: 1 MiB writes */
#define MAX_N         16000000L     /* first float == id stays exact */
#define MAX_DIM       65536

enum { ENG_CVEC, ENG_PLAIN, N_ENG };
static const char *const azEngine[N_ENG] = { "cvec", "plain" };

typedef struct config { long n; int dim; } config;

/* What a child reports to the parent (plain data, through a pipe). */
typedef struct result {
  int insert_runs;  double insert_s;   /* seconds for N rows, incl. COMMIT */
  long k_ac;  int ac_runs;  double ac_s;    /* seconds for k_ac lookups */
  long k_tx;  int tx_runs;  double tx_s;    /* seconds for k_tx lookups */
  int scan_runs, scan_inner;  double scan_s;  /* seconds per scan */
  int join_runs, join_inner;  double join_s;  /* seconds per query */
  long join_rows;
  int fresh_runs;  double fresh_s, load_s;
  double hwm_mib, anon_mib;
  char plan[1024];
} result;

typedef struct raw_result { int runs; double s; } raw_result;

/* Options */
static const char *g_ext = 0;
static long g_k = 0;
static long g_k_ac = 0;
static int g_progress = 0;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static const char *g_who = "cvec_bench";   /* prefix of error messages */

static void die(const char *zFmt, ...){
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s: ", g_who);
  va_start(ap, zFmt);
  vfprintf(stderr, zFmt, ap);
  va_end(ap);
  fputc('\n', stderr);
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
#define PATH_MAX_LEN 4096
static void mkpath(char *zOut, const char *zFmt, ...){
  va_list ap;
  int n;
  va_start(ap, zFmt);
  n = vsnprintf(zOut, PATH_MAX_LEN, zFmt, ap);
  va_end(ap);
  if( n<0 || n>=PATH_MAX_LEN ) die("path too long: %s...", zOut);
}

/* kB value of a "Name:   1234 kB" line of /proc/self/status, in MiB. */
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

/* Runs of a measurement of `bytes` of vectors (bulk insert, raw disk). */
static int write_runs(long n, int dim){
  double bytes = (double)n * (4.0 + 4.0*dim);
  return bytes <= 64.0*1024*1024 ? 5 : 3;
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

static sqlite3 *open_db(const char *zPath, int eng){
  sqlite3 *db = 0;
  int rc = sqlite3_open_v2(zPath, &db,
                           SQLITE_OPEN_READWRITE|SQLITE_OPEN_CREATE, 0);
  if( rc!=SQLITE_OK ){
    die("sqlite3_open_v2(%s): %s", zPath,
        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  }
  if( eng==ENG_CVEC ) load_cvec(db);
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

/* Check a blob read back for id (or for any id when id is 0); returns its
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

/* ------------------------------------------------------------------------ */
/* One engine, one configuration (runs in a child process)                   */
/* ------------------------------------------------------------------------ */

static void sample_anon(double *pPeak){
  double v = status_mib("RssAnon");
  if( v > *pPeak ) *pPeak = v;
}

/* K random lookups; returns seconds. */
static double lookups(sqlite3 *db, sqlite3_stmt *st, long n, int dim, long k,
                      int inTxn, int run){
  uint64_t s = SEED ^ (0x1000u + (uint64_t)run*7919u);
  double t0 = now();
  if( inTxn ) exec(db, "BEGIN");
  for(long i=0; i<k; i++){
    long id = 1 + (long)(rnd(&s) % (uint64_t)n);
    check(db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
    check(db, sqlite3_step(st), SQLITE_ROW, zLookup);
    check_blob(st, 0, id, dim);
    check(db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
  }
  if( inTxn ) exec(db, "COMMIT");
  return now() - t0;
}

static void run_engine(int eng, const config *c, const char *zDir, result *r){
  const long n = c->n;
  const int dim = c->dim;
  char zDb[PATH_MAX_LEN], zVecs[PATH_MAX_LEN], zSql[512];
  double anon = 0, t[MAX_RUNS], t2[MAX_RUNS];
  sqlite3 *db = 0;
  sqlite3_stmt *st;
  uint64_t s;

  memset(r, 0, sizeof(*r));
  make_pool(dim);
  sample_anon(&anon);

  /* 1. Bulk insert, into a new database each run; the last one stays. */
  r->insert_runs = write_runs(n, dim);
  for(int run=0; run<r->insert_runs; run++){
    mkpath(zDb, "%s/r%d.db", zDir, run);
    mkpath(zVecs, "%s/r%d.vecs", zDir, run);
    db = open_db(zDb, eng);
    if( eng==ENG_CVEC ){
      snprintf(zSql, sizeof(zSql),
               "CREATE VIRTUAL TABLE t USING cvec_segment(dir='r%d.vecs', "
               "dimension=%d)", run, dim);
    }else{
      snprintf(zSql, sizeof(zSql),
               "CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB)");
    }
    exec(db, zSql);
    st = prepare(db, "INSERT INTO t(id, vector) VALUES (?, ?)");
    progress(" insert%d", run+1);
    double t0 = now();
    exec(db, "BEGIN");
    for(long id=1; id<=n; id++){
      check(db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
      check(db, sqlite3_bind_blob(st, 2, vector_of(id, dim), 4*dim,
                                  SQLITE_STATIC), SQLITE_OK, "bind vector");
      check(db, sqlite3_step(st), SQLITE_DONE, "INSERT INTO t");
      check(db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
    }
    exec(db, "COMMIT");
    t[run] = now() - t0;
    finalize(db, st);
    sample_anon(&anon);
    if( run+1 < r->insert_runs ){
      close_db(db);
      char zJ[PATH_MAX_LEN];
      mkpath(zJ, "%s-journal", zDb);
      rm_rf(zDb); rm_rf(zJ); rm_rf(zVecs);
    }
  }
  r->insert_s = median(t, r->insert_runs);

  /* The metadata table (not timed). */
  exec(db, "CREATE TABLE meta(id INTEGER PRIMARY KEY, lang TEXT)");
  {
    static const char *const azLang[] = { "de", "fr", "es", "ja", "zh", "pt" };
    s = SEED ^ 0x6d657461u;
    st = prepare(db, "INSERT INTO meta(id, lang) VALUES (?, ?)");
    exec(db, "BEGIN");
    for(long id=1; id<=n; id++){
      uint64_t x = rnd(&s);
      const char *zLang = x%10==0 ? "en" : azLang[(x/10)%6];
      check(db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
      check(db, sqlite3_bind_text(st, 2, zLang, -1, SQLITE_STATIC),
            SQLITE_OK, "bind lang");
      check(db, sqlite3_step(st), SQLITE_DONE, "INSERT INTO meta");
      check(db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
    }
    exec(db, "COMMIT");
    finalize(db, st);
  }
  sample_anon(&anon);

  /* 2. Lookups by id. */
  {
    long k = g_k ? g_k : (n < 100000 ? n : 100000);
    r->k_tx = k;
    r->k_ac = g_k_ac ? g_k_ac : k;
    int runs = k < 100000 ? 5 : 3;
    st = prepare(db, zLookup);
    progress(" lookups");
    r->ac_runs = runs;
    for(int run=0; run<runs; run++){
      t[run] = lookups(db, st, n, dim, r->k_ac, 0, run);
    }
    r->ac_s = median(t, runs);
    r->tx_runs = runs;
    for(int run=0; run<runs; run++){
      t[run] = lookups(db, st, n, dim, r->k_tx, 1, run);
    }
    r->tx_s = median(t, runs);
    finalize(db, st);
  }
  sample_anon(&anon);

  /* 3. Full scan. */
  {
    int inner = n >= 1000000 ? 1 : (int)(1000000 / n);
    double want = (double)n*(double)(n+1)/2;
    r->scan_runs = 5;
    r->scan_inner = inner;
    st = prepare(db, zScan);
    progress(" scan");
    for(int run=0; run<r->scan_runs; run++){
      double t0 = now();
      for(int i=0; i<inner; i++){
        double sum = 0;
        long rows = 0;
        int rc;
        while( (rc = sqlite3_step(st))==SQLITE_ROW ){
          sum += check_blob(st, 0, 0, dim);
          rows++;
        }
        check(db, rc, SQLITE_DONE, zScan);
        check(db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
        if( rows!=n || sum!=want ){
          die("scan: %ld rows, sum of ids %.0f; expected %ld and %.0f",
              rows, sum, n, want);
        }
      }
      t[run] = (now() - t0) / inner;
    }
    r->scan_s = median(t, r->scan_runs);
    finalize(db, st);
  }
  sample_anon(&anon);

  /* 4. Join with the metadata table. */
  {
    int inner = n >= 1000000 ? 1 : (int)(1000000 / n);
    size_t len = 0;
    snprintf(zSql, sizeof(zSql), "EXPLAIN QUERY PLAN %s", zJoin);
    st = prepare(db, zSql);
    int rc;
    while( (rc = sqlite3_step(st))==SQLITE_ROW ){
      const unsigned char *z = sqlite3_column_text(st, 3);
      if( len < sizeof(r->plan) ){
        len += (size_t)snprintf(r->plan+len, sizeof(r->plan)-len, "%s%s",
                                len ? "\n" : "", z ? (const char*)z : "");
      }
    }
    check(db, rc, SQLITE_DONE, zSql);
    finalize(db, st);

    r->join_runs = 5;
    r->join_inner = inner;
    st = prepare(db, zJoin);
    progress(" join");
    for(int run=0; run<r->join_runs; run++){
      double t0 = now();
      for(int i=0; i<inner; i++){
        long rows = 0;
        while( (rc = sqlite3_step(st))==SQLITE_ROW ){
          check_blob(st, 0, 0, dim);
          rows++;
        }
        check(db, rc, SQLITE_DONE, zJoin);
        check(db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
        if( r->join_rows==0 ) r->join_rows = rows;
        if( rows!=r->join_rows || rows==0 ){
          die("join: %ld rows, then %ld", r->join_rows, rows);
        }
      }
      t[run] = (now() - t0) / inner;
    }
    r->join_s = median(t, r->join_runs);
    finalize(db, st);
  }
  sample_anon(&anon);
  close_db(db);
  db = 0;

  /* 5. First lookup on a fresh connection. */
  progress(" fresh");
  s = SEED ^ 0x66726573u;
  r->fresh_runs = FRESH_RUNS;
  for(int run=0; run<FRESH_RUNS; run++){
    long id = 1 + (long)(rnd(&s) % (uint64_t)n);
    double t0 = now(), t1;
    int rc = sqlite3_open_v2(zDb, &db, SQLITE_OPEN_READWRITE, 0);
    if( rc!=SQLITE_OK ){
      die("sqlite3_open_v2(%s): %s", zDb,
          db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    t1 = now();
    if( eng==ENG_CVEC ) load_cvec(db);
    t2[run] = now() - t1;
    st = prepare(db, zLookup);
    check(db, sqlite3_bind_int64(st, 1, id), SQLITE_OK, "bind id");
    check(db, sqlite3_step(st), SQLITE_ROW, zLookup);
    check_blob(st, 0, id, dim);
    t[run] = now() - t0;
    finalize(db, st);
    close_db(db);
    db = 0;
  }
  r->fresh_s = median(t, FRESH_RUNS);
  r->load_s = eng==ENG_CVEC ? median(t2, FRESH_RUNS) : -1;
  sample_anon(&anon);

  r->anon_mib = anon;
  r->hwm_mib = status_mib("VmHWM");
  free(g_pool);
  free(g_vec);
}

/* Fork, run one engine in the child, collect its result. */
static void run_child(int eng, const config *c, const char *zDir, result *r){
  int fd[2];
  pid_t pid;
  int status;

  fflush(NULL);
  if( pipe(fd) ) die("pipe: %s", strerror(errno));
  pid = fork();
  if( pid<0 ) die("fork: %s", strerror(errno));
  if( pid==0 ){
    static char zWho[64];
    result res;
    const char *p = (const char*)&res;
    size_t left = sizeof(res);
    close(fd[0]);
    snprintf(zWho, sizeof(zWho), "cvec_bench [%s %ldx%d]", azEngine[eng],
             c->n, c->dim);
    g_who = zWho;
    make_dir(zDir);
    run_engine(eng, c, zDir, &res);
    while( left>0 ){
      ssize_t w = write(fd[1], p, left);
      if( w<0 && errno==EINTR ) continue;
      if( w<=0 ) die("write to parent: %s", strerror(errno));
      p += w;
      left -= (size_t)w;
    }
    close(fd[1]);
    fflush(NULL);
    _exit(0);
  }
  close(fd[1]);
  {
    char *p = (char*)r;
    size_t got = 0;
    while( got<sizeof(*r) ){
      ssize_t n = read(fd[0], p+got, sizeof(*r)-got);
      if( n<0 && errno==EINTR ) continue;
      if( n<=0 ) break;
      got += (size_t)n;
    }
    close(fd[0]);
    while( waitpid(pid, &status, 0)<0 ){
      if( errno!=EINTR ) die("waitpid: %s", strerror(errno));
    }
    if( !WIFEXITED(status) || WEXITSTATUS(status)!=0 || got!=sizeof(*r) ){
      rm_rf(zDir);
      if( WIFSIGNALED(status) ){
        die("the %s child died of signal %d", azEngine[eng], WTERMSIG(status));
      }
      die("the %s child failed", azEngine[eng]);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Raw disk rate                                                             */
/* ------------------------------------------------------------------------ */

static void raw_disk(const config *c, const char *zDir, raw_result *r){
  double total = (double)c->n * (4.0 + 4.0*c->dim);
  char zPath[PATH_MAX_LEN];
  double t[MAX_RUNS];
  unsigned char *buf = malloc(CHUNK);
  uint64_t s = SEED ^ 0x726177u;
  if( buf==0 ) die("out of memory");
  for(size_t i=0; i<CHUNK; i+=8){
    uint64_t x = rnd(&s);
    memcpy(buf+i, &x, 8);
  }
  mkpath(zPath, "%s/raw.bin", zDir);
  r->runs = write_runs(c->n, c->dim);
  for(int run=0; run<r->runs; run++){
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
    t[run] = now() - t0;
    unlink(zPath);
  }
  r->s = median(t, r->runs);
  free(buf);
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

static void figures(const config *c, const result *r, const raw_result *raw,
                    double *a){
  double raw_vps = (double)c->n / raw->s;
  a[0] = (double)c->n / r->insert_s;
  a[1] = 100.0 * a[0] / raw_vps;
  a[2] = 1e6 * r->ac_s / (double)r->k_ac;
  a[3] = 1e6 * r->tx_s / (double)r->k_tx;
  a[4] = (double)c->n / r->scan_s;
  a[5] = 1e3 * r->join_s;
  a[6] = 1e6 * r->fresh_s;
  a[7] = r->load_s >= 0 ? 1e6 * r->load_s : -1;
  a[8] = r->hwm_mib;
  a[9] = r->anon_mib;
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

static void print_config(const config *c, const result *r, const raw_result *raw,
                         double ratio[N_FIG], double elapsed){
  double a[N_ENG][N_FIG];
  double bytes = (double)c->n * (4.0 + 4.0*c->dim);
  figures(c, &r[ENG_CVEC], raw, a[ENG_CVEC]);
  figures(c, &r[ENG_PLAIN], raw, a[ENG_PLAIN]);

  printf("\n== N = %s vectors, dimension %d: %s MB of records "
         "(%d bytes each) ==\n\n", count((double)c->n), c->dim,
         num(bytes/1e6), 4+4*c->dim);
  printf("raw disk, same directory: %s MB written in 1 MiB chunks + fsync: "
         "%s MB/s = %s vectors/s (median of %d)\n\n",
         num(bytes/1e6), num(bytes/1e6/raw->s), num((double)c->n/raw->s),
         raw->runs);
  printf("%-38s | %12s | %12s | %10s\n", "figure", "cvec", "plain",
         "cvec/plain");
  printf("---------------------------------------+--------------+"
         "--------------+-----------\n");
  for(int f=0; f<N_FIG; f++){
    double x = a[ENG_CVEC][f], y = a[ENG_PLAIN][f];
    ratio[f] = (x>=0 && y>0) ? x/y : -1;
    char zR[32];
    if( ratio[f]>=0 ) snprintf(zR, sizeof(zR), "%.2f", ratio[f]);
    else snprintf(zR, sizeof(zR), "-");
    printf("%-38s | %12s | %12s | %10s\n", azFig[f], num(x), num(y), zR);
  }
  printf("\nruns (median of): insert %d; lookups %d x %s (autocommit %s); "
         "scan %d (x%d each); join %d (x%d each), %s rows per query; "
         "fresh connection %d\n",
         r[0].insert_runs, r[0].tx_runs, count((double)r[0].k_tx),
         count((double)r[0].k_ac), r[0].scan_runs, r[0].scan_inner,
         r[0].join_runs, r[0].join_inner, count((double)r[0].join_rows),
         r[0].fresh_runs);
  if( r[ENG_CVEC].join_rows!=r[ENG_PLAIN].join_rows ){
    die("the join returned %ld rows on cvec, %ld on plain",
        r[ENG_CVEC].join_rows, r[ENG_PLAIN].join_rows);
  }
  printf("EXPLAIN QUERY PLAN of the join:\n");
  print_plan("cvec", r[ENG_CVEC].plan);
  print_plan("plain", r[ENG_PLAIN].plan);
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

int main(int argc, char **argv){
  static const config aDefault[] = {
    { 10000, 128 }, { 100000, 128 }, { 1000000, 128 },
    { 100000, 384 }, { 100000, 768 },
  };
  config aCfg[MAX_CONFIGS];
  int nCfg = 0;
  long aN[16], aDim[16];
  int nN = 0, nDim = 0, quick = 0;
  const char *zDirOpt = 0;
  char zRoot[PATH_MAX_LEN];
  int ownRoot = 0;
  double tStart = now();

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
    mkpath(zRoot, "%s", zDirOpt);
    if( stat(zRoot, &st)==0 ){
      if( !S_ISDIR(st.st_mode) ) die("--dir %s: not a directory", zRoot);
    }else{
      make_dir(zRoot);
      ownRoot = 1;
    }
  }else{
    const char *zTmp = getenv("TMPDIR");
    if( zTmp==0 || zTmp[0]==0 ) zTmp = "/tmp";
    mkpath(zRoot, "%s/cvec_bench.XXXXXX", zTmp);
    if( mkdtemp(zRoot)==0 ) die("mkdtemp %s: %s", zRoot, strerror(errno));
    ownRoot = 1;
  }
  g_progress = isatty(2);

  /* Header: versions, settings, machine. */
  char zCvecVer[64], zJournal[32], zSync[32], zPage[32], zCache[32];
  {
    char zProbe[PATH_MAX_LEN];
    sqlite3 *db;
    mkpath(zProbe, "%s/probe.db", zRoot);
    db = open_db(zProbe, ENG_CVEC);
    query_text(db, "SELECT cvec_version()", zCvecVer, sizeof(zCvecVer));
    query_text(db, "PRAGMA journal_mode", zJournal, sizeof(zJournal));
    query_text(db, "PRAGMA synchronous", zSync, sizeof(zSync));
    query_text(db, "PRAGMA page_size", zPage, sizeof(zPage));
    query_text(db, "PRAGMA cache_size", zCache, sizeof(zCache));
    close_db(db);
    rm_rf(zProbe);
  }
  {
    time_t tt = time(0);
    char zDate[64];
    struct utsname u;
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
    printf("scratch:   %s\n", zRoot);
    printf("plain:     CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB), "
           "SQLite defaults:\n"
           "           journal_mode=%s (rollback journal), synchronous=%s "
           "(%s),\n           page_size=%s, cache_size=%s (KiB when negative)\n",
           zJournal, zSync, sync_name(zSync), zPage, zCache);
    printf("cvec:      CREATE VIRTUAL TABLE t USING cvec_segment(dir=..., "
           "dimension=D),\n           default sync=full; its database has the "
           "same SQLite defaults\n");
    printf("data:      ids 1..N inserted in order, D random float32 each "
           "(fixed seed);\n           lookups at random ids; meta(id, lang) "
           "has N rows, ~10%% lang='en',\n           no index on lang, "
           "no ANALYZE\n");
    printf("notes:     cvec/plain > 1 means cvec is faster for rates (/s, %%) "
           "and slower\n           or bigger for times and memory; "
           "each engine runs in its own child\n           process (for its "
           "memory figures); files are in the OS page cache\n           "
           "(warm), and each configuration's files are deleted after it\n");
    fflush(stdout);
  }

  double aRatio[MAX_CONFIGS][N_FIG];
  for(int ci=0; ci<nCfg; ci++){
    const config *c = &aCfg[ci];
    char zCfg[PATH_MAX_LEN], zEng[PATH_MAX_LEN];
    result r[N_ENG];
    raw_result raw;
    double t0 = now();
    mkpath(zCfg, "%s/n%ld-d%d", zRoot, c->n, c->dim);
    make_dir(zCfg);
    progress("[%ldx%d] raw disk", c->n, c->dim);
    raw_disk(c, zCfg, &raw);
    for(int e=0; e<N_ENG; e++){
      mkpath(zEng, "%s/%s", zCfg, azEngine[e]);
      progress(" | %s:", azEngine[e]);
      run_child(e, c, zEng, &r[e]);
      rm_rf(zEng);
    }
    progress(" | done\n");
    rm_rf(zCfg);
    print_config(c, r, &raw, aRatio[ci], now()-t0);
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
    printf("%-38s |", azFig[f]);
    for(int ci=0; ci<nCfg; ci++){
      if( aRatio[ci][f]>=0 ) printf(" %11.2f |", aRatio[ci][f]);
      else printf(" %11s |", "-");
    }
    printf(" %s\n", aHigher[f] ? "higher" : "lower");
  }
  printf("\n('better' says which way favours cvec: higher for rates, lower "
         "for times and memory)\n");
  printf("total time: %.0f s\n", now() - tStart);

  if( ownRoot ) rm_rf(zRoot);
  return 0;
}
