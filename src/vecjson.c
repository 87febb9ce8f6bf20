/*
** vecjson.c — JSON text <-> float32 vectors (see vecjson.h).
**
** The scanner checks the JSON number grammar itself and hands only a checked
** token to strtod(); strtod() and snprintf() then run under the "C" locale
** (uselocale), so a process whose locale writes "2,5" still reads and prints
** "2.5".
*/
#define _GNU_SOURCE 1
#include "vecjson.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static locale_t cLocale = (locale_t)0;
static pthread_once_t cLocaleOnce = PTHREAD_ONCE_INIT;

static void make_c_locale(void){
  cLocale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Switch this thread to the C locale; returns the previous one (or 0 if the
** C locale could not be made, in which case nothing was switched). */
static locale_t enter_c_locale(void){
  pthread_once(&cLocaleOnce, make_c_locale);
  if( cLocale==(locale_t)0 ) return (locale_t)0;
  return uselocale(cLocale);
}

static void leave_c_locale(locale_t old){
  if( old!=(locale_t)0 ) uselocale(old);
}

static int is_ws(char c){ return c==' ' || c=='\t' || c=='\n' || c=='\r'; }
static int is_digit(char c){ return c>='0' && c<='9'; }

/* Length of the JSON number at z[0..n), or 0 if there is none. */
static size_t scan_number(const char *z, size_t n){
  size_t i = 0;
  if( i<n && z[i]=='-' ) i++;
  if( i<n && z[i]=='0' ){
    i++;
  }else if( i<n && is_digit(z[i]) ){
    while( i<n && is_digit(z[i]) ) i++;
  }else{
    return 0;
  }
  if( i<n && z[i]=='.' ){
    i++;
    if( i>=n || !is_digit(z[i]) ) return 0;
    while( i<n && is_digit(z[i]) ) i++;
  }
  if( i<n && (z[i]=='e' || z[i]=='E') ){
    i++;
    if( i<n && (z[i]=='+' || z[i]=='-') ) i++;
    if( i>=n || !is_digit(z[i]) ) return 0;
    while( i<n && is_digit(z[i]) ) i++;
  }
  return i;
}

int cvec_json_parse(const char *z, size_t n, float *aOut, uint32_t nOut,
                    uint32_t *pCount, char *zErr, size_t nErr){
  size_t i = 0;
  uint32_t cnt = 0;
  int rc = CVEC_JSON_OK;
  char tok[64];
  locale_t old = enter_c_locale();

  *pCount = 0;
  while( i<n && is_ws(z[i]) ) i++;
  if( i>=n || z[i]!='[' ){
    snprintf(zErr, nErr, "bad JSON at offset %zu: expected '['", i);
    rc = CVEC_JSON_SYNTAX;
    goto done;
  }
  i++;
  while( i<n && is_ws(z[i]) ) i++;
  if( i<n && z[i]==']' ){
    i++;
  }else{
    for(;;){
      while( i<n && is_ws(z[i]) ) i++;
      size_t len = scan_number(z+i, n-i);
      if( len==0 ){
        snprintf(zErr, nErr, "bad JSON at offset %zu: expected a number", i);
        rc = CVEC_JSON_SYNTAX;
        goto done;
      }
      /* A token too long for tok[] is still a valid number: keep its sign,
      ** leading digits and exponent by parsing it from a heap copy. */
      char *zNum = tok;
      if( len>=sizeof(tok) ){
        zNum = malloc(len+1);
        if( zNum==0 ){ rc = CVEC_JSON_NOMEM; goto done; }
      }
      memcpy(zNum, z+i, len);
      zNum[len] = 0;
      double d = strtod(zNum, 0);
      float f = (float)d;
      if( !isfinite(f) ){
        snprintf(zErr, nErr, "element %u (%.40s) is not a finite float32",
                 cnt, zNum);
        if( zNum!=tok ) free(zNum);
        rc = CVEC_JSON_RANGE;
        goto done;
      }
      if( zNum!=tok ) free(zNum);
      if( cnt<nOut ) aOut[cnt] = f;
      if( cnt==UINT32_MAX ){
        snprintf(zErr, nErr, "bad JSON: too many elements");
        rc = CVEC_JSON_SYNTAX;
        goto done;
      }
      cnt++;
      i += len;
      while( i<n && is_ws(z[i]) ) i++;
      if( i<n && z[i]==',' ){ i++; continue; }
      if( i<n && z[i]==']' ){ i++; break; }
      snprintf(zErr, nErr, "bad JSON at offset %zu: expected ',' or ']'", i);
      rc = CVEC_JSON_SYNTAX;
      goto done;
    }
  }
  while( i<n && is_ws(z[i]) ) i++;
  if( i<n ){
    snprintf(zErr, nErr, "bad JSON at offset %zu: text after ']'", i);
    rc = CVEC_JSON_SYNTAX;
  }
done:
  leave_c_locale(old);
  *pCount = cnt;
  return rc;
}

char *cvec_json_print(const float *a, uint32_t n, size_t *pLen){
  /* "%.9g" of a float32 needs at most 15 bytes ("-1.17549435e-38"); a comma
  ** each, brackets and the terminator. */
  size_t cap = (size_t)n*16 + 3;
  char *z = malloc(cap);
  if( z==0 ) return 0;
  locale_t old = enter_c_locale();
  size_t j = 0;
  z[j++] = '[';
  for(uint32_t i=0; i<n; i++){
    char b[32];
    int len = 0;
    if( i>0 ) z[j++] = ',';
    for(int prec=1; prec<=9; prec++){
      len = snprintf(b, sizeof(b), "%.*g", prec, (double)a[i]);
      if( strtof(b, 0)==a[i] ) break;
    }
    memcpy(z+j, b, (size_t)len);
    j += (size_t)len;
  }
  z[j++] = ']';
  z[j] = 0;
  leave_c_locale(old);
  if( pLen ) *pLen = j;
  return z;
}
