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
**   5. KNN top-10, exact, by L2 distance, milliseconds per search:
**        cvec   SELECT id, distance FROM t WHERE vector MATCH ?1 AND k = 10
**        plain  SELECT id, cvec_distance_l2(vector, ?1) AS d FROM t
**                ORDER BY d LIMIT 10
**      (cvec loaded on plain's connection for the function), every row
**      stepped, the statement prepared outside the time.  The query vectors
**      are D random floats in [-1, 1), one seed per search, the same for
**      every engine.  One warm-up search (not timed), then 10 searches
**      (plain: 5 from N x D >= 1e8, i.e. 1M x 128, where one takes about
**      half a second); the median.  Since element 0 of a stored vector is
**      its id, the nearest ids of a random query are always near 1 (every
**      search still computes all N distances); the warm-up has its element
**      0 set to N/2 instead, a check in the middle of the table.  Every
**      search both engines ran must give the same top-10 ids (else an
**      error, exit status 1).
**      Beside them, in the parent process, over a malloc'ed array of the
**      same N x D floats: a C loop (squared L2 with 4 float accumulators,
**      compiled with the bench's flags, and a top-10; its ids are compared
**      with cvec's and the number of searches that differ is shown), and
**      the floor: reading the N x D floats once (their sum, 16
**      accumulators), i.e. the memory read rate of one core.  cvec/floor
**      is the ratio that matters: how close the search comes to reading
**      the vectors once.  The segment holds 4 more bytes per vector (the
**      id): 0.8% at D = 128.
**      Two passes over the same searches: first cvec and the floor read
**      back to back (the order alternating) and the C loop; then plain.
**      Plain's long searches stream its whole table through the page
**      cache, and on a test VM the memory reads of a process that maps a
**      file (cvec, or a plain read loop over cvec's mapped segment) were
**      then up to 1.8 times slower for the next searches, while the
**      parent's reads of its own array were not: interleaved, that lands
**      on cvec only.  So this figure has no 'paired runs' range.
**      If $CVEC_BENCH_VEC0 names sqlite-vec's loadable module, a third
**      child (started after the first pass) fills
**        CREATE VIRTUAL TABLE v USING vec0(embedding float[D])
**      with the same vectors (one timed bulk insert) and runs
**        SELECT rowid, distance FROM v WHERE embedding MATCH ?1 AND k = 10
**      on the same queries in the second pass, beside plain; otherwise the
**      report says it is not available.
**      CVEC_KERNEL=scalar|avx2|avx512 forces cvec's distance kernel (the
**      report names it when set).  A summary table at the end gives these
**      figures of every configuration side by side.
**   6. first lookup on a fresh connection: from sqlite3_open_v2, through
**      (cvec only) sqlite3_enable_load_extension and sqlite3_load_extension,
**      to the first row of one lookup by id; microseconds.  The load alone
**      is reported too.  The files are in the OS page cache (they were just
**      written and read): a warm open, not a cold one from disk.  For cvec
**      it includes opening the segment and its id index.
**   7. the raw sequential write rate of the disk, in the same directory:
**      N x (4 + 4D) bytes (the size of the segment's records) written in
**      1 MiB chunks, then fsync; MB/s and vectors/s.  Each engine's bulk
**      insert is also shown as a % of it.  On a virtual machine this rate
**      follows the host's caching and can swing several-fold between
**      runs (the output gives the range), so a % above 100 can happen.
**   8. memory: each engine runs in its own child process, which reports
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
** dimension 384 and 768; the KNN figure for 100k x 128, 1M x 128 and
** 100k x 768 (with --n/--dim: for every configuration, unless --no-knn).
** The files of a configuration are deleted after it (1M x 128 is about
** 0.55 GB per engine; the KNN figure also holds the N x D floats in the
** parent's memory while it runs).  The default run takes about two minutes
** on a 2-core virtual machine, of which the KNN figures take about 20 s.
**
** Build and run (from the build directory):
**
**   make bench                          all configurations
**   make bench BENCH_ARGS=--quick       10k x 128 and 100k x 128 only
**                                       (KNN: 100k x 128)
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
**   --no-knn        leave out the KNN figure
**
** Environment:
**   CVEC_BENCH_VEC0=PATH  sqlite-vec's loadable module (vec0), to add it to
**                   the KNN figure; never fetched by the benchmark
**   CVEC_KERNEL=NAME  read by cvec itself: force its distance kernel
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
#define KNN_K         10            /* neighbours per search (the "10" of
                                    ** the KNN statements below) */
#define KNN_QUERIES   10            /* timed searches per configuration */
#define KNN_QUERIES_SLOW 5          /* plain's, from N x D >= KNN_SLOW */
#define KNN_SLOW      1e8

/* The two engines compared everywhere, then sqlite-vec's vec0 (KNN only) */
enum { ENG_CVEC, ENG_PLAIN, N_ENG, ENG_VEC0 = N_ENG, N_CHILD };
static const char *const azEngine[N_CHILD] = { "cvec", "plain", "vec0" };

typedef struct config { long n; int dim; int knn; } config;

/* Options */
static const char *g_ext = 0;
static const char *g_vec0 = 0;     /* $CVEC_BENCH_VEC0: sqlite-vec, or 0 */
static long g_k = 0;
static long g_k_ac = 0;
static int g_progress = 0;

/* ------------------------------------------------------------------------ */
/* Errors and cleanup                                                        */
/* ------------------------------------------------------------------------ */

static const char *g_who = "cvec_bench";   /* prefix of error messages */
static pid_t g_parent = 0;                 /* the parent's pid */
static pid_t g_child[N_CHILD];             /* running children, or 0 */
static char g_root[PATH_MAX_LEN];          /* scratch directory */
static int g_ownRoot = 0;                  /* we created it: remove it all */
static char g_cfgDir[PATH_MAX_LEN];        /* current configuration's dir */

static void rm_rf(const char *zPath);

/* In the parent: stop the children and remove the files. */
static void cleanup(void){
  if( getpid()!=g_parent ) return;
  for(int e=0; e<N_CHILD; e++){
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

static void load_ext(sqlite3 *db, const char *zPath){
  char *zErr = 0;
  int rc;
  check(db, sqlite3_enable_load_extension(db, 1), SQLITE_OK,
        "sqlite3_enable_load_extension");
  rc = sqlite3_load_extension(db, zPath, 0, &zErr);
  if( rc!=SQLITE_OK ){
    die("load_extension(%s): %s", zPath, zErr ? zErr : sqlite3_errstr(rc));
  }
}

static void load_cvec(sqlite3 *db){ load_ext(db, g_ext); }

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

/* Query qi of the KNN figure into q: D floats in [-1, 1) of their own
** seed, the same in every process.  Query 0, the warm-up, has its first
** element set to N/2: since element 0 of every stored vector is its id, the
** neighbours of the other queries are always ids near 1, and this one checks
** the search in the middle of the table. */
static void knn_query(int qi, long n, int dim, float *q){
  uint64_t s = SEED ^ (0x6b6e6e00u + (uint64_t)qi*104729u);
  for(int j=0; j<dim; j++){
    q[j] = (float)((double)(rnd(&s)>>40) / (double)(1u<<23)) - 1.0f;
  }
  if( qi==0 ) q[0] = (float)(n/2);
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
/* The KNN search of each engine (k: KNN_K) */
static const char *const azKnn[N_CHILD] = {
  "SELECT id, distance FROM t WHERE vector MATCH ?1 AND k = 10",
  "SELECT id, cvec_distance_l2(vector, ?1) AS d FROM t ORDER BY d LIMIT 10",
  "SELECT rowid, distance FROM v WHERE embedding MATCH ?1 AND k = 10",
};

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
       OP_FRESH, OP_KNN, OP_END };
static const char *const azOp[] = { "insert", "meta", "lookups", "lookups",
                                    "scan", "join", "fresh", "knn", "end" };

typedef struct cmd { int op; int run; long arg; } cmd;
typedef struct reply {
  double a, b;
  long rows;
  long aId[KNN_K];         /* OP_KNN: the ids and distances found */
  double aDist[KNN_K];
} reply;

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
  int cvecLoaded;             /* plain: cvec loaded on db (for OP_KNN) */
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
  E->cvecLoaded = 0;
  if( E->eng==ENG_CVEC ){
    load_cvec(E->db);
    snprintf(zSql, sizeof(zSql),
             "CREATE VIRTUAL TABLE t USING cvec_segment(dir='r%d.vecs', "
             "dimension=%d)", run, dim);
  }else if( E->eng==ENG_VEC0 ){
    load_ext(E->db, g_vec0);
    snprintf(zSql, sizeof(zSql),
             "CREATE VIRTUAL TABLE v USING vec0(embedding float[%d])", dim);
  }else{
    snprintf(zSql, sizeof(zSql),
             "CREATE TABLE t(id INTEGER PRIMARY KEY, vector BLOB)");
  }
  exec(E->db, zSql);
  st = prepare(E->db, E->eng==ENG_VEC0
                      ? "INSERT INTO v(rowid, embedding) VALUES (?, ?)"
                      : "INSERT INTO t(id, vector) VALUES (?, ?)");
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

/* KNN search qi (knn_query): r->a seconds from the bind to the last row,
** stepped; r->rows rows, the first KNN_K of them in r->aId and r->aDist.
** The statement is prepared outside the time. */
static void step_knn(engine *E, int qi, reply *r){
  const char *zSql = azKnn[E->eng];
  sqlite3_stmt *st;
  int rc;
  if( E->eng==ENG_PLAIN && !E->cvecLoaded ){   /* for cvec_distance_l2 */
    load_cvec(E->db);
    E->cvecLoaded = 1;
  }
  knn_query(qi, E->n, E->dim, g_vec);
  st = prepare(E->db, zSql);
  double t0 = now();
  check(E->db, sqlite3_bind_blob(st, 1, g_vec, 4*E->dim, SQLITE_STATIC),
        SQLITE_OK, "bind query");
  r->rows = 0;
  while( (rc = sqlite3_step(st))==SQLITE_ROW ){
    if( r->rows<KNN_K ){
      r->aId[r->rows] = (long)sqlite3_column_int64(st, 0);
      r->aDist[r->rows] = sqlite3_column_double(st, 1);
    }
    r->rows++;
  }
  check(E->db, rc, SQLITE_DONE, zSql);
  check(E->db, sqlite3_reset(st), SQLITE_OK, "sqlite3_reset");
  r->a = now() - t0;
  finalize(E->db, st);
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
      case OP_KNN:       step_knn(&E, k.run, &r); break;
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

/* Timed phases; each has RUNS runs per engine (FRESH_RUNS for the fresh
** connection and the load; PH_KNN, run before PH_FRESH, has KNN_QUERIES for
** cvec and knn_plain_runs for plain, 0 when the configuration has none) */
enum { PH_INSERT, PH_AC, PH_TX, PH_SCAN, PH_JOIN, PH_FRESH, PH_LOAD, PH_KNN,
       N_PH };

typedef struct measured {
  int runs[N_PH];
  double t[N_PH][N_ENG][MAX_RUNS];   /* seconds, as the steps report them */
  double raw[RUNS];                  /* raw disk runs */
  long k_ac, k_tx, scan_inner, join_inner, join_rows;
  final fin[N_ENG];
  /* KNN (PH_KNN), in seconds per search */
  int knn_plain_runs;
  double knn_loop[MAX_RUNS];         /* C loop over an in-memory array */
  double knn_read[MAX_RUNS];         /* reading that array once */
  int vec0;                          /* sqlite-vec was measured */
  double vec0_insert;                /* its bulk insert, one run, seconds */
  double knn_vec0[MAX_RUNS];
  int loop_differ, vec0_differ;      /* searches whose top ids differ */
  double knn_ddist;                  /* largest |cvec - plain| distance */
} measured;

/* Engine of turn i (0 or 1) in run `run`: cvec first in even runs. */
static int turn(int run, int i){ return run%2==0 ? i : 1-i; }

/* ------------------------------------------------------------------------ */
/* KNN: the three engines beside a C loop and the memory read rate           */
/* ------------------------------------------------------------------------ */

static volatile float g_sink;      /* keeps the read loop's sum alive */

/* The vectors of ids 1..N, the same data as the tables, in one malloc'ed
** array of N x D floats (row id-1 for id). */
static float *floor_data(const config *c){
  size_t dim = (size_t)c->dim;
  float *a = malloc(sizeof(float)*(size_t)c->n*dim);
  if( a==0 ) die("out of memory (%ld x %d floats)", c->n, c->dim);
  make_pool(c->dim);
  for(long id=1; id<=c->n; id++){
    memcpy(a + (size_t)(id-1)*dim, vector_of(id, c->dim), sizeof(float)*dim);
  }
  free(g_pool);          /* the parent keeps nothing big for its forks */
  free(g_vec);
  g_pool = g_vec = 0;
  return a;
}

/* Squared L2 distance in plain C, 4 independent float accumulators. */
static float l2sq_c(const float *a, const float *b, int n){
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int j = 0;
  for(; j+4<=n; j+=4){
    float d0 = a[j]-b[j], d1 = a[j+1]-b[j+1];
    float d2 = a[j+2]-b[j+2], d3 = a[j+3]-b[j+3];
    s0 += d0*d0; s1 += d1*d1; s2 += d2*d2; s3 += d3*d3;
  }
  for(; j<n; j++){
    float d = a[j]-b[j];
    s0 += d*d;
  }
  return (s0+s1) + (s2+s3);
}

/* The C loop: query q against every row of the array, keeping the KNN_K
** nearest in a sorted array; their ids (nearest first) into aId.
** Seconds. */
static double floor_knn(const float *aData, long n, int dim, const float *q,
                        long *aId){
  float aBest[KNN_K];
  int nBest = 0;
  double t0 = now();
  for(long i=0; i<n; i++){
    float d = l2sq_c(q, aData + (size_t)i*(size_t)dim, dim);
    int j;
    if( nBest==KNN_K && !(d < aBest[KNN_K-1]) ) continue;
    j = nBest<KNN_K ? nBest++ : KNN_K-1;
    while( j>0 && aBest[j-1]>d ){
      aBest[j] = aBest[j-1];
      aId[j] = aId[j-1];
      j--;
    }
    aBest[j] = d;
    aId[j] = i+1;
  }
  return now() - t0;
}

/* The memory floor: add up all n floats of the array (every byte read
** once), with 16 independent accumulators in locals, which the compiler
** keeps in registers (at -O2, 4 SSE vectors), so that the adds keep up with
** memory: in cache, this loop runs several times faster than from memory.
** Seconds. */
static double floor_read(const float *a, size_t n){
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  float s8 = 0, s9 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0, s14 = 0, s15 = 0;
  size_t i = 0;
  double t0 = now();
  for(; i+16<=n; i+=16){
    s0 += a[i];    s1 += a[i+1];   s2 += a[i+2];   s3 += a[i+3];
    s4 += a[i+4];  s5 += a[i+5];   s6 += a[i+6];   s7 += a[i+7];
    s8 += a[i+8];  s9 += a[i+9];   s10 += a[i+10]; s11 += a[i+11];
    s12 += a[i+12]; s13 += a[i+13]; s14 += a[i+14]; s15 += a[i+15];
  }
  for(; i<n; i++) s0 += a[i];
  double t = now() - t0;
  g_sink = ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7))
         + ((s8+s9)+(s10+s11)) + ((s12+s13)+(s14+s15));
  return t;
}

static int same_ids(const long *a, const long *b){
  return memcmp(a, b, sizeof(long)*KNN_K)==0;
}

static void print_ids(const char *zWho, const long *a){
  fprintf(stderr, "  %-6s", zWho);
  for(int i=0; i<KNN_K; i++) fprintf(stderr, " %ld", a[i]);
  fputc('\n', stderr);
}

/* One KNN search by a child; it must give KNN_K rows. */
static reply knn_do(child *ch, int qi){
  reply r = child_do(ch, OP_KNN, qi, 0);
  if( r.rows!=KNN_K ){
    die("KNN search %d: %s gave %ld rows, expected %d", qi, azEngine[ch->eng],
        r.rows, KNN_K);
  }
  return r;
}

/* The KNN figure: search 0 (warm-up, checked, not timed), then searches
** 1..KNN_QUERIES, in two passes over the same searches.  Pass 1: cvec and
** the floor read back to back (the order alternating), then the C loop.
** Pass 2: plain (only its first knn_plain_runs) and vec0 if there is one.
** plain runs apart because its long searches stream its whole table
** through the page cache: on the test VM, the memory reads of a process
** that maps a file (cvec, or a plain loop over the same mapped file) were
** then up to 1.8 times slower for the next searches, while reads of the
** parent's own array were not; in one pass that lands on cvec only.  Every
** top-KNN_K of plain must have cvec's ids. */
static void measure_knn(const config *c, child *ch, const char *zCfg,
                        measured *m){
  static long aIdC[KNN_QUERIES+1][KNN_K];     /* cvec's result of each */
  static double aDistC[KNN_QUERIES+1][KNN_K];
  child v0;
  char zDir[PATH_MAX_LEN];
  float *aData, *q;
  const int nq = KNN_QUERIES;
  const int nPlain = (double)c->n*(double)c->dim >= KNN_SLOW
                     ? KNN_QUERIES_SLOW : nq;

  m->runs[PH_KNN] = nq;
  m->knn_plain_runs = nPlain;
  m->vec0 = g_vec0!=0;

  /* Pass 1: cvec, the floor read, the C loop */
  aData = floor_data(c);
  q = malloc(sizeof(float)*(size_t)c->dim);
  if( q==0 ) die("out of memory");
  for(int run=-1; run<nq; run++){
    int qi = run+1;
    reply r;
    long aLoop[KNN_K];
    double tRead, tLoop;
    knn_query(qi, c->n, c->dim, q);
    if( turn(qi, 0)==ENG_CVEC ){
      r = knn_do(&ch[ENG_CVEC], qi);
      tRead = floor_read(aData, (size_t)c->n*(size_t)c->dim);
    }else{
      tRead = floor_read(aData, (size_t)c->n*(size_t)c->dim);
      r = knn_do(&ch[ENG_CVEC], qi);
    }
    tLoop = floor_knn(aData, c->n, c->dim, q, aLoop);
    memcpy(aIdC[qi], r.aId, sizeof(r.aId));
    memcpy(aDistC[qi], r.aDist, sizeof(r.aDist));
    if( !same_ids(r.aId, aLoop) ) m->loop_differ++;
    if( run>=0 ){
      m->t[PH_KNN][ENG_CVEC][run] = r.a;
      m->knn_loop[run] = tLoop;
      m->knn_read[run] = tRead;
    }
  }
  free(q);
  free(aData);             /* before vec0's fork */

  /* Pass 2: plain, checked against cvec, and vec0 */
  if( m->vec0 ){
    mkpath(zDir, "%s/%s", zCfg, azEngine[ENG_VEC0]);
    child_start(&v0, ENG_VEC0, c, zDir, ch, N_ENG);
    m->vec0_insert = child_do(&v0, OP_INSERT, 0, 0).a;
  }
  for(int run=-1; run<nq; run++){
    int qi = run+1;
    reply r;
    if( run<nPlain ){
      r = knn_do(&ch[ENG_PLAIN], qi);
      if( !same_ids(aIdC[qi], r.aId) ){
        fflush(stdout);
        fprintf(stderr, "%s: KNN search %d (%ld x %d): the top-%d ids of "
                "cvec and plain differ:\n", g_who, qi, c->n, c->dim, KNN_K);
        print_ids("cvec", aIdC[qi]);
        print_ids("plain", r.aId);
        die("KNN results differ");
      }
      for(int i=0; i<KNN_K; i++){
        double d = aDistC[qi][i] - r.aDist[i];
        if( d<0 ) d = -d;
        if( d>m->knn_ddist ) m->knn_ddist = d;
      }
      if( run>=0 ) m->t[PH_KNN][ENG_PLAIN][run] = r.a;
    }
    if( m->vec0 ){
      r = knn_do(&v0, qi);
      if( !same_ids(aIdC[qi], r.aId) ) m->vec0_differ++;
      if( run>=0 ) m->knn_vec0[run] = r.a;
    }
  }
  if( m->vec0 ){
    final f;
    child_end(&v0, &f);
  }
}

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
    m->runs[ph] = ph==PH_FRESH || ph==PH_LOAD ? FRESH_RUNS : RUNS;
  }
  m->runs[PH_KNN] = 0;             /* set by measure_knn */

  for(int ph=0; ph<N_PH; ph++){
    if( ph==PH_LOAD || ph==PH_KNN ) continue;   /* measured elsewhere */
    if( ph==PH_FRESH && c->knn ){  /* before OP_FRESH closes E->db */
      progress(" knn");
      measure_knn(c, ch, zCfg, m);
    }
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

enum { FIG_INSERT, FIG_INSERT_RAW, FIG_AC, FIG_TX, FIG_SCAN, FIG_JOIN,
       FIG_KNN, FIG_FRESH, FIG_LOAD, FIG_HWM, FIG_ANON, N_FIG };
static const char *const azFig[N_FIG] = {
  "bulk insert, one txn (vectors/s)",
  "  as % of raw write+fsync rate (%)",
  "lookup by id, autocommit (us/lookup)",
  "lookup by id, in one txn (us/lookup)",
  "full scan (rows/s)",
  "join with meta, 10% 'en' (ms/query)",
  "KNN top-10 (ms/query)",
  "fresh connection to first row (us)",
  "  of which load_extension (us)",
  "peak RSS, VmHWM (MiB)",
  "peak RssAnon (MiB)",
};
/* 1: higher is better for cvec; 0: lower is better */
static const int aHigher[N_FIG] = { 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
/* The phase behind each figure, -1 for the memory figures */
static const int aPhase[N_FIG] = {
  PH_INSERT, PH_INSERT, PH_AC, PH_TX, PH_SCAN, PH_JOIN, PH_KNN, PH_FRESH,
  PH_LOAD, -1, -1
};

/* Figure f from a time t (seconds) of its phase; -1 when it has none. */
static double figure_of(const config *c, const measured *m, int f, double t){
  double raw = median(m->raw, RUNS);
  if( t<0 ) return -1;
  switch( f ){
    case FIG_INSERT:     return (double)c->n / t;
    case FIG_INSERT_RAW: return 100.0 * raw / t;
    case FIG_AC:         return 1e6 * t / (double)m->k_ac;
    case FIG_TX:         return 1e6 * t / (double)m->k_tx;
    case FIG_SCAN:       return (double)c->n / t;
    case FIG_JOIN:       return 1e3 * t;
    case FIG_KNN:        return 1e3 * t;
    case FIG_FRESH:      return 1e6 * t;
    case FIG_LOAD:       return 1e6 * t;
  }
  return -1;
}

/* The KNN figures of a configuration, in ms per search (-1: none) */
typedef struct knn_summary {
  double cvec, plain, loop, read, vec0;
  double gbps;               /* the read rate of the array, GB/s */
} knn_summary;

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

/* The KNN figure beside its floors (when the configuration has one). */
static void print_knn(const config *c, const measured *m, knn_summary *k){
  const int nq = m->runs[PH_KNN];
  const char *zKernel = getenv("CVEC_KERNEL");
  double mb = (double)c->n*(double)c->dim*4.0/1e6;
  k->cvec = 1e3*median(m->t[PH_KNN][ENG_CVEC], nq);
  k->plain = 1e3*median(m->t[PH_KNN][ENG_PLAIN], m->knn_plain_runs);
  k->loop = 1e3*median(m->knn_loop, nq);
  k->read = 1e3*median(m->knn_read, nq);
  k->vec0 = m->vec0 ? 1e3*median(m->knn_vec0, nq) : -1;
  k->gbps = mb/k->read;     /* MB per ms = GB/s */

  printf("\nKNN top-%d, medians of %d searches (plain: %d), random query "
         "vectors, after one\nwarm-up; cvec, the floor and the C loop in "
         "one pass, plain%s in a second;\ncvec kernel: %s\n", KNN_K, nq,
         m->knn_plain_runs, m->vec0 ? " and vec0" : "",
         zKernel && zKernel[0] ? zKernel
         : "the best this CPU has (CVEC_KERNEL unset)");
  printf("  cvec   %s\n  plain  %s\n", azKnn[ENG_CVEC], azKnn[ENG_PLAIN]);
  printf("  %-52s %10s ms\n", "cvec", num(k->cvec));
  printf("  %-52s %10s ms   cvec/plain %.3f\n", "plain, cvec_distance_l2 "
         "ORDER BY d LIMIT 10", num(k->plain), k->cvec/k->plain);
  printf("  %-52s %10s ms   cvec/loop  %.2f\n", "C loop over an in-memory "
         "array, 4 float accumulators", num(k->loop), k->cvec/k->loop);
  printf("  %-52s %10s ms   cvec/floor %.2f\n", "floor: read the array once "
         "(sum of N x D floats)", num(k->read), k->cvec/k->read);
  printf("  %-52s %10s\n", "  = read rate, GB/s", num(k->gbps));
  if( m->vec0 ){
    printf("  %-52s %10s ms   cvec/vec0  %.2f\n", "sqlite-vec vec0",
           num(k->vec0), k->cvec/k->vec0);
    printf("  %-52s %10s\n", "  its bulk insert, one txn, one run (vectors/s)",
           num((double)c->n/m->vec0_insert));
  }else{
    printf("  sqlite-vec: not available (set CVEC_BENCH_VEC0)\n");
  }
  printf("  checked: cvec's top-%d ids = plain's in all %d searches both "
         "ran (the warm-up\n  included; largest distance difference %.3g); "
         "searches whose ids differ\n  from cvec's: C loop %d of %d",
         KNN_K, m->knn_plain_runs+1, m->knn_ddist, m->loop_differ, nq+1);
  if( m->vec0 ) printf(", vec0 %d of %d", m->vec0_differ, nq+1);
  printf("\n");
}

static void print_config(const config *c, const measured *m,
                         double ratio[N_FIG], knn_summary *pKnn,
                         double elapsed){
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
      x = f==FIG_HWM ? m->fin[ENG_CVEC].hwm_mib : m->fin[ENG_CVEC].anon_mib;
      y = f==FIG_HWM ? m->fin[ENG_PLAIN].hwm_mib : m->fin[ENG_PLAIN].anon_mib;
    }else if( m->runs[ph]==0 ){    /* not measured */
      x = y = -1;
    }else{
      int n = m->runs[ph];
      int nPlain = ph==PH_KNN ? m->knn_plain_runs : n;
      double lo = 0, hi = 0;
      x = figure_of(c, m, f, median(m->t[ph][ENG_CVEC], n));
      y = figure_of(c, m, f, median(m->t[ph][ENG_PLAIN], nPlain));
      for(int run=0; run<nPlain; run++){
        double a = figure_of(c, m, f, m->t[ph][ENG_CVEC][run]);
        double b = figure_of(c, m, f, m->t[ph][ENG_PLAIN][run]);
        if( a<0 || b<=0 ){ lo = -1; break; }
        if( run==0 || a/b<lo ) lo = a/b;
        if( run==0 || a/b>hi ) hi = a/b;
      }
      /* KNN: cvec and plain run in separate passes, not back to back */
      if( lo>=0 && ph!=PH_KNN ){
        snprintf(zRange, sizeof(zRange), "%.2f - %.2f", lo, hi);
      }
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
  pKnn->cvec = -1;
  if( m->runs[PH_KNN] ) print_knn(c, m, pKnn);
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
    "                  [--k K] [--k-autocommit K] [--no-knn]\n"
    "  --ext PATH   the cvec extension (e.g. .libs/cvec)\n"
    "  --dir DIR    scratch directory (default: new one under $TMPDIR or /tmp)\n"
    "  --quick      only 10k x 128 and 100k x 128\n"
    "  --n LIST     vector counts, e.g. 10k,100k,1M (with --dim: every pair)\n"
    "  --dim LIST   dimensions, e.g. 128,384\n"
    "  --k K        lookups per run (default min(N, 100000))\n"
    "  --k-autocommit K  lookups per run in autocommit (default as --k)\n"
    "  --no-knn     leave out the KNN figure\n"
    "environment: CVEC_BENCH_VEC0=PATH  sqlite-vec (vec0) for the KNN figure;\n"
    "             CVEC_KERNEL=scalar|avx2|avx512  cvec's distance kernel\n");
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
  printf("knn:       cvec's MATCH search beside plain's ORDER BY "
         "cvec_distance_l2, a C loop\n           and the read rate of the "
         "same floats in memory; sqlite-vec: %s\n",
         g_vec0 ? g_vec0 : "not available (set CVEC_BENCH_VEC0)");
  fflush(stdout);
}

/* "100k x 128" */
static const char *cfg_name(const config *c){
  char zN[24], *z = fmt_buf();
  long n = c->n;
  if( n>=1000000 && n%1000000==0 ) snprintf(zN, sizeof(zN), "%ldM", n/1000000);
  else if( n>=1000 && n%1000==0 ) snprintf(zN, sizeof(zN), "%ldk", n/1000);
  else snprintf(zN, sizeof(zN), "%ld", n);
  snprintf(z, 40, "%s x %d", zN, c->dim);
  return z;
}

int main(int argc, char **argv){
  static const config aDefault[] = {     /* the last field: KNN figure */
    { 10000, 128, 0 }, { 100000, 128, 1 }, { 1000000, 128, 1 },
    { 100000, 384, 0 }, { 100000, 768, 1 },
  };
  static double aRatio[MAX_CONFIGS][N_FIG];
  static knn_summary aKnn[MAX_CONFIGS];
  static measured m;
  config aCfg[MAX_CONFIGS];
  int nCfg = 0, nKnn = 0;
  long aN[16], aDim[16];
  int nN = 0, nDim = 0, quick = 0, noKnn = 0;
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
    }else if( strcmp(z, "--no-knn")==0 ){
      noKnn = 1;
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
  g_vec0 = getenv("CVEC_BENCH_VEC0");
  if( g_vec0 && g_vec0[0]==0 ) g_vec0 = 0;

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
        aCfg[nCfg].knn = 1;
        nCfg++;
      }
    }
  }else{
    int nDef = quick ? 2 : (int)(sizeof(aDefault)/sizeof(aDefault[0]));
    for(int i=0; i<nDef; i++) aCfg[nCfg++] = aDefault[i];
  }
  if( noKnn ){
    for(int i=0; i<nCfg; i++) aCfg[i].knn = 0;
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
    print_config(c, &m, aRatio[ci], &aKnn[ci], now()-t0);
    nKnn += aKnn[ci].cvec>=0;
  }

  /* Summary: the ratios of every configuration side by side. */
  printf("\n== summary: cvec/plain ==\n\n");
  printf("%-38s |", "figure");
  for(int ci=0; ci<nCfg; ci++) printf(" %11s |", cfg_name(&aCfg[ci]));
  printf(" better\n");
  for(int f=0; f<N_FIG; f++){
    if( f==FIG_LOAD ) continue;   /* load_extension: cvec only */
    printf("%-38s |", azFig[f]);
    for(int ci=0; ci<nCfg; ci++){
      if( aRatio[ci][f]>=0 ) printf(" %11.2f |", aRatio[ci][f]);
      else printf(" %11s |", "-");
    }
    printf(" %s\n", aHigher[f] ? "higher" : "lower");
  }
  printf("\n('better': the direction that favours cvec; higher for rates, "
         "lower for times and memory)\n");

  /* The KNN figures side by side, with their floors. */
  if( nKnn ){
    printf("\n== KNN top-%d: ms per search (medians) ==\n\n", KNN_K);
    printf("%-11s | %8s | %8s | %8s | %8s | %6s | %10s | %9s | %10s"
           " | %8s | %9s\n", "N x D", "cvec", "plain", "C loop", "floor",
           "GB/s", "cvec/plain", "cvec/loop", "cvec/floor", "vec0",
           "cvec/vec0");
    printf("------------+----------+----------+----------+----------+"
           "--------+------------+-----------+------------+----------+"
           "----------\n");
    for(int ci=0; ci<nCfg; ci++){
      const knn_summary *k = &aKnn[ci];
      char zV[16];
      if( k->cvec<0 ) continue;
      if( k->vec0>0 ) snprintf(zV, sizeof(zV), "%.2f", k->cvec/k->vec0);
      else snprintf(zV, sizeof(zV), "-");
      printf("%-11s | %8s | %8s | %8s | %8s | %6s | %10.3f | %9.2f | %10.2f"
             " | %8s | %9s\n", cfg_name(&aCfg[ci]), num(k->cvec),
             num(k->plain), num(k->loop), num(k->read), num(k->gbps),
             k->cvec/k->plain, k->cvec/k->loop, k->cvec/k->read,
             num(k->vec0), zV);
    }
    printf("\n(floor: reading the N x D floats once from an in-memory array; "
           "C loop: squared L2\nover that array in plain C, 4 float "
           "accumulators; vec0: sqlite-vec, if CVEC_BENCH_VEC0 is set)\n");
  }
  printf("total time: %.0f s\n", now() - tStart);

  if( g_ownRoot ) rm_rf(g_root);
  return 0;
}
