/*
** fuzz_segment.c — libFuzzer target for opening and reading segment files
** and their index files (src/segment*.c), checked against a brute-force
** reading of the same bytes.
**
** INPUT.  Byte 0 chooses the mode (byte 0 & 3); the rest is:
**
**   0, 1  VEC                 the .vec file alone; no .idx exists, so
**                             opening builds one (then it is opened again)
**   2     LEN VEC IDX         LEN (u16 LE) bytes of .vec, then the .idx
**                             file verbatim (may be empty: no .idx)
**   3     LEN VEC RECIPE      LEN bytes of .vec, then the recipe of an .idx
**                             that this file builds itself, following the
**                             format in src/segment_idxfile.h (a valid index
**                             of the .vec), then damages:
**           byte  k extra     table size 2^k, k = 4 + extra%4 above the
**                             smallest that holds `covered` (bit 7: k as is,
**                             k = extra&31, which may be out of range)
**           u32   salt
**           u32   covered     records indexed (modulo count+2: may exceed
**                             the count)
**           byte  flags       1: recompute the header CRC after the damages
**                                (a forged header)
**                             8: the damages edit the .vec instead, after
**                                it was indexed (a stale index)
**                             2: cut the file to a length given by the
**                                next u16
**                             4: the boot field is not 0 (an unsynced
**                                file of another boot: rejected)
**           then (u16 offset, byte xor) triples, applied to the file
**
** CHECKS (abort() on failure).  cvec_seg_open succeeds exactly when the
** header is valid (and the dimension asked for, if any, matches).  Then, for
** every record: cvec_seg_record() shows the file's bytes, cvec_seg_lookup()
** of its id gives the first record holding that id (id 0: none), and
** cvec_seg_record_visible() is true exactly for those first occurrences;
** the visible ids are unique; visible = records - cvec_seg_nskipped();
** cvec_seg_max_id() is the largest id; absent ids are not found.  Then the
** same through a second, writable handle: appends (id 0 refused,
** duplicates refused, new ids found while pending, unseen by the reader),
** a savepoint rolled back, commit or rollback,
** and the first handle's refresh picks up the commit; the file is read
** again from disk and everything is checked anew; and once more after
** reopening.  In mode 3 without damages, the index built here must be
** accepted as it is (a check that segment_idxfile.h describes the format).
** Last, cvec_seg_check() must report exactly the header, short-file, id-0
** and duplicate problems the brute-force reading finds, and
** cvec_seg_repair() (adopt or discard, from the input) must leave a file
** that ends after its records, keeps the counted ones, and opens.
**
** WHEN AN INDEX MAY LIE.  cvec trusts an index file whose header checks
** out (CRC, dimension, fingerprint of 16 sampled records...).  An index of
** another version of the .vec that the fingerprint does not tell apart
** (a record edited in place, which segment_idxfile.h says is not
** detected), or one with a forged CRC, can then hide rows or state wrong
** counts.  idx_truthful() finds out, with its own reading of the format,
** whether the given index is accepted and dishonest; if so, only the weak
** checks apply (no crash or sanitizer report; a lookup answers nothing or
** a record that holds the id).  Scans may then show duplicates and id-0
** records too: cvec_seg_record_visible() trusts the header's count of
** skipped records, and 0 means "every record is visible".
** CVEC_FUZZ_STRICT_IDX=1 applies every check regardless (and fails on
** such inputs).
**
** Files go to a private directory made once under $TMPDIR (or /tmp) and
** removed at exit.
*/
#define _GNU_SOURCE 1
#include "cvec_segment.h"
#include "segment_idxfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do{ fprintf(stderr, "fuzz_segment: " __VA_ARGS__);   \
                      fputc('\n', stderr); abort(); }while(0)

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

static char *zDir = 0;      /* private directory */
static char *zVec = 0;      /* zDir/s.vec */
static char *zIdx = 0;      /* zDir/s.vec.idx */
static char *zIntent = 0;   /* zDir/s.vec.intent */

static void clean_dir(void){
  if( zDir==0 ) return;
  char cmd[64];
  (void)cmd;
  unlink(zVec);
  unlink(zIdx);
  unlink(zIntent);
}

static void remove_dir(void){
  if( zDir==0 ) return;
  clean_dir();
  rmdir(zDir);   /* fails if a stray temporary file is left: then kept */
}

static void init_once(void){
  if( zDir ) return;
  const char *zTmp = getenv("TMPDIR");
  if( zTmp==0 || zTmp[0]==0 ) zTmp = "/tmp";
  if( asprintf(&zDir, "%s/cvec-fuzz-seg-XXXXXX", zTmp)<0 ) FAIL("oom");
  if( mkdtemp(zDir)==0 ) FAIL("mkdtemp %s: %s", zDir, strerror(errno));
  if( asprintf(&zVec, "%s/s.vec", zDir)<0 ) FAIL("oom");
  if( asprintf(&zIdx, "%s/s.vec.idx", zDir)<0 ) FAIL("oom");
  if( asprintf(&zIntent, "%s/s.vec.intent", zDir)<0 ) FAIL("oom");
  atexit(remove_dir);
}

