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
      /* strtof rounds once, to the nearest float32 (strtod and a cast would
      ** round twice, and miss by one unit now and then); it overflows to
      ** infinity, which the check below refuses. */
      float f = strtof(zNum, 0);
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

/*
** Write the float32 f (finite) into z as a JSON number with the fewest
** significant digits that read back to the same float32, laid out as
** JavaScript prints numbers: plain for 1e-6 <= |f| < 1e21 ("100", "0.25",
** "0.000001"), with an exponent otherwise ("1e-7", "3.4028235e+38").
** Returns the length.  z has room for 32 bytes.
*/
static int format_f32(char *z, float f){
  char e[32];
  int prec, j = 0;
  /* shortest round trip: "%.{prec-1}e" gives d.ddde[+-]XX */
  for(prec=1; prec<=9; prec++){
    snprintf(e, sizeof(e), "%.*e", prec-1, (double)f);
    if( strtof(e, 0)==f ) break;
  }
  const char *s = e;
  if( *s=='-' ){ z[j++] = '-'; s++; }
  char digits[16];
  int nd = 0;
  for(; *s && *s!='e'; s++){
    if( *s>='0' && *s<='9' ) digits[nd++] = *s;
  }
  int exp10 = (*s=='e') ? atoi(s+1) : 0;
  while( nd>1 && digits[nd-1]=='0' ) nd--;        /* 2.50 -> 2.5 */
  if( nd==1 && digits[0]=='0' ){                  /* zero, keeps its sign */
    z[j++] = '0';
  }else if( exp10>=0 && exp10<21 ){
    for(int i=0; i<nd || i<=exp10; i++){
      if( i==exp10+1 ) z[j++] = '.';
      z[j++] = i<nd ? digits[i] : '0';
    }
  }else if( exp10<0 && exp10>=-6 ){
    z[j++] = '0';
    z[j++] = '.';
    for(int i=-1; i>exp10; i--) z[j++] = '0';
    for(int i=0; i<nd; i++) z[j++] = digits[i];
  }else{
    z[j++] = digits[0];
    if( nd>1 ){
      z[j++] = '.';
      for(int i=1; i<nd; i++) z[j++] = digits[i];
    }
    j += snprintf(z+j, 8, "e%c%d", exp10<0 ? '-' : '+', exp10<0 ? -exp10 : exp10);
  }
  z[j] = 0;
  return j;
}

char *cvec_json_print(const float *a, uint32_t n, size_t *pLen){
  /* A number takes at most 31 bytes (a sign, 9 digits, 20 zeros and a point
  ** for values near 1e21, or a sign, 9 digits, a point and "e-45"); a comma
  ** each, brackets and the terminator. */
  size_t cap = (size_t)n*32 + 3;
  char *z = malloc(cap);
  if( z==0 ) return 0;
  locale_t old = enter_c_locale();
  size_t j = 0;
  z[j++] = '[';
  for(uint32_t i=0; i<n; i++){
    if( i>0 ) z[j++] = ',';
    j += (size_t)format_f32(z+j, a[i]);
  }
  z[j++] = ']';
  z[j] = 0;
  leave_c_locale(old);
  if( pLen ) *pLen = j;
  return z;
}
