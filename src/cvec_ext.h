/*
** cvec_ext.h — what the SQLite-facing files of cvec share: the extension
** API pointer (SQLITE_EXTENSION_INIT3), the registration functions, and the
** decoding of SQL values into ids and vectors.
**
** extension.c  entry point sqlite3_cvec_init: version check, registration
** vtab.c       the cvec_segment virtual table, over the storage core
** functions.c  cvec_version(), cvec_to_json(), cvec_from_json()
** check.c      cvec_check() and cvec_repair()
** sqlvalue.c   SQL values -> ids and float32 vectors, with error messages
**
** Every error message starts with CVEC_PREFIX, except the duplicate-id error,
** which reads as SQLite's own ("UNIQUE constraint failed: items.id").
*/
#ifndef CVEC_EXT_H
#define CVEC_EXT_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#include <stdint.h>

#if SQLITE_VERSION_NUMBER < 3038000
# error "cvec requires SQLite 3.38.0 or later"
#endif

#define CVEC_PREFIX "cvec: "

/*
** The cvec_segment tables open in one connection, so that cvec_check() and
** cvec_repair() can find a table's file by the table's name.  Shared by the
** module and the functions that use it, each holding a reference (the
** last destructor SQLite calls frees it).
*/
typedef struct cvec_registry cvec_registry;
cvec_registry *cvec_registry_new(void);          /* one reference, yours */
void cvec_registry_ref(cvec_registry *pReg);
void cvec_registry_unref(void *pReg);            /* an xDestroy for SQLite */
/* The file of table zTable (any schema): 1 and *pzPath, *pzName set, or 0. */
int cvec_vtab_find(cvec_registry *pReg, const char *zTable,
                   const char **pzPath, const char **pzName);

/* The SQLite code for a storage-core result code (CVEC_*). */
int cvec_sqlite_code(int rc);

int cvec_register_vtab(sqlite3 *db, cvec_registry *pReg);
int cvec_register_check(sqlite3 *db, cvec_registry *pReg);
int cvec_register_functions(sqlite3 *db);

/*
** Read v as an id with the comparison rules of an INTEGER PRIMARY KEY: text
** that looks like a number is converted ('7' and 7.0 are 7).
** Returns CVEC_ID_OK (*pId set), CVEC_ID_NULL, CVEC_ID_NOTINT (not an integer
** value) or CVEC_ID_RANGE (an integer outside 1..4294967295).
*/
enum { CVEC_ID_OK, CVEC_ID_NULL, CVEC_ID_NOTINT, CVEC_ID_RANGE };
int cvec_id_from_value(sqlite3_value *v, uint32_t *pId);

/*
** Decode v, a BLOB of float32 LE or JSON text, into a vector.  Messages name
** it as printf(zSubjectFmt, iSubject), e.g. ("vector for id %lld", 7): the
** name is made only when there is an error to report (INSERT calls this
** for every row).  dim is the number of floats required
** (0: any number >= 1).  On success *paBytes points to the 4*(*pn) bytes of
** float32 LE, either inside v's blob or in *ppFree (sqlite3_free() it), and
** every value is finite.  On failure returns an SQLite code and sets *pzErr
** (sqlite3_malloc()ed, starting with CVEC_PREFIX).
*/
int cvec_vector_from_value(sqlite3_value *v, const char *zSubjectFmt,
                           sqlite3_int64 iSubject, uint32_t dim,
                           const unsigned char **paBytes, uint32_t *pn,
                           void **ppFree, char **pzErr);

/*
** The floats of a decoded vector (4*n bytes of float32 LE at a, as
** cvec_vector_from_value gives them) as native floats the distance kernels
** can read: a itself when it is 4-byte aligned on a little-endian host, else
** a converted copy in *ppCopy (sqlite3_free() it).  NULL on OOM.
*/
const float *cvec_native_floats(const unsigned char *a, uint32_t n, float **ppCopy);

#endif /* CVEC_EXT_H */
