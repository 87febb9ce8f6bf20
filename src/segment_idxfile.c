/*
** segment_idxfile.c — the persistent id index (format and trust rules in
** segment_idxfile.h).
**
** Opening costs O(1): the header is read and checked, 16 records of the
** .vec are sampled for the fingerprint, and the slots are mapped, not read.
** A lookup hashes the id to a slot and probes forward, checking each slot it
** reads.  The writer extends the table in place through a shared writable
** map at each commit; when the table would pass half full it is rebuilt,
** twice as large, in a new file renamed over the old one (amortized O(1) per
** record).  Readers notice a renamed file by its inode.
*/
#define _GNU_SOURCE 1
#include "segment_idxfile.h"
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cvec_idxfile {
  int fd;
  int writable;             /* mapped PROT_WRITE; only the lock holder writes */
  dev_t dev;                /* identity of the file, to notice a rename */
  ino_t ino;
  unsigned char *map;       /* header + slots */
  size_t mapLen;
  uint32_t k;               /* 2^k slots */
  uint32_t mask;            /* 2^k - 1 */
  uint32_t salt;
  uint32_t covered;         /* records [0, covered) indexed (from the header) */
  uint32_t maxId;
  uint32_t nskip;
};

/* ------------------------------------------------------------------------ */
/* Hashing                                                                   */
/* ------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x){
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

/* Home slot of id. */
static uint32_t home_slot(const cvec_idxfile *x, uint32_t id){
  return (uint32_t)mix64((uint64_t)id ^ ((uint64_t)x->salt << 32)) & x->mask;
}

/* The check of a slot's contents at its position: a zeroed or moved slot
** fails it (empty slots carry a check too). */
static uint32_t slot_check(uint32_t salt, uint32_t slot, uint32_t id, uint32_t rec){
  uint64_t v = ((uint64_t)id << 32 | rec) ^ mix64(((uint64_t)salt << 32) | slot);
  return (uint32_t)mix64(v) | 1;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *a, size_t n){
  for(size_t i=0; i<n; i++){ h ^= a[i]; h *= 0x100000001b3ull; }
  return h;
}

/*
** The fingerprint of p's first `covered` records (see the header): the
** .vec's header bytes 0..11, then the first FP_BYTES bytes (the id and the
** first floats) of FP_SAMPLES records spread evenly over [0, covered), the
** first and the last among them.  A constant amount of reading, whatever the
** size of the segment.
*/
#define FP_SAMPLES 16u
#define FP_BYTES   64u
static uint64_t fingerprint(cvec_seg *p, uint32_t covered, int fromMap){
  uint64_t h = 0xcbf29ce484222325ull;
  size_t n = p->recsize < FP_BYTES ? p->recsize : FP_BYTES;
  unsigned char a[FP_BYTES];
  h = fnv1a(h, p->map, 12);
  for(uint32_t i=0; covered>0 && i<FP_SAMPLES; i++){
    uint32_t r = (uint32_t)((uint64_t)i*(covered-1)/(FP_SAMPLES-1));
    if( fromMap ){
      /* the writer, at commit: its map is warm, no system call */
      h = fnv1a(h, cvec_seg_record(p, r), n);
      continue;
    }
    /* pread, not the map: touching 16 distant pages of a fresh map costs
    ** a page fault and a page table each, the bulk of opening a segment */
    if( cvec_pread_all(p->fd, a, n, cvec_rec_offset(p, r)) ) return 0;
    h = fnv1a(h, a, n);
  }
  return h;
}