static void write_file(const char *zPath, const unsigned char *a, size_t n){
  int fd = open(zPath, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
  if( fd<0 ) FAIL("cannot write %s: %s", zPath, strerror(errno));
  while( n>0 ){
    ssize_t w = write(fd, a, n);
    if( w<=0 ) FAIL("write %s: %s", zPath, strerror(errno));
    a += w; n -= (size_t)w;
  }
  close(fd);
}

/* The whole file, malloc()ed; *pn its size. */
static unsigned char *read_file(const char *zPath, size_t *pn){
  struct stat st;
  int fd = open(zPath, O_RDONLY|O_CLOEXEC);
  if( fd<0 || fstat(fd, &st) ) FAIL("cannot read %s: %s", zPath, strerror(errno));
  size_t n = (size_t)st.st_size;
  unsigned char *a = malloc(n ? n : 1);
  if( a==0 ) FAIL("oom");
  size_t got = 0;
  while( got<n ){
    ssize_t r = read(fd, a+got, n-got);
    if( r<=0 ) FAIL("read %s: %s", zPath, strerror(errno));
    got += (size_t)r;
  }
  close(fd);
  *pn = n;
  return a;
}

static ino_t inode_of(const char *zPath){
  struct stat st;
  return stat(zPath, &st) ? 0 : st.st_ino;
}

/* ------------------------------------------------------------------------ */
/* The brute-force model of a .vec                                           */
/* ------------------------------------------------------------------------ */

typedef struct { uint32_t id, rec; } pair;

typedef struct {
  int valid;                 /* the header checks out */
  uint32_t dim, count;
  size_t recsize;
  unsigned char *buf;        /* the file */
  size_t n;
  pair *first;               /* first occurrence of each non-zero id, by id */
  uint32_t nFirst;
  uint32_t maxId;
} model;

static int cmp_pair(const void *a, const void *b){
  const pair *x = a, *y = b;
  if( x->id!=y->id ) return x->id<y->id ? -1 : 1;
  if( x->rec!=y->rec ) return x->rec<y->rec ? -1 : 1;
  return 0;
}

static void model_free(model *m){
  free(m->buf);
  free(m->first);
  memset(m, 0, sizeof(*m));
}

/* Takes ownership of buf. */
static void model_build(model *m, unsigned char *buf, size_t n){
  memset(m, 0, sizeof(*m));
  m->buf = buf;
  m->n = n;
  if( n<CVEC_HEADER_SIZE || memcmp(buf, CVEC_MAGIC, 4)!=0 ) return;
  if( cvec_get_u32le(buf+4)!=CVEC_VERSION_1 ) return;
  m->dim = cvec_get_u32le(buf+8);
  if( m->dim==0 || m->dim>CVEC_MAX_DIM ) return;
  m->count = cvec_get_u32le(buf+12);
  m->recsize = 4 + 4*(size_t)m->dim;
  if( (n-CVEC_HEADER_SIZE)/m->recsize < m->count ) return;
  m->valid = 1;
  m->first = malloc(((size_t)m->count+1)*sizeof(pair));
  if( m->first==0 ) FAIL("oom");
  uint32_t np = 0;
  for(uint32_t i=0; i<m->count; i++){
    uint32_t id = cvec_get_u32le(buf + CVEC_HEADER_SIZE + (size_t)i*m->recsize);
    if( id ){ m->first[np].id = id; m->first[np].rec = i; np++; }
  }
  qsort(m->first, np, sizeof(pair), cmp_pair);
  uint32_t k = 0;
  for(uint32_t i=0; i<np; i++){
    if( k>0 && m->first[k-1].id==m->first[i].id ) continue;
    m->first[k++] = m->first[i];
  }
  m->nFirst = k;
  m->maxId = k ? m->first[k-1].id : 0;
}

static const unsigned char *model_record(const model *m, uint32_t i){
  return m->buf + CVEC_HEADER_SIZE + (size_t)i*m->recsize;
}

static int64_t model_lookup(const model *m, uint32_t id){
  if( id==0 ) return -1;
  uint32_t lo = 0, hi = m->nFirst;
  while( lo<hi ){
    uint32_t mid = lo + (hi-lo)/2;
    if( m->first[mid].id==id ) return m->first[mid].rec;
    if( m->first[mid].id<id ) lo = mid+1; else hi = mid;
  }
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Checking a handle against the model                                       */
/* ------------------------------------------------------------------------ */

static int strictIdx = 0;   /* CVEC_FUZZ_STRICT_IDX */

/* lookup(id) must give want; when not strict (an index that may lie is in
** use), only an answer that is a record holding id, or none. */
static void check_lookup(cvec_seg *p, const model *m, uint32_t id, int strict,
                         const char *zWhen){
  int64_t want = model_lookup(m, id);
  int64_t got = cvec_seg_lookup(p, id);
  if( got==want ) return;
  if( !strict && (got==-1 || (got>=0 && got<(int64_t)m->count
                   && cvec_get_u32le(model_record(m, (uint32_t)got))==id)) ){
    return;
  }
  FAIL("%s: lookup(%u) = %lld, the first record holding it is %lld",
       zWhen, id, (long long)got, (long long)want);
}

/*
** The model's records and p's must agree.  extra: ids to look up too.
** strict: every answer exactly as the brute-force reading gives it.  Not
** strict (an index file is in use that cvec accepted but that does not
** describe this .vec: stale or forged, see idx_truthful): answers may miss
** rows, but never name a record that does not hold the id.
*/
static void verify(cvec_seg *p, const model *m, int strict,
                   const uint32_t *aExtra, int nExtra, const char *zWhen){
  strict = strict || strictIdx;
  if( !m->valid ) FAIL("%s: the model is not valid", zWhen);
  if( cvec_seg_broken(p) ) FAIL("%s: broken: %s", zWhen, cvec_seg_errmsg(p));
  if( cvec_seg_dimension(p)!=m->dim ) FAIL("%s: dimension", zWhen);
  if( cvec_seg_record_size(p)!=m->recsize ) FAIL("%s: record size", zWhen);
  if( cvec_seg_count(p)!=m->count || cvec_seg_nrec(p)!=m->count ){
    FAIL("%s: count %u nrec %u, file says %u", zWhen, cvec_seg_count(p),
         cvec_seg_nrec(p), m->count);
  }
  if( cvec_seg_pending(p)!=0 ) FAIL("%s: pending", zWhen);
  uint32_t nVisible = 0;
  for(uint32_t i=0; i<m->count; i++){
    const unsigned char *r = cvec_seg_record(p, i);
    if( memcmp(r, model_record(m, i), m->recsize)!=0 ){
      FAIL("%s: record %u differs from the file", zWhen, i);
    }
    uint32_t id = cvec_seg_record_id(p, i);
    if( id!=cvec_get_u32le(r) ) FAIL("%s: record_id %u", zWhen, i);
    check_lookup(p, m, id, strict, zWhen);
    int64_t want = model_lookup(m, id);
    int vis = cvec_seg_record_visible(p, i);
    if( cvec_seg_broken(p) ) FAIL("%s: broken: %s", zWhen, cvec_seg_errmsg(p));
    int wantVis = id!=0 && want==(int64_t)i;
    if( vis ) nVisible++;
    if( vis!=wantVis && strict ){
      FAIL("%s: record %u (id %u) visible=%d, want %d (first is %lld)",
           zWhen, i, id, vis, wantVis, (long long)want);
    }
  }
  if( strict ){
    if( nVisible!=m->nFirst ){
      FAIL("%s: %u visible, %u distinct ids", zWhen, nVisible, m->nFirst);
    }
    if( cvec_seg_nskipped(p)!=m->count - m->nFirst ){
      FAIL("%s: nskipped %u, want %u", zWhen, cvec_seg_nskipped(p),
           m->count - m->nFirst);
    }
    if( cvec_seg_max_id(p)!=m->maxId ){
      FAIL("%s: max_id %u, want %u", zWhen, cvec_seg_max_id(p), m->maxId);
    }
  }
  /* Absent (and present) ids. */
  uint32_t aProbe[] = { 0, 1, 2, m->maxId, m->maxId+1u, m->maxId-1u,
                        CVEC_MAX_ID, CVEC_MAX_ID-1u, 0x80000000u };
  for(size_t i=0; i<sizeof(aProbe)/sizeof(aProbe[0]); i++){
    check_lookup(p, m, aProbe[i], strict, zWhen);
  }
  for(int i=0; i<nExtra; i++) check_lookup(p, m, aExtra[i], strict, zWhen);
  if( cvec_seg_broken(p) ) FAIL("%s: broken: %s", zWhen, cvec_seg_errmsg(p));
}

/* ------------------------------------------------------------------------ */
/* Building an index file (format of src/segment_idxfile.h)                  */
/* ------------------------------------------------------------------------ */

/* The hash and check functions are not part of the header's description;
** they mirror segment_idxfile.c. */
static uint64_t mix64(uint64_t x){
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}
static uint32_t slot_check(uint32_t salt, uint32_t slot, uint32_t id, uint32_t rec){
  uint64_t v = ((uint64_t)id << 32 | rec) ^ mix64(((uint64_t)salt << 32) | slot);
  return (uint32_t)mix64(v) | 1;
}
static uint64_t fnv1a(uint64_t h, const unsigned char *a, size_t n){
  for(size_t i=0; i<n; i++){ h ^= a[i]; h *= 0x100000001b3ull; }
  return h;
}
static uint32_t crc32_of(const unsigned char *a, size_t n){
  uint32_t c = 0xFFFFFFFFu;
  for(size_t i=0; i<n; i++){
    c ^= a[i];
    for(int j=0; j<8; j++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}
static void put_u64le(unsigned char *b, uint64_t v){
  cvec_put_u32le(b, (uint32_t)v);
  cvec_put_u32le(b+4, (uint32_t)(v>>32));
}

/*
** An index of m's records [0, covered) with 2^k slots, malloc()ed, *pn
** bytes.  covered may exceed the count (then records past it are not
** indexed: such a file is rejected anyway).
*/
static unsigned char *build_idx(const model *m, uint32_t k, uint32_t salt,
                                uint32_t covered, int boot, size_t *pn){
  uint32_t nslot = (uint32_t)1 << k;
  size_t n = CVEC_IDX_HEADER_SIZE + (size_t)CVEC_IDX_SLOT_SIZE*nslot;
  unsigned char *a = calloc(1, n);
  if( a==0 ) FAIL("oom");
  uint32_t mask = nslot-1;
  unsigned char *s0 = a + CVEC_IDX_HEADER_SIZE;
  for(uint32_t s=0; s<nslot; s++){
    cvec_put_u32le(s0 + 12*(size_t)s + 8, slot_check(salt, s, 0, 0));
  }
  uint32_t maxId = 0, nskip = 0, used = 0;
  uint32_t nIdx = covered<m->count ? covered : m->count;
  for(uint32_t i=0; i<nIdx; i++){
    uint32_t id = cvec_get_u32le(model_record(m, i));
    if( id==0 ){ nskip++; continue; }
    uint32_t s = (uint32_t)mix64((uint64_t)id ^ ((uint64_t)salt << 32)) & mask;
    int placed = 0;
    for(uint32_t t=0; t<nslot; t++, s=(s+1)&mask){
      unsigned char *e = s0 + 12*(size_t)s;
      uint32_t sid = cvec_get_u32le(e);
      if( sid==id ){ nskip++; placed = 1; break; }
      if( sid==0 ){
        cvec_put_u32le(e, id);
        cvec_put_u32le(e+4, i);
        cvec_put_u32le(e+8, slot_check(salt, s, id, i));
        if( id>maxId ) maxId = id;
        used++;
        placed = 1;
        break;
      }
    }
    if( !placed ) break;   /* full: only possible for an overfull recipe */
  }
  unsigned char *h = a;
  memcpy(h, "CVIX", 4);
  cvec_put_u32le(h+4, 1);
  cvec_put_u32le(h+8, k);
  cvec_put_u32le(h+12, salt);
  cvec_put_u32le(h+16, covered);
  cvec_put_u32le(h+20, m->dim);
  cvec_put_u32le(h+24, maxId);
  cvec_put_u32le(h+28, nskip);
  uint64_t fp = fnv1a(0xcbf29ce484222325ull, m->buf, 12);
  size_t nfp = m->recsize<64 ? m->recsize : 64;
  for(uint32_t i=0; covered>0 && i<16; i++){
    uint32_t r = (uint32_t)((uint64_t)i*(covered-1)/15);
    /* a record past the file's end: the real fingerprint fails to read
    ** it; any value will do, the file is refused for covered > count */
    if( r<m->count ) fp = fnv1a(fp, model_record(m, r), nfp);
  }
  put_u64le(h+32, fp);
  put_u64le(h+40, boot ? 0x0123456789abcdefull : 0);
  cvec_put_u32le(h+60, crc32_of(h, 60));
  (void)used;
  *pn = n;
  return a;
}

/* Mirrors boot_hash() of segment_idxfile.c: a header's boot field other
** than 0 is accepted only if it equals this. */
static uint64_t boot_hash(void){
  char b[64];
  uint64_t h = 1;
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY|O_CLOEXEC);
  if( fd>=0 ){
    ssize_t n = read(fd, b, sizeof(b));
    if( n>0 ) h = fnv1a(0xcbf29ce484222325ull, (unsigned char*)b, (size_t)n) | 1;
    close(fd);
  }
  return h;   /* 1: none, matches no stored value that cvec would accept */
}

static uint64_t get_u64le(const unsigned char *b){
  return (uint64_t)cvec_get_u32le(b) | (uint64_t)cvec_get_u32le(b+4) << 32;
}

/*
** Would the index file x (nx bytes) give only right answers about the
** segment of model m?  True if cvec rejects it (by the rules of
** segment_idxfile.h: it then builds its own), and true if it is accepted
** and honest: no slot with a valid check names a record that holds its id
** but is not the id's first; every first occurrence in [0, covered) is
** found by a probe (or the probe meets a damaged slot, which cvec detects);
** the header's largest id and number of skipped records are right.
** False for an index of another version of the .vec that the fingerprint
** does not tell apart (the header says so: not detected), or a forged one.
*/
static int idx_truthful(const model *m, const unsigned char *x, size_t nx){
  if( nx==0 ) return 1;                                /* no index */
  if( nx<CVEC_IDX_HEADER_SIZE || memcmp(x, "CVIX", 4)!=0 ) return 1;
  if( cvec_get_u32le(x+60)!=crc32_of(x, 60) ) return 1;
  if( cvec_get_u32le(x+4)!=1 ) return 1;
  uint32_t k = cvec_get_u32le(x+8);
  if( k<4 || k>31 ) return 1;
  if( nx!=CVEC_IDX_HEADER_SIZE + ((size_t)CVEC_IDX_SLOT_SIZE<<k) ) return 1;
  uint32_t covered = cvec_get_u32le(x+16);
  if( cvec_get_u32le(x+20)!=m->dim ) return 1;
  if( covered>m->count ) return 1;
  if( (uint64_t)covered*2 > ((uint64_t)1<<k) ) return 1;
  uint64_t fp = fnv1a(0xcbf29ce484222325ull, m->buf, 12);
  size_t nfp = m->recsize<64 ? m->recsize : 64;
  for(uint32_t i=0; covered>0 && i<16; i++){
    fp = fnv1a(fp, model_record(m, (uint32_t)((uint64_t)i*(covered-1)/15)), nfp);
  }
  if( get_u64le(x+32)!=fp ) return 1;
  uint64_t boot = get_u64le(x+40);
  if( boot!=0 && boot!=boot_hash() ) return 1;

  /* Accepted.  Is it honest? */
  uint32_t salt = cvec_get_u32le(x+12);
  uint32_t mask = (uint32_t)(((uint64_t)1<<k) - 1);
  const unsigned char *s0 = x + CVEC_IDX_HEADER_SIZE;
#define SLOT_OK(s) (cvec_get_u32le(s0+12*(size_t)(s)+8) \
     == slot_check(salt, (s), cvec_get_u32le(s0+12*(size_t)(s)), \
                   cvec_get_u32le(s0+12*(size_t)(s)+4)))
  for(uint64_t s=0; s<=mask; s++){
    if( !SLOT_OK((uint32_t)s) ) continue;              /* damage: detected */
    uint32_t id = cvec_get_u32le(s0+12*s), rec = cvec_get_u32le(s0+12*s+4);
    if( id==0 || rec>=m->count ) continue;             /* empty, ignored */
    if( cvec_get_u32le(model_record(m, rec))!=id ) continue;  /* detected */
    if( model_lookup(m, id)!=(int64_t)rec ) return 0;  /* a later duplicate */
  }
  uint32_t maxId = 0, nskip = 0;
  for(uint32_t i=0; i<covered; i++){
    uint32_t id = cvec_get_u32le(model_record(m, i));
    if( id==0 || model_lookup(m, id)!=(int64_t)i ){ nskip++; continue; }
    if( id>maxId ) maxId = id;
    /* the probe of cvec_idxfile_get */
    uint32_t s = (uint32_t)mix64((uint64_t)id ^ ((uint64_t)salt << 32)) & mask;
    int found = 1;                                     /* full table: -2 */
    for(uint64_t n=0; n<=mask; n++, s=(s+1)&mask){
      if( !SLOT_OK(s) ) break;                         /* damage: detected */
      uint32_t sid = cvec_get_u32le(s0+12*(size_t)s);
      uint32_t srec = cvec_get_u32le(s0+12*(size_t)s+4);
      if( sid==0 ){ found = 0; break; }                /* not found: hidden */
      if( sid==id ){
        /* a hit on another record that does not hold id is detected; one
        ** past the count, or a tombstone, hides the row */
        found = srec<m->count
             && (srec==i || cvec_get_u32le(model_record(m, srec))!=id);
        break;
      }
    }
    if( !found ) return 0;
  }
#undef SLOT_OK
  if( cvec_get_u32le(x+24)!=maxId || cvec_get_u32le(x+28)!=nskip ) return 0;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Reading the input                                                         */
/* ------------------------------------------------------------------------ */

typedef struct { const uint8_t *a; size_t n, i; } input;

static uint32_t in_byte(input *in){ return in->i<in->n ? in->a[in->i++] : 0; }
static uint32_t in_u16(input *in){ uint32_t x = in_byte(in); return x | in_byte(in)<<8; }
static uint32_t in_u32(input *in){ uint32_t x = in_u16(in); return x | in_u16(in)<<16; }

/* ------------------------------------------------------------------------ */
/* One open / check / write / check cycle                                    */
/* ------------------------------------------------------------------------ */

static void run(const unsigned char *aVec, size_t nVec, int strict,
                uint32_t extraId, uint32_t wflags){
  if( getenv("CVEC_FUZZ_VERBOSE") ){
    fprintf(stderr, "fuzz_segment: %zu-byte .vec, %s checks\n", nVec,
            strict ? "strict" : "weak");
  }
  unsigned char *copy = malloc(nVec ? nVec : 1);
  if( copy==0 ) FAIL("oom");
  if( nVec ) memcpy(copy, aVec, nVec);
  model m;
  model_build(&m, copy, nVec);
  uint32_t aExtra[2] = { extraId, extraId ^ 1 };
  char zErr[CVEC_ERRMSG_MAX];

  /* Read-only first: the .idx as given is used or ignored, never replaced. */
  cvec_seg *pR = 0;
  int rc = cvec_seg_open(zVec, "s.vec", 0, CVEC_OPEN_READONLY, &pR, zErr);
  if( (rc==CVEC_OK)!=m.valid ){
    FAIL("open read-only: rc %d (%s), but the header is %svalid", rc,
         rc ? zErr : "", m.valid ? "" : "in");
  }
  if( rc ){
    if( pR ) FAIL("failed open gave a handle");
    if( zErr[0]==0 || memchr(zErr, 0, sizeof(zErr))==0 ) FAIL("no message");
    if( strstr(zErr, "s.vec")==0 ) FAIL("message does not name the file: %s", zErr);
    /* a fixed dimension fails as well */
    rc = cvec_seg_open(zVec, "s.vec", 3, CVEC_OPEN_READONLY, &pR, zErr);
    if( rc==CVEC_OK ) FAIL("open with dimension 3 of an invalid file");
    model_free(&m);
    return;
  }
  verify(pR, &m, strict, aExtra, 2, "read-only open");
  if( cvec_seg_refresh(pR)!=CVEC_OK ) FAIL("refresh: %s", cvec_seg_errmsg(pR));
  verify(pR, &m, strict, aExtra, 2, "read-only refresh");

  /* Fixed dimensions: the right one opens, another does not. */
  cvec_seg *pD = 0;
  rc = cvec_seg_open(zVec, "s.vec", m.dim, CVEC_OPEN_READONLY, &pD, zErr);
  if( rc ) FAIL("open with dimension %u: %s", m.dim, zErr);
  verify(pD, &m, strict, aExtra, 2, "open with dimension");
  cvec_seg_close(pD);
  uint32_t other = m.dim==3 ? 128 : 3;
  rc = cvec_seg_open(zVec, "s.vec", other, CVEC_OPEN_READONLY, &pD, zErr);
  if( rc!=CVEC_ERROR || pD ) FAIL("open with dimension %u of a %u file: rc %d",
                                  other, m.dim, rc);

  /* A writable handle: may replace a damaged or foreign .idx. */
  cvec_seg *pW = 0;
  rc = cvec_seg_open(zVec, "s.vec", 0, 0, &pW, zErr);
  if( rc ) FAIL("open writable: %s", zErr);
  cvec_seg_set_sync(pW, CVEC_SYNC_OFF);
  verify(pW, &m, strict, aExtra, 2, "writable open");

  /* Writes. */
  uint32_t dim = m.dim;
  unsigned char *vec = malloc(4*(size_t)dim);
  if( vec==0 ) FAIL("oom");
  for(uint32_t j=0; j<dim; j++) cvec_put_f32le(vec+4*(size_t)j, (float)j + 0.5f);
  rc = cvec_seg_append(pW, 1, vec);
  if( rc!=CVEC_ERROR ) FAIL("append without the lock: rc %d", rc);
  rc = cvec_seg_begin_write(pW);
  if( rc ) FAIL("begin_write: %s", cvec_seg_errmsg(pW));
  /* Bytes past the count that no intent note explains (there is none
  ** here): every append is refused, nothing is written. */
  cvec_tail_info tail;
  cvec_seg_tail(pW, &tail);
  int hasTail = m.n > CVEC_HEADER_SIZE + (size_t)m.count*m.recsize;
  if( tail.kind!=(hasTail ? CVEC_TAIL_FOREIGN : CVEC_TAIL_NONE) ){
    FAIL("tail kind %d for %zu bytes past the count", tail.kind,
         m.n - CVEC_HEADER_SIZE - (size_t)m.count*m.recsize);
  }
  if( hasTail ){
    if( cvec_seg_append(pW, m.maxId+1u, vec)!=CVEC_CORRUPT ) FAIL("append over a tail");
    if( cvec_seg_settle(pW, 0)!=CVEC_CORRUPT ) FAIL("settle of a foreign tail");
    if( cvec_seg_rollback(pW) ) FAIL("rollback: %s", cvec_seg_errmsg(pW));
    size_t nNow;
    unsigned char *bNow = read_file(zVec, &nNow);
    if( nNow!=m.n || memcmp(bNow, m.buf, m.n)!=0 ) FAIL("a refused write changed the file");
    free(bNow);
    free(vec);
    cvec_seg_close(pW);
    cvec_seg_close(pR);
    model_free(&m);
    return;
  }
  if( cvec_seg_append(pW, 0, vec)!=CVEC_RANGE ) FAIL("append of id 0");
  /* Appended ids in order.  With a lying index (not strict) an id that the
  ** file holds may be taken again: then it is appended too. */
  uint32_t aNew[4];
  int nNew = 0;
  uint32_t cand[4] = { m.nFirst ? m.first[extraId % m.nFirst].id : 0,
                       m.maxId+1u, extraId, m.maxId+2u };
  int nTry = 2 + (int)(wflags % 3);
  for(int t=0; t<nTry; t++){
    uint32_t id = cand[t];
    if( t==0 && id==0 ) continue;
    int used = model_lookup(&m, id)>=0, usedNew = 0;
    for(int j=0; j<nNew; j++) if( aNew[j]==id ) usedNew = 1;
    rc = cvec_seg_append(pW, id, vec);
    if( id==0 ){
      if( rc!=CVEC_RANGE ) FAIL("append of id 0: rc %d", rc);
    }else if( usedNew || (used && (strict || strictIdx)) ){
      if( rc!=CVEC_CONSTRAINT ) FAIL("append of used id %u: rc %d", id, rc);
    }else if( used && rc==CVEC_CONSTRAINT ){
      /* refused as it should be, lying index or not */
    }else{
      if( rc ) FAIL("append of id %u: %s", id, cvec_seg_errmsg(pW));
      aNew[nNew++] = id;
      int64_t r = cvec_seg_lookup(pW, id);
      if( !used && r!=(int64_t)m.count + nNew - 1 ){
        FAIL("pending id %u found at %lld", id, (long long)r);
      }
      if( r>=0 && cvec_seg_record_id(pW, (uint32_t)r)!=id ) FAIL("pending lookup");
      if( !used && !cvec_seg_record_visible(pW, (uint32_t)r) ) FAIL("pending invisible");
    }
  }
  if( cvec_seg_nrec(pW)!=m.count + (uint32_t)nNew ) FAIL("nrec after appends");
  /* Other handles do not see pending records. */
  for(int j=0; j<nNew; j++){
    int64_t r = cvec_seg_lookup(pR, aNew[j]);
    if( r>=(int64_t)m.count ) FAIL("pending record seen by a reader");
  }
  int commit = (wflags>>2) & 1;
  if( (wflags>>3) & 1 ){
    /* a savepoint rolled back: keep the first only */
    if( nNew>1 ){
      if( cvec_seg_truncate_pending(pW, 1) ) FAIL("truncate_pending");
      for(int j=1; j<nNew; j++){
        if( cvec_seg_lookup(pW, aNew[j])>=(int64_t)m.count+1 ){
          FAIL("truncated id still found");
        }
      }
      nNew = 1;
    }
  }
  if( commit ){
    if( cvec_seg_sync(pW) ) FAIL("sync: %s", cvec_seg_errmsg(pW));
    if( cvec_seg_commit(pW) ) FAIL("commit: %s", cvec_seg_errmsg(pW));
  }else{
    if( cvec_seg_rollback(pW) ) FAIL("rollback: %s", cvec_seg_errmsg(pW));
    nNew = 0;
  }
  free(vec);

  /* The file as it is now. */
  size_t n2;
  unsigned char *buf2 = read_file(zVec, &n2);
  model m2;
  model_build(&m2, buf2, n2);
  if( !m2.valid ) FAIL("the file is no longer valid after a %s",
                       commit ? "commit" : "rollback");
  if( m2.count!=m.count + (uint32_t)nNew ) FAIL("count after writes");
  if( memcmp(m2.buf, m.buf, CVEC_HEADER_SIZE-4)!=0
   || memcmp(m2.buf+CVEC_HEADER_SIZE, m.buf+CVEC_HEADER_SIZE,
             (size_t)m.count*m.recsize)!=0 ){
    FAIL("committed records changed");
  }
  for(int j=0; j<nNew; j++){
    if( cvec_get_u32le(model_record(&m2, m.count+(uint32_t)j))!=aNew[j] ){
      FAIL("new record not in file");
    }
  }
  verify(pW, &m2, strict, aNew, nNew, "writer after commit");
  if( cvec_seg_refresh(pR)!=CVEC_OK ) FAIL("refresh: %s", cvec_seg_errmsg(pR));
  verify(pR, &m2, strict, aNew, nNew, "reader after refresh");
  cvec_seg_close(pW);
  cvec_seg_close(pR);

  /* Reopen: the index as the writer left it. */
  rc = cvec_seg_open(zVec, "s.vec", 0, CVEC_OPEN_READONLY, &pR, zErr);
  if( rc ) FAIL("reopen: %s", zErr);
  verify(pR, &m2, strict, aNew, nNew, "reopen");
  cvec_seg_close(pR);
  model_free(&m2);
  model_free(&m);
}

/* ------------------------------------------------------------------------ */
/* Integrity check and repair                                                */
/* ------------------------------------------------------------------------ */

typedef struct { int nHeader, nShort, nTail, nZero, nDup, nIndex, nOther; } problems;

static int on_problem(void *ctx, const char *zKind, int64_t iRec, int64_t iId,
                      const char *zDetail){
  problems *c = ctx;
  (void)iRec; (void)iId;
  if( zDetail==0 || strlen(zDetail)>=300 ) FAIL("check: bad detail");
  if( strcmp(zKind, "header")==0 ) c->nHeader++;
  else if( strcmp(zKind, "short")==0 ) c->nShort++;
  else if( strcmp(zKind, "tail")==0 ) c->nTail++;
  else if( strcmp(zKind, "zero_id")==0 ) c->nZero++;
  else if( strcmp(zKind, "duplicate")==0 ) c->nDup++;
  else if( strcmp(zKind, "index")==0 ) c->nIndex++;
  else c->nOther++;
  return 0;
}

/* The file as it is on disk now: check it, repair it, check the result. */
static void check_and_repair(int adopt){
  size_t n;
  unsigned char *buf = read_file(zVec, &n);
  /* What the raw file says, without the count rule of model_build. */
  int hdrOk = n>=CVEC_HEADER_SIZE && memcmp(buf, CVEC_MAGIC, 4)==0
           && cvec_get_u32le(buf+4)==CVEC_VERSION_1
           && cvec_get_u32le(buf+8)>=1 && cvec_get_u32le(buf+8)<=CVEC_MAX_DIM;
  uint32_t dim = hdrOk ? cvec_get_u32le(buf+8) : 0;
  uint32_t count = hdrOk ? cvec_get_u32le(buf+12) : 0;
  size_t recsize = 4 + 4*(size_t)dim;
  uint64_t complete = hdrOk ? (n-CVEC_HEADER_SIZE)/recsize : 0;
  size_t partial = hdrOk ? (n-CVEC_HEADER_SIZE)%recsize : 0;

  problems c;
  memset(&c, 0, sizeof(c));
  char zErr[CVEC_ERRMSG_MAX];
  int rc = cvec_seg_check(zVec, "s.vec", on_problem, &c, zErr);
  if( rc ) FAIL("check: rc %d: %s", rc, zErr);
  if( c.nOther ) FAIL("check: unknown kind of problem");
  if( !hdrOk ){
    if( c.nHeader!=1 || c.nShort+c.nTail+c.nZero+c.nDup+c.nIndex ){
      FAIL("check of a bad header: %d header problems, %d others", c.nHeader,
           c.nShort+c.nTail+c.nZero+c.nDup+c.nIndex);
    }
  }else{
    if( c.nHeader ) FAIL("check: header reported, but it is fine");
    if( (complete<count)!=(c.nShort==1) || c.nShort>1 ){
      FAIL("check: %d short reports, %llu complete records of %u",
           c.nShort, (unsigned long long)complete, count);
    }
    int wantTail = (complete>count) + (partial>0);
    if( c.nTail!=wantTail ) FAIL("check: %d tail reports, want %d", c.nTail, wantTail);
    if( complete>=count ){
      model m;
      unsigned char *copy = malloc(n ? n : 1);
      if( copy==0 ) FAIL("oom");
      memcpy(copy, buf, n);
      model_build(&m, copy, n);
      uint32_t nZero = 0;
      for(uint32_t i=0; i<m.count; i++){
        if( cvec_get_u32le(model_record(&m, i))==0 ) nZero++;
      }
      if( (uint32_t)c.nZero!=nZero ) FAIL("check: %d id-0 reports, want %u", c.nZero, nZero);
      if( (uint32_t)c.nDup!=m.count-m.nFirst-nZero ){
        FAIL("check: %d duplicate reports, want %u", c.nDup, m.count-m.nFirst-nZero);
      }
      model_free(&m);
    }else if( c.nZero || c.nDup || c.nIndex ){
      FAIL("check: records walked in a short file");
    }
  }

  uint32_t oldCount = 0, newCount = 0;
  rc = cvec_seg_repair(zVec, "s.vec", adopt ? CVEC_REPAIR_ADOPT : CVEC_REPAIR_DISCARD,
                       &oldCount, &newCount, zErr);
  size_t n2;
  unsigned char *buf2 = read_file(zVec, &n2);
  if( !hdrOk ){
    if( rc!=CVEC_CORRUPT ) FAIL("repair of a bad header: rc %d", rc);
    if( n2!=n || memcmp(buf, buf2, n) ) FAIL("repair changed a file it refused");
    free(buf);
    free(buf2);
    return;
  }
  if( rc ) FAIL("repair: rc %d: %s", rc, zErr);
  uint64_t keep = adopt ? complete : (count<complete ? count : complete);
  if( keep>CVEC_MAX_ID ) keep = CVEC_MAX_ID;
  if( oldCount!=count || newCount!=keep ){
    FAIL("repair: count %u -> %u, want %u -> %llu", oldCount, newCount, count,
         (unsigned long long)keep);
  }
  if( n2!=CVEC_HEADER_SIZE + keep*recsize ) FAIL("repair left %zu bytes", n2);
  if( memcmp(buf, buf2, 12) || cvec_get_u32le(buf2+12)!=newCount
   || memcmp(buf+CVEC_HEADER_SIZE, buf2+CVEC_HEADER_SIZE, n2-CVEC_HEADER_SIZE) ){
    FAIL("repair changed the records it kept");
  }
  if( access(zIdx, F_OK)==0 ) FAIL("repair left the index file");
  free(buf);

  /* The repaired file opens, and reads as it should. */
  model m;
  model_build(&m, buf2, n2);
  if( !m.valid ) FAIL("the repaired file is not valid");
  cvec_seg *p = 0;
  if( cvec_seg_open(zVec, "s.vec", 0, 0, &p, zErr) ) FAIL("open after repair: %s", zErr);
  verify(p, &m, 1, 0, 0, "after repair");
  cvec_seg_close(p);
  memset(&c, 0, sizeof(c));
  if( cvec_seg_check(zVec, "s.vec", on_problem, &c, zErr) ) FAIL("check: %s", zErr);
  if( c.nHeader || c.nShort || c.nTail || c.nOther ){
    FAIL("check after repair: problems remain");
  }
  model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size){
  init_once();
  strictIdx = getenv("CVEC_FUZZ_STRICT_IDX")!=0;
  clean_dir();
  if( size==0 ) return 0;
  input in = { data, size, 1 };
  int mode = data[0] & 3;
  uint32_t extraId = (uint32_t)data[0] >> 2;   /* refined below */
  uint32_t wflags = 0;

  if( mode<=1 ){
    const unsigned char *aVec = data+1;
    size_t nVec = size-1;
    /* ids and write choices from the last bytes, which are usually part of
    ** the records' floats */
    if( nVec>=4 ) extraId = cvec_get_u32le(aVec+nVec-4);
    if( nVec>=5 ) wflags = aVec[nVec-5];
    write_file(zVec, aVec, nVec);
    run(aVec, nVec, 1, extraId, wflags);
    check_and_repair((wflags>>4) & 1);
    clean_dir();
    return 0;
  }

  size_t nVec = in_u16(&in);
  if( nVec > size-in.i ) nVec = size-in.i;
  const unsigned char *aVec = data+in.i;
  in.i += nVec;
  write_file(zVec, aVec, nVec);
  if( nVec>=4 ) extraId = cvec_get_u32le(aVec+nVec-4);
  if( nVec>=5 ) wflags = aVec[nVec-5];

  if( mode==2 ){
    if( in.i<size ) write_file(zIdx, data+in.i, size-in.i);
    unsigned char *copy = malloc(nVec ? nVec : 1);
    if( copy==0 ) FAIL("oom");
    if( nVec ) memcpy(copy, aVec, nVec);
    model m;
    model_build(&m, copy, nVec);
    int strict = !m.valid || idx_truthful(&m, data+in.i, size-in.i);
    model_free(&m);
    run(aVec, nVec, strict, extraId, wflags);
    check_and_repair((wflags>>4) & 1);
    clean_dir();
    return 0;
  }

  /* mode 3: an index built here, then damaged */
  unsigned char *copy = malloc(nVec ? nVec : 1);
  if( copy==0 ) FAIL("oom");
  if( nVec ) memcpy(copy, aVec, nVec);
  model m;
  model_build(&m, copy, nVec);
  if( !m.valid ){
    /* nothing to index: the .vec is refused whatever the .idx */
    model_free(&m);
    run(aVec, nVec, 1, extraId, wflags);
    check_and_repair((wflags>>4) & 1);
    clean_dir();
    return 0;
  }
  unsigned char *aVec2 = malloc(nVec ? nVec : 1);   /* the .vec, maybe edited */
  if( aVec2==0 ) FAIL("oom");
  if( nVec ) memcpy(aVec2, aVec, nVec);
  uint32_t kb = in_byte(&in);
  uint32_t salt = in_u32(&in);
  uint32_t covered = in_u32(&in) % (m.count + 2u);
  uint32_t flags = in_byte(&in);
  uint32_t k;
  if( kb & 0x80 ){
    k = kb & 31;
    if( k<1 ) k = 1;
    if( k>10 ) k = 10;   /* keep the files small; > 31 is tested by mode 2 */
  }else{
    k = 4;
    while( ((uint64_t)1<<k) < (uint64_t)covered*2 ) k++;
    k += kb % 4;
  }
  if( k>24 ) k = 24;
  size_t nIdx;
  unsigned char *aIdx = build_idx(&m, k, salt, covered, flags & 4, &nIdx);
  int nDamage = 0;
  if( flags & 2 ){
    size_t cut = in_u16(&in);
    if( cut<nIdx ){ nIdx = cut; nDamage++; }
  }
  /* flag 8: the damages edit the .vec after it was indexed (in place,
  ** keeping its length), as another tool might */
  unsigned char *aEdit = aVec2;
  size_t nEdit = nVec;
  while( in.i+3<=size ){
    size_t off = in_u16(&in);
    uint32_t x = in_byte(&in);
    if( flags & 8 ){
      if( nEdit && x ){ aEdit[off % nEdit] ^= (unsigned char)x; }
    }else if( nIdx && x ){
      aIdx[off % nIdx] ^= (unsigned char)x;
      nDamage++;
    }
  }
  if( (flags & 1) && nIdx>=CVEC_IDX_HEADER_SIZE ){
    cvec_put_u32le(aIdx+60, crc32_of(aIdx, 60));
  }
  write_file(zIdx, aIdx, nIdx);
  int strict = 1;
  if( flags & 8 ){
    write_file(zVec, aVec2, nVec);
    unsigned char *copy2 = malloc(nVec ? nVec : 1);
    if( copy2==0 ) FAIL("oom");
    memcpy(copy2, aVec2, nVec);
    model m2;
    model_build(&m2, copy2, nVec);
    strict = !m2.valid || idx_truthful(&m2, aIdx, nIdx);
    model_free(&m2);
    nDamage++;   /* the index need not be accepted */
  }else{
    strict = idx_truthful(&m, aIdx, nIdx);
  }
  free(aIdx);

  /* Undamaged and within the rules: the file must be accepted as it is
  ** (a writable open would otherwise replace it, under a new inode). */
  int valid = nDamage==0 && !(flags & 4) && covered<=m.count
           && (k>=4 && k<=31) && (uint64_t)covered*2 <= ((uint64_t)1<<k);
  model_free(&m);
  if( valid ){
    ino_t before = inode_of(zIdx);
    cvec_seg *p = 0;
    char zErr[CVEC_ERRMSG_MAX];
    if( cvec_seg_open(zVec, "s.vec", 0, 0, &p, zErr) ) FAIL("open: %s", zErr);
    ino_t after = inode_of(zIdx);
    cvec_seg_close(p);
    if( before!=after ){
      FAIL("a valid index (k=%u covered=%u) was rebuilt: the format in "
           "segment_idxfile.h and this builder disagree", k, covered);
    }
  }
  run(aVec2, nVec, strict, extraId, wflags);
  check_and_repair((wflags>>4) & 1);
  free(aVec2);
  clean_dir();
  return 0;
}
