// SPDX-License-Identifier: MIT
// A pool: the carriers among which green threads move. Each carrier runs
// the green threads of its own run queue; an idle one steals half of a busy
// one's queue before it sleeps in its ring; and a monitor thread notices a
// carrier that has run one green thread for longer than the hand-off
// threshold and lets others serve its work (its queue, timers and ring
// completions), starting a spare carrier when every carrier is busy.
//
// Whether idle carriers are woken to take queued threads (spread) or sleep
// while the first carrier runs everything (packed) is chosen by the monitor
// (core/spread.h).
//
// The process pool (Pool::process()) holds the main thread's carrier and the
// workers the embedder starts; any other OS thread that needs a carrier gets
// a pool of its own (one carrier, no monitor: its green threads stay on it).
//
// Everything here may be called from any thread unless a comment says
// otherwise.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/arena.h"
#include "core/backend.h"
#include "core/fifo.h"
#include "core/green_thread.h"
#include "core/spinlock.h"
#include "core/spread.h"

namespace gh {

class Carrier;
struct Waiter;

struct PoolOptions {
  int carriers = 1;        // carriers to run (the first one's OS thread included)
  int64_t handoff_ns = 0;  // run time after which a carrier's other work moves; 0: never
  int max_spares = 0;      // spare carriers the monitor may add (0: as many as there are slots)
  // Spread or packed (core/spread.h). Packed needs the hand-off (a stuck
  // carrier's work moves only then): without it the pool always spreads.
  SpreadMode spread = SpreadMode::kAuto;
  BackendKind backend = default_backend();  // I/O backend of every carrier
  // Starts an OS thread running fn(arg); returns 0 or an errno value. The
  // embedder's, so that its hooks treat the thread as its own.
  int (*start_thread)(void* (*fn)(void*), void* arg, const char* name) = nullptr;
  // The CPUs its OS threads run on (sched_setaffinity mask, 1024 CPUs), or
  // none (cpu_mask_bytes 0): they keep the mask of the thread that made
  // them. The embedder's choice: the process's mask at start-up, so that a
  // mask main sets on itself before its first thread does not confine every
  // carrier to its CPUs.
  uint64_t cpu_mask[16] = {};
  int cpu_mask_bytes = 0;
};

struct PoolStats {
  std::atomic<uint64_t> steals{0};    // green threads taken from another carrier's queue
  std::atomic<uint64_t> handoffs{0};  // times a stuck carrier's work was given to others
  std::atomic<uint64_t> spares_started{0};
  std::atomic<uint64_t> spares_retired{0};
  std::atomic<uint64_t> spread_probes{0};   // switches between spread and packed tried
  std::atomic<uint64_t> spread_changes{0};  // of which kept
  std::atomic<uint64_t> monitor_passes{0};  // times the monitor looked at the carriers
};

class Pool : public ArenaObject {
 public:
  static constexpr int kMaxCarriers = 256;

  explicit Pool(const PoolOptions& opts);
  ~Pool();

  // The process pool, or nullptr before set_process(). Set once by the
  // embedder at start-up (and again in a fork child).
  static Pool* process();
  static void set_process(Pool* p);

  const PoolOptions& options() const { return opts_; }
  // The OS thread (kernel id) whose Carrier::get() makes the pool's first
  // carrier, as the process pool's is the main thread's.
  void set_first_tid(int tid) { first_tid_.store(tid, std::memory_order_release); }
  int first_tid() const { return first_tid_.load(std::memory_order_acquire); }
  // Carriers attached (including retired spares' slots).
  int slots() const { return nslots_.load(std::memory_order_acquire); }
  Carrier* slot(int i) const { return slots_[i].load(std::memory_order_acquire); }
  // Carriers that run (attached and not retired).
  int active() const { return nactive_.load(std::memory_order_acquire); }
  // Spare carriers running (started or woken, not retired).
  int spares() const { return spares_.load(std::memory_order_acquire); }

