# runtests.tcl -- run cvec's test files and print one summary
#
#   tclsh test/runtests.tcl FILE ...
#
# Each FILE is either a Tcl test script (name ends in ".test", run as
# "tclsh FILE") or a test program (run directly). Every file runs as a
# child process whose working directory is a fresh temporary directory
# (under $TMPDIR, default /tmp), so tests may create files with relative
# names. The directory is removed afterwards unless the file failed.
#
# A child reports its result as a line "N passed, M failed"; the last such
# line of its output counts. A child that exits non-zero, is killed, times
# out or prints no such line counts as at least one failure.
#
# Output: each child's output as it runs, then "<name>: N passed, M failed"
# per file, and as the very last line the total "N passed, M failed".
# Exit status 1 if anything failed.
#
# Environment:
#   CVEC_TEST_WRAPPER  command prefix for every child, e.g.
#                      "valgrind --leak-check=full --error-exitcode=99"
#   CVEC_TEST_TIMEOUT  seconds before a child is killed (default 600,
#                      0 = never)
#   TMPDIR             where the per-file working directories go

# Children may print anything (sanitizer reports, binary junk): pass bytes
# through unchanged.
fconfigure stdout -translation lf -encoding iso8859-1 -buffering line

proc usage {} {
  puts stderr "usage: tclsh runtests.tcl FILE ..."
  exit 2
}

# Make a fresh, private directory for one child and return its path.
proc make_workdir {tag} {
  if {[info exists ::env(TMPDIR)] && [file isdirectory $::env(TMPDIR)]} {
    set base $::env(TMPDIR)
  } else {
    set base /tmp
  }
  regsub -all {[^A-Za-z0-9_.-]} $tag _ tag
  for {set i 0} {$i < 100} {incr i} {
    set dir [file join $base \
        [format "cvec-test-%s-%d-%d" $tag [pid] [expr {int(rand()*1e9)}]]]
    if {[file exists $dir]} continue
    file mkdir $dir
    file attributes $dir -permissions 0700
    return $dir
  }
  error "cannot create a temporary directory under $base"
}

# Event handlers: copy child output to stdout as it arrives, remember it.
proc on_readable {chan} {
  while {[gets $chan line] >= 0} {
    puts $line
    lappend ::output $line
  }
  if {[eof $chan]} {
    set ::state eof
  }
}

proc on_timeout {} {
  set ::state timeout
}

# Run one file. Returns [list nPass nFail note].
proc run_one {path wrapper timeout} {
  set name [file tail $path]
  if {[string match *.test $path]} {
    set cmd [list {*}$wrapper [info nameofexecutable] $path]
  } else {
    set cmd [list {*}$wrapper $path]
  }
  if {![file exists $path]} {
    return [list 0 1 "no such file: $path"]
  }

  set workdir [make_workdir [file rootname $name]]
  set here [pwd]
  set ::output {}
  set ::state running
  cd $workdir
  set rc [catch {open |[list {*}$cmd 2>@1] r} chan]
  cd $here
  if {$rc} {
    file delete -force $workdir
    return [list 0 1 "cannot start: $chan"]
  }
  fconfigure $chan -blocking 0 -translation lf -encoding iso8859-1
  fileevent $chan readable [list on_readable $chan]
  set timer {}
  if {$timeout > 0} {
    set timer [after [expr {$timeout * 1000}] on_timeout]
  }
  vwait ::state
  after cancel $timer
  fileevent $chan readable {}

  set note {}
  if {$::state eq "timeout"} {
    set note "killed after ${timeout}s (CVEC_TEST_TIMEOUT)"
    foreach p [pid $chan] {
      catch {exec kill -KILL $p}
    }
  }

  # A blocking close waits for the child and reports how it ended.
  fconfigure $chan -blocking 1
  set status 0
  if {[catch {close $chan} msg opts]} {
    set ec [dict get $opts -errorcode]
    switch -- [lindex $ec 0] {
      CHILDSTATUS {
        set status [lindex $ec 2]
        if {$note eq ""} { set note "exit status $status" }
      }
      CHILDKILLED {
        set status -1
        if {$note eq ""} { set note "killed by [lindex $ec 2]" }
      }
      default {
        set status -1
        if {$note eq ""} { set note "error: $msg" }
      }
    }
  }

  set nPass 0
  set nFail 0
  set found 0
  for {set i [expr {[llength $::output] - 1}]} {$i >= 0} {incr i -1} {
    if {[regexp {^\s*(\d+) passed, (\d+) failed\s*$} [lindex $::output $i] \
             -> p f]} {
      set nPass $p
      set nFail $f
      set found 1
      break
    }
  }
  if {!$found} {
    set note [string trimleft "$note; no \"N passed, M failed\" line" "; "]
  }
  if {$::state eq "timeout" || $status != 0 || !$found} {
    if {$nFail == 0} { set nFail 1 }
  }

  if {$nFail > 0} {
    if {$note ne ""} { append note "; " }
    append note "working directory kept: $workdir"
  } else {
    file delete -force $workdir
  }
  return [list $nPass $nFail $note]
}

if {[llength $argv] == 0} usage

set wrapper {}
if {[info exists env(CVEC_TEST_WRAPPER)]} {
  set wrapper [regexp -all -inline {\S+} $env(CVEC_TEST_WRAPPER)]
}
set timeout 600
if {[info exists env(CVEC_TEST_TIMEOUT)] && $env(CVEC_TEST_TIMEOUT) ne ""} {
  set timeout $env(CVEC_TEST_TIMEOUT)
  if {![string is integer -strict $timeout] || $timeout < 0} {
    puts stderr "CVEC_TEST_TIMEOUT must be a number of seconds"
    exit 2
  }
}

set totalPass 0
set totalFail 0
set lines {}
set failed {}
foreach arg $argv {
  set path [file normalize $arg]
  set name [file tail $arg]
  puts "=== $name"
  lassign [run_one $path $wrapper $timeout] p f note
  incr totalPass $p
  incr totalFail $f
  set line "$name: $p passed, $f failed"
  if {$note ne ""} { append line " ($note)" }
  puts $line
  lappend lines $line
  if {$f > 0} { lappend failed $name }
}

puts "=== summary"
foreach line $lines {
  puts $line
}
if {[llength $failed]} {
  puts "FAILED: [join $failed { }]"
}
puts "$totalPass passed, $totalFail failed"
exit [expr {$totalFail > 0}]
