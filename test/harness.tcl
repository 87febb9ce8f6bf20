# harness.tcl -- test vocabulary for cvec's Tcl tests
#
# Every test/*.test starts with
#
#   source [file join [file dirname [info script]] harness.tcl]
#
# and ends with finish_test. The vocabulary follows SQLite's test/tester.tcl
# (which needs testfixture, so it cannot be used under a plain tclsh):
#
#   do_test NAME SCRIPT EXPECTED         SCRIPT's result must equal EXPECTED
#   do_execsql_test NAME SQL ?EXP? ?DB?  rows of [db eval SQL] as a flat list
#   do_catchsql_test NAME SQL EXP ?DB?   [list rc msg], e.g. {1 {no such table: x}}
#   do_eqp_test NAME SQL EXP ?DB?        EXPLAIN QUERY PLAN detail column, a list
#   execsql SQL ?DB?   catchsql SQL ?DB?   eqp_detail SQL ?DB?
#   finish_test                        prints "N passed, M failed", exits
#
# EXPECTED is compared as a string; when both sides are Tcl lists they are
# compared in canonical list form, so whitespace and line breaks in the
# expected value do not matter. As in tester.tcl, EXPECTED of the form
# /RE/ means "the result matches regexp RE", ~/RE/ "does not match".
#
# Tests run with a fresh temporary directory as the working directory (see
# runtests.tcl), so relative file names are private to the test file.
#
# Command-line arguments, if any, are glob patterns: only tests whose names
# match one of them run (tclsh test/insert.test 2.*).
#
# Environment (set by `make check`):
#   CVEC_EXT      the built extension, without suffix (.../.libs/cvec)
#   CVEC_SQLITE3  the sqlite3 shell      CVEC_PYTHON3  python3
#   CVEC_SRCDIR   the top source directory

package require Tcl 8.6
package require sqlite3

# Keep output flowing even if the process dies (a crash must not eat the
# lines of the tests that passed before it).
fconfigure stdout -buffering line
fconfigure stderr -buffering none

set ::cvec_nPass 0
set ::cvec_nFail 0
set ::cvec_failed {}
set ::cvec_dbs {}

# ---------------------------------------------------------------------------
# Core: do_test and result comparison
# ---------------------------------------------------------------------------

# Return 1 if RESULT satisfies EXPECTED (see the header for the rules).
proc cvec_result_matches {result expected} {
  if {[regexp {^(~?)/(.*)/$} $expected -> neg re]} {
    set m [regexp -- $re $result]
    return [expr {$neg eq "~" ? !$m : $m}]
  }
  if {$result eq $expected} { return 1 }
  if {[string is list $result] && [string is list $expected]} {
    return [expr {[cvec_canon $result] eq [cvec_canon $expected]}]
  }
  return 0
}

# Canonical form of a (possibly nested) list: elements re-quoted, one space
# between them. Nested lists are not recursed into: {a {b  c}} and
# {a {b c}} differ, which keeps the comparison predictable.
proc cvec_canon {l} {
  return [list {*}$l]
}

# Should test NAME run, given the glob patterns on the command line?
proc cvec_selected {name} {
  if {[llength $::argv] == 0} { return 1 }
  foreach pattern $::argv {
    if {[string match $pattern $name]} { return 1 }
  }
  return 0
}

proc cvec_pass {name} {
  incr ::cvec_nPass
  puts "$name... Ok"
}

proc cvec_fail {name args} {
  incr ::cvec_nFail
  lappend ::cvec_failed $name
  puts "$name... FAILED"
  foreach line $args {
    puts "$name: $line"
  }
}

# do_test NAME SCRIPT EXPECTED
#   Evaluate SCRIPT in the caller's scope; its result must match EXPECTED.
#   An error in SCRIPT is a failure (the message and stack are printed).
proc do_test {name script expected} {
  if {![cvec_selected $name]} return
  set rc [catch {uplevel 1 $script} result opts]
  if {$rc == 1} {
    cvec_fail $name "error: $result" \
        "expected: \[$expected\]" \
        "stack: [dict get $opts -errorinfo]"
  } elseif {![cvec_result_matches $result $expected]} {
    cvec_fail $name "expected: \[$expected\]" "     got: \[$result\]"
  } else {
    cvec_pass $name
  }
}

# do_execsql_test NAME SQL ?EXPECTED? ?DB?
#   Run SQL on connection DB (default "db"); all result values of all rows
#   as one flat list.
proc do_execsql_test {name sql {expected {}} {db db}} {
  if {[string is list $expected]} { set expected [cvec_canon $expected] }
  uplevel 1 [list do_test $name [list execsql $sql $db] $expected]
}

# do_catchsql_test NAME SQL EXPECTED ?DB?
#   Run SQL on DB (default "db"); the result is [list rc msg]: {0 {rows...}}
#   on success, {1 {error message}} on error.
proc do_catchsql_test {name sql expected {db db}} {
  uplevel 1 [list do_test $name [list catchsql $sql $db] $expected]
}

