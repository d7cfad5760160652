// SPDX-License-Identifier: MIT
#include "core/pool.h"

#include <linux/futex.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sys.h"

namespace gh {

namespace {
std::atomic<Pool*> g_process_pool{nullptr};

void futex_sleep(std::atomic<uint32_t>* word, uint32_t expected, int64_t ns) {
  timespec ts{static_cast<time_t>(ns / kNsPerSec), static_cast<long>(ns % kNsPerSec)};
  gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts);
}
void futex_wake_all(std::atomic<uint32_t>* word) {
  gh::sys(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1 << 30);
}
// Reads a small /proc file with raw system calls into buf (NUL-terminated).
bool read_proc(const char* path, char* buf, size_t len) {
  long fd = gh::sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  long n = gh::sys(SYS_read, fd, buf, len - 1);
  gh::sys(SYS_close, fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

// The CPU time an OS thread of this process has run (ns, from its thread CPU
// clock, which counts the current time slice too: schedstat only moves at
// ticks and switches), and its scheduler state letter (R, S, D, ...) if
// `state`. -1 if unknown.
int64_t os_thread_run_ns(int tid, char* state) {
  // The kernel's CPU clock id of a thread (MAKE_THREAD_CPUCLOCK(tid,
  // CPUCLOCK_SCHED)); any thread of the process may read it.
  clockid_t clk = static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6);
  timespec ts{};
  if (gh::sys(SYS_clock_gettime, clk, &ts) != 0) return -1;
  if (state) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if (read_proc(path, buf, sizeof buf)) {
      // "tid (comm) S ...": the state follows the last ')'.
      const char* p = strrchr(buf, ')');
      if (p && p[1] == ' ') *state = p[2];
    }
  }
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

// Time an OS thread of this process has waited, runnable, for a CPU (ns,
// the second field of its schedstat), or -1 if unknown.
int64_t os_thread_wait_ns(int tid) {
  char path[64], buf[128];
  snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
  if (!read_proc(path, buf, sizeof buf)) return -1;
  unsigned long long run = 0, wait = 0;
  if (sscanf(buf, "%llu %llu", &run, &wait) != 2) return -1;
  return static_cast<int64_t>(wait);
}

// The CPU time the pool's OS threads (carriers and spares) have run and
// waited for, summed, for SpreadControl. A thread that has ended (a retired
// spare, whose slot a later spare may take) keeps counting what it used.
// Monitor thread only.
struct PoolCpu {
  const Pool* pool;
  int tid[Pool::kMaxCarriers] = {};
  int64_t run[Pool::kMaxCarriers] = {};
  int64_t wait[Pool::kMaxCarriers] = {};
  int64_t gone_run = 0;
  int64_t gone_wait = 0;
  bool wait_known = true;  // schedstat readable (CONFIG_SCHED_INFO)
};

SpreadSample sample_pool_cpu(void* ctx) {
  auto* pc = static_cast<PoolCpu*>(ctx);
  int64_t run = pc->gone_run, wait = pc->gone_wait;
  int n = pc->pool->slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = pc->pool->slot(i);
    int tid = x ? x->os_tid() : 0;
    if (tid != pc->tid[i]) {
      pc->gone_run += pc->run[i];
      pc->gone_wait += pc->wait[i];
      run += pc->run[i];
      wait += pc->wait[i];
      pc->tid[i] = tid;
      pc->run[i] = pc->wait[i] = 0;
    }
    if (tid > 0) {
      int64_t r = os_thread_run_ns(tid, nullptr);
      if (r >= pc->run[i]) pc->run[i] = r;
      if (pc->wait_known) {
        int64_t w = os_thread_wait_ns(tid);
        if (w < 0 && r >= 0) pc->wait_known = false;  // alive, but no schedstat
        if (w >= pc->wait[i]) pc->wait[i] = w;
      }
    }
    run += pc->run[i];
    wait += pc->wait[i];
  }
  return SpreadSample{run, pc->wait_known ? wait : -1};
}

}  // namespace

Pool* Pool::process() { return g_process_pool.load(std::memory_order_acquire); }
void Pool::set_process(Pool* p) { g_process_pool.store(p, std::memory_order_release); }

