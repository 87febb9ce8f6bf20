/*
** check.c — integrity check and repair from SQL:
**
**   SELECT * FROM cvec_check('items');                -- a cvec_segment table
**   SELECT * FROM cvec_check('vectors/segment_0.vec'); -- or a segment file
**   SELECT cvec_repair('items', 'adopt');              -- or 'discard'
**
** cvec_check is an eponymous table-valued function over the storage core's
** cvec_seg_check(): one row per problem (kind, record, id, detail), no rows
** for a sound segment.  cvec_repair() runs cvec_seg_repair(), which only an
** explicit call ever does.  A target names a cvec_segment table of this
** connection (its file, resolved as the table resolves it) or, failing
** that, a file path relative to the current directory.  Both read or write
** files named by their argument, so neither may be used from a view or a
** trigger (DIRECTONLY).
*/
#define _POSIX_C_SOURCE 200809L   /* access() */
#include "cvec_ext.h"
#include "cvec_segment.h"

#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Targets                                                                   */
/* ------------------------------------------------------------------------ */

/*
** The file that zTarget names: a cvec_segment table's, else zTarget itself.
** *pzPath (to open) and *pzName (for messages) are sqlite3_malloc()ed.
** A table that SQLite has not connected yet in this connection (a fresh
** connection, a schema reset) is connected by preparing a statement on it.
** Returns SQLITE_CANTOPEN, with *pzErr set, if zTarget is neither a
** cvec_segment table nor an existing file.
*/
static int resolve_target(sqlite3 *db, cvec_registry *pReg, const char *zTarget,
                          char **pzPath, char **pzName, char **pzErr){
  const char *zPath = 0, *zName = 0;
  *pzErr = 0;
  if( cvec_vtab_find(pReg, zTarget, &zPath, &zName)==0 ){
    char *zSql = sqlite3_mprintf("SELECT 1 FROM \"%w\" LIMIT 0", zTarget);
    sqlite3_stmt *pStmt = 0;
    if( zSql==0 ) return SQLITE_NOMEM;
    (void)sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);   /* may well fail */
    sqlite3_finalize(pStmt);
    sqlite3_free(zSql);
  }
  if( cvec_vtab_find(pReg, zTarget, &zPath, &zName)==0 ){
    if( access(zTarget, F_OK) ){
      *pzErr = sqlite3_mprintf(CVEC_PREFIX "no cvec_segment table or file "
                               "named '%s'", zTarget);
      return *pzErr ? SQLITE_CANTOPEN : SQLITE_NOMEM;
    }
    zPath = zName = zTarget;
  }
  *pzPath = sqlite3_mprintf("%s", zPath);
  *pzName = sqlite3_mprintf("%s", zName);
  if( *pzPath==0 || *pzName==0 ){
    sqlite3_free(*pzPath);
    sqlite3_free(*pzName);
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}


/* ------------------------------------------------------------------------ */
/* cvec_check                                                                */
/* ------------------------------------------------------------------------ */

typedef struct check_row {
  char *zKind;
  sqlite3_int64 iRec, iId;   /* -1: none (NULL) */
  char *zDetail;
} check_row;

typedef struct check_vtab {
  sqlite3_vtab base;
  sqlite3 *db;
  cvec_registry *pReg;
} check_vtab;

typedef struct check_cursor {
  sqlite3_vtab_cursor base;
  check_row *aRow;
  int nRow, nAlloc, iRow;
  int rc;                    /* SQLITE_NOMEM if a row could not be kept */
} check_cursor;

#define CHECK_COL_TARGET 4

static int check_connect(sqlite3 *db, void *pAux, int argc,
                         const char *const*argv, sqlite3_vtab **ppVtab,
                         char **pzErr){
  (void)argc; (void)argv; (void)pzErr;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(kind TEXT, record INTEGER,"
                                    " id INTEGER, detail TEXT, target HIDDEN)");
  if( rc ) return rc;
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  check_vtab *p = sqlite3_malloc(sizeof(*p));
  if( p==0 ) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pReg = (cvec_registry*)pAux;
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int check_disconnect(sqlite3_vtab *pVtab){
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* Plan 1: the target is given (argv[0]); plan 0: it is not (an error at
** xFilter, so that the message can say what is missing). */
static int check_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo){
  (void)pVtab;
  int seen = 0;
  for(int i=0; i<pInfo->nConstraint; i++){
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if( c->iColumn!=CHECK_COL_TARGET || c->op!=SQLITE_INDEX_CONSTRAINT_EQ ) continue;
    seen = 1;
    if( !c->usable ) continue;
    pInfo->aConstraintUsage[i].argvIndex = 1;
    pInfo->aConstraintUsage[i].omit = 1;
    pInfo->idxNum = 1;
    pInfo->estimatedCost = 10;
    return SQLITE_OK;
  }
  if( seen ) return SQLITE_CONSTRAINT;   /* wait for a plan that has it */
  pInfo->idxNum = 0;
  pInfo->estimatedCost = 1e12;
  return SQLITE_OK;
}

static int check_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCur){
  (void)pVtab;
  check_cursor *c = sqlite3_malloc(sizeof(*c));
  if( c==0 ) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  *ppCur = &c->base;
  return SQLITE_OK;
}