# do_eqp_test NAME SQL EXPECTED ?DB?
#   The detail column of EXPLAIN QUERY PLAN SQL, one list element per plan
#   row, e.g. {{SCAN d} {SCAN v VIRTUAL TABLE INDEX 1:}}.
proc do_eqp_test {name sql expected {db db}} {
  uplevel 1 [list do_test $name [list eqp_detail $sql $db] $expected]
}

# finish_test
#   Close the connections opened with cvec_open, print the summary as the
#   last line and exit: 0 if every test passed, 1 otherwise.
proc finish_test {} {
  foreach h $::cvec_dbs {
    if {[llength [info commands ::$h]]} { catch {::$h close} }
  }
  if {$::cvec_nFail > 0} {
    puts "failed tests: [join $::cvec_failed { }]"
  }
  puts "$::cvec_nPass passed, $::cvec_nFail failed"
  flush stdout
  exit [expr {$::cvec_nFail > 0}]
}

# ---------------------------------------------------------------------------
# SQL helpers
# ---------------------------------------------------------------------------

# execsql SQL ?DB?
#   [DB eval SQL] in the caller's scope (so $var and @var bind the caller's
#   variables; @var binds as a BLOB). Returns the flat list of values.
proc execsql {sql {db db}} {
  uplevel 1 [list $db eval $sql]
}

# catchsql SQL ?DB?
#   Returns [list 0 RESULT] or [list 1 ERRMSG].
proc catchsql {sql {db db}} {
  set rc [catch {uplevel 1 [list $db eval $sql]} msg]
  return [list $rc $msg]
}

# eqp_detail SQL ?DB?
#   The detail column of EXPLAIN QUERY PLAN SQL, as a list.
proc eqp_detail {sql {db db}} {
  set out {}
  foreach {id parent notused detail} [uplevel 1 [list $db eval "EXPLAIN QUERY PLAN $sql"]] {
    lappend out $detail
  }
  return $out
}

# cvec_open NAME ?FILE? ?OPTION VALUE ...?
#   Open FILE (default test.db) as Tcl command NAME, with extra sqlite3
#   options (-readonly 1, -uri 1, ...), enable extension loading and load
#   $env(CVEC_EXT). Returns NAME. finish_test closes it if still open.
proc cvec_open {name {file test.db} args} {
  if {![info exists ::env(CVEC_EXT)] || $::env(CVEC_EXT) eq ""} {
    error "CVEC_EXT is not set (run the tests with `make check`)"
  }
  sqlite3 ::$name $file {*}$args
  ::$name enable_load_extension 1
  set ext $::env(CVEC_EXT)
  ::$name eval {SELECT load_extension($ext)}
  if {[lsearch -exact $::cvec_dbs $name] < 0} {
    lappend ::cvec_dbs $name
  }
  return $name
}

# forcedelete FILE ...
#   Delete files or directories (recursively); missing ones are fine.
proc forcedelete {args} {
  foreach f $args {
    file delete -force -- $f
  }
}

# ---------------------------------------------------------------------------
# Binary helpers for CVEC v1 segment files (SPEC section 1)
#
#   offset 0  "CVEC"   4  u32 LE version   8  u32 LE dimension
#          12 u32 LE count   16  records: u32 LE id, dimension x f32 LE
# ---------------------------------------------------------------------------

# vec_blob FLOATS
#   Binary string of float32 little-endian values (a vector BLOB). Values
#   are rounded to float32 as C does: Inf, -Inf and NaN (written so) give
#   the IEEE values, and magnitudes beyond float32 give infinities. (Tcl's
#   own [binary format r] would clamp Inf and 1e39 to FLT_MAX.)
proc vec_blob {floats} {
  set out {}
  foreach x $floats {
    if {![string is double -strict $x]} {
      error "vec_blob: not a number: \"$x\""
    }
    if {$x != $x} {
      append out [binary format i 0x7fc00000]
    } elseif {$x >= 3.4028235677973366e38} {
      append out [binary format i 0x7f800000]
    } elseif {$x <= -3.4028235677973366e38} {
      append out [binary format i 0xff800000]
    } else {
      append out [binary format r $x]
    }
  }
  return $out
}

# blob_floats BLOB
#   Decode float32 LE values. Each is printed in the shortest form that
#   reads back as the same float32, so [blob_floats [vec_blob {0.1 1 -2.5}]]
#   is {0.1 1 -2.5}. Infinities print as Inf/-Inf, NaN as NaN.
proc blob_floats {blob} {
  set out {}
  binary scan $blob r* vals
  foreach v $vals {
    lappend out [cvec_f32_shortest $v]
  }
  return $out
}

# blob_doubles BLOB
#   Decode float32 LE values as Tcl doubles (exact, e.g. 0.10000000149011612).
proc blob_doubles {blob} {
  binary scan $blob r* vals
  return $vals
}

# f32 X
#   X rounded to float32, in the form blob_floats prints.
proc f32 {x} {
  binary scan [vec_blob [list $x]] r v
  cvec_f32_shortest $v
}

