/*
** unit_init.c — the load-time SQLite version check of sqlite3_cvec_init.
**
** An older SQLite cannot be loaded beside the system's, so this test calls
** the module's entry point through dlopen() with an API table of its own
** whose sqlite3_libversion_number() reports an older library.  The check must
** refuse before touching any other slot (the table has no others: a call
** through one would crash).  Prints "N passed, M failed".
*/
#define _GNU_SOURCE 1
#include <sqlite3ext.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nPass = 0, nFail = 0;
static int fakeVersion;
static const char *fakeVersionText;

#define CHECK(name, cond) do{                                         \
  if( cond ){ nPass++; printf("%s... Ok\n", name); }                  \
  else{ nFail++; printf("%s... FAILED at line %d: %s\n", name, __LINE__, #cond); } \
}while(0)

static int fake_libversion_number(void){ return fakeVersion; }
static const char *fake_libversion(void){ return fakeVersionText; }
static char *fake_mprintf(const char *zFmt, ...){
  va_list ap;
  char *z = 0;
  va_start(ap, zFmt);
  if( vasprintf(&z, zFmt, ap)<0 ) z = 0;
  va_end(ap);
  return z;
}

typedef int (*init_fn)(sqlite3*, char**, const sqlite3_api_routines*);

int main(void){
  const char *zExt = getenv("CVEC_EXT");
  char zPath[4096];
  if( zExt==0 ){
    printf("CVEC_EXT is not set\n0 passed, 1 failed\n");
    return 1;
  }
  snprintf(zPath, sizeof(zPath), "%s.so", zExt);
  void *h = dlopen(zPath, RTLD_NOW|RTLD_LOCAL);
  CHECK("1.0 dlopen the module", h!=0);
  if( h==0 ){
    printf("%s\n%d passed, %d failed\n", dlerror(), nPass, nFail);
    return 1;
  }
  init_fn xInit = (init_fn)dlsym(h, "sqlite3_cvec_init");
  CHECK("1.1 sqlite3_cvec_init is exported", xInit!=0);
  CHECK("1.2 nothing else of ours is exported",
        dlsym(h, "cvec_seg_open")==0 && dlsym(h, "cvec_register_vtab")==0);

  static sqlite3_api_routines api;
  memset(&api, 0, sizeof(api));
  api.libversion_number = fake_libversion_number;
  api.libversion = fake_libversion;
  api.mprintf = fake_mprintf;

  fakeVersion = 3037002;
  fakeVersionText = "3.37.2";
  char *zErr = 0;
  int rc = xInit ? xInit(0, &zErr, &api) : -1;
  CHECK("2.0 SQLite 3.37.2 is refused", rc==SQLITE_ERROR);
  CHECK("2.1 with a message naming both versions", zErr && strcmp(zErr,
        "cvec: requires SQLite 3.38.0 or later (this is 3.37.2)")==0);
  if( zErr ) printf("(message: %s)\n", zErr);
  free(zErr);

  dlclose(h);
  printf("%d passed, %d failed\n", nPass, nFail);
  return nFail>0;
}