Pool::Pool(const PoolOptions& opts) : opts_(opts) {
  if (opts_.handoff_ns <= 0) opts_.spread = SpreadMode::kAlways;
  packed_.store(opts_.spread == SpreadMode::kNever, std::memory_order_relaxed);
  if (opts_.carriers < 1) opts_.carriers = 1;
  if (opts_.carriers > kMaxCarriers) opts_.carriers = kMaxCarriers;
  // As many as it takes (a spare is started only while every carrier is
  // stuck and there is work), up to the slots there are.
  if (opts_.max_spares <= 0 || opts_.max_spares > kMaxCarriers - opts_.carriers)
    opts_.max_spares = kMaxCarriers - opts_.carriers;
}

Pool::~Pool() {
  int n = slots();
  for (int i = 0; i < n; i++) delete slots_[i].load(std::memory_order_relaxed);
}

int Pool::attach(Carrier* c) {
  SpinGuard guard(attach_lock_);
  int n = nslots_.load(std::memory_order_relaxed);
  if (n >= kMaxCarriers) return -1;
  slots_[n].store(c, std::memory_order_release);
  nslots_.store(n + 1, std::memory_order_release);
  nactive_.fetch_add(1, std::memory_order_acq_rel);
  return n;
}

void Pool::detach(Carrier*) {
  SpinGuard guard(attach_lock_);
  nactive_.fetch_sub(1, std::memory_order_acq_rel);
}

void Pool::count_mask(uint64_t mask, int delta) {
  while (mask) {
    int bit = __builtin_ctzll(mask);
    mask &= mask - 1;
    blocked_[bit].fetch_add(static_cast<uint32_t>(delta), std::memory_order_relaxed);
  }
}

void Pool::hold_back(uint64_t bits, const Carrier* self) {
  if (!bits) return;
  // Pairs with the fence in Carrier::wait_for_work: a carrier that computed
  // its mask before the counts changed has published it by now, or it
  // reads the new counts after publishing.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  int n = slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = slot(i);
    if (!x || x == self) continue;
    uint64_t m = x->sleep_mask();
    if (!(~m & bits)) continue;
    uint64_t sleeps = x->sleeps();
    x->kick();
    int64_t until = mono_ns() + 20'000'000;
    int spins = 0;
    while (x->sleeps() == sleeps && (~x->sleep_mask() & bits) && mono_ns() < until) {
      if (++spins < 64)
        arch::cpu_relax();
      else
        sys(SYS_sched_yield);
    }
  }
}

uint64_t Pool::blocked_by_all() const {
  uint32_t live = live_.load(std::memory_order_acquire);
  uint64_t m = 0;
  for (int bit = 0; bit < 64; bit++)
    if (blocked_[bit].load(std::memory_order_relaxed) == live) m |= uint64_t{1} << bit;
  return m;
}

void Pool::push_global(GreenThread* g) {
  SpinGuard guard(global_lock_);
  global_.push(g);
  global_pending_.store(true, std::memory_order_seq_cst);
}

GreenThread* Pool::pop_global() {
  if (!global_pending_.load(std::memory_order_acquire)) return nullptr;
  SpinGuard guard(global_lock_);
  GreenThread* g = global_.pop();
  if (global_.empty()) global_pending_.store(false, std::memory_order_relaxed);
  return g;
}

void Pool::set_idle(Carrier*, bool idle) {
  nidle_.fetch_add(idle ? 1 : -1, std::memory_order_seq_cst);
}

void Pool::done_spinning() { nspinning_.fetch_sub(1, std::memory_order_seq_cst); }

void Pool::wake_idle(Carrier* from) {
  // Pairs with the idle carrier's announce-then-check (wait_for_work): one
  // of us sees the other.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (nidle_.load(std::memory_order_relaxed) == 0) return;
  if (nspinning_.load(std::memory_order_relaxed) != 0) return;
  int expected = 0;
  if (!nspinning_.compare_exchange_strong(expected, 1, std::memory_order_seq_cst)) return;
  int n = slots();
  int start = from ? from->slot() + 1 : 0;
  for (int k = 0; k < n; k++) {
    Carrier* x = slot((start + k) % n);
    if (!x || x == from || !x->idle() || !x->takes_work()) continue;
    if (x->spinning_.exchange(true, std::memory_order_acq_rel)) continue;
    x->kick();
    return;
  }
  done_spinning();
}

Carrier* Pool::primary() const {
  int n = slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = slot(i);
    if (x && x->runs_here() && !x->is_stuck()) return x;
  }
  return nullptr;
}

