// SPDX-License-Identifier: MIT
#include "core/offload.h"
#include "core/sys.h"

#include "core/fifo.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>

#include "core/carrier.h"
#include "core/green.h"
#include "core/spinlock.h"

namespace gh {

namespace {

struct Job {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  Waiter done;
  Job* next = nullptr;
  bool urgent = false;  // offload_run_interruptible's: started at once, interruptible
  bool taken = false;   // [g_lock] a pool thread has popped it
  // Between an interrupted caller and the pool thread running an urgent job.
  SpinLock lock;
  pid_t tid GH_GUARDED_BY(lock) = 0;           // the pool thread, while fn runs
  bool ran GH_GUARDED_BY(lock) = false;        // fn has returned
  bool signalled GH_GUARDED_BY(lock) = false;  // the interrupt signal was sent
  // The pool thread's last touch of a job whose caller stopped waiting
  // (interrupted): set after everything else.
  std::atomic<bool> finished{false};
};

SpinLock g_lock;
// Waiting jobs: long waits (urgent) apart, taken first, so that a thread
// started for one never takes a short job instead.
IntrusiveFifo<Job, &Job::next> g_jobs GH_GUARDED_BY(g_lock);
IntrusiveFifo<Job, &Job::next> g_urgent GH_GUARDED_BY(g_lock);
int g_workers GH_GUARDED_BY(g_lock) = 0;  // started pool threads
// Of those, running an urgent job: they do not count against g_max, so
// threads waiting for other parties never keep short jobs (a DNS lookup)
// from running.
int g_busy_urgent GH_GUARDED_BY(g_lock) = 0;
int g_idle GH_GUARDED_BY(g_lock) = 0;     // pool threads waiting for work
int g_claimed GH_GUARDED_BY(g_lock) = 0;  // of those, woken for a job just queued
std::atomic<uint32_t> g_seq{0};           // futex word: bumped when a job is queued
NativeThreadStarter g_starter = nullptr;
int g_max = kDefaultOffloadThreads;
int g_interrupt_signal = 0;

// An idle pool thread beyond g_max (started for urgent jobs) ends after this.
constexpr int64_t kSurplusIdleNs = 10 * kNsPerSec;

int futex_wait(std::atomic<uint32_t>* w, uint32_t val, const timespec* rel) {
  return static_cast<int>(
      gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, val, rel, nullptr, 0));
}
void futex_wake(std::atomic<uint32_t>* w, int n) {
  gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

Job* pop_locked() GH_REQUIRES(g_lock) {
  Job* j = g_urgent.pop();
  if (j) {
    g_busy_urgent++;
  } else {
    j = g_jobs.pop();
  }
  if (j) j->taken = true;
  return j;
}

IntrusiveFifo<Job, &Job::next>& queue_of(Job* j) GH_REQUIRES(g_lock) {
  return j->urgent ? g_urgent : g_jobs;
}

// An interrupted caller may have sent the signal after fn's call returned:
// still pending, it would interrupt this thread's next job. Consumes it.
void drain_interrupt() {
  uint64_t set = uint64_t{1} << (g_interrupt_signal - 1);
  timespec zero{0, 0};
  gh::sys(SYS_rt_sigtimedwait, &set, nullptr, &zero, sizeof set);
}

void run_job(Job* j, pid_t tid) {
  if (!j->urgent) {
    j->fn(j->arg);
    wake(&j->done);  // j lives on the parked caller's stack: last touch
    return;
  }
  j->lock.lock();
  j->tid = tid;
  j->lock.unlock();
  j->fn(j->arg);
  j->lock.lock();
  j->tid = 0;
  j->ran = true;
  bool signalled = j->signalled;
  j->lock.unlock();
  if (signalled) drain_interrupt();
  // The caller is parked on done unless it was interrupted; then it polls
  // `finished` instead.
  if (!wake(&j->done)) j->finished.store(true, std::memory_order_release);
}

void* worker(void*) {
  // The runtime's own OS threads are named gh-* (docs/design.md) and never
  // take the program's signals, only the interrupt signal.
  gh::sys(SYS_prctl, PR_SET_NAME, "gh-offload", 0, 0, 0);
  uint64_t mask = Carrier::scheduler_sigmask();
  if (g_interrupt_signal > 0) mask &= ~(uint64_t{1} << (g_interrupt_signal - 1));
  gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
  auto tid = static_cast<pid_t>(gh::sys(SYS_gettid));
  for (;;) {
    g_lock.lock();
    if (Job* j = pop_locked()) {
      bool urgent = j->urgent;
      g_lock.unlock();
      run_job(j, tid);  // j may be gone after this
      if (urgent) {
        g_lock.lock();
        g_busy_urgent--;
        g_lock.unlock();
      }
      continue;
    }
    g_idle++;
    uint32_t seq = g_seq.load(std::memory_order_acquire);
    bool surplus = g_workers > g_max;
    g_lock.unlock();
    timespec rel{kSurplusIdleNs / kNsPerSec, 0};
    int r = futex_wait(&g_seq, seq, surplus ? &rel : nullptr);
    g_lock.lock();
    g_idle--;
    // Whatever woke this thread, it now looks for a job: one claim answered.
    if (g_claimed > 0) g_claimed--;
    if (r == -1 && errno == ETIMEDOUT && g_workers > g_max && g_jobs.empty() && g_urgent.empty()) {
      g_workers--;
      g_lock.unlock();
      return nullptr;
    }
    g_lock.unlock();
  }
  return nullptr;
}

// Queues job and makes sure a pool thread will take it. Returns false if
// there is no pool thread at all (the job is not queued: run it here).
bool submit(Job* job) {
  g_lock.lock();
  // An idle pool thread not yet claimed by another job takes it; else a new
  // one is started (beyond the limit for an urgent job); else the job waits
  // for a busy thread.
  bool start = false;
  if (g_idle > g_claimed) {
    g_claimed++;
  } else if (job->urgent || g_workers - g_busy_urgent < g_max) {
    start = true;
    g_workers++;
  }
  queue_of(job).push(job);
  g_lock.unlock();
  if (start && g_starter(&worker, nullptr, "gh-offload") != 0) {
    g_lock.lock();
    g_workers--;
    bool nobody = g_workers == 0;
    // No pool thread at all: take the job back.
    if (nobody) queue_of(job).remove(job);
    g_lock.unlock();
    if (nobody) return false;
  }
  g_seq.fetch_add(1, std::memory_order_release);
  futex_wake(&g_seq, 1);
  return true;
}

// The caller of an urgent job was interrupted: sends the pool thread running
// it the interrupt signal until fn has returned. Returns 0, or -EINTR if the
// job was still queued (now withdrawn).
int interrupt_job(Job* job) {
  long pid = gh::sys(SYS_getpid);
  int64_t pause_ns = 1'000'000;
  for (;;) {
    if (job->finished.load(std::memory_order_acquire)) return 0;
    g_lock.lock();
    bool queued = !job->taken;
    if (queued) queue_of(job).remove(job);
    g_lock.unlock();
    if (queued) return -EINTR;
    job->lock.lock();
    if (job->tid != 0 && !job->ran && g_interrupt_signal > 0) {
      gh::sys(SYS_tgkill, pid, job->tid, g_interrupt_signal);
      job->signalled = true;
    }
    job->lock.unlock();
    // fn is a system call: it returns at once when the signal reaches it.
    // Looking again later covers a signal that came before it entered.
    sleep_for(pause_ns);
    if (pause_ns < 64'000'000) pause_ns *= 2;
  }
}

}  // namespace

void offload_configure(NativeThreadStarter starter, int max_threads, int interrupt_signal) {
  g_starter = starter;
  g_max = max_threads > 0 ? max_threads : 1;
  g_interrupt_signal = interrupt_signal;
}

void offload_run(void (*fn)(void*), void* arg, bool long_wait) {
  Carrier* c = Carrier::get();
  if (!c || !g_starter) {
    fn(arg);
    return;
  }
  Job job;
  job.fn = fn;
  job.arg = arg;
  job.urgent = long_wait;
  job.done.g = c->running();
  if (!submit(&job)) {
    fn(arg);
    return;
  }
  park_waiter(job.done, kNoDeadline, "offload");
}

int offload_run_interruptible(void (*fn)(void*), void* arg, bool restartable) {
  Carrier* c = Carrier::get();
  if (!c || !g_starter) {
    fn(arg);
    return 0;
  }
  Job job;
  job.fn = fn;
  job.arg = arg;
  job.urgent = true;
  job.done.g = c->running();
  if (!submit(&job)) {
    fn(arg);
    return 0;
  }
  if (park_waiter_interruptible(job.done, kNoDeadline, restartable, "offload") !=
      Waiter::kInterrupted)
    return 0;
  return interrupt_job(&job);
}

int offload_busy() {
  SpinGuard guard(g_lock);
  int queued = (g_jobs.empty() ? 0 : 1) + (g_urgent.empty() ? 0 : 1);
  return g_workers - g_idle + queued;
}

// The lock may be held by a pool thread of the parent, which the child does
// not have: it is released without having been taken here.
void offload_forget_after_fork() GH_NO_TSA {
  g_lock.unlock();
  g_jobs.clear();
  g_urgent.clear();
  g_workers = g_idle = g_claimed = g_busy_urgent = 0;
}

}  // namespace gh
