#!/usr/bin/env python3
"""make_corpus.py -- write the seed corpora of the fuzz targets.

    python3 fuzz/make_corpus.py [--ext BUILD/.libs/cvec] [--sqlite3 sqlite3] OUTDIR

writes OUTDIR/json, OUTDIR/segment and OUTDIR/sql (the committed corpus is
fuzz/corpus).  Seeds are named seed-*; inputs that fuzzing found and that were
merged in keep libFuzzer's names, and regression inputs for crashes are named
crash-* (see fuzz/README.md).  With --ext, segment pairs (.vec and its .idx)
are also made by the built module through the sqlite3 shell, so that the
index files are cvec's own.

The input formats are described at the top of fuzz/fuzz_json.c,
fuzz/fuzz_segment.c and fuzz/fuzz_sql.c.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def write(outdir, sub, name, data):
    d = os.path.join(outdir, sub)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------
# json
# ---------------------------------------------------------------------------
JSON = {
    "empty-array": "[]",
    "one": "[1]",
    "three": "[0.1, 0.2, 0.3]",
    "ws": " \t\n[ 1 ,\r\n2 ]\n ",
    "neg-zero": "[-0, 0, -0.0, 0e0]",
    "exp": "[1e10, 1E-10, 2.5e+3, -4e-2]",
    "max": "[3.4028235e38, -3.4028235e38, 3.4028234663852886e38]",
    "overflow": "[3.4028236e38]",
    "overflow2": "[1e39]",
    "subnormal": "[1.4e-45, 1e-45, 7e-46, 1.17549435e-38]",
    "underflow": "[1e-50]",
    "long-number": "[" + "1" * 80 + "." + "0" * 40 + "1e-80]",
    "long-digits": "[0." + "3" * 100 + "]",
    "js-style": "[0.000001,1e-7,100,1e21,123456790000000000000]",
    "nan": "[NaN]",
    "inf": "[Infinity, -Infinity]",
    "trailing-comma": "[1, 2,]",
    "leading-comma": "[,1]",
    "no-close": "[1, 2",
    "no-open": "1, 2]",
    "after": "[1] x",
    "nested": "[[1]]",
    "string": '["1"]',
    "hex": "[0x10]",
    "plus": "[+1]",
    "dot": "[1.]",
    "leading-dot": "[.5]",
    "leading-zero": "[01]",
    "minus-only": "[-]",
    "exp-only": "[1e]",
    "null": "null",
    "object": '{"a": 1}',
    "empty": "",
    "nul-byte": "[1,\x002]",
    "many": "[" + ",".join(str(i * 0.5 - 7) for i in range(64)) + "]",
    "round-trip": "[0.1,0.2,0.30000001,16777217,1.0000001,9.999999e-7]",
    "big-ints": "[16777216, 16777217, 4294967296, 1e20, 99999999999999999999]",
    "comma-decimal": "[1,5, 2,5]",
}


def make_json(outdir):
    for name, text in JSON.items():
        write(outdir, "json", "seed-" + name, text)


# ---------------------------------------------------------------------------
# segment
# ---------------------------------------------------------------------------
def vec(dim, records, count=None, magic=b"CVEC", version=1):
    """A .vec file: records are (id, [floats]) or raw bytes."""
    if count is None:
        count = len(records)
    out = bytearray(magic + struct.pack("<III", version, dim, count))
    for r in records:
        if isinstance(r, (bytes, bytearray)):
            out += r
        else:
            rid, vals = r
            out += struct.pack("<I", rid)
            out += struct.pack("<%df" % dim, *vals)
    return bytes(out)


def recs(dim, ids):
    return [(i, [float(i) + j * 0.25 for j in range(dim)]) for i in ids]


def recipe(vecbytes, k=0, salt=0x12345678, covered=0, flags=0, cut=None,
           damages=()):
    """Mode 3: an index built by the fuzz target from a recipe."""
    out = bytearray([3]) + struct.pack("<H", len(vecbytes)) + vecbytes
    out += bytes([k]) + struct.pack("<II", salt, covered) + bytes([flags])
    if flags & 2:
        out += struct.pack("<H", cut or 0)
    for off, x in damages:
        out += struct.pack("<HB", off, x)
    return bytes(out)


def pair(vecbytes, idxbytes):
    """Mode 2: the .vec and the .idx verbatim."""
    return bytes([2]) + struct.pack("<H", len(vecbytes)) + vecbytes + idxbytes


def make_segment(outdir):
    S = {}
    S["empty-d1"] = vec(1, [])
    S["d1"] = vec(1, recs(1, [1, 2, 3, 4, 5]))
    S["d3"] = vec(3, recs(3, [7, 3, 9, 1]))
    S["d128"] = vec(128, recs(128, [1, 2, 3]))
    S["torn-tail"] = vec(3, recs(3, [1, 2, 3]), count=2)
    S["partial-record"] = vec(3, recs(3, [1, 2]) + [b"\x03\x00\x00\x00\x00\x00"])
    S["short"] = vec(3, recs(3, [1, 2]), count=3)
    S["count-huge"] = vec(1, recs(1, [1]), count=0xFFFFFFFF)
    S["dups"] = vec(2, recs(2, [5, 6, 5, 7, 6, 5]))
    S["id0"] = vec(2, recs(2, [0, 1, 0, 2]))
    S["all-id0"] = vec(1, recs(1, [0, 0, 0]))
    S["dups-and-id0"] = vec(1, recs(1, [3, 0, 3, 0, 4, 4, 1]))
    S["max-id"] = vec(1, recs(1, [0xFFFFFFFF, 1]))
    S["nan-values"] = vec(2, [(1, [float("nan"), 1.0]), (2, [float("inf"), 0.0])])
    S["bad-magic"] = vec(1, recs(1, [1]), magic=b"CVEX")
    S["bad-version"] = vec(1, recs(1, [1]), version=2)
    S["dim0"] = vec(0, [])
    S["dim-too-big"] = vec(65537, [])
    S["dim-max"] = vec(65536, [])
    S["header-only-short"] = b"CVEC\x01\x00\x00\x00"
    S["nothing"] = b""
    S["tail-records"] = vec(1, recs(1, [1, 2, 3, 4]), count=1)
    for name, data in S.items():
        write(outdir, "segment", "seed-" + name, bytes([0]) + data)

    # Mode 2 without an .idx, and with foreign bytes as the .idx
    d3 = S["d3"]
    write(outdir, "segment", "seed-pair-noidx", pair(d3, b""))
    write(outdir, "segment", "seed-pair-junkidx", pair(d3, b"CVIX" + bytes(60)))
    write(outdir, "segment", "seed-pair-shortidx", pair(d3, b"CVIX\x01\x00"))

    # Mode 3: built indexes, valid and damaged
    dups = S["dups"]
    write(outdir, "segment", "seed-recipe-valid", recipe(d3, covered=4))
    write(outdir, "segment", "seed-recipe-partial", recipe(d3, covered=2))
    write(outdir, "segment", "seed-recipe-dups", recipe(dups, covered=6))
    write(outdir, "segment", "seed-recipe-id0", recipe(S["dups-and-id0"], covered=7, k=1))
    write(outdir, "segment", "seed-recipe-covers-more", recipe(d3, covered=5))
    write(outdir, "segment", "seed-recipe-unsynced", recipe(d3, covered=4, flags=4))
    write(outdir, "segment", "seed-recipe-slot-damage",
          recipe(d3, covered=4, damages=[(64 + 12 * 3, 0x01), (64 + 12 * 9 + 8, 0x80)]))
    write(outdir, "segment", "seed-recipe-header-damage",
          recipe(d3, covered=4, damages=[(16, 0x01)]))
    write(outdir, "segment", "seed-recipe-forged-count",
          recipe(dups, covered=6, flags=1, damages=[(28, 0x03)]))
    write(outdir, "segment", "seed-recipe-forged-k",
          recipe(d3, covered=4, flags=1, damages=[(8, 0x01)]))
    write(outdir, "segment", "seed-recipe-cut",
          recipe(d3, covered=4, flags=2, cut=100))
    write(outdir, "segment", "seed-recipe-k-raw",
          recipe(d3, covered=4, k=0x80 | 3))
    write(outdir, "segment", "seed-recipe-empty", recipe(S["empty-d1"], covered=0))
    write(outdir, "segment", "seed-recipe-d128", recipe(S["d128"], covered=3, k=2))
    # the .vec edited in place after indexing: record 1 is not among the 16
    # records the fingerprint samples (undetected, a stale index), record 0 is
    d40 = vec(1, recs(1, range(1, 41)))
    write(outdir, "segment", "seed-recipe-stale",
          recipe(d40, covered=40, flags=8, damages=[(16 + 8 * 1 + 3, 0x80)]))
    write(outdir, "segment", "seed-recipe-stale-detected",
          recipe(d40, covered=40, flags=8, damages=[(16 + 0, 0x01)]))


def make_pairs(outdir, ext, sqlite3):
    """.vec and .idx made by cvec itself (mode 2), whole and damaged."""
    tmp = tempfile.mkdtemp(prefix="cvec-corpus-")
    try:
        cases = {
            "d1": (1, "SELECT value, '[' || value || ']' FROM s"),
            "d3": (3, "SELECT value * 7 % 101 + 1, '[' || value || ',0.5,-1]' FROM s"),
        }
        for name, (dim, select) in cases.items():
            d = os.path.join(tmp, name)
            sql = (
                ".load %s\n"
                "CREATE VIRTUAL TABLE t USING cvec_segment(dir='%s', dimension=%d);\n"
                "WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value+1 "
                "FROM s WHERE value < 40)\n"
                "INSERT INTO t(id, vector) %s;\n" % (ext, d, dim, select))
            subprocess.run([sqlite3, ":memory:"], input=sql.encode(), check=True)
            with open(os.path.join(d, "segment_0.vec"), "rb") as f:
                v = f.read()
            with open(os.path.join(d, "segment_0.vec.idx"), "rb") as f:
                x = f.read()
            write(outdir, "segment", "seed-cvec-pair-" + name, pair(v, x))
            if name == "d3":
                # the .idx of a shorter segment: behind the .vec
                v2 = bytearray(v)
                x2 = bytearray(x)
                x2[64 + 12 * 100] ^= 0x40       # one slot damaged
                write(outdir, "segment", "seed-cvec-pair-d3-slot", pair(v, bytes(x2)))
                v2[12] = 20                     # count cut to 20: covered > count
                write(outdir, "segment", "seed-cvec-pair-d3-cut", pair(bytes(v2), x))
    finally:
        shutil.rmtree(tmp)


# ---------------------------------------------------------------------------
# sql: programs for fuzz_sql (see its header)
# ---------------------------------------------------------------------------
DIMS = [1, 2, 3, 4, 5, 8, 16, 128]
OP = dict(insert=0, many=4, self=5, lookup=6, inlist=8, range=9, limit=10,
          begin=11, commit=12, rollback=13, savepoint=14, release=15,
          rollback_to=16, refused=17, functions=18, check=19)
CONFLICT = dict(none=0, ignore=1, replace=2, fail=3, abort=4, rollback=5)


def s_null():
    return bytes([0])


def s_int(i):
    """A small id (0..23) or a u32."""
    if 0 <= i < 24:
        return bytes([1, i])
    return bytes([3]) + struct.pack("<I", i & 0xFFFFFFFF)


def s_i64(i):
    return bytes([4]) + struct.pack("<q", i)


def s_special(k):
    return bytes([5, k])


def s_real(i, half=False):
    return bytes([7 if half else 6, i])


def s_double(d):
    return bytes([8]) + struct.pack("<d", d)


def s_textnum(fmt, v):
    return bytes([9, (v << 4) | fmt])


def s_raw(data, blob=False):
    return bytes([22 if blob else 10, len(data)]) + data


def v_blob(dim, base=1.0):
    return bytes([0]) + b"".join(struct.pack("<f", base + j) for j in range(dim))


def v_json(dim, off_by_one=None):
    out = bytearray()
    out.append(4 if off_by_one is None else 24)   # 24 % 10 == 4, bit 0x10
    n = dim
    if off_by_one is not None:
        out.append(off_by_one + 1)
        n += off_by_one
    for j in range(n):
        out.append(((j % 16) << 3) | (0 << 1))   # small integers
    return bytes(out)


def v_raw(data, blob=False):
    return bytes([16 if blob else 6, len(data)]) + data


def v_nan(dim):
    return bytes([7]) + b"\x00\x00\xc0\x7f" * dim


def v_zero(exact=True, n=0):
    return bytes([18]) if exact else bytes([8, n])


def v_scalar(s):
    return bytes([9]) + s


def pick(conflict, hi, mod):
    """The opcode argument byte b with b % 6 == conflict, (b >> 3) % mod == hi."""
    for b in range(256):
        if b % 6 == CONFLICT[conflict] and (b >> 3) % mod == hi:
            return b
    raise ValueError((conflict, hi, mod))


def ins(idv, vecv, conflict="none", form=0, rowid=None):
    b = pick(conflict, form, 4)
    out = bytes([OP["insert"], b]) + idv + vecv
    if form == 3:
        out += bytes([0]) if rowid is None else bytes([1]) + rowid
    return out


def many(rows, conflict="none"):
    b = pick(conflict, len(rows) - 2, 3)
    out = bytes([OP["many"], b])
    for idv, vecv in rows:
        out += idv + vecv
    return out


def prog(dim, ops, drop_idx=False):
    return bytes([DIMS.index(dim) | (8 if drop_idx else 0)]) + b"".join(ops)


def txn(kind, name=0, immediate=False):
    return bytes([OP[kind], name | (8 if immediate else 0)])


def make_sql(outdir):
    P = {}
    d = 3
    P["basic"] = prog(d, [ins(s_int(1), v_blob(d)), ins(s_int(2), v_json(d)),
                          bytes([OP["lookup"]]) + s_int(1) + b"\x01",
                          bytes([OP["check"]])])
    P["dup"] = prog(d, [ins(s_int(1), v_blob(d)), ins(s_int(1), v_blob(d, 2)),
                        ins(s_int(1), v_blob(d), "ignore"),
                        ins(s_int(1), v_blob(d), "replace"),
                        ins(s_int(1), v_blob(d), "fail"),
                        bytes([OP["check"]])])
    P["auto-id"] = prog(d, [ins(s_null(), v_blob(d), form=2),
                            ins(s_null(), v_json(d)),
                            ins(s_int(0xFFFFFFFF), v_blob(d)),
                            ins(s_null(), v_blob(d), form=2),
                            bytes([OP["check"]])])
    P["bad-ids"] = prog(d, [ins(s_int(0), v_blob(d)), ins(s_i64(-1), v_blob(d)),
                            ins(s_i64(1 << 32), v_blob(d)),
                            ins(s_real(7, half=True), v_blob(d)),
                            ins(s_real(7), v_blob(d)),
                            ins(s_textnum(0, 5), v_blob(d)),
                            ins(s_textnum(7, 6), v_blob(d)),
                            ins(s_raw(b"abc"), v_blob(d)),
                            ins(s_raw(b"\x01", blob=True), v_blob(d)),
                            ins(s_double(float("nan")), v_blob(d)),
                            bytes([OP["check"]])])
    P["bad-vectors"] = prog(d, [ins(s_int(1), v_nan(d)),
                                ins(s_int(2), v_json(d, off_by_one=1)),
                                ins(s_int(3), v_json(d, off_by_one=-1)),
                                ins(s_int(4), v_raw(b"[1,2,]")),
                                ins(s_int(5), v_raw(b"\x00\x00\x80", blob=True)),
                                ins(s_int(6), v_zero()),
                                ins(s_int(7), v_zero(False, 5)),
                                ins(s_int(8), v_scalar(s_int(3))),
                                ins(s_int(9), v_scalar(s_null())),
                                ins(s_int(10), v_raw(b"[NaN, 1, 2]")),
                                bytes([OP["check"]])])
    P["rowid-forms"] = prog(d, [ins(s_int(3), v_blob(d), form=1),
                                ins(s_int(4), v_blob(d), form=3),
                                ins(s_int(5), v_blob(d), form=3, rowid=s_int(6)),
                                ins(s_int(7), v_blob(d), form=3, rowid=s_real(7)),
                                ins(s_null(), v_blob(d), form=3, rowid=s_int(9)),
                                bytes([OP["check"]])])
    P["txn"] = prog(d, [txn("begin"), ins(s_int(1), v_blob(d)),
                        txn("savepoint", 1), ins(s_int(2), v_blob(d)),
                        ins(s_int(3), v_blob(d)), txn("rollback_to", 1),
                        ins(s_int(4), v_blob(d)), txn("release", 1),
                        bytes([OP["check"]]), txn("commit"),
                        txn("begin", immediate=True), ins(s_int(5), v_blob(d)),
                        txn("rollback"), bytes([OP["check"]])])
    P["savepoints"] = prog(d, [txn("savepoint", 0), ins(s_int(1), v_blob(d)),
                               txn("savepoint", 1), ins(s_int(2), v_blob(d)),
                               txn("savepoint", 0), ins(s_int(3), v_blob(d)),
                               txn("rollback_to", 1), txn("rollback_to", 0),
                               ins(s_int(2), v_blob(d)), txn("release", 0),
                               bytes([OP["check"]])])
    P["or-rollback"] = prog(d, [ins(s_int(1), v_blob(d)), txn("begin"),
                                ins(s_int(2), v_blob(d)),
                                ins(s_int(1), v_blob(d), "rollback"),
                                bytes([OP["check"]])])
    P["many"] = prog(d, [many([(s_int(1), v_blob(d)), (s_int(2), v_json(d))]),
                         many([(s_int(3), v_blob(d)), (s_int(1), v_blob(d)),
                               (s_int(4), v_blob(d))]),
                         many([(s_int(5), v_blob(d)), (s_int(1), v_blob(d)),
                               (s_int(6), v_blob(d))], "fail"),
                         many([(s_int(7), v_blob(d)), (s_int(1), v_blob(d)),
                               (s_int(8), v_blob(d))], "ignore"),
                         many([(s_int(9), v_blob(d)), (s_int(10), v_nan(d)),
                               (s_int(11), v_blob(d))], "ignore"),
                         bytes([OP["check"]])])
    P["self-insert"] = prog(d, [ins(s_int(1), v_blob(d)), ins(s_int(2), v_blob(d)),
                                bytes([OP["self"], 0]) + s_int(10) + s_int(5),
                                bytes([OP["self"], 0]) + s_int(1) + s_null(),
                                bytes([OP["self"], 1]) + s_int(1) + s_null(),
                                bytes([OP["check"]])])
    q = [ins(s_int(i), v_blob(d)) for i in (5, 1, 9, 3)]
    P["queries"] = prog(d, q + [
        bytes([OP["lookup"]]) + s_int(9) + b"\x01",
        bytes([OP["lookup"]]) + s_textnum(1, 3) + b"\x01",
        bytes([OP["lookup"]]) + s_real(5) + b"\x02",
        bytes([OP["lookup"]]) + s_int(3) + b"\x00",
        bytes([OP["inlist"], 3]) + s_int(1) + s_int(3) + s_int(4) + s_null(),
        bytes([OP["inlist"], 1]) + s_int(9) + s_textnum(0, 9),
        bytes([OP["range"], 0]) + s_int(3) + s_int(0),
        bytes([OP["range"], 3]) + s_int(2) + s_int(6),
        bytes([OP["range"], 6]) + s_int(5) + s_int(0),
        bytes([OP["range"], 7]) + s_null() + s_int(0),
        bytes([OP["limit"], 1]) + s_int(2) + s_int(1),
        bytes([OP["limit"], 0]) + s_int(0) + s_int(0),
        bytes([OP["limit"], 1]) + s_i64(-1) + s_int(2),
        bytes([OP["limit"], 1]) + s_textnum(0, 2) + s_real(1),
        bytes([OP["limit"], 1]) + s_raw(b"x") + s_null(),
        bytes([OP["check"]])])
    P["refused"] = prog(d, [ins(s_int(1), v_blob(d))] +
                        [bytes([OP["refused"], k]) + s_int(1) for k in range(6)] +
                        [bytes([OP["check"]])])
    P["functions"] = prog(d, [bytes([OP["functions"]]) + v_blob(d),
                              bytes([OP["functions"]]) + v_nan(d),
                              bytes([OP["functions"]]) + v_raw(b"[1e39]"),
                              bytes([OP["functions"]]) + v_json(d)])
    P["dim1"] = prog(1, [ins(s_int(i), v_blob(1)) for i in range(1, 20)] +
                     [bytes([OP["check"]])])
    P["dim128"] = prog(128, [ins(s_int(1), v_blob(128)), ins(s_int(2), v_json(128)),
                             ins(s_null(), v_blob(128, 3), form=2),
                             bytes([OP["check"]])], drop_idx=True)
    P["big-ids"] = prog(2, [ins(s_special(5), v_blob(2)), ins(s_special(6), v_blob(2)),
                            ins(s_special(7), v_blob(2)), ins(bytes([11, 14]), v_blob(2)),
                            ins(s_null(), v_blob(2), form=2),
                            bytes([OP["check"]])])
    P["open-txn-at-end"] = prog(d, [txn("begin"), ins(s_int(1), v_blob(d))])
    P["empty"] = prog(d, [])
    for name, data in P.items():
        write(outdir, "sql", "seed-" + name, data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ext", help="the built module, e.g. build/.libs/cvec")
    ap.add_argument("--sqlite3", default="sqlite3")
    ap.add_argument("outdir")
    a = ap.parse_args()
    make_json(a.outdir)
    make_segment(a.outdir)
    make_sql(a.outdir)
    if a.ext:
        make_pairs(a.outdir, os.path.abspath(a.ext), a.sqlite3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