bool Pool::work_elsewhere(const Carrier* c) const {
  bool packed = this->packed();
  int n = slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = slot(i);
    if (x && x != c && (!packed || x->is_stuck()) &&
        (!x->run_queue().empty() || x->overflow_n_.load(std::memory_order_relaxed) > 0))
      return true;
  }
  return false;
}

int Pool::start() {
  bool expected = false;
  if (!started_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return 0;
  if (!opts_.start_thread) return -ENOSYS;
  int rc = 0;
  for (int i = 1; i < opts_.carriers; i++) {
    threads_running_.fetch_add(1, std::memory_order_acq_rel);
    int e = opts_.start_thread(&Pool::worker_main, this, "gh-carrier");
    if (e != 0) {
      threads_running_.fetch_sub(1, std::memory_order_acq_rel);
      log_warn("cannot start carrier %d of %d: errno %d; running on %d", i + 1, opts_.carriers, e,
               i);
      rc = -e;
      break;
    }
  }
  if (opts_.handoff_ns > 0) {
    threads_running_.fetch_add(1, std::memory_order_acq_rel);
    int e = opts_.start_thread(&Pool::monitor_main, this, "gh-monitor");
    if (e != 0) {
      threads_running_.fetch_sub(1, std::memory_order_acq_rel);
      log_warn("cannot start the hand-off monitor: errno %d", e);
      if (rc == 0) rc = -e;
    }
  }
  // Return once every thread started has named itself: from then on the
  // program sees the runtime's threads as gh-* (and its own count of OS
  // threads is exact).
  for (;;) {
    uint32_t seen = named_.load(std::memory_order_acquire);
    if (static_cast<int>(seen) >= threads_running_.load(std::memory_order_acquire)) break;
    futex_sleep(&named_, seen, 10'000'000);
  }
  return rc;
}

void Pool::named() {
  named_.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&named_);
}

void Pool::stop() {
  stopping_.store(true, std::memory_order_seq_cst);
  monitor_futex_.fetch_add(1, std::memory_order_acq_rel);
  futex_wake_all(&monitor_futex_);
  while (threads_running_.load(std::memory_order_acquire) > 0) {
    int n = slots();
    for (int i = 0; i < n; i++) {
      Carrier* x = slot(i);
      if (x && x->root()->internal) x->stop_root();
    }
    futex_sleep(&monitor_futex_, monitor_futex_.load(), 1'000'000);
  }
}

void* Pool::worker_main(void* arg) {
  auto* p = static_cast<Pool*>(arg);
  p->run_carrier(false);
  return nullptr;
}

void Pool::run_carrier(bool spare) {
  // Scheduler code runs with every asynchronous signal blocked; the carrier
  // lets through, while it sleeps, those some green thread takes, and each
  // green thread runs with its own mask.
  uint64_t all = Carrier::scheduler_sigmask();
  gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, sizeof all);
  if (opts_.cpu_mask_bytes > 0)
    gh::sys_ret(SYS_sched_setaffinity, 0, opts_.cpu_mask_bytes, opts_.cpu_mask);
  // The runtime's own OS threads are named gh-* (docs/design.md).
  gh::sys(SYS_prctl, PR_SET_NAME, spare ? "gh-spare" : "gh-carrier", 0, 0, 0);
  named();
  Carrier* c = Carrier::attach_to(this, true);
  if (c) c->spare_.store(spare, std::memory_order_release);
  if (spare) spares_starting_.fetch_sub(1, std::memory_order_acq_rel);
  if (!c) {
    // The pool runs on the carriers it has (a spare is tried again when
    // needed): say so once, not at every try of a process short of fds or
    // memory; the debug log has every one.
    int e = errno;
    static std::atomic<bool> said{false};
    if (!said.exchange(true, std::memory_order_relaxed))
      log_warn("cannot make a carrier (errno %d): fewer OS threads run the program", e);
    else
      log_debug("cannot make a carrier: errno %d", e);
    if (spare) spares_.fetch_sub(1, std::memory_order_acq_rel);
    threads_running_.fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  c->serve();
  Carrier::leave();
  threads_running_.fetch_sub(1, std::memory_order_acq_rel);
}

void* Pool::spare_main(void* arg) {
  auto* p = static_cast<Pool*>(arg);
  p->run_carrier(true);
  return nullptr;
}