static void check_reset(check_cursor *c){
  for(int i=0; i<c->nRow; i++){
    sqlite3_free(c->aRow[i].zKind);
    sqlite3_free(c->aRow[i].zDetail);
  }
  c->nRow = c->iRow = 0;
  c->rc = SQLITE_OK;
}

static int check_close(sqlite3_vtab_cursor *cur){
  check_cursor *c = (check_cursor*)cur;
  check_reset(c);
  sqlite3_free(c->aRow);
  sqlite3_free(c);
  return SQLITE_OK;
}

/* cvec_problem_fn: keep the problem as a row. */
static int check_collect(void *ctx, const char *zKind, int64_t iRec, int64_t iId,
                         const char *zDetail){
  check_cursor *c = ctx;
  if( c->nRow>=c->nAlloc ){
    int n = c->nAlloc ? c->nAlloc*2 : 8;
    check_row *a = sqlite3_realloc64(c->aRow, (sqlite3_uint64)n*sizeof(*a));
    if( a==0 ){ c->rc = SQLITE_NOMEM; return 1; }
    c->aRow = a;
    c->nAlloc = n;
  }
  check_row *r = &c->aRow[c->nRow];
  r->zKind = sqlite3_mprintf("%s", zKind);
  r->zDetail = sqlite3_mprintf("%s", zDetail);
  r->iRec = iRec;
  r->iId = iId;
  c->nRow++;
  if( r->zKind==0 || r->zDetail==0 ){ c->rc = SQLITE_NOMEM; return 1; }
  return 0;
}

static int check_filter(sqlite3_vtab_cursor *cur, int idxNum, const char *idxStr,
                        int argc, sqlite3_value **argv){
  check_cursor *c = (check_cursor*)cur;
  check_vtab *p = (check_vtab*)cur->pVtab;
  (void)idxStr; (void)argc;
  check_reset(c);
  const char *zTarget = idxNum ? (const char*)sqlite3_value_text(argv[0]) : 0;
  if( zTarget==0 ){
    sqlite3_free(p->base.zErrMsg);
    p->base.zErrMsg = sqlite3_mprintf(CVEC_PREFIX "cvec_check needs a table "
        "or file: SELECT * FROM cvec_check('items')");
    return SQLITE_ERROR;
  }
  char *zPath, *zName, *zErr0;
  int rc = resolve_target(p->db, p->pReg, zTarget, &zPath, &zName, &zErr0);
  if( rc ){
    if( zErr0 ){
      sqlite3_free(p->base.zErrMsg);
      p->base.zErrMsg = zErr0;
    }
    return rc;
  }
  char zErr[CVEC_ERRMSG_MAX];
  int crc = cvec_seg_check(zPath, zName, check_collect, c, zErr);
  sqlite3_free(zPath);
  sqlite3_free(zName);
  if( c->rc ) return c->rc;
  if( crc ){
    sqlite3_free(p->base.zErrMsg);
    p->base.zErrMsg = sqlite3_mprintf(CVEC_PREFIX "%s", zErr);
    return cvec_sqlite_code(crc);
  }
  return SQLITE_OK;
}

static int check_next(sqlite3_vtab_cursor *cur){
  ((check_cursor*)cur)->iRow++;
  return SQLITE_OK;
}

static int check_eof(sqlite3_vtab_cursor *cur){
  check_cursor *c = (check_cursor*)cur;
  return c->iRow >= c->nRow;
}

static int check_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int i){
  check_cursor *c = (check_cursor*)cur;
  check_row *r = &c->aRow[c->iRow];
  switch( i ){
    case 0: sqlite3_result_text(ctx, r->zKind, -1, SQLITE_TRANSIENT); break;
    case 1: if( r->iRec>=0 ) sqlite3_result_int64(ctx, r->iRec); break;
    case 2: if( r->iId>=0 ) sqlite3_result_int64(ctx, r->iId); break;
    case 3: sqlite3_result_text(ctx, r->zDetail, -1, SQLITE_TRANSIENT); break;
    default: break;   /* target: not kept */
  }
  return SQLITE_OK;
}

