/*
** vecjson.h — vectors as JSON text: '[1, 2.5, -3]' <-> float32 values.
**
** Parsing follows RFC 8259's grammar strictly (no NaN, no Infinity, no
** trailing comma, no hex) and both directions ignore the process locale:
** numbers always use '.' as the decimal point.  No SQLite here, so that the
** parser can be tested and fuzzed on its own.
*/
#ifndef CVEC_VECJSON_H
#define CVEC_VECJSON_H

#include <stddef.h>
#include <stdint.h>

enum {
  CVEC_JSON_OK = 0,
  CVEC_JSON_SYNTAX,   /* not a JSON array of numbers */
  CVEC_JSON_RANGE,    /* a number that is not a finite float32 */
  CVEC_JSON_NOMEM
};

/*
** Parse the n bytes at z as a JSON array of numbers.  The first nOut values
** go to aOut (which may be NULL when nOut is 0); all are counted in *pCount, so
** that a caller expecting D values can report how many it got.  On error zErr
** (nErr bytes) says what and where, e.g. "bad JSON at offset 4: expected a
** number" or "element 2 (1e39) is not a finite float32".
*/
int cvec_json_parse(const char *z, size_t n, float *aOut, uint32_t nOut,
                    uint32_t *pCount, char *zErr, size_t nErr);

/*
** Print n floats as a JSON array, each with the fewest significant digits
** that read back to the same float32, laid out as JavaScript prints numbers
** ("[0.1,2,-3.5,100,1e-8]").  Returns a malloc()ed
** string (*pLen its length), or NULL on OOM.  The values must be finite.
*/
char *cvec_json_print(const float *a, uint32_t n, size_t *pLen);

#endif /* CVEC_VECJSON_H */
