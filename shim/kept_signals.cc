// SPDX-License-Identifier: MIT
// Signals kept pending for one green thread (docs/design.md, "Signals kept
// for one thread"): a bit in ShimThread::pending_signals per signal, the
// siginfo of a first instance in the thread's own two slots, and the further
// instances of a real-time signal, which queue as the kernel queues them, in
// one process-wide table in the order they came. Everything here is
// async-signal-safe: it runs in the signal trampoline.
#include <signal.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>

#include "core/log.h"
#include "core/sys.h"
#include "shim/thread_registry.h"

namespace gh::shim {
namespace {

// The kernel's first real-time signal (glibc reserves 32 and 33 for itself;
// SIGRTMIN is 34 to a program). From it on, every send is one instance.
constexpr int kFirstRealtime = 32;

// Instances beyond a thread's first of a real-time signal, for every green
// thread of the process. Natively the limit is RLIMIT_SIGPENDING per user
// (tens of thousands); a send beyond this table is dropped with a warning.
constexpr int kQueueSlots = 1024;

struct QueuedSignal {
  // 0: free; 1: being written or read by whoever set it; 2: holds one.
  std::atomic<uint32_t> state{0};
  int sig = 0;
  const ShimThread* owner = nullptr;
  uint64_t seq = 0;  // order of arrival
  unsigned char bytes[kKeptInfoBytes];
};

QueuedSignal g_queue[kQueueSlots];
std::atomic<uint64_t> g_seq{1};
std::atomic<bool> g_warned{false};

bool is_realtime(int sig) { return sig >= kFirstRealtime; }

// A slot of st that holds (or is being given) an instance of sig.
bool slot_holds(ShimThread* st, int sig) {
  for (KeptInfo& k : st->kept_info) {
    int cur = k.sig.load(std::memory_order_acquire);
    if (cur == sig || cur == -sig) return true;
  }
  return false;
}

// Puts the siginfo into a free slot of st. Returns false if none is free.
bool put_slot(ShimThread* st, int sig, const siginfo_t& si) {
  for (KeptInfo& k : st->kept_info) {
    int cur = 0;
    if (!k.sig.compare_exchange_strong(cur, -sig, std::memory_order_acquire)) continue;
    std::memcpy(k.bytes, &si, kKeptInfoBytes);
    k.sig.store(sig, std::memory_order_release);
    return true;
  }
  return false;
}

// Returns true and the siginfo if a slot of st held an instance of sig.
bool take_slot(ShimThread* st, int sig, siginfo_t* out) {
  for (KeptInfo& k : st->kept_info) {
    if (k.sig.load(std::memory_order_acquire) != sig) continue;
    std::memset(out, 0, sizeof *out);
    std::memcpy(out, k.bytes, kKeptInfoBytes);
    k.sig.store(0, std::memory_order_release);
    return true;
  }
  return false;
}

bool enqueue(ShimThread* st, int sig, const siginfo_t& si) {
  for (QueuedSignal& q : g_queue) {
    uint32_t free_state = 0;
    if (!q.state.compare_exchange_strong(free_state, 1, std::memory_order_acquire)) continue;
    q.sig = sig;
    q.owner = st;
    q.seq = g_seq.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(q.bytes, &si, kKeptInfoBytes);
    st->queued.fetch_add(1, std::memory_order_relaxed);
    q.state.store(2, std::memory_order_release);
    return true;
  }
  if (!g_warned.exchange(true, std::memory_order_relaxed))
    gh::log_warn(
        "more than %d real-time signals queued for green threads: further ones are dropped",
        kQueueSlots);
  return false;
}

// The oldest queued instance of sig for st, or nullptr.
QueuedSignal* oldest(const ShimThread* st, int sig) {
  QueuedSignal* best = nullptr;
  for (QueuedSignal& q : g_queue) {
    if (q.state.load(std::memory_order_acquire) != 2 || q.owner != st || q.sig != sig) continue;
    if (!best || q.seq < best->seq) best = &q;
  }
  return best;
}

bool dequeue(ShimThread* st, int sig, siginfo_t* out) {
  while (st->queued.load(std::memory_order_acquire) != 0) {
    QueuedSignal* q = oldest(st, sig);
    if (!q) return false;
    uint32_t full = 2;
    if (!q->state.compare_exchange_strong(full, 1, std::memory_order_acquire)) continue;
    if (q->owner != st || q->sig != sig) {  // reused between the look and the claim
      q->state.store(2, std::memory_order_release);
      continue;
    }
    std::memset(out, 0, sizeof *out);
    std::memcpy(out, q->bytes, kKeptInfoBytes);
    q->owner = nullptr;
    q->state.store(0, std::memory_order_release);
    st->queued.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool queued_for(ShimThread* st, int sig) {
  return st->queued.load(std::memory_order_acquire) != 0 && oldest(st, sig) != nullptr;
}

}  // namespace

siginfo_t own_info(int sig, int code) {
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = code;
  si.si_pid = static_cast<pid_t>(gh::sys(SYS_getpid));
  si.si_uid = static_cast<uid_t>(gh::sys(SYS_getuid));
  return si;
}

siginfo_t tkill_info(int sig) { return own_info(sig, SI_TKILL); }

void keep_signal(ShimThread* st, int sig, const siginfo_t* info) {
  static_assert(sizeof(siginfo_t) >= kKeptInfoBytes);
  const uint64_t bit = uint64_t{1} << (sig - 1);
  if (is_realtime(sig)) {
    // One instance per send, in order: after those kept already, if any.
    siginfo_t si = info ? *info : tkill_info(sig);
    bool behind = (st->pending_signals.load(std::memory_order_acquire) & bit) ||
                  slot_holds(st, sig) || queued_for(st, sig);
    if (behind || !put_slot(st, sig, si)) enqueue(st, sig, si);
  } else if (info && !slot_holds(st, sig)) {
    // A standard signal pending already is not queued again; the first
    // one's siginfo stays. Without a free slot it reads as a pthread_kill.
    put_slot(st, sig, *info);
  }
  st->pending_signals.fetch_or(bit, std::memory_order_acq_rel);
}

siginfo_t kept_info(ShimThread* st, int sig) {
  siginfo_t si;
  bool got = take_slot(st, sig, &si);
  if (is_realtime(sig)) {
    if (!got) got = dequeue(st, sig, &si);
    // More instances of it: it stays pending.
    if (queued_for(st, sig) || slot_holds(st, sig))
      st->pending_signals.fetch_or(uint64_t{1} << (sig - 1), std::memory_order_acq_rel);
  }
  return got ? si : tkill_info(sig);
}

void drop_kept_signals(ShimThread* st) {
  st->pending_signals.store(0, std::memory_order_release);
  for (KeptInfo& k : st->kept_info) k.sig.store(0, std::memory_order_release);
  if (st->queued.load(std::memory_order_acquire) == 0) return;
  for (QueuedSignal& q : g_queue) {
    uint32_t full = 2;
    if (q.owner != st || !q.state.compare_exchange_strong(full, 1, std::memory_order_acquire))
      continue;
    q.owner = nullptr;
    q.state.store(0, std::memory_order_release);
  }
  st->queued.store(0, std::memory_order_release);
}

void kept_signals_after_fork_child(ShimThread* self) {
  // The child starts with no signal pending (fork(2)); of the threads, only
  // the forking one lives on.
  for (QueuedSignal& q : g_queue) {
    q.owner = nullptr;
    q.state.store(0, std::memory_order_relaxed);
  }
  if (self) drop_kept_signals(self);
}

}  // namespace gh::shim
