/*
** extension.c — the entry point of the cvec loadable extension.
**
**   .load ./cvec          (sqlite3 CLI; SQLite derives sqlite3_cvec_init)
**   SELECT load_extension('./cvec');
**
** The only symbol the module exports is sqlite3_cvec_init (libtool's
** -export-symbols-regex); everything else stays inside, because SQLite
** dlopen()s extensions with RTLD_GLOBAL.
*/
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "cvec_ext.h"

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_cvec_init(sqlite3 *db, char **pzErrMsg,
                      const sqlite3_api_routines *pApi){
  SQLITE_EXTENSION_INIT2(pApi);
  /* The module was compiled against >= 3.38 headers, but may be loaded by an
  ** older library whose API table lacks the slots we call. */
  if( sqlite3_libversion_number() < 3038000 ){
    *pzErrMsg = sqlite3_mprintf("cvec: requires SQLite 3.38.0 or later "
                                "(this is %s)", sqlite3_libversion());
    return SQLITE_ERROR;
  }
  cvec_registry *pReg = cvec_registry_new();
  if( pReg==0 ) return SQLITE_NOMEM;
  int rc = cvec_register_functions(db);
  if( rc==SQLITE_OK ) rc = cvec_register_vtab(db, pReg);
  if( rc==SQLITE_OK ) rc = cvec_register_check(db, pReg);
  cvec_registry_unref(pReg);   /* the registrations hold their own */
  return rc;
}
