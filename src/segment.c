/*
** segment.c — opening, validating, creating, mapping and reading a CVEC v1
** segment file (the format is in cvec_segment.h).
**
** A handle maps the file read-only (PROT_READ, MAP_SHARED) and reads records
** straight from the map; writes go through pwrite() in segment_write.c, and
** the kernel's page cache makes them visible in the map.  At open the id
** index file (segment_idxfile.c) is checked and mapped, and only records it
** does not cover yet are indexed in memory (segment_index.c); without a
** usable index file every record's id is read once.  Later commits by other
** handles are picked up by cvec_seg_refresh(), which reads the header's
** count and indexes only the new records.
*/
#define _GNU_SOURCE 1
#include "segment_int.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

int cvec_seg_error(cvec_seg *p, int rc, const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(p->zErr, sizeof(p->zErr), zFmt, ap);
  va_end(ap);
  return rc;
}

/* Same, into a caller's buffer (cvec_seg_open has no handle yet). */
static int open_error(char *zErr, int rc, const char *zFmt, ...)
  __attribute__((format(printf, 3, 4)));
static int open_error(char *zErr, int rc, const char *zFmt, ...){
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zErr, CVEC_ERRMSG_MAX, zFmt, ap);
  va_end(ap);
  return rc;
}

static ssize_t sys_pread(int fd, void *buf, size_t n, off_t off){
  return pread(fd, buf, n, off);
}
static ssize_t sys_pwrite(int fd, const void *buf, size_t n, off_t off){
  return pwrite(fd, buf, n, off);
}
static int sys_sync(int fd){
#if defined(__linux__)
  return fdatasync(fd);
#else
  return fsync(fd);
#endif
}
static int sys_ftruncate(int fd, off_t len){ return ftruncate(fd, len); }
static int sys_msync(void *addr, size_t len){ return msync(addr, len, MS_SYNC); }
static int sys_rename(const char *zFrom, const char *zTo){ return rename(zFrom, zTo); }

const cvec_io_methods cvec_io_default = {
  sys_pread, sys_pwrite, sys_sync, sys_ftruncate, sys_msync, sys_rename
};
cvec_io_methods cvec_io = {
  sys_pread, sys_pwrite, sys_sync, sys_ftruncate, sys_msync, sys_rename
};

int cvec_pwrite_all(int fd, const void *buf, size_t n, off_t off){
  const char *z = buf;
  while( n>0 ){
    ssize_t w = cvec_io.xPwrite(fd, z, n, off);
    if( w<0 ){
      if( errno==EINTR ) continue;
      return -1;
    }
    if( w==0 ){ errno = EIO; return -1; }
    z += w; n -= (size_t)w; off += w;
  }
  return 0;
}

int cvec_pread_all(int fd, void *buf, size_t n, off_t off){
  char *z = buf;
  while( n>0 ){
    ssize_t r = cvec_io.xPread(fd, z, n, off);
    if( r<0 ){
      if( errno==EINTR ) continue;
      return -1;
    }
    if( r==0 ){ errno = 0; return -1; }   /* end of file */
    z += r; n -= (size_t)r; off += r;
  }
  return 0;
}