int Pool::start_spare() {
  // A retired spare comes back first: its OS thread sleeps in its ring.
  int n = slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = slot(i);
    if (!x || !x->spare()) continue;
    bool was = true;
    if (x->retired_.compare_exchange_strong(was, false, std::memory_order_acq_rel)) {
      x->drain_to_.store(nullptr, std::memory_order_relaxed);
      spares_.fetch_add(1, std::memory_order_acq_rel);
      x->kick();
      return 0;
    }
  }
  if (spares_.load(std::memory_order_acquire) >= opts_.max_spares) return -EAGAIN;
  if (slots() >= kMaxCarriers) return -EAGAIN;
  spares_.fetch_add(1, std::memory_order_acq_rel);
  spares_starting_.fetch_add(1, std::memory_order_acq_rel);
  threads_running_.fetch_add(1, std::memory_order_acq_rel);
  int e = opts_.start_thread(&Pool::spare_main, this, "gh-spare");
  if (e != 0) {
    spares_.fetch_sub(1, std::memory_order_acq_rel);
    spares_starting_.fetch_sub(1, std::memory_order_acq_rel);
    threads_running_.fetch_sub(1, std::memory_order_acq_rel);
    return -e;
  }
  stats_.spares_started.fetch_add(1, std::memory_order_relaxed);
  log_debug("started a spare carrier (%d running)", spares_.load());
  return 0;
}

int Pool::balance_spares(const bool* busy) {
  // In slot order (the workers first), carriers that take work are kept up
  // to options().carriers; a spare past that drains into the kept workers,
  // in turn (not into a kept spare, which may retire meanwhile; with no
  // worker kept, it waits). Neither kept nor drained: carriers that are
  // stuck, or busy (on one thread past the threshold, with nothing else to
  // do).
  Carrier* workers[kMaxCarriers];
  int nkept = 0, nworkers = 0, turn = 0;
  int n = slots();
  for (int i = 0; i < n; i++) {
    Carrier* x = slot(i);
    if (!x || !x->runs_here()) continue;
    Carrier* to = nullptr;
    if (x->is_stuck() || busy[i]) {
      // Not kept, not drained.
    } else if (!x->spare()) {
      workers[nworkers++] = x;
      nkept++;
    } else if (nkept < opts_.carriers || nworkers == 0) {
      nkept++;
    } else {
      to = workers[turn++ % nworkers];
    }
    if (x->drain_to_.load(std::memory_order_relaxed) != to) {
      x->drain_to_.store(to, std::memory_order_relaxed);
      if (to) x->kick();  // asleep, it retires now
    }
  }
  return nkept;
}

void Pool::spare_retired() {
  spares_.fetch_sub(1, std::memory_order_acq_rel);
  stats_.spares_retired.fetch_add(1, std::memory_order_relaxed);
  log_debug("a spare carrier retired (%d running)", spares_.load());
}

void* Pool::monitor_main(void* arg) {
  static_cast<Pool*>(arg)->monitor();
  return nullptr;
}

namespace {

// The monitor's record of a carrier that has stopped making progress.
struct Stall {
  int64_t since = 0;     // when the monitor last saw it make progress
  int64_t sampled = -1;  // when it read the OS thread's CPU time (-1: not yet)
  int64_t ran = 0;       // that CPU time (fixed for the stall)
};

// Whether a stalled carrier is waiting for a CPU rather than stuck: its OS
// thread is runnable and has run less than `budget` since st->sampled. A
// carrier that gets the CPU makes progress at once, unless it is stuck, so
// what counts is the CPU time spent without progress, not the wall time: a
// spinning carrier sharing a CPU with others is stuck a little later, while
// one that merely waits its turn (more runnable OS threads than CPUs) is
// not, however long it waits.
bool waiting_for_cpu(Carrier* x, const Stall& st, int64_t budget) {
  if (st.sampled < 0) return false;
  char state = 0;
  int64_t ran = os_thread_run_ns(x->os_tid(), &state);
  return state == 'R' && ran >= 0 && ran - st.ran < budget;
}

}  // namespace

