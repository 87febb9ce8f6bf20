/*
** replay.c — run a libFuzzer target over files without libFuzzer, so that
** the committed corpus is a regression test under `make check` (built with
** the ordinary compiler, no clang needed).
**
**   fuzz/replay_json [-q] PATH...
**
** Each PATH is a file, or a directory whose regular files are replayed in
** name order (not recursively).  With no PATH, the directory
** $CVEC_SRCDIR/fuzz/corpus/$CVEC_FUZZ_CORPUS is replayed, where
** CVEC_FUZZ_CORPUS is compiled in (json, segment or sql); `make check` sets
** CVEC_SRCDIR.  Every file is one test: the target checks its own
** invariants and calls abort() when one fails, so a file that returns
** passes.  Prints "N passed, 0 failed" at the end (a failure aborts the
** process, which the test runner counts as a failure).
*/
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#ifndef CVEC_FUZZ_CORPUS
# error "compile with -DCVEC_FUZZ_CORPUS=\"json\" (or segment, sql)"
#endif

static int nPass = 0, nFail = 0, quiet = 0;

static void run_file(const char *zPath){
  FILE *f = fopen(zPath, "rb");
  if( f==0 ){
    printf("%s: cannot open: %s\n", zPath, strerror(errno));
    nFail++;
    return;
  }
  size_t cap = 4096, n = 0;
  unsigned char *a = malloc(cap);
  for(;;){
    if( a==0 ){ printf("out of memory\n"); exit(1); }
    size_t got = fread(a+n, 1, cap-n, f);
    n += got;
    if( n<cap ) break;
    cap *= 2;
    a = realloc(a, cap);
  }
  int err = ferror(f);
  fclose(f);
  if( err ){
    printf("%s: read error\n", zPath);
    nFail++;
    free(a);
    return;
  }
  /* An exact-size copy: reads past the input's end are caught by
  ** AddressSanitizer and valgrind as they are under libFuzzer. */
  unsigned char *b = malloc(n ? n : 1);
  if( b==0 ){ printf("out of memory\n"); exit(1); }
  memcpy(b, a, n);
  free(a);
  if( !quiet ){ printf("%s ...", zPath); fflush(stdout); }
  LLVMFuzzerTestOneInput(b, n);
  if( !quiet ) printf(" Ok\n");
  free(b);
  nPass++;
}

static int cmp_str(const void *a, const void *b){
  return strcmp(*(char *const*)a, *(char *const*)b);
}

static void run_path(const char *zPath){
  struct stat st;
  if( stat(zPath, &st) ){
    printf("%s: %s\n", zPath, strerror(errno));
    nFail++;
    return;
  }
  if( !S_ISDIR(st.st_mode) ){
    run_file(zPath);
    return;
  }
  DIR *d = opendir(zPath);
  if( d==0 ){
    printf("%s: cannot open directory: %s\n", zPath, strerror(errno));
    nFail++;
    return;
  }
  char **az = 0;
  size_t nz = 0, nAlloc = 0;
  struct dirent *e;
  while( (e = readdir(d))!=0 ){
    if( e->d_name[0]=='.' ) continue;
    char *z;
    if( asprintf(&z, "%s/%s", zPath, e->d_name)<0 ){ printf("oom\n"); exit(1); }
    if( stat(z, &st) || !S_ISREG(st.st_mode) ){ free(z); continue; }
    if( nz==nAlloc ){
      nAlloc = nAlloc ? nAlloc*2 : 64;
      az = realloc(az, nAlloc*sizeof(*az));
      if( az==0 ){ printf("oom\n"); exit(1); }
    }
    az[nz++] = z;
  }
  closedir(d);
  if( nz==0 ){
    printf("%s: no files\n", zPath);
    nFail++;
  }
  if( nz ) qsort(az, nz, sizeof(*az), cmp_str);
  for(size_t i=0; i<nz; i++){
    run_file(az[i]);
    free(az[i]);
  }
  free(az);
}

int main(int argc, char **argv){
  setvbuf(stdout, 0, _IOLBF, 0);
  if( LLVMFuzzerInitialize ) LLVMFuzzerInitialize(&argc, &argv);
  int i = 1;
  if( i<argc && strcmp(argv[i], "-q")==0 ){ quiet = 1; i++; }
  if( i<argc ){
    for(; i<argc; i++) run_path(argv[i]);
  }else{
    const char *zSrc = getenv("CVEC_SRCDIR");
    if( zSrc==0 ){
      printf("give files or directories, or set CVEC_SRCDIR\n");
      printf("0 passed, 1 failed\n");
      return 1;
    }
    char *zDir;
    if( asprintf(&zDir, "%s/fuzz/corpus/%s", zSrc, CVEC_FUZZ_CORPUS)<0 ) return 1;
    run_path(zDir);
    free(zDir);
  }
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail ? 1 : 0;
}
