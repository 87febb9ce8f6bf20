/*
** segment_intent.h — the intent file "<segment>.intent": a durable note, made
** before a transaction writes its first byte past the committed records, of
** who is writing (the owner: a database file and table), the transaction's
** number, the committed count it started from and, once its rows are synced,
** the count it will commit.
**
** The note is what lets a crash be settled later (SPEC §4).  SQLite commits
** the database between the segment's xSync and xCommit; a crash in between
** leaves a database that holds the transaction's rows and a segment whose
** count does not.  The note says which records past the count belong to that
** transaction, and the owner's database says (through the transaction number
** in its shadow table) whether it committed: roll forward, or cut the tail.
** Bytes past the count that no open note explains were left by someone else,
** and cvec refuses to write over them until an explicit repair.
**
** FILE FORMAT (little-endian; one record at offset 0, written with one pwrite)
**
**   OFFSET  SIZE  DESCRIPTION
**      0      4   magic: the bytes 'C' 'V' 'I' 'N'
**      4      4   version: 1
**      8      4   state: 1 open (the transaction may have bytes past the
**                 count), 2 done (committed or rolled back: nothing past it)
**     12      4   old count C: the committed count the transaction started from
**     16      4   new count N: the count it commits; 0 while not yet known
**                 (its rows are not all written and synced)
**     20      4   length L of the owner text
**     24      8   transaction number: a random value, the one the owner's
**                 shadow row holds if (and only if) the transaction committed
**     32      8   inode number of the segment the note is about
**     40      4   CRC-32 of bytes 0..39, bytes 44..63 and the owner text
**     44      4   CRC-32 of record C as the transaction wrote it
**     48      4   CRC-32 of record N-1 (0 while N is 0)
**     52      8   table id: a random value kept in the owner's shadow row,
**                 0 for a database with no file
**     60      4   zero
**     64      L   owner text, for messages: "table T in FILE" (not
**                 NUL-terminated; empty for a database with no file)
**
** Invariants:
**   - an open note with old count C is synced (sync=full) before any byte
**     goes past record C, and names the first record written there (its
**     CRC); its new count N, and the CRC of record N-1, are synced before the
**     records [C, N) are (so before xSync returns and the database commits);
**   - "done" is written after the count is (commit) or the tail is cut
**     (rollback), so a stale "open" note never outlives its tail unnoticed:
**     a note whose old count is not the file's count explains nothing, and
**     nor does one whose record CRCs are not those of the bytes past C.
**   A note with a bad checksum, or about another inode, explains nothing.
**   So cvec never cuts or adopts bytes another program left past the count.
*/
#ifndef CVEC_SEGMENT_INTENT_H
#define CVEC_SEGMENT_INTENT_H

#include <stddef.h>
#include <stdint.h>

#define CVEC_INTENT_OPEN  1u
#define CVEC_INTENT_DONE  2u

/* Longest owner text kept (a database path and a table name). */
#define CVEC_OWNER_MAX 4200

typedef struct cvec_intent {
  uint32_t state;         /* CVEC_INTENT_OPEN or CVEC_INTENT_DONE */
  uint32_t oldCount;
  uint32_t newCount;      /* 0: not known yet */
  uint64_t txn;
  uint64_t ino;
  uint32_t crcFirst;      /* CRC-32 of record oldCount */
  uint32_t crcLast;       /* CRC-32 of record newCount-1, 0 if newCount is 0 */
  uint64_t tid;           /* the owner's table id, 0 for no file */
  uint32_t nOwner;
  char zOwner[CVEC_OWNER_MAX+1];  /* NUL-terminated copy */
} cvec_intent;

/*
** Read the note of fd into *pI.  Returns 0 if there is a valid one, 1 if the
** file is empty or holds no valid note (torn, foreign, damaged), -1 on an
** I/O error (errno set).
*/
int cvec_intent_read(int fd, cvec_intent *pI);

/* Write *pI as the note of fd in one pwrite, then fdatasync it if doSync.
** 0 on success, -1 with errno set. */
int cvec_intent_write(int fd, const cvec_intent *pI, int doSync);

/*
** 1 if note *pI explains the bytes past the count of a segment: fdSeg, of
** inode ino and size bytes, with `count` committed records of recsize
** bytes.  The note must be open, start at the count, be about that inode,
** and name by CRC the records in the file: record C whole (a tail shorter
** than a record holds none: any writer's torn append, cut with no loss),
** and record N-1 if N is known and the file holds it.  The one rule both
** writers (segment_write.c) and cvec_seg_check() apply.
*/
int cvec_intent_explains(const cvec_intent *pI, int fdSeg, uint64_t ino,
                         int64_t size, uint32_t count, size_t recsize);

#endif /* CVEC_SEGMENT_INTENT_H */
