/*
** fuzz_json.c — libFuzzer target for the JSON vector parser (src/vecjson.c).
**
** The input is the text handed to cvec_json_parse().  Checked, with abort()
** on any disagreement:
**   - parsing with output arrays of several sizes (none, 1, 4, exactly the
**     count) gives the same result code, the same count and the same values,
**     and never writes past nOut (guard values after the array);
**   - the error message is a terminated string that fits its buffer, also a
**     tiny one (truncation);
**   - a successful parse yields only finite floats;
**   - cvec_json_print() of the values, parsed again, gives the same bits
**     (so -0 stays -0 and every float round-trips), and is itself a clean
**     array with exactly the same count.
**
** The process runs with a locale whose decimal point is ',' when one is
** installed (the parser and printer must not care).
**
**   make fuzz                   (builds with clang -fsanitize=fuzzer)
**   fuzz/replay_json FILE|DIR   (replays a corpus without libFuzzer)
*/
#include "vecjson.h"

#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do{ fprintf(stderr, "fuzz_json: " __VA_ARGS__);      \
                      fputc('\n', stderr); abort(); }while(0)

#define GUARD 4
static const uint32_t kGuard = 0x7fc0dead;   /* a NaN nobody parses to */

static void init_once(void){
  static int done = 0;
  if( done ) return;
  done = 1;
  static const char *azLoc[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                 "fr_FR.utf8", "ru_RU.UTF-8", 0 };
  for(int i=0; azLoc[i]; i++){
    if( setlocale(LC_ALL, azLoc[i]) ) break;
  }
}

/* Parse with an output array of nOut floats followed by guards. */
static int parse_n(const char *z, size_t n, uint32_t nOut, float **paOut,
                   uint32_t *pCount, char *zErr, size_t nErr){
  float *a = malloc(((size_t)nOut + GUARD)*sizeof(float));
  if( a==0 ) FAIL("out of memory");
  for(size_t i=0; i<(size_t)nOut+GUARD; i++) memcpy(&a[i], &kGuard, 4);
  int rc = cvec_json_parse(z, n, nOut ? a : 0, nOut, pCount, zErr, nErr);
  for(size_t i=nOut; i<(size_t)nOut+GUARD; i++){
    if( memcmp(&a[i], &kGuard, 4)!=0 ) FAIL("wrote past nOut=%u", nOut);
  }
  *paOut = a;
  return rc;
}

static void check_msg(const char *zErr, size_t nErr, int rc){
  if( rc==CVEC_JSON_OK ) return;   /* zErr is left alone */
  if( memchr(zErr, 0, nErr)==0 ) FAIL("error message not terminated");
  if( rc!=CVEC_JSON_OK && rc!=CVEC_JSON_NOMEM && zErr[0]==0 && nErr>1 ){
    FAIL("rc=%d without a message", rc);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  init_once();
  /* An exact-size heap copy, so that reading past n is caught even when the
  ** caller's buffer is larger (the standalone replay). */
  char *z = malloc(size ? size : 1);
  if( z==0 ) return 0;
  if( size ) memcpy(z, data, size);

  char zErr[200], zTiny[8];
  memset(zErr, 'x', sizeof(zErr));
  memset(zTiny, 'x', sizeof(zTiny));
  uint32_t nRef = 0;
  float *aRef;
  int rcRef = parse_n(z, size, 0, &aRef, &nRef, zErr, sizeof(zErr));
  check_msg(zErr, sizeof(zErr), rcRef);
  free(aRef);
  if( rcRef!=CVEC_JSON_OK && rcRef!=CVEC_JSON_SYNTAX && rcRef!=CVEC_JSON_RANGE ){
    free(z);
    return 0;   /* NOMEM: nothing to compare */
  }

  /* The full parse: every value. */
  uint32_t nAll = 0;
  float *aAll;
  int rc = parse_n(z, size, nRef, &aAll, &nAll, zTiny, sizeof(zTiny));
  check_msg(zTiny, sizeof(zTiny), rc);
  if( rc!=rcRef || nAll!=nRef ){
    FAIL("nOut=%u: rc %d count %u, nOut=0: rc %d count %u",
         nRef, rc, nAll, rcRef, nRef);
  }

  /* Smaller arrays: the same answer and the same leading values.  The
  ** values stored before an error are those of the elements parsed. */
  static const uint32_t aSize[] = { 1, 4, 17 };
  for(size_t k=0; k<sizeof(aSize)/sizeof(aSize[0]); k++){
    uint32_t nOut = aSize[k], nGot = 0;
    float *a;
    char zE[200];
    memset(zE, 'x', sizeof(zE));
    int rc2 = parse_n(z, size, nOut, &a, &nGot, zE, sizeof(zE));
    if( rc2!=rcRef || nGot!=nRef ){
      FAIL("nOut=%u: rc %d count %u, nOut=0: rc %d count %u",
           nOut, rc2, nGot, rcRef, nRef);
    }
    if( rcRef!=CVEC_JSON_OK && strcmp(zE, zErr)!=0 ){
      FAIL("message differs with nOut=%u", nOut);
    }
    uint32_t nCmp = nOut<nRef ? nOut : nRef;
    if( nCmp && memcmp(a, aAll, (size_t)nCmp*4)!=0 ){
      FAIL("values differ with nOut=%u", nOut);
    }
    free(a);
  }

  if( rcRef==CVEC_JSON_OK ){
    for(uint32_t i=0; i<nRef; i++){
      if( !isfinite(aAll[i]) ) FAIL("element %u is not finite", i);
    }
    size_t len = 0;
    char *zOut = cvec_json_print(aAll, nRef, &len);
    if( zOut==0 ) FAIL("cvec_json_print returned NULL");
    if( strlen(zOut)!=len ) FAIL("printed length %zu, strlen %zu", len, strlen(zOut));
    if( (size_t)nRef*32+3 < len+1 ) FAIL("printed past its buffer");
    /* Exactly the size of the text again, for ASan. */
    char *zCopy = malloc(len ? len : 1);
    if( zCopy==0 ) FAIL("out of memory");
    memcpy(zCopy, zOut, len);
    uint32_t nBack = 0;
    float *aBack;
    char zE[200];
    int rc3 = parse_n(zCopy, len, nRef, &aBack, &nBack, zE, sizeof(zE));
    if( rc3!=CVEC_JSON_OK ) FAIL("printed text %.*s does not parse: %s",
                                 (int)(len<200 ? len : 200), zOut, zE);
    if( nBack!=nRef ) FAIL("round trip: %u values, then %u", nRef, nBack);
    for(uint32_t i=0; i<nRef; i++){
      if( memcmp(&aBack[i], &aAll[i], 4)!=0 ){
        FAIL("round trip of element %u: %.9g printed as ... reads %.9g",
             i, (double)aAll[i], (double)aBack[i]);
      }
    }
    /* The printer's output is canonical: printing again gives the same. */
    size_t len2 = 0;
    char *zOut2 = cvec_json_print(aBack, nBack, &len2);
    if( zOut2==0 || len2!=len || memcmp(zOut, zOut2, len)!=0 ){
      FAIL("printing is not stable");
    }
    /* No spaces, no locale decimal comma: only these characters. */
    for(size_t i=0; i<len; i++){
      if( !strchr("[],-+.e0123456789", zOut[i]) ){
        FAIL("unexpected character '%c' in printed %s", zOut[i], zOut);
      }
    }
    free(zOut2);
    free(aBack);
    free(zCopy);
    free(zOut);
  }
  free(aAll);
  free(z);
  return 0;
}
