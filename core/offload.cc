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
  void (*fn)(void*);
  void* arg;
  Waiter done;
  Job* next = nullptr;
};

SpinLock g_lock;
IntrusiveFifo<Job, &Job::next> g_jobs GH_GUARDED_BY(g_lock);  // waiting jobs
int g_workers GH_GUARDED_BY(g_lock) = 0;                      // started pool threads
int g_idle GH_GUARDED_BY(g_lock) = 0;                         // pool threads waiting for work
std::atomic<uint32_t> g_seq{0};  // futex word: bumped when a job is queued
NativeThreadStarter g_starter = nullptr;
int g_max = kDefaultOffloadThreads;

void futex_wait(std::atomic<uint32_t>* w, uint32_t val) {
  gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, val, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<uint32_t>* w, int n) {
  gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr, 0);
}

Job* pop_locked() GH_REQUIRES(g_lock) { return g_jobs.pop(); }

void* worker(void*) {
  // The runtime's own OS threads are named gh-* (docs/design.md) and never
  // take the program's signals.
  gh::sys(SYS_prctl, PR_SET_NAME, "gh-offload", 0, 0, 0);
  uint64_t mask = Carrier::scheduler_sigmask();
  gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
  for (;;) {
    g_lock.lock();
    Job* j = pop_locked();
    if (!j) {
      g_idle++;
      uint32_t seq = g_seq.load(std::memory_order_acquire);
      g_lock.unlock();
      futex_wait(&g_seq, seq);
      g_lock.lock();
      g_idle--;
      g_lock.unlock();
      continue;
    }
    g_lock.unlock();
    j->fn(j->arg);
    wake(&j->done);  // j lives on the parked caller's stack: last touch
  }
  return nullptr;
}

}  // namespace

void offload_configure(NativeThreadStarter starter, int max_threads) {
  g_starter = starter;
  g_max = max_threads > 0 ? max_threads : 1;
}

void offload_run(void (*fn)(void*), void* arg) {
  Carrier* c = Carrier::get();
  if (!c || !g_starter) {
    fn(arg);
    return;
  }
  Job job{fn, arg, {}, nullptr};
  job.done.g = c->running();
  g_lock.lock();
  bool start = g_idle == 0 && g_workers < g_max;
  if (start) g_workers++;
  g_jobs.push(&job);
  g_lock.unlock();
  if (start && g_starter(&worker, nullptr) != 0) {
    g_lock.lock();
    g_workers--;
    bool nobody = g_workers == 0;
    // No pool thread at all: take the job back and run it here.
    if (nobody) g_jobs.remove(&job);
    g_lock.unlock();
    if (nobody) {
      fn(arg);
      return;
    }
  }
  g_seq.fetch_add(1, std::memory_order_release);
  futex_wake(&g_seq, 1);
  park_waiter(job.done, kNoDeadline, "offload");
}

// The lock may be held by a pool thread of the parent, which the child does
// not have: it is released without having been taken here.
void offload_forget_after_fork() GH_NO_TSA {
  g_lock.unlock();
  g_jobs.clear();
  g_workers = g_idle = 0;
}

}  // namespace gh