static int check_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *pRowid){
  *pRowid = ((check_cursor*)cur)->iRow + 1;
  return SQLITE_OK;
}

/* Eponymous only: no xCreate, so CREATE VIRTUAL TABLE ... USING cvec_check
** is refused. */
static const sqlite3_module checkModule = {
  /* iVersion    */ 0,
  /* xCreate     */ 0,
  /* xConnect    */ check_connect,
  /* xBestIndex  */ check_best_index,
  /* xDisconnect */ check_disconnect,
  /* xDestroy    */ 0,
  /* xOpen       */ check_open,
  /* xClose      */ check_close,
  /* xFilter     */ check_filter,
  /* xNext       */ check_next,
  /* xEof        */ check_eof,
  /* xColumn     */ check_column,
  /* xRowid      */ check_rowid,
  /* xUpdate     */ 0,
  /* xBegin      */ 0,
  /* xSync       */ 0,
  /* xCommit     */ 0,
  /* xRollback   */ 0,
  /* xFindFunction */ 0,
  /* xRename     */ 0,
  /* xSavepoint  */ 0,
  /* xRelease    */ 0,
  /* xRollbackTo */ 0,
  /* xShadowName */ 0,
#if SQLITE_VERSION_NUMBER >= 3044000
  /* xIntegrity  */ 0,
#endif
};

/* ------------------------------------------------------------------------ */
/* cvec_repair                                                               */
/* ------------------------------------------------------------------------ */

static void fn_repair(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  cvec_registry *pReg = sqlite3_user_data(ctx);
  (void)argc;
  const char *zTarget = (const char*)sqlite3_value_text(argv[0]);
  const char *zMode = (const char*)sqlite3_value_text(argv[1]);
  int mode = 0;
  if( zMode && sqlite3_stricmp(zMode, "adopt")==0 ) mode = CVEC_REPAIR_ADOPT;
  if( zMode && sqlite3_stricmp(zMode, "discard")==0 ) mode = CVEC_REPAIR_DISCARD;
  if( zTarget==0 ){
    sqlite3_result_error(ctx, CVEC_PREFIX "cvec_repair(target, mode): target "
                         "is NULL", -1);
    return;
  }
  if( mode==0 ){
    char *z = sqlite3_mprintf(CVEC_PREFIX "cvec_repair(target, mode): mode "
                              "'%s' is not 'adopt' or 'discard'",
                              zMode ? zMode : "NULL");
    sqlite3_result_error(ctx, z ? z : "out of memory", -1);
    sqlite3_free(z);
    return;
  }
  char *zPath, *zName, *zErr0;
  int rrc = resolve_target(sqlite3_context_db_handle(ctx), pReg, zTarget,
                           &zPath, &zName, &zErr0);
  if( rrc ){
    if( zErr0 ){
      sqlite3_result_error(ctx, zErr0, -1);
      sqlite3_result_error_code(ctx, rrc);
      sqlite3_free(zErr0);
    }else{
      sqlite3_result_error_nomem(ctx);
    }
    return;
  }
  char zErr[CVEC_ERRMSG_MAX];
  uint32_t nOld = 0, nNew = 0;
  int rc = cvec_seg_repair(zPath, zName, mode, &nOld, &nNew, zErr);
  if( rc ){
    char *z = sqlite3_mprintf(CVEC_PREFIX "%s", zErr);
    sqlite3_result_error(ctx, z ? z : "out of memory", -1);
    sqlite3_result_error_code(ctx, cvec_sqlite_code(rc));
    sqlite3_free(z);
  }else{
    char *z = sqlite3_mprintf("%s: count %u -> %u", zName, nOld, nNew);
    if( z ) sqlite3_result_text(ctx, z, -1, sqlite3_free);
    else sqlite3_result_error_nomem(ctx);
  }
  sqlite3_free(zPath);
  sqlite3_free(zName);
}

int cvec_register_check(sqlite3 *db, cvec_registry *pReg){
  cvec_registry_ref(pReg);
  int rc = sqlite3_create_module_v2(db, "cvec_check", &checkModule, pReg,
                                    cvec_registry_unref);
  if( rc ) return rc;
  cvec_registry_ref(pReg);
  /* It rewrites files named by its argument: direct use only. */
  return sqlite3_create_function_v2(db, "cvec_repair", 2,
                                    SQLITE_UTF8|SQLITE_DIRECTONLY, pReg,
                                    fn_repair, 0, 0, cvec_registry_unref);
}