  // Starts the workers (options().carriers - 1 of them) and the monitor,
  // once; later calls return at once. Returns 0 or -errno; on failure the
  // pool keeps running on the carriers it has.
  int start();
  bool started() const { return started_.load(std::memory_order_acquire); }
  // Asks the workers and the monitor to end and waits until they have
  // (pools made by tests; the process pool runs until exit). Every green
  // thread must have ended.
  void stop();
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Program threads alive in the pool (roots of program threads included).
  uint32_t live() const { return live_.load(std::memory_order_acquire); }
  void add_live(int delta) {
    live_.fetch_add(static_cast<uint32_t>(delta), std::memory_order_acq_rel);
  }
  // Adds (+1) or removes (-1) a program thread's signal mask to the counts.
  void count_mask(uint64_t mask, int delta);
  // The signals blocked by every live program thread; how many block `bit`.
  uint64_t blocked_by_all() const;
  uint32_t blocked(int bit) const { return blocked_[bit].load(std::memory_order_relaxed); }
  // After a mask change or a thread's end left the signals `bits` blocked
  // by every program thread: makes each carrier but `self` that sleeps with
  // one of them let through wake and sleep again with them blocked, and
  // waits (20 ms at most per carrier) until it has. Such a signal then stays
  // pending for the process, as natively, where a sleeping carrier would
  // have taken it: with the default action, that ended the process.
  void hold_back(uint64_t bits, const Carrier* self);

  // The queue of green threads readied by threads outside the pool, and of
  // run-queue overflow. Carriers take from it when their own queue is empty
  // and every 61st pick.
  void push_global(GreenThread* g);
  GreenThread* pop_global();
  bool global_empty() const { return !global_pending_.load(std::memory_order_acquire); }

  // Work that `from` (nullptr: a thread outside the pool) will not run
  // at once appeared: wakes an idle carrier to take it, unless one is
  // already looking.
  void wake_idle(Carrier* from);
  // A carrier announces that it sleeps (true) or woke (false).
  void set_idle(Carrier* c, bool idle);
  // A carrier that was woken to look for work found some or gave up.
  void done_spinning();
  // Packed (true) or spread (false): see core/spread.h.
  bool packed() const { return packed_.load(std::memory_order_relaxed); }
  void set_packed(bool packed) { packed_.store(packed, std::memory_order_relaxed); }
  // While packed: the carrier that runs the pool's runnable threads, the
  // first one that runs and is not stuck (nullptr if none).
  Carrier* primary() const;
  // True if some carrier other than `c` has runnable work it could steal
  // (while packed, only a stuck carrier's is).
  bool work_elsewhere(const Carrier* c) const;

  // Carriers the monitor found stuck (running one thread past the
  // threshold); idle carriers serve their timers and rings.
  int stuck() const { return nstuck_.load(std::memory_order_acquire); }
  void note_stuck(int delta) { nstuck_.fetch_add(delta, std::memory_order_acq_rel); }

  PoolStats& stats() { return stats_; }

  // The one thread waiting (Carrier::drain) for the other program threads
  // to end: published by it, taken by the exiting thread that leaves it
  // alone.
  std::atomic<Waiter*> drain_waiter{nullptr};

  // Attaches c and returns its slot, or -1 when the pool is full; detach()
  // when its OS thread leaves. Slots are never reused: a slot's carrier
  // stays valid for the pool's lifetime (the pool deletes it).
  int attach(Carrier* c);
  void detach(Carrier* c);
  // A spare carrier found nothing to do for a while and sleeps until the
  // monitor needs it again.
  void spare_retired();

 private:
  static void* worker_main(void* arg);
  static void* spare_main(void* arg);
  static void* monitor_main(void* arg);
  void run_carrier(bool spare);
  void named();
  void monitor();
  // cpu: the monitor's PoolCpu (pool.cc).
  void choose_spread(SpreadControl* sc, int64_t now, void* cpu);
  int balance_spares(const bool* busy);
  int start_spare();

  PoolOptions opts_;
  std::atomic<int> first_tid_{0};
  std::atomic<Carrier*> slots_[kMaxCarriers] = {};
  std::atomic<int> nslots_{0};
  std::atomic<int> nactive_{0};
  SpinLock attach_lock_;  // serialises attach/detach

  std::atomic<uint32_t> live_{0};
  std::atomic<uint32_t> blocked_[64] = {};

  SpinLock global_lock_;
  IntrusiveFifo<GreenThread, &GreenThread::next> global_ GH_GUARDED_BY(global_lock_);
  std::atomic<bool> global_pending_{false};

  std::atomic<int> nidle_{0};      // carriers asleep (or about to be) in their ring
  std::atomic<int> nspinning_{0};  // carriers woken to look for work, not yet done
  std::atomic<int> nstuck_{0};
  std::atomic<bool> packed_{false};

  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> threads_running_{0};  // workers, spares and the monitor alive
  std::atomic<int> spares_{0};           // spare carriers running
  std::atomic<int> spares_starting_{0};  // spare OS threads started, not yet attached
  bool warned_full_ = false;             // [monitor] the all-carriers-blocked warning was given
  std::atomic<uint32_t> monitor_futex_{0};
  std::atomic<uint32_t> named_{0};  // threads started that have named themselves
  PoolStats stats_;
};

}  // namespace gh
