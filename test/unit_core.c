/*
** unit_core.c — C unit tests of the storage core (no SQLite), for what SQL
** cannot reach: the count limit at a lowered edge, the id index's deletion
** under collisions, batches larger than the flush buffer cut back to a mark,
** the lock between two handles of one process, and the JSON parser's edges.
**
** Run from a scratch directory (test/runtests.tcl gives each test one); it
** creates files with relative names.  Prints one line per case and a final
** "N passed, M failed"; exits 1 on any failure.
*/
#define _GNU_SOURCE 1
#include "cvec_segment.h"
#include "segment_index.h"
#include "vecjson.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int nPass = 0, nFail = 0;

#define CHECK(name, cond) do{                                         \
  if( cond ){ nPass++; printf("%s... Ok\n", name); }                  \
  else{ nFail++; printf("%s... FAILED at line %d: %s\n", name, __LINE__, #cond); } \
}while(0)

static void vec_of(float *v, uint32_t dim, float base){
  for(uint32_t i=0; i<dim; i++) v[i] = base + (float)i;
}

static long file_size(const char *z){
  struct stat st;
  return stat(z, &st) ? -1 : (long)st.st_size;
}

static int file_bytes(const char *z, unsigned char *buf, size_t n){
  FILE *f = fopen(z, "rb");
  if( !f ) return -1;
  size_t r = fread(buf, 1, n, f);
  fclose(f);
  return (int)r;
}

/* 1.x: the count limit, lowered so the edge is reachable. */
static void test_count_limit(void){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *p;
  float v[3];
  vec_of(v, 3, 1);
  unlink("limit.vec");
  int rc = cvec_seg_open("limit.vec", "limit.vec", 3, CVEC_OPEN_CREATE, &p, zErr);
  CHECK("1.0 create", rc==CVEC_OK);
  if( rc ) return;
  cvec_seg_set_count_limit(p, 3);
  rc = cvec_seg_begin_write(p);
  CHECK("1.1 begin", rc==CVEC_OK);
  CHECK("1.2 append 1", cvec_seg_append(p, 1, v)==CVEC_OK);
  CHECK("1.3 append 2", cvec_seg_append(p, 2, v)==CVEC_OK);
  CHECK("1.4 append 3 (at the limit)", cvec_seg_append(p, 3, v)==CVEC_OK);
  rc = cvec_seg_append(p, 4, v);
  CHECK("1.5 append past the limit fails", rc==CVEC_FULL);
  CHECK("1.6 message", strcmp(cvec_seg_errmsg(p),
        "limit.vec: segment is full (3 records is the limit)")==0);
  CHECK("1.7 nothing changed", cvec_seg_nrec(p)==3 && cvec_seg_lookup(p, 4)<0);
  CHECK("1.8 commit", cvec_seg_commit(p)==CVEC_OK);
  CHECK("1.9 file size", file_size("limit.vec")==16+3*16);
  rc = cvec_seg_begin_write(p);
  CHECK("1.10 full after reopen of txn", rc==CVEC_OK
        && cvec_seg_append(p, 9, v)==CVEC_FULL);
  cvec_seg_rollback(p);
  cvec_seg_close(p);
}

/* 2.x: the index, with colliding ids and deletion. */
static void test_index(void){
  cvec_index x;
  cvec_index_init(&x);
  int ok = 1;
  /* ids that are multiples of a large power of two collide in small tables */
  for(uint32_t i=1; i<=5000; i++){
    if( cvec_index_put(&x, i*65536u, i)!=1 ) ok = 0;
  }
  CHECK("2.0 insert 5000", ok && x.nused==5000);
  CHECK("2.1 duplicate put keeps the first",
        cvec_index_put(&x, 65536u, 99)==0 && cvec_index_get(&x, 65536u)==1);
  for(uint32_t i=1; i<=5000; i+=2) cvec_index_del(&x, i*65536u);
  ok = 1;
  for(uint32_t i=1; i<=5000; i++){
    int64_t r = cvec_index_get(&x, i*65536u);
    if( (i%2) ? r!=-1 : r!=(int64_t)i ) ok = 0;
  }
  CHECK("2.2 delete every other, the rest still found", ok && x.nused==2500);
  CHECK("2.3 id 0 and absent ids", cvec_index_get(&x, 0)==-1
        && cvec_index_get(&x, 12345)==-1);
  cvec_index_del(&x, 12345);
  CHECK("2.4 deleting an absent id", x.nused==2500);
  cvec_index_free(&x);
}

/* 3.x: a batch bigger than the flush buffer, cut back to a savepoint mark
** inside the flushed part, then committed. */
static void test_big_batch(void){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *p, *q;
  enum { DIM = 1000, N = 700 };      /* 4004-byte records: > 1 MiB in all */
  static float v[DIM];
  unlink("big.vec");
  int rc = cvec_seg_open("big.vec", "big.vec", DIM, CVEC_OPEN_CREATE, &p, zErr);
  CHECK("3.0 create", rc==CVEC_OK);
  if( rc ) return;
  cvec_seg_begin_write(p);
  int ok = 1;
  for(uint32_t i=1; i<=N; i++){
    vec_of(v, DIM, (float)i);
    if( cvec_seg_append(p, i, v) ) ok = 0;
  }
  CHECK("3.1 append 700 big records", ok && cvec_seg_nrec(p)==N);
  CHECK("3.2 part of the batch already in the tail",
        file_size("big.vec") > 16 && file_size("big.vec") < 16+(long)N*4004);
  /* another handle sees none of it */
  rc = cvec_seg_open("big.vec", "big.vec", 0, 0, &q, zErr);
  CHECK("3.3 reader sees 0", rc==CVEC_OK && cvec_seg_nrec(q)==0);
  cvec_seg_truncate_pending(p, 100);
  CHECK("3.4 cut back to 100", cvec_seg_nrec(p)==100
        && cvec_seg_lookup(p, 100)==99 && cvec_seg_lookup(p, 101)<0
        && cvec_seg_max_id(p)==100);
  vec_of(v, DIM, 5000);
  CHECK("3.5 id 101 reusable", cvec_seg_append(p, 101, v)==CVEC_OK);
  CHECK("3.6 sync+commit", cvec_seg_sync(p)==CVEC_OK && cvec_seg_commit(p)==CVEC_OK);
  CHECK("3.7 file ends after its records", file_size("big.vec")==16+101*4004);
  CHECK("3.8 reader refresh sees 101", cvec_seg_refresh(q)==CVEC_OK
        && cvec_seg_nrec(q)==101);
  const unsigned char *r = cvec_seg_record(q, 100);
  CHECK("3.9 record 100 is id 101 with its vector", cvec_get_u32le(r)==101
        && cvec_get_f32le(r+4)==5000.0f && cvec_get_f32le(r+4+4*999)==5999.0f);
  r = cvec_seg_record(q, 50);
  CHECK("3.10 record 50 intact", cvec_get_u32le(r)==51
        && cvec_get_f32le(r+4+4*10)==61.0f);
  cvec_seg_close(q);
  cvec_seg_close(p);
}

/* 4.x: two handles in one process exclude each other as writers. */
static void test_lock(void){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *a, *b;
  float v[2] = {1, 2};
  unlink("lock.vec");
  cvec_seg_open("lock.vec", "lock.vec", 2, CVEC_OPEN_CREATE, &a, zErr);
  cvec_seg_open("lock.vec", "lock.vec", 2, 0, &b, zErr);
  CHECK("4.0 a locks", cvec_seg_begin_write(a)==CVEC_OK);
  CHECK("4.1 b is busy", cvec_seg_begin_write(b)==CVEC_BUSY
        && strcmp(cvec_seg_errmsg(b), "lock.vec is locked by another writer")==0);
  cvec_seg_append(a, 7, v);
  cvec_seg_commit(a);
  CHECK("4.2 b locks after a commits, and sees id 7",
        cvec_seg_begin_write(b)==CVEC_OK && cvec_seg_lookup(b, 7)==0);
  CHECK("4.3 b cannot add id 7 again", cvec_seg_append(b, 7, v)==CVEC_CONSTRAINT);
  CHECK("4.4 b rolls back", cvec_seg_rollback(b)==CVEC_OK);
  cvec_seg_close(a);
  cvec_seg_close(b);
}

/* 5.x: rollback after a flush leaves the file byte-identical. */
static void test_rollback_bytes(void){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *p;
  static float v[20000];
  static unsigned char before[4096], after[4096];
  unlink("rb.vec");
  cvec_seg_open("rb.vec", "rb.vec", 20000, CVEC_OPEN_CREATE, &p, zErr);
  cvec_seg_begin_write(p);
  cvec_seg_append(p, 1, v);
  cvec_seg_commit(p);
  int nb = file_bytes("rb.vec", before, sizeof(before));
  long sz = file_size("rb.vec");
  cvec_seg_begin_write(p);
  for(uint32_t i=2; i<30; i++) cvec_seg_append(p, i, v);   /* > 1 MiB: flushed */
  CHECK("5.0 tail written", file_size("rb.vec") > sz);
  cvec_seg_rollback(p);
  int na = file_bytes("rb.vec", after, sizeof(after));
  CHECK("5.1 size restored", file_size("rb.vec")==sz);
  CHECK("5.2 bytes identical", na==nb && memcmp(before, after, (size_t)na)==0);
  cvec_seg_close(p);
}

/* 6.x: JSON edges, in a locale whose decimal point is a comma. */
static void test_json(void){
  float a[8];
  uint32_t n;
  char zErr[200];
  /* A locale whose decimal point is ','.  If the system has none compiled,
  ** compile one into the scratch directory (localedef, from Debian's libc-bin
  ** with the sources of the locales package) and point LOCPATH at it. */
  const char *zLoc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  if( zLoc==0 && system("mkdir -p loc && localedef -i de_DE -f UTF-8 "
                        "loc/de_DE.UTF-8 >/dev/null 2>&1")>=0 ){
    char zDir[4096];
    if( getcwd(zDir, sizeof(zDir)-4) ) strcat(zDir, "/loc");
    setenv("LOCPATH", zDir, 1);
    zLoc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  }
  CHECK("6.00 a locale with a decimal comma", zLoc!=0
        && strcmp(localeconv()->decimal_point, ",")==0);
  int rc = cvec_json_parse(" [ 1 , 2.5,-3e2 ,0.1 ] ", 23, a, 8, &n, zErr, 200);
  CHECK("6.0 parse", rc==0 && n==4 && a[0]==1.0f && a[1]==2.5f && a[2]==-300.0f
        && a[3]==0.1f);
  CHECK("6.1 empty array", cvec_json_parse("[]", 2, a, 8, &n, zErr, 200)==0 && n==0);
  rc = cvec_json_parse("[1,]", 4, a, 8, &n, zErr, 200);
  CHECK("6.2 trailing comma", rc==CVEC_JSON_SYNTAX
        && strcmp(zErr, "bad JSON at offset 3: expected a number")==0);
  CHECK("6.3 NaN refused", cvec_json_parse("[NaN]", 5, a, 8, &n, zErr, 200)
        ==CVEC_JSON_SYNTAX);
  CHECK("6.4 leading zero refused", cvec_json_parse("[01]", 4, a, 8, &n, zErr, 200)
        ==CVEC_JSON_SYNTAX);
  rc = cvec_json_parse("[1e39]", 6, a, 8, &n, zErr, 200);
  CHECK("6.5 overflow", rc==CVEC_JSON_RANGE
        && strcmp(zErr, "element 0 (1e39) is not a finite float32")==0);
  rc = cvec_json_parse("[1] x", 5, a, 8, &n, zErr, 200);
  CHECK("6.6 text after", rc==CVEC_JSON_SYNTAX
        && strcmp(zErr, "bad JSON at offset 4: text after ']'")==0);
  CHECK("6.7 counts past nOut", cvec_json_parse("[1,2,3]", 7, a, 1, &n, zErr, 200)==0
        && n==3 && a[0]==1.0f);
  char zLong[200];
  snprintf(zLong, sizeof(zLong), "[0.%0150d1]", 0);
  CHECK("6.8 long token", cvec_json_parse(zLong, strlen(zLong), a, 8, &n, zErr, 200)==0
        && n==1 && a[0]==0.0f);
  float b[4] = {0.1f, 2.5f, -3.0f, 16777216.0f};
  size_t len;
  char *z = cvec_json_print(b, 4, &len);
  CHECK("6.9 print shortest, '.' decimal point",
        z && strcmp(z, "[0.1,2.5,-3,16777216]")==0 && len==strlen(z));
  free(z);
  float c = 1.17549435e-38f;
  z = cvec_json_print(&c, 1, &len);
  float back;
  CHECK("6.10 round trip of a tiny value", z
        && cvec_json_parse(z, len, &back, 1, &n, zErr, 200)==0 && back==c);
  free(z);
  setlocale(LC_NUMERIC, "C");
}

/* 7.x: open errors name the file. */
static void test_open_errors(void){
  char zErr[CVEC_ERRMSG_MAX];
  cvec_seg *p;
  int rc = cvec_seg_open("nonexistent.vec", "nonexistent.vec", 0, 0, &p, zErr);
  CHECK("7.0 missing", rc==CVEC_NOTFOUND && p==0
        && strcmp(zErr, "nonexistent.vec: no such file")==0);
  rc = cvec_seg_open("sub/dir/new.vec", "sub/dir/new.vec", 8, CVEC_OPEN_CREATE,
                     &p, zErr);
  CHECK("7.1 create makes directories", rc==CVEC_OK
        && file_size("sub/dir/new.vec")==16);
  cvec_seg_close(p);
  rc = cvec_seg_open("sub/dir/new.vec", "x", 9, 0, &p, zErr);
  CHECK("7.2 dimension mismatch", rc==CVEC_ERROR
        && strcmp(zErr, "x has dimension 8; table declares dimension=9")==0);
  rc = cvec_seg_open("sub/dir/new.vec", "x", 0, CVEC_OPEN_READONLY, &p, zErr);
  CHECK("7.3 read-only handle refuses writes", rc==CVEC_OK
        && cvec_seg_begin_write(p)==CVEC_READONLY);
  cvec_seg_close(p);
}

/* 8.x: temporary files of builds whose process died are removed. */
static void test_stale_temps(void){
  char zErr[CVEC_ERRMSG_MAX], zDead[64], zAlive[64];
  cvec_seg *p;
  pid_t pid = fork();
  if( pid==0 ) _exit(0);
  waitpid(pid, 0, 0);          /* pid is now a process that does not exist */
  snprintf(zDead, sizeof(zDead), "st.vec.idx.%ld.0.tmp", (long)pid);
  snprintf(zAlive, sizeof(zAlive), "st.vec.idx.%ld.7.tmp", (long)getpid());
  FILE *f = fopen(zDead, "w"); if( f ) fclose(f);
  f = fopen(zAlive, "w"); if( f ) fclose(f);
  f = fopen("st.vec.idx.x.tmp", "w"); if( f ) fclose(f);
  unlink("st.vec");
  int rc = cvec_seg_open("st.vec", "st.vec", 2, CVEC_OPEN_CREATE, &p, zErr);
  CHECK("8.0 create (builds the index)", rc==CVEC_OK && file_size("st.vec.idx")>0);
  CHECK("8.1 a dead process's temporary file is gone", file_size(zDead)<0);
  CHECK("8.2 a live process's is kept", file_size(zAlive)==0);
  CHECK("8.3 other names are left alone", file_size("st.vec.idx.x.tmp")==0);
  if( rc==CVEC_OK ) cvec_seg_close(p);
  unlink(zAlive);
  unlink("st.vec.idx.x.tmp");
}

int main(void){
  test_count_limit();
  test_index();
  test_big_batch();
  test_lock();
  test_rollback_bytes();
  test_json();
  test_open_errors();
  test_stale_temps();
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
