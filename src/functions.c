/*
** functions.c — the scalar SQL functions of cvec:
**
**   cvec_version()        the extension's version, e.g. '0.1.0'
**   cvec_to_json(v)       a vector (BLOB of float32 LE, or JSON) as JSON text
**   cvec_from_json(v)     a vector (JSON text, or BLOB) as a BLOB of float32 LE
**   cvec_distance_l2(a, b)      Euclidean distance
**   cvec_distance_cosine(a, b)  1 - cosine similarity
**   cvec_distance_dot(a, b)     minus the inner product (smaller is nearer)
**
** Both conversions accept either form and check it fully (whole floats, all
** finite, valid JSON), so they double as validators.  NULL gives NULL.
*/
#include "config.h"
#include "cvec_ext.h"
#include "cvec_segment.h"
#include "distance.h"
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


/*
** cvec_distance_*(a, b): the metric is the function's user data.  Either
** argument NULL gives NULL; vectors of different sizes are an error naming
** both sizes.
*/
static void fn_distance(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  int metric = (int)(intptr_t)sqlite3_user_data(ctx);
  static const char *azName[] = {
    "cvec_distance_l2", "cvec_distance_cosine", "cvec_distance_dot"
  };
  const char *zFunc = azName[metric];
  const unsigned char *a, *b;
  uint32_t na, nb;
  void *pFreeA = 0, *pFreeB = 0;
  float *pCopyA = 0, *pCopyB = 0;
  (void)argc;
  if( sqlite3_value_type(argv[0])==SQLITE_NULL
   || sqlite3_value_type(argv[1])==SQLITE_NULL ) return;
  if( decode_arg(ctx, argv[0], zFunc, &a, &na, &pFreeA) ) return;
  if( decode_arg(ctx, argv[1], zFunc, &b, &nb, &pFreeB) ) goto done;
  if( na!=nb ){
    char *z = sqlite3_mprintf(CVEC_PREFIX "%s: vectors of %u and %u floats",
                              zFunc, na, nb);
    sqlite3_result_error(ctx, z ? z : CVEC_PREFIX "vectors differ in size", -1);
    sqlite3_free(z);
    goto done;
  }
  const float *fa = cvec_native_floats(a, na, &pCopyA);
  const float *fb = cvec_native_floats(b, nb, &pCopyB);
  if( fa==0 || fb==0 ){
    sqlite3_result_error_nomem(ctx);
    goto done;
  }
  const cvec_kernels *k = cvec_kernels_best();
  sqlite3_result_double(ctx, cvec_distance(k, metric, fa, k->xNorm2(fa, na), fb, na));
done:
  sqlite3_free(pCopyA);
  sqlite3_free(pCopyB);
  sqlite3_free(pFreeA);
  sqlite3_free(pFreeB);
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
  static const struct { const char *zName; int metric; } aDist[] = {
    { "cvec_distance_l2",     CVEC_METRIC_L2 },
    { "cvec_distance_cosine", CVEC_METRIC_COSINE },
    { "cvec_distance_dot",    CVEC_METRIC_DOT },
  };
  /* Not SQLITE_DETERMINISTIC: the last bits of a distance depend on the
  ** kernel this CPU runs (README), so an index or generated column built on
  ** one machine might not match another. */
  for(int i=0; rc==SQLITE_OK && i<3; i++){
    rc = sqlite3_create_function(db, aDist[i].zName, 2,
                                 SQLITE_UTF8|SQLITE_INNOCUOUS,
                                 (void*)(intptr_t)aDist[i].metric, fn_distance, 0, 0);
  }
  return rc;
}
