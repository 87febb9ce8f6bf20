/*
** segment_intent.c — encoding, reading and writing the intent note of a
** segment (format and invariants in segment_intent.h).  How the write path
** uses it is in segment_write.c.
*/
#include "segment_int.h"
#include "segment_intent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INTENT_HDR 64

static uint32_t intent_crc(const unsigned char *h, const char *zOwner, size_t n){
  /* CRC over bytes 0..39 and 44..63, then the owner text */
  unsigned char a[60 + CVEC_OWNER_MAX];
  memcpy(a, h, 40);
  memcpy(a+40, h+44, 20);
  memcpy(a+60, zOwner, n);
  return cvec_crc32(a, 60+n);
}

static uint64_t get_u64le(const unsigned char *b){
  return (uint64_t)cvec_get_u32le(b) | (uint64_t)cvec_get_u32le(b+4)<<32;
}
static void put_u64le(unsigned char *b, uint64_t v){
  cvec_put_u32le(b, (uint32_t)v);
  cvec_put_u32le(b+4, (uint32_t)(v>>32));
}

int cvec_intent_read(int fd, cvec_intent *pI){
  unsigned char a[INTENT_HDR + CVEC_OWNER_MAX];
  memset(pI, 0, sizeof(*pI));
  ssize_t n;
  do{
    n = cvec_io.xPread(fd, a, sizeof(a), 0);
  }while( n<0 && errno==EINTR );
  if( n<0 ) return -1;
  if( n<INTENT_HDR || memcmp(a, "CVIN", 4)!=0 || cvec_get_u32le(a+4)!=1 ) return 1;
  uint32_t nOwner = cvec_get_u32le(a+20);
  if( nOwner>CVEC_OWNER_MAX || (size_t)n < INTENT_HDR+(size_t)nOwner ) return 1;
  if( cvec_get_u32le(a+40)!=intent_crc(a, (const char*)a+INTENT_HDR, nOwner) ){
    return 1;
  }
  pI->state = cvec_get_u32le(a+8);
  pI->oldCount = cvec_get_u32le(a+12);
  pI->newCount = cvec_get_u32le(a+16);
  pI->nOwner = nOwner;
  pI->txn = get_u64le(a+24);
  pI->ino = get_u64le(a+32);
  pI->crcFirst = cvec_get_u32le(a+44);
  pI->crcLast = cvec_get_u32le(a+48);
  pI->tid = get_u64le(a+52);
  memcpy(pI->zOwner, a+INTENT_HDR, nOwner);
  pI->zOwner[nOwner] = 0;
  if( pI->state!=CVEC_INTENT_OPEN && pI->state!=CVEC_INTENT_DONE ) return 1;
  return 0;
}

int cvec_intent_write(int fd, const cvec_intent *pI, int doSync){
  unsigned char a[INTENT_HDR + CVEC_OWNER_MAX];
  uint32_t nOwner = pI->nOwner > CVEC_OWNER_MAX ? CVEC_OWNER_MAX : pI->nOwner;
  memset(a, 0, INTENT_HDR);
  memcpy(a, "CVIN", 4);
  cvec_put_u32le(a+4, 1);
  cvec_put_u32le(a+8, pI->state);
  cvec_put_u32le(a+12, pI->oldCount);
  cvec_put_u32le(a+16, pI->newCount);
  cvec_put_u32le(a+20, nOwner);
  put_u64le(a+24, pI->txn);
  put_u64le(a+32, pI->ino);
  cvec_put_u32le(a+44, pI->crcFirst);
  cvec_put_u32le(a+48, pI->crcLast);
  put_u64le(a+52, pI->tid);
  memcpy(a+INTENT_HDR, pI->zOwner, nOwner);
  cvec_put_u32le(a+40, intent_crc(a, pI->zOwner, nOwner));
  if( cvec_pwrite_all(fd, a, INTENT_HDR+nOwner, 0) ) return -1;
  if( doSync && cvec_fdatasync(fd) ) return -1;
  return 0;
}

/* 1 if record i of fd (recsize bytes each) reads back with CRC crc. */
static int record_crc_is(int fd, uint64_t i, size_t recsize, uint32_t crc){
  unsigned char *a = malloc(recsize);
  int ok = a && cvec_pread_all(fd, a, recsize,
                               (off_t)CVEC_HEADER_SIZE + (off_t)i*(off_t)recsize)==0
        && cvec_crc32(a, recsize)==crc;
  free(a);
  return ok;
}

int cvec_intent_explains(const cvec_intent *pI, int fdSeg, uint64_t ino,
                         int64_t size, uint32_t count, size_t recsize){
  int64_t want = (int64_t)CVEC_HEADER_SIZE + (int64_t)count*(int64_t)recsize;
  if( pI->state!=CVEC_INTENT_OPEN || pI->oldCount!=count || pI->ino!=ino
   || (pI->newCount!=0 && pI->newCount<=count) || size<=want ){
    return 0;
  }
  if( size-want >= (int64_t)recsize
   && !record_crc_is(fdSeg, count, recsize, pI->crcFirst) ){
    return 0;
  }
  if( pI->newCount
   && size >= (int64_t)CVEC_HEADER_SIZE + (int64_t)pI->newCount*(int64_t)recsize
   && !record_crc_is(fdSeg, pI->newCount-1, recsize, pI->crcLast) ){
    return 0;
  }
  return 1;
}
