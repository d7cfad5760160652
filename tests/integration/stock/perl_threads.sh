#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Perl ithreads natively and under the shim: 16 worker threads (threads)
# take 400 jobs from a Thread::Queue and put MD5 results into a shared hash
# (threads::shared, lock); a shared ready counter and go flag with
# cond_wait/cond_broadcast; thread-local state (every non-shared variable is
# the thread's own copy: a counter and an array, the counter starting from
# main's value at the creation), select() sleeps, a socketpair ping-pong
# between two more threads, join return values. Both runs must print the
# same thing; while the 18 threads are alive the test counts OS threads: 1
# under the shim, more than 1 natively.
#
# usage: perl_threads.sh PATH_TO_GREENHOUSE_LAUNCHER
source "$(dirname "$0")/lib.sh"
gh_init "$@"
need perl mkfifo
perl -Mthreads -MThread::Queue -e 1 2>/dev/null || skip "perl without ithreads (threads, Thread::Queue)"

cat > "$WORK/prog.pl" <<'EOF'
use strict;
use warnings;
use threads;
use threads::shared;
use Thread::Queue;
use Digest::MD5 qw(md5_hex);
use IO::Handle;
use Socket;

my $N = 16;
my $JOBS = 400;
my $ready :shared = 0;
my $go :shared = 0;
my %results :shared;
my $jobs = Thread::Queue->new();

our $tl_count = -1;   # each thread's own copy, made when it is created
our @tl_seen = (-1);

sub wait_go {
    { lock($ready); $ready++; cond_broadcast($ready); }
    lock($go);
    cond_wait($go) until $go;
}

sub worker {
    my ($i) = @_;
    my $initial = "$tl_count @tl_seen";
    $tl_count = 1000 * $i;
    @tl_seen = ();
    wait_go();
    while (defined(my $job = $jobs->dequeue())) {
        my $h = md5_hex("job $job");
        { lock(%results); $results{$job} = $h; }
        $tl_count++;
        push @tl_seen, $job;
        select(undef, undef, undef, 0.001) if $job % 37 == $i;
    }
    my $ok = ($tl_count == 1000 * $i + @tl_seen) ? "ok" : "WRONG";
    my $ordered = 1;
    for my $k (1 .. $#tl_seen) { $ordered = 0 if $tl_seen[$k] <= $tl_seen[$k - 1]; }
    return (threads->tid(), $initial, $ok, $ordered ? "ok" : "WRONG", scalar(@tl_seen));
}

# Two threads talk over a socketpair, line by line.
socketpair(my $sa, my $sb, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or die "socketpair: $!";
$sa->autoflush(1);
$sb->autoflush(1);
sub pinger {
    $tl_count = 5;
    wait_go();
    my $sum = 0;
    for my $k (1 .. 200) {
        print $sa "ping $k\n";
        my $line = <$sa>;
        $sum += $1 if defined $line && $line =~ /^pong (\d+)$/;
        $tl_count++;
    }
    shutdown($sa, 1);
    return "pinger: sum $sum, own counter $tl_count";
}
sub ponger {
    $tl_count = 9;
    wait_go();
    my $n = 0;
    while (my $line = <$sb>) {
        my ($k) = $line =~ /^ping (\d+)$/;
        print $sb "pong " . ($k * 2) . "\n";
        $n++;
        $tl_count++;
    }
    return "ponger: $n lines, own counter $tl_count";
}

my @workers = map { threads->create(\&worker, $_) } 0 .. $N - 1;
my $pi = threads->create(\&pinger);
my $po = threads->create(\&ponger);
{
    lock($ready);
    cond_wait($ready) until $ready == $N + 2;
}
my $ready_file = $ENV{GH_READY_FILE} or die "GH_READY_FILE";
open(my $rf, ">", "$ready_file.tmp") or die;
print $rf "$$\n";
close($rf);
rename("$ready_file.tmp", $ready_file) or die;
my $line = <STDIN>;

$jobs->enqueue($_) for 1 .. $JOBS;
$jobs->end();
{ lock($go); $go = 1; cond_broadcast($go); }

my $total = 0;
for my $t (@workers) {
    my ($tid, $initial, $ok, $ordered, $n) = $t->join();
    $total += $n;
    print "worker tid $tid: started with main's copy ($initial), thread-local counter $ok, jobs in order $ordered\n";
}
print $pi->join(), "\n";
print $po->join(), "\n";
print "jobs done: $total of $JOBS\n";
my $all = join(",", map { "$_=$results{$_}" } sort { $a <=> $b } keys %results);
print "results: ", scalar(keys %results), ", md5 of all: ", md5_hex($all), "\n";
print "main's own copies: $tl_count @tl_seen\n";
EOF

SECONDS=0
run_gated native perl perl "$WORK/prog.pl"
N_TASKS=$TASKS N_LOADED=$LOADED N_RC=$RC
run_gated shim perl perl "$WORK/prog.pl"
S_TASKS=$TASKS S_LOADED=$LOADED S_RC=$RC
grep -q WRONG "$WORK/perl-native.out" && fail "native run: $(grep WRONG "$WORK/perl-native.out" | head -3)"
grep -qx "jobs done: 400 of 400" "$WORK/perl-native.out" || fail "native run: not all jobs done"
compare_gated perl "19 Perl threads"
log "time: ${SECONDS}s"
finish
