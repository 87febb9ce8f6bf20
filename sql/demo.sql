-- demo.sql -- a short tour of cvec
--
-- Shows: loading the extension, a metadata table next to a cvec_segment
-- virtual table, inserting vectors as JSON text and as BLOBs inside one
-- transaction, an id assigned by cvec (NULL id + last_insert_rowid()),
-- lookup by id, a join with the metadata, exact nearest-neighbour search
-- (also among the rows of another table), the distance functions, count(*),
-- the query plan of the join, a rolled-back insert, and the segment file's
-- header on disk.
--
-- Run it with
--
--   make demo
--
-- which builds the extension, makes a fresh directory demo-run/ in the build
-- tree and runs, there,
--
--   sqlite3 -bail -header -column -cmd '.load <builddir>/.libs/cvec' demo.db < sql/demo.sql
--
-- The vectors end up in demo-run/vectors/segment_0.vec (the dir= argument
-- is resolved against the directory of demo.db).

.print == cvec version
SELECT cvec_version() AS version;

.print
.print == metadata: an ordinary table
CREATE TABLE docs(id INTEGER PRIMARY KEY, title TEXT, lang TEXT);
INSERT INTO docs(id, title, lang) VALUES
  (1, 'Vectors in SQLite',           'en'),
  (2, 'Les vecteurs',                'fr'),
  (3, 'Memory-mapped files',         'en'),
  (4, 'Append-only segment logs',    'en'),
  (5, 'Vektoren in SQLite',          'de'),
  (6, 'Joining vectors and metadata','en');
SELECT * FROM docs;

.print
.print == vectors: one segment file, 4 floats per vector
CREATE VIRTUAL TABLE doc_vecs USING cvec_segment(dir='vectors', segment=0, dimension=4);

.print
.print == insert in one transaction (one batch appended at COMMIT)
BEGIN;
-- JSON text is parsed into float32 values
INSERT INTO doc_vecs(id, vector) VALUES (1, '[0.1, 0.2, 0.3, 0.4]');
INSERT INTO doc_vecs(id, vector) VALUES
  (2, '[0.5, 0.5, 0.5, 0.5]'),
  (3, '[0.9, 0.1, 0.0, 0.2]'),
  (4, '[-1, 2.5, 0, 0.25]');
-- a BLOB of 4 x float32 little-endian, here made by cvec_from_json
INSERT INTO doc_vecs(id, vector) VALUES (5, cvec_from_json('[1, 0, 0, 0]'));
-- NULL id: cvec assigns max(id)+1
INSERT INTO doc_vecs(id, vector) VALUES (NULL, '[0, 0, 0, 1]');
SELECT last_insert_rowid() AS assigned_id;
COMMIT;

.print
.print == lookup by id (uses the id index)
SELECT id, cvec_to_json(vector) AS vector, typeof(vector) AS type,
       length(vector) AS bytes
  FROM doc_vecs WHERE id = 3;

.print
.print == English documents with their vectors
SELECT d.id, d.title, cvec_to_json(v.vector) AS vector
  FROM docs d JOIN doc_vecs v ON v.id = d.id
 WHERE d.lang = 'en'
 ORDER BY d.id;

.print
.print == the 3 nearest vectors to [0.6, 0.4, 0.4, 0.5] (exact search, L2)
SELECT v.id, round(v.distance, 4) AS distance, d.title
  FROM doc_vecs v JOIN docs d ON d.id = v.id
 WHERE v.vector MATCH '[0.6, 0.4, 0.4, 0.5]' AND v.k = 3
 ORDER BY v.distance;

.print
.print == the 2 nearest among the English documents (id IN pre-filter)
SELECT id, round(distance, 4) AS distance
  FROM doc_vecs
 WHERE vector MATCH '[0.6, 0.4, 0.4, 0.5]' AND k = 2
   AND id IN (SELECT id FROM docs WHERE lang = 'en');

.print
.print == distance functions
SELECT round(cvec_distance_l2('[0,0]', '[3,4]'), 4) AS l2,
       round(cvec_distance_cosine('[1,0]', '[0,1]'), 4) AS cosine,
       cvec_distance_dot('[1,2]', '[3,4]') AS dot;

.print
.print == how many vectors
SELECT count(*) AS vectors FROM doc_vecs;

.print
.print == query plans
.print (1) a lookup by id; (2) the join: SQLite scans docs for lang = 'en'
.print and looks each id up in doc_vecs through the id index (INDEX 1)
EXPLAIN QUERY PLAN
SELECT vector FROM doc_vecs WHERE id = 3;
EXPLAIN QUERY PLAN
SELECT d.id, d.title, cvec_to_json(v.vector) AS vector
  FROM docs d JOIN doc_vecs v ON v.id = d.id
 WHERE d.lang = 'en';

.print
.print == a rolled-back insert leaves nothing behind
BEGIN;
INSERT INTO doc_vecs(id, vector) VALUES (7, '[7, 7, 7, 7]');
SELECT count(*) AS inside_txn FROM doc_vecs;
ROLLBACK;
SELECT count(*) AS after_rollback FROM doc_vecs;

.print
.print == the segment file header: magic CVEC, version 1, dimension 4, count 6
SELECT hex(substr(readfile('vectors/segment_0.vec'), 1, 4))  AS magic,
       hex(substr(readfile('vectors/segment_0.vec'), 5, 4))  AS version_le,
       hex(substr(readfile('vectors/segment_0.vec'), 9, 4))  AS dimension_le,
       hex(substr(readfile('vectors/segment_0.vec'), 13, 4)) AS count_le,
       length(readfile('vectors/segment_0.vec'))             AS file_bytes;
