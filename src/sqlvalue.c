/*
** sqlvalue.c — turning SQL values into ids and vectors, shared by the virtual
** table (INSERT, WHERE id = ?) and the SQL functions.  Messages name the value
** at fault and what was expected (SPEC §5).
*/
#include "cvec_ext.h"
#include "cvec_segment.h"
#include "vecjson.h"

#include <math.h>
#include <string.h>

int cvec_id_from_value(sqlite3_value *v, uint32_t *pId){
  switch( sqlite3_value_numeric_type(v) ){
    case SQLITE_NULL:
      return CVEC_ID_NULL;
    case SQLITE_INTEGER: {
      sqlite3_int64 i = sqlite3_value_int64(v);
      if( i<1 || i>(sqlite3_int64)CVEC_MAX_ID ) return CVEC_ID_RANGE;
      *pId = (uint32_t)i;
      return CVEC_ID_OK;
    }
    case SQLITE_FLOAT: {
      double d = sqlite3_value_double(v);
      if( !(d==floor(d)) ) return CVEC_ID_NOTINT;   /* also NaN */
      if( d<1.0 || d>(double)CVEC_MAX_ID ) return CVEC_ID_RANGE;
      *pId = (uint32_t)d;
      return CVEC_ID_OK;
    }
    default:
      return CVEC_ID_NOTINT;
  }
}

/* The article and name of a value's type, for messages. */
static const char *type_name(int eType){
  switch( eType ){
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT:   return "a real";
    case SQLITE_TEXT:    return "text";
    case SQLITE_BLOB:    return "a blob";
    default:             return "NULL";
  }
}

/*
** True if any of the n float32 at a is NaN or infinite (all exponent bits
** set).  On little-endian hosts the loop reads the words as they are and
** vectorizes; this runs for every INSERT.
*/
static int any_nonfinite(const unsigned char *a, uint32_t n){
  uint32_t bad = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__==__ORDER_LITTLE_ENDIAN__
  for(uint32_t i=0; i<n; i++){
    uint32_t u;
    memcpy(&u, a+4*(size_t)i, 4);
    bad |= (u & 0x7f800000u)==0x7f800000u;
  }
#else
  for(uint32_t i=0; i<n; i++){
    bad |= (cvec_get_u32le(a+4*(size_t)i) & 0x7f800000u)==0x7f800000u;
  }
#endif
  return bad!=0;
}

int cvec_vector_from_value(sqlite3_value *v, const char *zSubjectFmt,
                           sqlite3_int64 iSubject, uint32_t dim,
                           const unsigned char **paBytes, uint32_t *pn,
                           void **ppFree, char **pzErr){
  int eType = sqlite3_value_type(v);
  char zSubject[64];
  *ppFree = 0;
  *pzErr = 0;
#define SUBJECT() (sqlite3_snprintf(sizeof(zSubject), zSubject, zSubjectFmt, \
                                    iSubject), zSubject)
  if( eType==SQLITE_BLOB ){
    const unsigned char *a = sqlite3_value_blob(v);
    int nByte = sqlite3_value_bytes(v);
    if( nByte%4 ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "%s is a blob of %d byte%s, "
                               "not a whole number of float32", SUBJECT(), nByte,
                               nByte==1 ? "" : "s");
      return SQLITE_ERROR;
    }
    uint32_t n = (uint32_t)(nByte/4);
    if( dim ? n!=dim : n==0 ){
      *pzErr = dim ?
        sqlite3_mprintf(CVEC_PREFIX "%s has %u float%s; table expects %u",
                        SUBJECT(), n, n==1 ? "" : "s", dim) :
        sqlite3_mprintf(CVEC_PREFIX "%s is empty", SUBJECT());
      return SQLITE_ERROR;
    }
    if( any_nonfinite(a, n) ){
      for(uint32_t i=0; i<n; i++){
        float f = cvec_get_f32le(a+4*(size_t)i);
        if( !isfinite(f) ){
          *pzErr = sqlite3_mprintf(CVEC_PREFIX "%s: element %u (%s) is not "
                                   "finite", SUBJECT(), i, isnan(f) ? "NaN" :
                                   f>0 ? "Infinity" : "-Infinity");
          return SQLITE_ERROR;
        }
      }
    }
    *paBytes = a;
    *pn = n;
    return SQLITE_OK;
  }
  if( eType==SQLITE_TEXT ){
    const char *z = (const char*)sqlite3_value_text(v);
    int nText = sqlite3_value_bytes(v);
    char zErr[200];
    uint32_t n = 0;
    float *af = 0;
    if( z==0 ) return SQLITE_NOMEM;
    /* With the size known (INSERT) one pass parses into a buffer of that
    ** size and counts the rest; with it open (the functions), a first pass
    ** counts. */
    if( dim ){
      af = sqlite3_malloc64((sqlite3_uint64)dim*4);
      if( af==0 ) return SQLITE_NOMEM;
    }
    int rc = cvec_json_parse(z, (size_t)nText, af, dim, &n, zErr, sizeof(zErr));
    if( rc==CVEC_JSON_OK && (dim ? n!=dim : n==0) ){
      sqlite3_free(af);
      *pzErr = dim ?
        sqlite3_mprintf(CVEC_PREFIX "%s has %u float%s; table expects %u",
                        SUBJECT(), n, n==1 ? "" : "s", dim) :
        sqlite3_mprintf(CVEC_PREFIX "%s is empty", SUBJECT());
      return SQLITE_ERROR;
    }
    if( rc ){
      sqlite3_free(af);
      if( rc==CVEC_JSON_NOMEM ) return SQLITE_NOMEM;
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "%s: %s", SUBJECT(), zErr);
      return SQLITE_ERROR;
    }
    if( af==0 ){
      af = sqlite3_malloc64((sqlite3_uint64)n*4);
      if( af==0 ) return SQLITE_NOMEM;
      rc = cvec_json_parse(z, (size_t)nText, af, n, &n, zErr, sizeof(zErr));
      if( rc ){   /* the same text parsed a moment ago: only OOM */
        sqlite3_free(af);
        return SQLITE_NOMEM;
      }
    }
    /* Store as little-endian in place (a no-op on little-endian hosts). */
    for(uint32_t i=0; i<n; i++){
      cvec_put_f32le((unsigned char*)&af[i], af[i]);
    }
    *ppFree = af;
    *paBytes = (const unsigned char*)af;
    *pn = n;
    return SQLITE_OK;
  }
  *pzErr = sqlite3_mprintf(CVEC_PREFIX "%s is %s; expected a BLOB of float32 "
                           "or JSON text", SUBJECT(), type_name(eType));
  return SQLITE_ERROR;
}

const float *cvec_native_floats(const unsigned char *a, uint32_t n, float **ppCopy){
  *ppCopy = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__==__ORDER_LITTLE_ENDIAN__
  if( ((uintptr_t)a & 3)==0 ) return (const float*)(const void*)a;
#endif
  float *f = sqlite3_malloc64((sqlite3_uint64)n*sizeof(float) + 1);
  if( f==0 ) return 0;
  for(uint32_t i=0; i<n; i++) f[i] = cvec_get_f32le(a+4*(size_t)i);
  *ppCopy = f;
  return f;
}