# The float32 V in the form cvec_to_json prints it: the fewest significant
# digits that read back as the same float32, laid out as JavaScript prints
# numbers (plain for 1e-6 <= |v| < 1e21, else d.ddde+XX / d.ddde-XX).
proc cvec_f32_shortest {v} {
  if {$v != $v} { return NaN }
  if {$v == Inf} { return Inf }
  if {$v == -Inf} { return -Inf }
  if {$v == 0} {
    # (expr would turn a "-0" result into 0)
    if {[binary format r $v] eq [binary format r -0.0]} { return -0 }
    return 0
  }
  for {set p 1} {$p <= 9} {incr p} {
    set s [format %.[expr {$p - 1}]e $v]
    # binary format r clamps values that would round to infinity (from
    # FLT_MAX plus half a unit) to FLT_MAX: refuse those candidates
    if {abs($s) >= 3.4028235677973366e38} continue
    binary scan [binary format r $s] r back
    if {$back == $v} break
  }
  regexp {^(-?)(\d)(?:\.(\d+))?e([-+]\d+)$} $s -> sign d0 rest exp
  set digits [string trimright "$d0$rest" 0]
  if {$digits eq ""} { set digits 0 }
  set exp [scan $exp %d]
  set nd [string length $digits]
  if {$exp >= 0 && $exp < 21} {
    if {$nd <= $exp + 1} {
      return "$sign$digits[string repeat 0 [expr {$exp + 1 - $nd}]]"
    }
    return "$sign[string range $digits 0 $exp].[string range $digits [expr {$exp + 1}] end]"
  }
  if {$exp < 0 && $exp >= -6} {
    return "${sign}0.[string repeat 0 [expr {-$exp - 1}]]$digits"
  }
  set m [string index $digits 0]
  if {$nd > 1} { append m . [string range $digits 1 end] }
  return "$sign${m}e[expr {$exp < 0 ? "-" : "+"}][expr {abs($exp)}]"
}

# blob_hex BLOB
#   Lowercase hex of BLOB (for readable comparisons of raw bytes).
proc blob_hex {blob} {
  binary encode hex $blob
}

# seg_header DIM COUNT ?MAGIC? ?VERSION?
#   The 16-byte segment header. MAGIC is padded/truncated to 4 bytes.
proc seg_header {dim count {magic CVEC} {version 1}} {
  binary format a4iii $magic $version $dim $count
}

# seg_record ID FLOATS
#   One record: u32 LE id, then the floats as f32 LE.
proc seg_record {id floats} {
  return [binary format i $id][vec_blob $floats]
}

# seg_file PATH DIM RECORDS ?COUNT?
#   Write a whole segment file: RECORDS is a list {id floats id floats ...};
#   COUNT defaults to the number of records (pass another to craft a lying
#   header). Creates parent directories. Returns PATH.
proc seg_file {path dim records {count {}}} {
  if {[llength $records] % 2} {
    error "seg_file: RECORDS must be {id floats id floats ...}"
  }
  if {$count eq ""} { set count [expr {[llength $records] / 2}] }
  set data [seg_header $dim $count]
  foreach {id floats} $records {
    append data [seg_record $id $floats]
  }
  write_bin $path $data
  return $path
}

# seg_read_header PATH
#   [list magic version dimension count] from PATH's first 16 bytes
#   (version, dimension and count unsigned).
proc seg_read_header {path} {
  set data [read_bin $path]
  if {[string length $data] < 16} {
    error "seg_read_header: $path is [string length $data] bytes long"
  }
  binary scan $data a4iuiuiu magic version dim count
  return [list $magic $version $dim $count]
}

# seg_read_records PATH
#   Every complete record in PATH after the header, regardless of the
#   count field: a flat list {id floats id floats ...} (floats as printed
#   by blob_floats). Uses the header's dimension.
proc seg_read_records {path} {
  set data [read_bin $path]
  lassign [seg_read_header $path] magic version dim count
  set recsize [expr {4 + 4 * $dim}]
  set out {}
  for {set off 16} {$off + $recsize <= [string length $data]} {incr off $recsize} {
    binary scan $data @${off}iu id
    lappend out $id [blob_floats [string range $data [expr {$off + 4}] [expr {$off + $recsize - 1}]]]
  }
  return $out
}

# write_bin PATH DATA   -- replace PATH's contents with bytes DATA
#                          (parent directories are created)
# append_bin PATH DATA  -- append bytes DATA to PATH
# read_bin PATH         -- PATH's contents as a binary string
proc write_bin {path data} {
  file mkdir [file dirname $path]
  set fd [open $path wb]
  puts -nonewline $fd $data
  close $fd
}

proc append_bin {path data} {
  set fd [open $path ab]
  puts -nonewline $fd $data
  close $fd
}

proc read_bin {path} {
  set fd [open $path rb]
  set data [read $fd]
  close $fd
  return $data
}

# file_bytes_equal A B
#   1 if files A and B have identical contents.
proc file_bytes_equal {a b} {
  expr {[read_bin $a] eq [read_bin $b]}
}