int cvec_fdatasync(int fd){
  int rc;
  do{
    rc = cvec_io.xSync(fd);
  }while( rc<0 && errno==EINTR );
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Header validation                                                         */
/* ------------------------------------------------------------------------ */

/*
** Check the 16 header bytes of a file of fileSize bytes.  Each defect has its
** own message naming the file.  On success *pDim and *pCount are set.
*/
static int check_header(const unsigned char *h, off_t fileSize, const char *zName,
                        uint32_t *pDim, uint32_t *pCount, char *zErr){
  if( fileSize < (off_t)CVEC_HEADER_SIZE ){
    return open_error(zErr, CVEC_CORRUPT,
        "%s: file too short for a CVEC header (%lld bytes)",
        zName, (long long)fileSize);
  }
  if( memcmp(h, CVEC_MAGIC, 4)!=0 ){
    return open_error(zErr, CVEC_CORRUPT, "%s: bad magic", zName);
  }
  uint32_t version = cvec_get_u32le(h+4);
  if( version!=CVEC_VERSION_1 ){
    return open_error(zErr, CVEC_CORRUPT, "%s: unsupported version %u",
                      zName, version);
  }
  uint32_t dim = cvec_get_u32le(h+8);
  if( dim==0 || dim>CVEC_MAX_DIM ){
    return open_error(zErr, CVEC_CORRUPT,
        "%s: dimension %u in header is out of range 1..%u",
        zName, dim, CVEC_MAX_DIM);
  }
  uint32_t count = cvec_get_u32le(h+12);
  off_t need = (off_t)CVEC_HEADER_SIZE + (off_t)count*(off_t)(4+4*(size_t)dim);
  if( need > fileSize ){
    return open_error(zErr, CVEC_CORRUPT,
        "%s: count %u needs %lld bytes but the file has %lld",
        zName, count, (long long)need, (long long)fileSize);
  }
  *pDim = dim;
  *pCount = count;
  return CVEC_OK;
}

int cvec_seg_read_count(cvec_seg *p, uint32_t *pCount){
  unsigned char h[CVEC_HEADER_SIZE];
  struct stat st;
  uint32_t dim = 0;
  /* The count before the size: a writer makes the file longer before it
  ** raises the count, so read the other way round a commit landing in
  ** between would make a sound file look shorter than its count. */
  if( cvec_pread_all(p->fd, h, sizeof(h), 0) ){
    if( errno ){
      return cvec_seg_error(p, CVEC_IOERR, "%s: read failed: %s",
                            p->zName, strerror(errno));
    }
    memset(h, 0, sizeof(h));   /* shorter than a header: check_header says so */
  }
  if( fstat(p->fd, &st) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: fstat failed: %s",
                          p->zName, strerror(errno));
  }
  p->sizeSeen = st.st_size;
  int rc = check_header(h, st.st_size, p->zName, &dim, pCount, p->zErr);
  if( rc==CVEC_OK && dim!=p->dim ){
    rc = cvec_seg_error(p, CVEC_CORRUPT,
        "%s: header dimension changed from %u to %u", p->zName, p->dim, dim);
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Mapping and indexing                                                      */
/* ------------------------------------------------------------------------ */

int cvec_seg_map(cvec_seg *p, uint32_t n){
  size_t len = (size_t)cvec_rec_offset(p, n);
  if( (off_t)len != cvec_rec_offset(p, n) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: too large to map", p->zName);
  }
  if( p->map && len==p->mapLen ) return CVEC_OK;
  /* Mapping past end-of-file is allowed; only touching such pages faults,
  ** and records past the file's end are never read through the map. */
  void *m = mmap(0, len, PROT_READ, MAP_SHARED, p->fd, 0);
  if( m==MAP_FAILED ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: mmap failed: %s",
                          p->zName, strerror(errno));
  }
  if( cvec_seg_set_map(p, m, len) ){
    munmap(m, len);
    return cvec_seg_error(p, CVEC_NOMEM, "%s: out of memory", p->zName);
  }
  return CVEC_OK;
}

/* Keep the old map until no pointer into it can be alive.  Returns -1, with
** nothing changed, if the list of old maps cannot grow. */
int cvec_seg_set_map(cvec_seg *p, void *m, size_t len){
  if( p->map ){
    if( p->nOld>=p->nOldAlloc ){
      int n = p->nOldAlloc ? p->nOldAlloc*2 : 8;
      struct cvec_oldmap *a = realloc(p->aOld, (size_t)n*sizeof(*a));
      if( a==0 ) return -1;
      p->aOld = a;
      p->nOldAlloc = n;
    }
    p->aOld[p->nOld].map = p->map;
    p->aOld[p->nOld].len = p->mapLen;
    p->nOld++;
  }
  p->map = m;
  p->mapLen = len;
  return 0;
}

void cvec_seg_release_maps(cvec_seg *p){
  for(int i=0; i<p->nOld; i++) munmap(p->aOld[i].map, p->aOld[i].len);
  p->nOld = 0;
}

/*
** Record number of id's first occurrence below limit according to the index
** file, checked against the .vec; -1 if none, -2 on damage (a damaged slot,
** or a hit whose record holds another id).
*/
static int64_t file_lookup(cvec_seg *p, uint32_t id, uint32_t limit){
  int64_t r = cvec_idxfile_get(p->xidx, id, limit);
  if( r>=0 && cvec_seg_record_id(p, (uint32_t)r)!=id ) r = -2;
  return r;
}

int cvec_seg_index_range(cvec_seg *p, uint32_t from, uint32_t to){
  if( cvec_index_reserve(&p->idx, p->idx.nused + (to-from)) ){
    return cvec_seg_error(p, CVEC_NOMEM, "%s: out of memory for the id index",
                          p->zName);
  }
  for(uint32_t i=from; i<to; i++){
    uint32_t id = cvec_seg_record_id(p, i);
    int64_t r = (id && p->xidx) ? file_lookup(p, id, i) : -1;
    if( r==-2 ){
      /* Damage in the index file: start over without it.  The records
      ** indexed so far in this call are covered again from record 0. */
      return cvec_seg_drop_idxfile(p);
    }
    /* reserve() made room, so put() cannot fail here */
    if( id==0 || r>=0 || cvec_index_put(&p->idx, id, i)==0 ){
      p->nskip++;
    }else if( id>p->maxId ){
      p->maxId = id;
    }
  }
  return CVEC_OK;
}

int cvec_seg_reset_overlay(cvec_seg *p, uint32_t newBase){
  cvec_index_free(&p->idx);
  p->base = newBase;
  p->maxId = p->xidx ? cvec_idxfile_max_id(p->xidx) : 0;
  p->nskip = p->xidx ? cvec_idxfile_nskip(p->xidx) : 0;
  int rc = cvec_seg_index_range(p, newBase, p->nrec);
  if( rc==CVEC_OK && p->nrec==p->count ) p->maxIdCommitted = p->maxId;
  /* Out of memory: the indexes may miss ids.  Nothing is answered from
  ** them until a refresh sets them up again (cvec_seg_broken). */
  if( rc ) p->broken = 1;
  return rc;
}

int cvec_seg_drop_idxfile(cvec_seg *p){
  cvec_idxfile_close(p->xidx);
  p->xidx = 0;
  p->idxDirty = 0;
  /* A handle that may write replaces the file at once (one pass over the
  ** records, as the overlay would cost), so the damage is not met again. */
  if( !p->readonly ) p->xidx = cvec_idxfile_build(p, p->zIdxPath, p->count);
  p->idxDirty = p->xidx!=0;   /* a new file is synced when the handle closes */
  return cvec_seg_reset_overlay(p, p->xidx ? cvec_idxfile_covered(p->xidx) : 0);
}

/*
** Find the index file for the committed records and make the overlay cover
** the rest.  A missing, foreign or damaged file is rebuilt when this handle
** may write; otherwise (read-only directory, readonly=1) the overlay holds
** every id, which costs one pass over the file at open.
*/
int cvec_seg_follow_idxfile(cvec_seg *p, int *pMoved){
  int r = 0, rc = CVEC_OK;
  if( p->xidx ){
    r = cvec_idxfile_replaced(p->xidx, p->zIdxPath) ? -1
      : cvec_idxfile_current(p->xidx, p);
  }
  if( r<0 ){
    rc = cvec_seg_attach_idxfile(p);
  }else if( r>0 ){
    rc = cvec_seg_reset_overlay(p, cvec_idxfile_covered(p->xidx));
  }
  if( pMoved ) *pMoved = r!=0;
  return rc;
}

int cvec_seg_regrow_idxfile(cvec_seg *p){
  cvec_idxfile *y = cvec_idxfile_build(p, p->zIdxPath, p->count);
  if( y==0 ) return -1;
  cvec_idxfile_close(p->xidx);
  p->xidx = y;
  p->idxDirty = 1;   /* built unsynced: synced when the handle closes */
  return 0;
}

int cvec_seg_attach_idxfile(cvec_seg *p){
  const char *zWhy = 0;
  cvec_idxfile_close(p->xidx);
  p->xidx = cvec_idxfile_open(p, p->zIdxPath, !p->readonly, &zWhy);
  /* Two refusals can be the passing state of a writer at work, not damage:
  ** a header caught while it is rewritten, and an index that already
  ** covers a commit whose count we read just before.  Look again, with the
  ** count read again, before paying for a rebuild. */
  for(int tries=0; p->xidx==0 && tries<3 && p->nrec==p->count
      && (strcmp(zWhy, "header checksum")==0
          || strcmp(zWhy, "covers more records than the segment")==0); tries++){
    uint32_t count;
    struct timespec ts = {0, 200000};
    nanosleep(&ts, 0);
    if( cvec_seg_read_count(p, &count)==CVEC_OK && count>p->count
     && cvec_seg_map(p, count)==CVEC_OK ){
      p->count = p->nflushed = p->nrec = count;
    }
    p->xidx = cvec_idxfile_open(p, p->zIdxPath, !p->readonly, &zWhy);
  }
  p->idxDirty = 0;
  if( p->xidx==0 && !p->readonly ){
    p->xidx = cvec_idxfile_build(p, p->zIdxPath, p->count);
    p->idxDirty = p->xidx!=0;   /* synced when the handle closes */
  }
  return cvec_seg_reset_overlay(p, p->xidx ? cvec_idxfile_covered(p->xidx) : 0);
}

/* ------------------------------------------------------------------------ */
/* Open, create, close                                                       */
/* ------------------------------------------------------------------------ */

/* mkdir -p of the directory part of zPath. */
static int make_parent_dirs(const char *zPath, const char *zName, char *zErr){
  char *z = strdup(zPath);
  if( z==0 ) return open_error(zErr, CVEC_NOMEM, "out of memory");
  int rc = CVEC_OK;
  char *slash = strrchr(z, '/');
  if( slash && slash!=z ){
    *slash = 0;
    for(char *s=z+1; ; s++){
      if( *s=='/' || *s==0 ){
        char c = *s;
        *s = 0;
        if( mkdir(z, 0777) && errno!=EEXIST ){
          rc = open_error(zErr, CVEC_CANTOPEN, "%s: cannot create directory: %s",
                          zName, strerror(errno));
          break;
        }
        *s = c;
        if( c==0 ) break;
      }
    }
  }
  free(z);
  return rc;
}

void cvec_remove_stale_temps(const char *zPath){
  char *z = strdup(zPath);
  if( z==0 ) return;
  char *slash = strrchr(z, '/');
  const char *zDir = ".", *zBase = z;
  if( slash ){ *slash = 0; zDir = slash==z ? "/" : z; zBase = slash+1; }
  size_t nBase = strlen(zBase);
  DIR *d = opendir(zDir);
  if( d ){
    struct dirent *e;
    while( (e = readdir(d))!=0 ){
      const char *n = e->d_name;
      size_t len = strlen(n);
      /* <base>.<pid>.<counter>.tmp */
      if( len<=nBase+5 || strncmp(n, zBase, nBase)!=0 || n[nBase]!='.'
       || strcmp(n+len-4, ".tmp")!=0 ) continue;
      char *end = 0;
      long pid = strtol(n+nBase+1, &end, 10);
      if( pid<=0 || end==0 || *end!='.' ) continue;
      if( kill((pid_t)pid, 0)==0 || errno!=ESRCH ) continue;   /* alive */
      char *zFull = malloc(strlen(zDir) + len + 2);
      if( zFull ){
        sprintf(zFull, "%s/%s", zDir, n);
        (void)unlink(zFull);
        free(zFull);
      }
    }
    closedir(d);
  }
  free(z);
}

void cvec_sync_parent_dir(const char *zPath){
  char *z = strdup(zPath);
  if( z==0 ) return;
  char *slash = strrchr(z, '/');
  const char *zDir = ".";
  if( slash ){ *(slash==z ? slash+1 : slash) = 0; zDir = z; }
  int fd = open(zDir, O_RDONLY|O_CLOEXEC);
  if( fd>=0 ){ (void)fsync(fd); close(fd); }
  free(z);
}

/*
** Create zPath holding an empty segment of dimension dim.  The header is
** written and synced in a temporary file that is then linked into place, so
** the file appears whole or not at all.  If another process creates the file
** first, its file is kept and CVEC_OK is returned: the caller then opens and
** validates it like any existing file.
*/
static int create_file(const char *zPath, const char *zName, uint32_t dim,
                       char *zErr){
  static unsigned nCreate = 0;
  unsigned char h[CVEC_HEADER_SIZE];
  memcpy(h, CVEC_MAGIC, 4);
  cvec_put_u32le(h+4, CVEC_VERSION_1);
  cvec_put_u32le(h+8, dim);
  cvec_put_u32le(h+12, 0);

  int rc = make_parent_dirs(zPath, zName, zErr);
  if( rc ) return rc;
  cvec_remove_stale_temps(zPath);

  size_t nTmp = strlen(zPath) + 64;
  char *zTmp = malloc(nTmp);
  if( zTmp==0 ) return open_error(zErr, CVEC_NOMEM, "out of memory");
  snprintf(zTmp, nTmp, "%s.%ld.%u.tmp", zPath, (long)getpid(),
           __atomic_fetch_add(&nCreate, 1, __ATOMIC_RELAXED));

  int fd = open(zTmp, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0666);
  if( fd<0 && errno==EEXIST ){
    /* left by a crashed process that had our pid */
    unlink(zTmp);
    fd = open(zTmp, O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0666);
  }
  if( fd<0 ){
    rc = open_error(zErr, CVEC_CANTOPEN, "%s: cannot create: %s",
                    zName, strerror(errno));
    free(zTmp);
    return rc;
  }
  if( cvec_pwrite_all(fd, h, sizeof(h), 0) || cvec_fdatasync(fd) ){
    rc = open_error(zErr, CVEC_IOERR, "%s: cannot write header: %s",
                    zName, strerror(errno));
  }
  close(fd);
  if( rc==CVEC_OK && link(zTmp, zPath) ){
    if( errno==EEXIST ){
      /* somebody else created it first: use theirs */
    }else{
      rc = open_error(zErr, CVEC_CANTOPEN, "%s: cannot create: %s",
                      zName, strerror(errno));
    }
  }
  unlink(zTmp);
  free(zTmp);
  if( rc==CVEC_OK ) cvec_sync_parent_dir(zPath);
  return rc;
}

int cvec_seg_open(const char *zPath, const char *zName, uint32_t dim, int flags,
                  cvec_seg **ppSeg, char *zErr){
  int readonly = (flags & CVEC_OPEN_READONLY)!=0;
  int fd;
  int rc;
  *ppSeg = 0;
  zErr[0] = 0;
  if( dim>CVEC_MAX_DIM ){
    return open_error(zErr, CVEC_ERROR, "dimension=%u is out of range 1..%u",
                      dim, CVEC_MAX_DIM);
  }

  for(;;){
    /* O_NONBLOCK: opening a FIFO read-only would otherwise wait for a
    ** writer; it changes nothing for the regular files we accept. */
    fd = open(zPath, (readonly ? O_RDONLY : O_RDWR)|O_CLOEXEC|O_NONBLOCK);
    if( fd>=0 ) break;
    int e = errno;
    if( e==EINTR ) continue;
    if( e==ENOENT && (flags & CVEC_OPEN_CREATE) && dim>0 && !readonly ){
      rc = create_file(zPath, zName, dim, zErr);
      if( rc ) return rc;
      flags &= ~CVEC_OPEN_CREATE;   /* open what is there now, once */
      continue;
    }
    if( !readonly && (e==EACCES || e==EROFS || e==EPERM) ){
      /* A file we may read but not write is still readable: open it
      ** read-only, and writes report that the segment is read-only. */
      readonly = 1;
      continue;
    }
    if( e==ENOENT ){
      return open_error(zErr, CVEC_NOTFOUND, "%s: no such file", zName);
    }
    return open_error(zErr, CVEC_CANTOPEN, "%s: cannot open: %s",
                      zName, strerror(e));
  }

  struct stat st;
  unsigned char h[CVEC_HEADER_SIZE];
  uint32_t fileDim = 0, count = 0;
  memset(h, 0, sizeof(h));
  if( fstat(fd, &st) ){
    rc = open_error(zErr, CVEC_IOERR, "%s: fstat failed: %s",
                    zName, strerror(errno));
    close(fd);
    return rc;
  }
  if( !S_ISREG(st.st_mode) ){
    close(fd);
    return open_error(zErr, CVEC_CANTOPEN, "%s: not a regular file", zName);
  }
  /* The header, then the size again (see cvec_seg_read_count). */
  if( st.st_size>=(off_t)CVEC_HEADER_SIZE
   && (cvec_pread_all(fd, h, sizeof(h), 0) || fstat(fd, &st)) ){
    rc = open_error(zErr, CVEC_IOERR, "%s: read failed: %s",
                    zName, errno ? strerror(errno) : "end of file");
    close(fd);
    return rc;
  }
  rc = check_header(h, st.st_size, zName, &fileDim, &count, zErr);
  if( rc==CVEC_OK && dim!=0 && dim!=fileDim ){
    rc = open_error(zErr, CVEC_ERROR,
        "%s has dimension %u; table declares dimension=%u",
        zName, fileDim, dim);
  }
  if( rc ){
    close(fd);
    return rc;
  }

  cvec_seg *p = calloc(1, sizeof(*p));
  if( p==0 ){
    close(fd);
    return open_error(zErr, CVEC_NOMEM, "out of memory");
  }
  p->fd = fd;
  p->zPath = strdup(zPath);
  p->zName = strdup(zName);
  p->zIdxPath = malloc(strlen(zPath)+5);
  if( p->zIdxPath ) sprintf(p->zIdxPath, "%s.idx", zPath);
  p->zIntentPath = malloc(strlen(zPath)+8);
  if( p->zIntentPath ) sprintf(p->zIntentPath, "%s.intent", zPath);
  p->intentFd = -1;
  p->zOwner = strdup("");
  p->sizeSeen = st.st_size;
  p->dim = fileDim;
  p->recsize = 4 + 4*(size_t)fileDim;
  p->readonly = readonly;
  p->syncMode = CVEC_SYNC_FULL;
  p->limit = CVEC_MAX_ID;
  p->count = p->nflushed = p->nrec = count;
  cvec_index_init(&p->idx);
  if( p->zPath==0 || p->zName==0 || p->zIdxPath==0 || p->zIntentPath==0
   || p->zOwner==0 ){
    cvec_seg_close(p);
    return open_error(zErr, CVEC_NOMEM, "out of memory");
  }
  rc = cvec_seg_map(p, count);
  if( rc==CVEC_OK ) rc = cvec_seg_attach_idxfile(p);
  if( rc ){
    memcpy(zErr, p->zErr, CVEC_ERRMSG_MAX);
    cvec_seg_close(p);
    return rc;
  }
  *ppSeg = p;
  return CVEC_OK;
}

void cvec_seg_close(cvec_seg *p){
  if( p==0 ) return;
  if( p->locked ) (void)cvec_seg_rollback(p);
  /* Sync the index this handle wrote and mark its header synced, but only
  ** under the write lock: another writer's newer slots must not be declared
  ** synced by us.  If the lock is busy the header stays marked unsynced. */
  if( p->xidx && p->idxDirty && cvec_lock_fd(p->fd, F_WRLCK)==0 ){
    if( cvec_idxfile_current(p->xidx, p)>=0 ) (void)cvec_idxfile_sync(p->xidx);
    (void)cvec_lock_fd(p->fd, F_UNLCK);
  }
  cvec_idxfile_close(p->xidx);
  cvec_seg_release_maps(p);
  free(p->aOld);
  if( p->map ) munmap(p->map, p->mapLen);
  cvec_index_free(&p->idx);
  free(p->aBuf);
  free(p->zPath);
  free(p->zName);
  free(p->zIdxPath);
  free(p->zIntentPath);
  free(p->zOwner);
  if( p->intentFd>=0 ) close(p->intentFd);
  close(p->fd);
  free(p);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */
/* ------------------------------------------------------------------------ */

/*
** The count as it is in the file now, read through the shared map.  The
** writer stores the count with pwrite() after its records reached the file;
** the acquire load keeps the reads of those records, which follow, from
** being satisfied earlier on weakly ordered CPUs.
*/
static uint32_t mapped_count(const cvec_seg *p){
  uint32_t raw = __atomic_load_n((const uint32_t*)(p->map + 12), __ATOMIC_ACQUIRE);
  unsigned char b[4];
  memcpy(b, &raw, 4);
  return cvec_get_u32le(b);
}

/*
** True if nothing changed since the view was last set up: the header in the
** map still says CVEC, version 1, our dimension and our count, and the file
** is still long enough for the count (so reading the map cannot fault).
** One fstat() and no read: this runs at the start of every statement.
*/
static int view_is_current(cvec_seg *p){
  struct stat st;
  unsigned char h[12];
  if( p->broken || fstat(p->fd, &st) ) return 0;
  p->sizeSeen = st.st_size;
  if( st.st_size < cvec_rec_offset(p, p->count) ) return 0;
  memcpy(h, CVEC_MAGIC, 4);
  cvec_put_u32le(h+4, CVEC_VERSION_1);
  cvec_put_u32le(h+8, p->dim);
  return memcmp(p->map, h, 12)==0 && mapped_count(p)==p->count;
}

int cvec_seg_refresh(cvec_seg *p){
  uint32_t count;
  int rc;
  if( p->locked ) return CVEC_OK;
  if( view_is_current(p) ) return CVEC_OK;
  rc = cvec_seg_read_count(p, &count);
  if( rc ) return rc;
  if( p->broken ){
    /* A failed refresh left the indexes unusable: set everything up again
    ** for the current count, as at open. */
    rc = cvec_seg_map(p, count);
    if( rc ) return rc;
    p->count = p->nflushed = p->nrec = count;
    rc = cvec_seg_attach_idxfile(p);
    if( rc ) return rc;
    p->broken = 0;
    return CVEC_OK;
  }
  if( count==p->count ) return CVEC_OK;
  /* The view is [0, count) only after both the map and the index cover it;
  ** on failure the handle keeps its old view. */
  rc = cvec_seg_map(p, count);
  if( rc ) return rc;
  if( count > p->count ){
    uint32_t old = p->count;
    p->count = p->nflushed = p->nrec = count;
    /* Another writer may have brought the index file forward (or rebuilt
    ** it under the same name): then the overlay starts where it ends. */
    int moved = 0;
    rc = cvec_seg_follow_idxfile(p, &moved);
    if( rc==CVEC_OK && !moved ){
      rc = cvec_seg_index_range(p, old, count);
      if( rc==CVEC_OK ) p->maxIdCommitted = p->maxId;
    }
  }else{
    /* The count went down: the file was repaired or replaced behind our
    ** back.  Records may have changed: find or build the index anew. */
    p->count = p->nflushed = p->nrec = count;
    rc = cvec_seg_attach_idxfile(p);
  }
  /* Out of memory half-way: the indexes may miss ids.  Answer nothing
  ** until a later refresh has set them up again. */
  if( rc ) p->broken = 1;
  return rc;
}

const char *cvec_seg_errmsg(const cvec_seg *p){ return p->zErr; }
uint32_t cvec_seg_dimension(const cvec_seg *p){ return p->dim; }
size_t cvec_seg_record_size(const cvec_seg *p){ return p->recsize; }
int cvec_seg_readonly(const cvec_seg *p){ return p->readonly; }
uint32_t cvec_seg_nrec(const cvec_seg *p){ return p->nrec; }
uint32_t cvec_seg_count(const cvec_seg *p){ return p->count; }
uint32_t cvec_seg_max_id(const cvec_seg *p){ return p->maxId; }
uint32_t cvec_seg_nskipped(const cvec_seg *p){ return p->nskip; }
uint32_t cvec_seg_pending(const cvec_seg *p){ return p->nrec - p->count; }
void cvec_seg_set_count_limit(cvec_seg *p, uint32_t limit){ p->limit = limit; }
void cvec_seg_set_sync(cvec_seg *p, int syncMode){ p->syncMode = syncMode; }

int cvec_seg_broken(const cvec_seg *p){ return p->broken; }

int cvec_seg_revalidate(cvec_seg *p){
  int rc = cvec_seg_still_named(p);
  if( rc || p->locked ) return rc;
  return cvec_seg_follow_idxfile(p, 0);
}

int cvec_seg_still_named(cvec_seg *p){
  struct stat a, b;
  if( fstat(p->fd, &a) ){
    return cvec_seg_error(p, CVEC_IOERR, "%s: fstat failed: %s",
                          p->zName, strerror(errno));
  }
  if( stat(p->zPath, &b) || a.st_dev!=b.st_dev || a.st_ino!=b.st_ino ){
    return cvec_seg_error(p, CVEC_STALE, "%s was replaced or removed while "
                          "open", p->zName);
  }
  return CVEC_OK;
}

const unsigned char *cvec_seg_record(cvec_seg *p, uint32_t i){
  assert( i < p->nrec );
  if( i < p->nflushed ){
    return p->map + cvec_rec_offset(p, i);
  }
  return p->aBuf + (size_t)(i - p->nflushed)*p->recsize;
}

uint32_t cvec_seg_record_id(cvec_seg *p, uint32_t i){
  return cvec_get_u32le(cvec_seg_record(p, i));
}

int cvec_seg_record_visible(cvec_seg *p, uint32_t i){
  /* No duplicates (as the index says): only id 0 to skip, which costs no
  ** lookup, and is checked even so, lest a forged index header hide it. */
  if( p->nskip==0 ) return cvec_seg_record_id(p, i)!=0;
  uint32_t id = cvec_seg_record_id(p, i);
  return id!=0 && cvec_seg_lookup(p, id)==(int64_t)i;
}

int64_t cvec_seg_lookup(cvec_seg *p, uint32_t id){
  int64_t r = -1;
  if( p->broken ) return -1;
  if( p->xidx ){
    r = file_lookup(p, id, p->nrec);
    if( r>=(int64_t)p->base ){
      /* past the records the file vouches for: an earlier occurrence in
      ** the overlay (a foreign writer's duplicate) wins */
      int64_t o = cvec_index_get(&p->idx, id);
      if( o>=0 && o<r && o<(int64_t)p->nrec && cvec_seg_record_id(p, (uint32_t)o)==id ){
        r = o;
      }
    }
    if( r==-2 ){
      /* Damage: never answer from that file again.  Its replacement (built
      ** at once by a handle that may write) or the overlay answers instead.
      ** On OOM rebuilding the overlay the answer is "not found", and the
      ** error is in zErr. */
      if( cvec_seg_drop_idxfile(p) ) return -1;
      r = p->xidx ? file_lookup(p, id, p->nrec) : -1;
      if( r==-2 ){
        if( cvec_seg_drop_idxfile(p) ) return -1;
        r = -1;
      }
    }
  }
  if( r<0 ) r = cvec_index_get(&p->idx, id);
  /* The index is derived data: trust a hit only if the record agrees. */
  if( r<0 || r>=(int64_t)p->nrec || cvec_seg_record_id(p, (uint32_t)r)!=id ){
    return -1;
  }
  return r;
}