void Pool::choose_spread(SpreadControl* sc, int64_t now, void* cpu) {
  uint64_t runs = 0;
  int n = slots();
  for (int i = 0; i < n; i++)
    if (Carrier* x = slot(i)) runs += x->runs();
  uint64_t probes = sc->probes(), changes = sc->changes();
  bool packed = sc->step(now, runs, &sample_pool_cpu, cpu);
  if (sc->probes() != probes) stats_.spread_probes.fetch_add(1, std::memory_order_relaxed);
  if (sc->changes() != changes) {
    stats_.spread_changes.fetch_add(1, std::memory_order_relaxed);
    log_debug(
        "pool: %s: %.0f green thread runs/s at %.0f ns CPU each (%.0f%% waiting for a CPU), "
        "against %.0f at %.0f ns (%.0f%%) %s",
        packed ? "packed" : "spread", sc->probe_rate(), sc->probe_cost(), sc->probe_wait() * 100,
        sc->base_rate(), sc->base_cost(), sc->base_wait() * 100, packed ? "spread" : "packed");
  } else if (sc->probes() == probes && packed != this->packed()) {
    // A probe that did not win: back to the mode before it.
    log_debug(
        "pool: stays %s: %s ran %.0f green thread runs/s at %.0f ns CPU each (%.0f%% waiting "
        "for a CPU), against %.0f at %.0f ns (%.0f%%)",
        packed ? "packed" : "spread", packed ? "spread" : "packed", sc->probe_rate(),
        sc->probe_cost(), sc->probe_wait() * 100, sc->base_rate(), sc->base_cost(),
        sc->base_wait() * 100);
  }
  if (packed == this->packed()) return;
  set_packed(packed);
  // Spreading: let an idle carrier look at the queues now.
  if (!packed) wake_idle(nullptr);
}

namespace {
// How long a carrier's mask may stay changed behind it before the monitor
// kicks it (Carrier::sigmask_changed_behind).
constexpr int64_t kRemaskAfterNs = 2'000'000;
}  // namespace

