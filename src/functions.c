/*
** functions.c — the scalar SQL functions of cvec:
**
**   cvec_version()        the extension's version, e.g. '0.1.0'
**   cvec_to_json(v)       a vector (BLOB of float32 LE, or JSON) as JSON text
**   cvec_from_json(v)     a vector (JSON text, or BLOB) as a BLOB of float32 LE
**
** Both conversions accept either form and check it fully (whole floats, all
** finite, valid JSON), so they double as validators.  NULL gives NULL.
*/
#include "config.h"
#include "cvec_ext.h"
#include "cvec_segment.h"
#include "vecjson.h"

#include <stdlib.h>
#include <string.h>

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  (void)argc; (void)argv;
  sqlite3_result_text(ctx, PACKAGE_VERSION, -1, SQLITE_STATIC);
}

/* Decode argv[0] for function zFunc; on error report it on ctx. */
static int decode_arg(sqlite3_context *ctx, sqlite3_value *v, const char *zFunc,
                      const unsigned char **pa, uint32_t *pn, void **ppFree){
  char *zErr = 0;
  char zSubject[64];
  /* zFunc holds no '%': the subject is its own format */
  sqlite3_snprintf(sizeof(zSubject), zSubject, "%s argument", zFunc);
  int rc = cvec_vector_from_value(v, zSubject, 0, 0, pa, pn, ppFree, &zErr);
  if( rc==SQLITE_NOMEM ){
    sqlite3_result_error_nomem(ctx);
  }else if( rc ){
    sqlite3_result_error(ctx, zErr, -1);
  }
  sqlite3_free(zErr);
  return rc;
}

static void fn_to_json(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const unsigned char *a;
  uint32_t n;
  void *pFree;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( decode_arg(ctx, argv[0], "cvec_to_json", &a, &n, &pFree) ) return;
  float *af = sqlite3_malloc64((sqlite3_uint64)n*sizeof(float));
  if( af ){
    for(uint32_t i=0; i<n; i++) af[i] = cvec_get_f32le(a+4*(size_t)i);
  }
  size_t len = 0;
  char *z = af ? cvec_json_print(af, n, &len) : 0;
  if( z ){
    sqlite3_result_text64(ctx, z, len, free, SQLITE_UTF8);
  }else{
    sqlite3_result_error_nomem(ctx);
  }
  sqlite3_free(af);
  sqlite3_free(pFree);
}

static void fn_from_json(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const unsigned char *a;
  uint32_t n;
  void *pFree;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL ) return;
  if( decode_arg(ctx, argv[0], "cvec_from_json", &a, &n, &pFree) ) return;
  sqlite3_result_blob64(ctx, a, (sqlite3_uint64)n*4, SQLITE_TRANSIENT);
  sqlite3_free(pFree);
}

int cvec_register_functions(sqlite3 *db){
  /* Pure functions of their arguments: safe anywhere, even in views and
  ** triggers, unlike the virtual table. */
  const int flags = SQLITE_UTF8|SQLITE_DETERMINISTIC|SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "cvec_version", 0, flags, 0,
                                   fn_version, 0, 0);
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "cvec_to_json", 1, flags, 0,
                                 fn_to_json, 0, 0);
  }
  if( rc==SQLITE_OK ){
    rc = sqlite3_create_function(db, "cvec_from_json", 1, flags, 0,
                                 fn_from_json, 0, 0);
  }
  return rc;
}