uint32_t cvec_crc32(const unsigned char *a, size_t n){
  static uint32_t table[256];
  static int init = 0;
  if( !init ){
    for(uint32_t i=0; i<256; i++){
      uint32_t c = i;
      for(int j=0; j<8; j++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    init = 1;   /* benign race: every thread writes the same table */
  }
  uint32_t c = 0xFFFFFFFFu;
  for(size_t i=0; i<n; i++) c = table[(c ^ a[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

/* Hash of the kernel's boot id: changes when the machine restarts, which is
** when index pages written without a sync may have been lost. */
static uint64_t bootHash = 0;
static pthread_once_t bootOnce = PTHREAD_ONCE_INIT;
static void read_boot_hash(void);

/* The boot id cannot change while the process runs: read it once. */
static uint64_t boot_hash(void){
  pthread_once(&bootOnce, read_boot_hash);
  return bootHash;
}

static void read_boot_hash(void){
  char b[64];
  uint64_t h = 1;
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY|O_CLOEXEC);
  if( fd>=0 ){
    ssize_t n = read(fd, b, sizeof(b));
    if( n>0 ) h = fnv1a(0xcbf29ce484222325ull, (unsigned char*)b, (size_t)n) | 1;
    close(fd);
  }
  /* Without a boot id (not Linux), h stays 1 and never matches a stored
  ** value of another run: an unsynced index is then always rebuilt. */
  bootHash = h==1 ? (uint64_t)time(0) << 1 | 1 : h;
}

/* ------------------------------------------------------------------------ */
/* Header                                                                    */
/* ------------------------------------------------------------------------ */

static void put_u64le(unsigned char *b, uint64_t v){
  cvec_put_u32le(b, (uint32_t)v);
  cvec_put_u32le(b+4, (uint32_t)(v>>32));
}
static uint64_t get_u64le(const unsigned char *b){
  return (uint64_t)cvec_get_u32le(b) | (uint64_t)cvec_get_u32le(b+4) << 32;
}

/* Write x's header fields (covered, maxId, nskip, fingerprint, boot) and
** its CRC into the map. */
static void write_header(cvec_idxfile *x, cvec_seg *p, uint64_t boot){
  unsigned char *h = x->map;
  memcpy(h, "CVIX", 4);
  cvec_put_u32le(h+4, 1);
  cvec_put_u32le(h+8, x->k);
  cvec_put_u32le(h+12, x->salt);
  cvec_put_u32le(h+16, x->covered);
  cvec_put_u32le(h+20, p->dim);
  cvec_put_u32le(h+24, x->maxId);
  cvec_put_u32le(h+28, x->nskip);
  put_u64le(h+32, fingerprint(p, x->covered, 1));
  put_u64le(h+40, boot);
  memset(h+48, 0, 12);
  cvec_put_u32le(h+60, cvec_crc32(h, 60));
}

/*
** Check header bytes h of a file of fileSize bytes against segment p.  On
** success fill x's fields and return NULL; else return why not.
*/
static const char *check_header(cvec_idxfile *x, const unsigned char *h,
                                off_t fileSize, cvec_seg *p){
  if( fileSize < (off_t)CVEC_IDX_HEADER_SIZE ) return "too short";
  if( memcmp(h, "CVIX", 4)!=0 ) return "bad magic";
  if( cvec_get_u32le(h+60)!=cvec_crc32(h, 60) ) return "header checksum";
  if( cvec_get_u32le(h+4)!=1 ) return "unsupported version";
  uint32_t k = cvec_get_u32le(h+8);
  if( k<4 || k>31 ) return "bad size";
  if( fileSize != (off_t)CVEC_IDX_HEADER_SIZE + ((off_t)CVEC_IDX_SLOT_SIZE<<k) ){
    return "wrong file size";
  }
  uint32_t covered = cvec_get_u32le(h+16);
  if( cvec_get_u32le(h+20)!=p->dim ) return "dimension differs";
  if( covered > p->count ) return "covers more records than the segment";
  if( (uint64_t)covered*2 > ((uint64_t)1<<k) ) return "overfull";
  if( get_u64le(h+32)!=fingerprint(p, covered, 0) ) return "fingerprint differs";
  uint64_t boot = get_u64le(h+40);
  if( boot!=0 && boot!=boot_hash() ) return "unsynced before a restart";
  x->k = k;
  x->mask = (uint32_t)(((uint64_t)1<<k) - 1);
  x->salt = cvec_get_u32le(h+12);
  x->covered = covered;
  x->maxId = cvec_get_u32le(h+24);
  x->nskip = cvec_get_u32le(h+28);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Open, close                                                               */
/* ------------------------------------------------------------------------ */

void cvec_idxfile_close(cvec_idxfile *x){
  if( x==0 ) return;
  if( x->map ) munmap(x->map, x->mapLen);
  if( x->fd>=0 ) close(x->fd);
  free(x);
}

/* Map an open index file whose header checked out. */
static int map_file(cvec_idxfile *x){
  x->mapLen = CVEC_IDX_HEADER_SIZE + ((size_t)CVEC_IDX_SLOT_SIZE<<x->k);
  void *m = mmap(0, x->mapLen, PROT_READ|(x->writable ? PROT_WRITE : 0),
                 MAP_SHARED, x->fd, 0);
  if( m==MAP_FAILED ){ x->map = 0; return -1; }
  x->map = m;
  return 0;
}

cvec_idxfile *cvec_idxfile_open(cvec_seg *p, const char *zPath, int writable,
                                const char **pzWhy){
  unsigned char h[CVEC_IDX_HEADER_SIZE];
  struct stat st;
  cvec_idxfile *x = calloc(1, sizeof(*x));
  if( x==0 ){ *pzWhy = "out of memory"; return 0; }
  x->writable = writable;
  x->fd = open(zPath, (writable ? O_RDWR : O_RDONLY)|O_CLOEXEC|O_NONBLOCK);
  if( x->fd<0 && writable && (errno==EACCES || errno==EROFS || errno==EPERM) ){
    x->writable = 0;
    x->fd = open(zPath, O_RDONLY|O_CLOEXEC|O_NONBLOCK);
  }
  const char *zWhy = 0;
  if( x->fd<0 ){
    zWhy = errno==ENOENT ? "missing" : "cannot open";
  }else if( fstat(x->fd, &st) || !S_ISREG(st.st_mode) ){
    zWhy = "not a regular file";
  }else if( st.st_size>=(off_t)sizeof(h) && cvec_pread_all(x->fd, h, sizeof(h), 0) ){
    zWhy = "cannot read";
  }else if( (zWhy = check_header(x, h, st.st_size, p))==0 ){
    x->dev = st.st_dev;
    x->ino = st.st_ino;
    if( map_file(x) ) zWhy = "cannot map";
  }
  if( zWhy ){
    cvec_idxfile_close(x);
    *pzWhy = zWhy;
    return 0;
  }
  return x;
}

/* ------------------------------------------------------------------------ */
/* Lookup and insertion                                                      */
/* ------------------------------------------------------------------------ */

static unsigned char *slot_ptr(const cvec_idxfile *x, uint32_t s){
  return x->map + CVEC_IDX_HEADER_SIZE + (size_t)s*CVEC_IDX_SLOT_SIZE;
}

/*
** Read slot s into *pId and *pRec.  Returns 0, or -2 if its check fails.
** A writer in another process may be in the middle of storing this very
** slot (three 4-byte stores): a failed check is re-read a few times before
** it counts as damage.
*/
static int read_slot(const cvec_idxfile *x, uint32_t s, uint32_t *pId,
                     uint32_t *pRec){
  for(int tries=0; ; tries++){
    const unsigned char *a = slot_ptr(x, s);
    uint32_t id = cvec_get_u32le(a);
    uint32_t rec = cvec_get_u32le(a+4);
    if( cvec_get_u32le(a+8)==slot_check(x->salt, s, id, rec) ){
      *pId = id;
      *pRec = rec;
      return 0;
    }
    if( tries==3 ) return -2;
    struct timespec ts = {0, 1000};
    nanosleep(&ts, 0);
  }
}

int64_t cvec_idxfile_get(const cvec_idxfile *x, uint32_t id, uint32_t nVisible){
  uint32_t s = home_slot(x, id);
  for(uint32_t n=0; n<=x->mask; n++, s=(s+1)&x->mask){
    uint32_t sid, rec;
    if( read_slot(x, s, &sid, &rec) ) return -2;
    if( sid==0 ) return -1;
    if( sid==id ) return rec<nVisible ? (int64_t)rec : -1;
  }
  return -2;   /* a full table: never true of a valid file */
}

/* The record number of a tombstone: the slot of an id whose pending record
** was rolled back.  No record has this number (the count is a u32). */
#define TOMBSTONE 0xFFFFFFFFu

static void write_slot(cvec_idxfile *x, uint32_t s, uint32_t id, uint32_t rec){
  unsigned char *a = slot_ptr(x, s);
  cvec_put_u32le(a, id);
  cvec_put_u32le(a+4, rec);
  cvec_put_u32le(a+8, slot_check(x->salt, s, id, rec));
}

/*
** Index record rec (of p, rec < p->nrec) with id.  Returns 1 if added, 0 if
** the id was already there from an earlier record (a duplicate), -2 on
** damage.
**
** Each id has at most one slot.  A tombstone (a rolled-back pending record)
** is taken over, and so is a stale slot left by a writer that died before
** its commit, whose record number now holds another id or none.
*/
static int put_slot(cvec_idxfile *x, cvec_seg *p, uint32_t id, uint32_t rec){
  uint32_t s = home_slot(x, id);
  for(uint32_t n=0; n<=x->mask; n++, s=(s+1)&x->mask){
    uint32_t sid, srec;
    if( read_slot(x, s, &sid, &srec) ) return -2;
    if( sid==0 ){
      write_slot(x, s, id, rec);
      return 1;
    }
    if( sid==id ){
      if( srec==rec ) return 1;
      /* a duplicate only if that record really holds the id (srec < rec
      ** < p->nrec, so the record exists) */
      if( srec<rec && cvec_seg_record_id(p, srec)==id ) return 0;
      write_slot(x, s, id, rec);
      return 1;
    }
  }
  return -2;
}

int cvec_idxfile_unput(cvec_idxfile *x, uint32_t id, uint32_t rec){
  uint32_t s = home_slot(x, id);
  for(uint32_t n=0; n<=x->mask; n++, s=(s+1)&x->mask){
    uint32_t sid, srec;
    if( read_slot(x, s, &sid, &srec) ) return -2;
    if( sid==0 ) return 0;
    if( sid==id ){
      if( srec==rec ) write_slot(x, s, id, TOMBSTONE);
      return 0;
    }
  }
  return -2;
}

int cvec_idxfile_put(cvec_idxfile *x, cvec_seg *p, uint32_t id, uint32_t rec){
  if( !x->writable ) return -1;
  if( ((uint64_t)rec+1)*2 > (uint64_t)x->mask+1 ) return 1;
  int rc = put_slot(x, p, id, rec);
  return rc<0 ? rc : rc==0 ? 2 : 0;
}

/* Add records [x->covered, to) of p; see cvec_idxfile_extend. */
static int add_records(cvec_idxfile *x, cvec_seg *p, uint32_t to){
  if( (uint64_t)to*2 > (uint64_t)x->mask+1 ) return 1;
  for(uint32_t i=x->covered; i<to; i++){
    uint32_t id = cvec_seg_record_id(p, i);
    int rc = id ? put_slot(x, p, id, i) : 0;
    if( rc<0 ) return rc;
    if( rc==0 ){
      x->nskip++;
    }else if( id>x->maxId ){
      x->maxId = id;
    }
  }
  x->covered = to;
  return 0;
}

int cvec_idxfile_extend(cvec_idxfile *x, cvec_seg *p, uint32_t to,
                        uint32_t placedFrom, uint32_t maxIdAll){
  if( !x->writable ) return -1;
  if( to<=x->covered ) return 0;
  if( (uint64_t)to*2 > (uint64_t)x->mask+1 ) return 1;
  if( placedFrom<x->covered ) placedFrom = x->covered;
  if( placedFrom>to ) placedFrom = to;
  uint32_t oldCovered = x->covered, oldMax = x->maxId, oldSkip = x->nskip;
  int rc = add_records(x, p, placedFrom);
  if( rc ){
    x->covered = oldCovered; x->maxId = oldMax; x->nskip = oldSkip;
    return rc;
  }
  /* [placedFrom, to): slots placed as they were appended, ids new and not
  ** 0, so nothing to count as skipped */
  x->covered = to;
  if( maxIdAll>x->maxId ) x->maxId = maxIdAll;
  write_header(x, p, boot_hash());
  return 0;
}

int cvec_idxfile_sync(cvec_idxfile *x){
  if( !x->writable ) return 0;
  if( get_u64le(x->map+40)==0 ) return 0;   /* already synced */
  if( cvec_io.xMsync(x->map, x->mapLen) ) return -1;
  /* The slots are on disk: the header may now say so. */
  put_u64le(x->map+40, 0);
  cvec_put_u32le(x->map+60, cvec_crc32(x->map, 60));
  return cvec_io.xMsync(x->map, CVEC_IDX_HEADER_SIZE) ? -1 : 0;
}

uint32_t cvec_idxfile_covered(const cvec_idxfile *x){ return x->covered; }
uint32_t cvec_idxfile_max_id(const cvec_idxfile *x){ return x->maxId; }
uint32_t cvec_idxfile_nskip(const cvec_idxfile *x){ return x->nskip; }
int cvec_idxfile_writable(const cvec_idxfile *x){ return x->writable; }

int cvec_idxfile_replaced(const cvec_idxfile *x, const char *zPath){
  struct stat st;
  return stat(zPath, &st) || st.st_dev!=x->dev || st.st_ino!=x->ino;
}

int cvec_idxfile_current(cvec_idxfile *x, cvec_seg *p){
  struct stat st;
  if( fstat(x->fd, &st) || (size_t)st.st_size!=x->mapLen ) return -1;
  const unsigned char *h = x->map;
  for(int tries=0; ; tries++){
    /* a writer in another process may be rewriting the header: retry */
    if( memcmp(h, "CVIX", 4)==0 && cvec_get_u32le(h+60)==cvec_crc32(h, 60) ) break;
    if( tries==3 ) return -1;
    struct timespec ts = {0, 100000};
    nanosleep(&ts, 0);
  }
  if( cvec_get_u32le(h+8)!=x->k || cvec_get_u32le(h+12)!=x->salt
   || cvec_get_u32le(h+20)!=p->dim ){
    return -1;                  /* another file written over this one */
  }
  uint32_t covered = cvec_get_u32le(h+16);
  if( covered < x->covered || covered > p->count ) return -1;
  if( covered==x->covered ) return 0;
  if( get_u64le(h+32)!=fingerprint(p, covered, 0) ) return -1;
  x->covered = covered;
  x->maxId = cvec_get_u32le(h+24);
  x->nskip = cvec_get_u32le(h+28);
  return 1;
}


/* ------------------------------------------------------------------------ */
/* Building                                                                  */
/* ------------------------------------------------------------------------ */

static uint32_t random_salt(void){
  uint32_t s = 0;
  int fd = open("/dev/urandom", O_RDONLY|O_CLOEXEC);
  if( fd<0 || read(fd, &s, sizeof(s))!=(ssize_t)sizeof(s) ){
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s = (uint32_t)mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid()<<32));
  }
  if( fd>=0 ) close(fd);
  return s;
}

cvec_idxfile *cvec_idxfile_build(cvec_seg *p, const char *zPath, uint32_t count){
  static unsigned nBuild = 0;
  /* At least 4096 slots (48 KiB), and four per record: the table is a
  ** quarter full when built and is rebuilt when half full, so growing a
  ** segment from empty costs few rebuilds. */
  uint32_t k = 12;
  uint64_t nAll = p->nrec > count ? p->nrec : count;
  while( ((uint64_t)1<<k) < nAll*4 && k<31 ) k++;
  if( nAll*2 > ((uint64_t)1<<k) ){ errno = EFBIG; return 0; }

  size_t nTmp = strlen(zPath) + 64;
  char *zTmp = malloc(nTmp);
  cvec_idxfile *x = calloc(1, sizeof(*x));
  if( zTmp==0 || x==0 ){
    free(zTmp); free(x);
    errno = ENOMEM;
    return 0;
  }
  cvec_remove_stale_temps(zPath);
  snprintf(zTmp, nTmp, "%s.%ld.%u.tmp", zPath, (long)getpid(),
           __atomic_fetch_add(&nBuild, 1, __ATOMIC_RELAXED));
  x->writable = 1;
  x->k = k;
  x->mask = (uint32_t)(((uint64_t)1<<k) - 1);
  x->salt = random_salt();
  x->fd = open(zTmp, O_RDWR|O_CREAT|O_TRUNC|O_CLOEXEC, 0666);
  int ok = x->fd>=0
        && cvec_io.xFtruncate(x->fd, (off_t)CVEC_IDX_HEADER_SIZE
                            + ((off_t)CVEC_IDX_SLOT_SIZE<<k))==0
        /* allocate the blocks now: a full disk must fail here, not raise
        ** SIGBUS when the slots are stored through the map */
        && posix_fallocate(x->fd, 0, (off_t)CVEC_IDX_HEADER_SIZE
                                      + ((off_t)CVEC_IDX_SLOT_SIZE<<k))==0
        && map_file(x)==0;
  if( ok ){
    for(uint32_t s=0; s<=x->mask; s++) write_slot(x, s, 0, 0);
    ok = add_records(x, p, count)==0;
    /* and the pending records of a transaction in progress, uncounted */
    for(uint32_t i=count; ok && i<p->nrec; i++){
      uint32_t id = cvec_seg_record_id(p, i);
      ok = put_slot(x, p, id, i)>=0;
    }
  }
  if( ok ){
    /* Not synced: like every index write, it is marked with the boot it
    ** was written in, and rebuilt if a power loss may have torn it.  The
    ** handle syncs it when it closes (idxDirty). */
    write_header(x, p, boot_hash());
    ok = cvec_io.xRename(zTmp, zPath)==0;
  }
  struct stat st;
  if( ok && fstat(x->fd, &st)==0 ){
    x->dev = st.st_dev;
    x->ino = st.st_ino;
  }
  if( !ok ){
    int e = errno;
    if( x->fd>=0 ) unlink(zTmp);
    cvec_idxfile_close(x);
    free(zTmp);
    errno = e;
    return 0;
  }
  free(zTmp);
  return x;
}