void Pool::monitor() {
  // Not a thread of the program: it never takes the program's signals.
  uint64_t mask = Carrier::scheduler_sigmask();
  gh::sys(SYS_rt_sigprocmask, SIG_SETMASK, &mask, nullptr, sizeof mask);
  if (opts_.cpu_mask_bytes > 0)
    gh::sys_ret(SYS_sched_setaffinity, 0, opts_.cpu_mask_bytes, opts_.cpu_mask);
  gh::sys(SYS_prctl, PR_SET_NAME, "gh-monitor", 0, 0, 0);
  named();
  const int64_t threshold = opts_.handoff_ns;
  int64_t period = threshold / 2;
  if (period < 500'000) period = 500'000;
  uint64_t last_ticks[kMaxCarriers] = {};
  Stall stall[kMaxCarriers];
  int64_t last_report = mono_ns();
  uint64_t reported[3] = {};
  SpreadControl spread(packed());
  PoolCpu cpu{this};
  while (!stopping()) {
    futex_sleep(&monitor_futex_, monitor_futex_.load(std::memory_order_acquire), period);
    if (stopping()) break;
    int64_t now = mono_ns();
    int n = slots();
    if (opts_.spread == SpreadMode::kAuto) {
      if (active() > 1) {
        choose_spread(&spread, now, &cpu);
      } else if (spread.pause(now) != packed()) {
        set_packed(spread.packed());
      }
    }
    if (log_level() >= LogLevel::kDebug && now - last_report >= 1'000'000'000) {
      // Once a second, when something moved: the totals so far.
      uint64_t h = stats_.handoffs.load(std::memory_order_relaxed);
      uint64_t st = stats_.steals.load(std::memory_order_relaxed);
      uint64_t pr = stats_.spread_probes.load(std::memory_order_relaxed);
      if (h != reported[0] || st != reported[1] || pr != reported[2]) {
        log_debug(
            "pool: %d carriers (%d spare, %d idle), %llu hand-offs, %llu steals, %s "
            "(%llu of %llu switches kept)",
            active(), spares_.load(std::memory_order_relaxed),
            nidle_.load(std::memory_order_relaxed), static_cast<unsigned long long>(h),
            static_cast<unsigned long long>(st), packed() ? "packed" : "spread",
            static_cast<unsigned long long>(stats_.spread_changes.load()),
            static_cast<unsigned long long>(pr));
        reported[0] = h;
        reported[1] = st;
        reported[2] = pr;
      }
      last_report = now;
    }
    bool need_help = false;
    bool someone_idle = false;
    bool busy[kMaxCarriers] = {};
    for (int i = 0; i < n; i++) {
      Carrier* x = slot(i);
      if (!x || x->retired_.load(std::memory_order_relaxed)) {
        stall[i] = Stall{};
        continue;
      }
      // Progress: a switch, or a thread resumed without one (it yielded
      // with nothing else to run, or its park was answered at once).
      uint64_t t = x->ticks() + x->runs();
      Stall& st = stall[i];
      // A spare that has run nothing yet is still setting up (its ring, its
      // idle context): not busy with any thread.
      bool starting = t == 0 && x->spare();
      if (x->idle() || t != last_ticks[i] || st.since == 0 || starting) {
        last_ticks[i] = t;
        st = Stall{now, -1, 0};
        if (x->idle() && x->takes_work()) someone_idle = true;
        continue;
      }
      // Running one thread since the last look (a computation), with a
      // signal kept for later held back by its mask: the carrier would let
      // it through at its next switch; the kick's handler does it now
      // (Carrier::remask_here). Once per stretch behind.
      if (int64_t behind = x->behind_since();
          behind && now - behind > kRemaskAfterNs && Carrier::remask_signal() && x->claim_kick())
        gh::sys_ret(SYS_tgkill, gh::sys_ret(SYS_getpid), x->os_tid(), Carrier::remask_signal());
      if (st.sampled < 0) {
        st.ran = os_thread_run_ns(x->os_tid(), nullptr);
        st.sampled = st.ran < 0 ? -1 : now;
      }
      if (now - st.since < threshold) continue;
      if (x->is_stuck()) {
        busy[i] = true;
        need_help = true;
        continue;
      }
      // Busy, with nothing else to do: whether it needs a spare is decided
      // below, only if someone needs help.
      bool pending = x->has_pending_work();
      if (!pending) {
        busy[i] = true;
        continue;
      }
      // Not switching because the kernel does not run it (more runnable OS
      // threads than CPUs) is not being stuck: a spare would only add one
      // more. Packed, though, every runnable thread waits for the primary,
      // while the other carriers sleep: one of them takes over (no spare is
      // started while one is idle).
      if (!packed() && waiting_for_cpu(x, st, threshold / 2)) continue;
      busy[i] = true;
      if (x->mark_stuck()) {
        note_stuck(+1);
        stats_.handoffs.fetch_add(1, std::memory_order_relaxed);
        log_debug(
            "hand-off: carrier %d (os thread %d) has run one green thread for %lld ms; "
            "others take its work (%llu hand-offs)",
            i, x->os_tid(), static_cast<long long>((now - st.since) / 1'000'000),
            static_cast<unsigned long long>(stats_.handoffs.load()));
        need_help = true;
      }
    }
    if (need_help) {
      // A busy carrier the kernel does not run is not one a spare stands in
      // for: it would only add one more runnable OS thread.
      for (int i = 0; i < n; i++) {
        Carrier* x = slot(i);
        if (busy[i] && !x->is_stuck() && waiting_for_cpu(x, stall[i], threshold / 2))
          busy[i] = false;
      }
    }
    // Spares started but not yet attached count as kept: they will be.
    int kept = balance_spares(busy) + spares_starting_.load(std::memory_order_acquire);
    stats_.monitor_passes.fetch_add(1, std::memory_order_release);
    if (!need_help) continue;
    if (someone_idle) {
      // An idle carrier serves stuck ones every kServeInterval; wake it now.
      for (int i = 0; i < n; i++) {
        Carrier* x = slot(i);
        if (x && x->idle() && x->takes_work()) {
          x->kick();
          break;
        }
      }
    } else if (kept < opts_.carriers) {
      // As Go's sysmon hands a stuck M's P to another M: a spare for each
      // stuck carrier, not one more each period while they stay stuck.
      int rc = start_spare();
      if (rc < 0 && rc != -EAGAIN) log_debug("cannot start a spare carrier: errno %d", -rc);
      if (rc == -EAGAIN && !warned_full_) {
        // Every OS thread the pool may have is held by a call the runtime
        // cannot park: what waits behind them waits until one returns.
        warned_full_ = true;
        log_warn(
            "all %d carriers are blocked in calls that cannot park (raw system calls?); "
            "other threads wait until one returns",
            slots());
      }
    }
  }
  threads_running_.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace gh
