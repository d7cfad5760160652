// SPDX-License-Identifier: MIT
#include "shim/thread_registry.h"

#include <sys/single_threaded.h>
#include "core/parking_lot.h"
#include "shim/user_mem.h"
#include "shim/control.h"
#include "shim/stack_overflow.h"
#include "core/sys.h"

#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

#include <cerrno>

#include "core/arena.h"
#include "core/spinlock.h"
#include "core/tsa.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/pool.h"
#include "core/thread_pointer.h"
#include "shim/config.h"
#include "shim/glibc_tls.h"
#include "shim/key_table.h"
#include "shim/state.h"

namespace gh::shim {

thread_local ShimThread* t_signal_self GH_TLS = nullptr;
ShimThread g_root_self;

bool threads_green() {
  if (__builtin_expect(!g_init_done, 0)) shim_init();
  return g_enabled;
}

ShimThread* root_record(GreenThread* g) {
  auto* st = static_cast<ShimThread*>(__atomic_load_n(&g->user, __ATOMIC_ACQUIRE));
  if (!st) {
    // The code the OS thread was running when it became a carrier.
    st = new (std::nothrow) ShimThread;
    if (!st) return nullptr;
    st->g = g;
    st->root = true;
    st->native = reinterpret_cast<pthread_t>(g->tp);
    // main: the alternate stack it had before the runtime took the kernel's.
    if (!g->internal && g->home && g->home->os_tid() == static_cast<long>(sys(SYS_getpid)))
      st->alt_stack = *initial_program_alt_stack();
    // Another thread (a pthread_kill to main) may be making it too: the
    // first one published is the record.
    void* none = nullptr;
    if (!__atomic_compare_exchange_n(&g->user, &none, st, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
      delete st;
      st = static_cast<ShimThread*>(none);
    }
  }
  return st;
}

ShimThread* shim_self() {
  // In a handler of the program's: the thread it runs as. That need not be
  // the one running here: the handler of a signal for a parked thread runs
  // on an idle carrier's idle context, on the thread's TLS (hook_signal.cc).
  ShimThread* as = t_signal_self;
  if (__builtin_expect(as != nullptr, 0) && as != &g_root_self) return as;
  Carrier* c = Carrier::get();
  if (!c) return nullptr;
  GreenThread* g = c->running()->thread();  // a signal frame: its thread
  // A root, or a carrier's idle context (where a signal handler, or a free()
  // of an exited thread's TLS, may run): a record of its own, made on use.
  if (g->is_root() || g->internal) return root_record(g);
  return static_cast<ShimThread*>(g->user);
}

GreenThread* program_root(Carrier* c) {
  Carrier* first = c->pool()->slot(0);
  GreenThread* r = first ? first->root() : nullptr;
  return r && !r->internal ? r : nullptr;
}

pthread_t root_handle() {
  Carrier* c = Carrier::current();
  if (!c) return real::pthread_self();
  // A root runs on its OS thread's own thread control block, which is its
  // glibc pthread_t, wherever it runs; green threads have TCBs of their own.
  GreenThread* g = c->running()->thread();
  if (g->is_root() && !g->internal) return reinterpret_cast<pthread_t>(g->tp);
  if (GreenThread* r = program_root(c)) return reinterpret_cast<pthread_t>(r->tp);
  return reinterpret_cast<pthread_t>(c->os_tp());
}

pthread_t os_thread_handle() {
  Carrier* c = Carrier::current();
  return c ? reinterpret_cast<pthread_t>(c->os_tp()) : real::pthread_self();
}

ShimThread* shim_from_handle(pthread_t t) {
  // Our handles point at a ShimThread; glibc's at its thread descriptor,
  // whose first word is a pointer (never our magic).
  auto* st = reinterpret_cast<ShimThread*>(t);
  if (!st || st->magic != kShimThreadMagic || st->root) return nullptr;
  return st;
}

SpinLock g_registry_lock;
ShimThread* g_live GH_GUARDED_BY(g_registry_lock) = nullptr;
// The main thread's root green thread once its carrier exists (debuggers).
std::atomic<GreenThread*> g_main_root{nullptr};

}  // namespace gh::shim

// For debuggers (scripts/gdb/greenhouse.py): where the green threads are and
// the layout of what it reads, in one exported object, so that a stripped
// library in a live process or a core file can still be walked. Version 1.
struct GreenhouseDebug {
  uint32_t version;
  uint32_t size;  // of this object
  // gh::GreenThread
  uint32_t g_id, g_name, g_name_len, g_state, g_sp, g_wait_what, g_wait_fd, g_wait_object;
  // gh::shim::ShimThread
  uint32_t st_next, st_g;
  // the live list of pthread_create'd threads, and the main thread's root
  gh::shim::ShimThread* const* live;
  std::atomic<gh::GreenThread*>* main_root;
  int32_t green_tid_base;
  int32_t green_tid_mask;  // a green thread's id: base + (GreenThread::id & mask)
};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
GH_EXPORT const GreenhouseDebug greenhouse_debug = {
    1,
    sizeof(GreenhouseDebug),
    offsetof(gh::GreenThread, id),
    offsetof(gh::GreenThread, name),
    sizeof(gh::GreenThread::name),
    offsetof(gh::GreenThread, state),
    offsetof(gh::GreenThread, sp),
    offsetof(gh::GreenThread, wait) + offsetof(gh::WaitInfo, what),
    offsetof(gh::GreenThread, wait) + offsetof(gh::WaitInfo, fd),
    offsetof(gh::GreenThread, wait) + offsetof(gh::WaitInfo, object),
    offsetof(gh::shim::ShimThread, live_next),
    offsetof(gh::shim::ShimThread, g),
    &gh::shim::g_live,
    &gh::shim::g_main_root,
    gh::shim::kGreenTidBase,
    static_cast<int32_t>(gh::shim::kGreenTidMask),
};
#pragma GCC diagnostic pop

namespace gh::shim {

void registry_add(ShimThread* st) {
  SpinGuard guard(g_registry_lock);
  st->live_prev = nullptr;
  st->live_next = g_live;
  if (g_live) g_live->live_prev = st;
  g_live = st;
}

void registry_remove(ShimThread* st) {
  SpinGuard guard(g_registry_lock);
  if (st->live_prev)
    st->live_prev->live_next = st->live_next;
  else if (g_live == st)
    g_live = st->live_next;
  else
    return;  // not linked
  if (st->live_next) st->live_next->live_prev = st->live_prev;
  st->live_prev = st->live_next = nullptr;
}

GreenThread* registry_thread_taking(int sig, bool* running_elsewhere) {
  *running_elsewhere = false;
  if (sig < 1 || sig > 64) return nullptr;
  uint64_t bit = uint64_t{1} << (sig - 1);
  if (!g_registry_lock.try_lock()) return nullptr;
  GreenThread* found = nullptr;
  for (ShimThread* st = g_live; st && !found; st = st->live_next) {
    GreenThread* g = st->g;
    if (!g || !st->started.load(std::memory_order_acquire) || (g->sigmask & bit) || g->frame_top)
      continue;
    // Held from here on: it cannot run, so it cannot end and be freed,
    // before the caller has placed the signal.
    bool idle = false;
    if (g->on_cpu.compare_exchange_strong(idle, true, std::memory_order_acq_rel))
      found = g;
    else
      *running_elsewhere = true;
  }
  g_registry_lock.unlock();
  return found;
}

// The lock may be held by a parent thread the child does not have: released
// without having been taken here.
void registry_after_fork_child(ShimThread* self) GH_NO_TSA {
  g_registry_lock.unlock();
  g_live = nullptr;
  if (self && !self->root) {
    self->live_prev = self->live_next = nullptr;
    g_live = self;
  }
  g_main_root.store(nullptr, std::memory_order_relaxed);
}

void registry_for_each(void (*fn)(ShimThread*, void*), void* arg) {
  SpinGuard guard(g_registry_lock);
  for (ShimThread* st = g_live; st; st = st->live_next) fn(st, arg);
}

bool with_green_tid(pid_t tid, void (*fn)(ShimThread*, void*), void* arg) {
  if (!is_green_tid(tid)) return false;
  SpinGuard guard(g_registry_lock);
  for (ShimThread* st = g_live; st; st = st->live_next) {
    if (green_tid(st->g->id) != tid) continue;
    fn(st, arg);
    return true;
  }
  return false;
}

pid_t current_tid() {
  Carrier* c = Carrier::current();
  GreenThread* g = c ? c->running()->thread() : nullptr;
  if (g && !g->is_root()) return green_tid(g->id);
  return static_cast<pid_t>(gh::sys(SYS_gettid));
}

void free_shim_thread(ShimThread* st) {
  free_keys(st);
  drop_kept_signals(st);
  st->magic = 0;
  delete st;
}

namespace {

void on_green_exit(GreenThread* g) {
  // glibc's order at thread exit: thread_local destructors, then keys.
  if (gh::exact_tls()) glibc_tls_thread_exit();
  auto* st = static_cast<ShimThread*>(g->user);
  if (!st) return;
  run_key_destructors(st);
  if (uint32_t* tid = st->clear_tid) {
    // As the kernel at an OS thread's exit: 0 there, and one waiter woken
    // (green ones, and any OS thread outside the runtime).
    uint32_t zero = 0;
    if (copy_to_user(tid, &zero, sizeof zero) == 0) {
      gh::futex_wake(tid, 1);
      gh::sys_ret(SYS_futex, tid, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }
  }
  registry_remove(st);
  g->lock.lock();
  bool detached = g->detached;
  if (detached) g->user = nullptr;
  g->lock.unlock();
  if (detached) free_shim_thread(st);
}

struct StartArg : gh::ArenaObject {
  void* (*fn)(void*) = nullptr;
  void* arg = nullptr;
  const char* name = nullptr;
  std::atomic<bool>* named = nullptr;  // the creator's: set once the name is
};

// Pool threads run with every hook passing straight through.
void* pool_thread(void* p) {
  auto* start = static_cast<StartArg*>(p);
  StartArg a;
  a.fn = start->fn;
  a.arg = start->arg;
  gh::sys(SYS_prctl, PR_SET_NAME, start->name, 0, 0, 0);
  start->named->store(true, std::memory_order_release);  // last touch: the creator returns
  delete start;
  t_bypass = 1;
  overflow_thread_start();
  return a.fn(a.arg);
}

// glibc's own thread-specific data tells us of an OS thread's exit: its key
// destructors run at thread exit, and setting a key's value allocates
// nothing (unlike a thread_local destructor), so a carrier can be made
// inside the program's malloc.
pthread_key_t g_exit_key;

void carrier_thread_exit(void*) { Carrier::thread_exiting(); }

void register_carrier_exit() { real::pthread_setspecific(g_exit_key, &g_exit_key); }

}  // namespace

namespace {
void* no_work(void* arg) { return arg; }
}  // namespace

void ensure_glibc_thread_setup() {
  // Still single-threaded for glibc: no runtime thread was started (one
  // carrier, no hand-off, no control thread). glibc's pthread_create sets
  // up first (its late_init, while the flag says single-threaded), then
  // checks the attributes: a guard size that overflows is refused with
  // EINVAL before any thread is made. Should a glibc make one anyway, it
  // ends at once.
  if (__libc_single_threaded) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setguardsize(&attr, ~size_t{0});
    pthread_t t;
    if (real::pthread_create(&t, &attr, &no_work, nullptr) == 0) real::pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
  }
  wrap_setxid_handler();
}

int start_native_thread(void* (*fn)(void*), void* arg, const char* name) {
  auto* a = new (std::nothrow) StartArg;
  if (!a) return EAGAIN;
  std::atomic<bool> named{false};
  a->fn = fn;
  a->arg = arg;
  a->name = name;
  a->named = &named;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = real::pthread_create(&t, &attr, &pool_thread, a);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete a;
    return rc;
  }
  wrap_setxid_handler();  // glibc installs its handler at its first thread
  // Until it has its name, the thread shows its creator's in /proc: wait
  // (microseconds), so that nobody counts it as one of the program's.
  while (!named.load(std::memory_order_acquire)) gh::sys(SYS_sched_yield);
  return 0;
}

void new_process_pool() {
  const Config& cfg = config();
  PoolOptions o;
  // Moving green threads between OS threads needs each to carry its own
  // TLS: with shared TLS they stay on one carrier.
  o.carriers = cfg.shared_tls ? 1 : (cfg.carriers > 0 ? cfg.carriers : usable_cpus());
  o.handoff_ns = cfg.shared_tls ? 0 : int64_t{cfg.handoff_ms} * 1'000'000;
  o.start_thread = &start_native_thread;
  // The CPUs the process may use now (at start-up, or the forking thread's
  // in a fork child), for every carrier.
  long bytes = gh::sys_ret(SYS_sched_getaffinity, 0, sizeof o.cpu_mask, o.cpu_mask);
  o.cpu_mask_bytes = bytes > 0 ? static_cast<int>(bytes) : 0;
  o.backend = cfg.backend;
  o.spread = cfg.spread;
  auto* p = new (std::nothrow) Pool(o);
  if (!p) return;
  p->set_first_tid(static_cast<pid_t>(gh::sys(SYS_gettid)));
  Pool::set_process(p);
}

void start_carriers() {
  control_start();
  Pool* p = Pool::process();
  if (!p || p->started()) return;
  Carrier* c = Carrier::get();
  if (!c || c->pool() != p) return;
  if (Carrier* first = p->slot(0)) g_main_root.store(first->root(), std::memory_order_release);
  int rc = p->start();
  if (rc < 0) log_warn("cannot start all carriers: errno %d", -rc);
  static const char* const kSpread[] = {"auto", "always", "never"};
  log_debug("%d carrier(s), hand-off after %lld ms, spread %s", p->options().carriers,
            static_cast<long long>(p->options().handoff_ns / 1'000'000),
            kSpread[static_cast<int>(p->options().spread)]);
}

void threads_init() {
  new_process_pool();
  Carrier::set_exit_hook(&on_green_exit);
  Carrier::set_frame_end_hook(&after_frame);
  gh::offload_configure(&start_native_thread, gh::kDefaultOffloadThreads,
                        install_offload_interrupt());
  // Ours, or valgrind's when it refused us the handler (docs/usage.md,
  // "Valgrind"): a sleeping carrier lets it through.
  Carrier::set_wait_unblocked(uint64_t{1} << (kOffloadInterruptSignal - 1));
  if (real::pthread_key_create(&g_exit_key, &carrier_thread_exit) == 0)
    Carrier::set_exit_registrar(&register_carrier_exit);
}

// The OS thread id for `tid`: itself unless it is a green thread's, whose
// carrier's OS thread it is; -1 (errno ESRCH) for a green thread that does
// not exist.
long os_tid_of(long tid) {
  if (!g_enabled || !is_green_tid(tid)) return tid;
  long os = -1;
  bool found = with_green_tid(
      static_cast<pid_t>(tid),
      [](ShimThread* st, void* out) {
        *static_cast<long*>(out) = st->g->current_carrier()->os_tid();
      },
      &os);
  if (!found) {
    errno = ESRCH;
    return -1;
  }
  return os;
}

// tgkill for a green thread's id: the signal goes to that green thread
// (pthread_kill's path). Returns 0 or -errno.
long green_tgkill(long tgid, long tid, int sig, const siginfo_t* info) {
  if (tgid != static_cast<long>(getpid())) return -ESRCH;
  pthread_t target = 0;
  bool found = with_green_tid(
      static_cast<pid_t>(tid),
      [](ShimThread* st, void* out) {
        *static_cast<pthread_t*>(out) = reinterpret_cast<pthread_t>(st);
      },
      &target);
  if (!found) return -ESRCH;
  int rc = signal_green_thread(target, sig, info);
  return rc ? -rc : 0;
}

}  // namespace gh::shim
