// SPDX-License-Identifier: MIT
// Threads: pthread_create makes a green thread on the calling carrier; join,
// detach, exit, self, names and attributes act on green threads. Functions
// the shim does not emulate that take a pthread_t of a green thread act on
// the OS thread of its carrier.
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/single_threaded.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unwind.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/arch_x86_64.h"
#include "core/sys.h"
#include "core/glibc_abi.h"
#include "core/green.h"
#include "core/pool.h"
#include "core/thread_pointer.h"
#include "core/log.h"
#include "shim/cancel.h"
#include "shim/config.h"
#include "shim/glibc_tls.h"
#include "shim/key_table.h"
#include "shim/thread_registry.h"
#include "shim/user_mem.h"
#include "shim/stack_overflow.h"
#include "shim/signal_calls.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

// The handle of the OS thread a pthread_t runs on now (or last ran on), for
// glibc functions that act on OS threads.
pthread_t native_of(pthread_t t) {
  if (ShimThread* st = shim_from_handle(t))
    return reinterpret_cast<pthread_t>(st->g->current_carrier()->os_tp());
  return t;
}

void* green_start(void* p) {
  auto* st = static_cast<ShimThread*>(p);
  if (gh::exact_tls()) glibc_tls_thread_start();
  st->started.store(true, std::memory_order_seq_cst);
  // Signals sent to it before it started (signal_parked_thread).
  if (st->pending_signals.load(std::memory_order_seq_cst) & ~st->g->sigmask)
    raise_unblocked_pending(st, st->g->sigmask);
  void* v = st->start(st->arg);
  // Returned: destructors at exit are no cancellation points any more.
  st->g->exiting = true;
  st->g->cancel_point = false;
  return v;
}

// glibc's default thread stack size: from RLIMIT_STACK at start-up (8 MiB
// usually; 2 MiB when unlimited), or what pthread_setattr_default_np set.
size_t glibc_default_stack_size() {
  pthread_attr_t def;
  size_t size = 0;
  if (pthread_getattr_default_np(&def) == 0) {
    pthread_attr_getstacksize(&def, &size);
    pthread_attr_destroy(&def);
  }
  return size;
}

size_t stack_size_from(const pthread_attr_t* attr) {
  size_t def_size = glibc_default_stack_size();
  // GREENHOUSE_STACK_SIZE, else what glibc would give the thread.
  size_t ours = config().stack_size ? config().stack_size : def_size;
  if (!attr || ours == 0) return ours ? ours : gh::default_stack_size();
  size_t size = 0;
  if (pthread_attr_getstacksize(attr, &size) != 0) return ours;
  // An attr whose stack size nobody set reports glibc's default: that means
  // "default", which is ours.
  if (size == def_size) return ours;
  return size;
}

// The name a new thread starts with: natively it inherits its creator's
// (the comm of the creating OS thread). For a root that is the OS thread's
// comm, read once and kept current by pthread_setname_np.
void creator_name(char out[16]) {
  ShimThread* me = shim_self();
  if (me && !me->root) {
    memcpy(out, me->g->name, 16);
    return;
  }
  if (me && me->name_known) {
    memcpy(out, me->g->name, 16);
    return;
  }
  char comm[17] = {};
  if (gh::sys(SYS_prctl, PR_GET_NAME, comm, 0, 0, 0) != 0) comm[0] = 0;
  memcpy(out, comm, 16);
  out[15] = 0;
  if (me) {
    memcpy(me->g->name, out, 16);
    me->name_known = true;
  }
}

}  // namespace

GH_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                             void* arg) {
  if (!threads_green() || t_bypass) return real::pthread_create(thread, attr, start, arg);
  return create_green_thread(thread, attr, start, arg, nullptr, -1);
}

namespace gh::shim {
int create_green_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                        void* arg, const char* name, int carrier) {
  // The runtime's OS threads first: glibc's first pthread_create, while the
  // process still counts as single-threaded, installs the handlers of its
  // own signals (SIGSETXID, which every set*id call needs once there are
  // threads); then glibc's flag is cleared for green threads too, or
  // libstdc++ takes its single-threaded shortcuts (static-local guards
  // that treat a concurrent initialisation as recursion, ...).
  start_carriers();
  ensure_glibc_thread_setup();
  __libc_single_threaded = 0;
  overflow_prepare_backtrace();
  gh::Carrier* home = nullptr;
  if (carrier >= 0) {
    // Pinned there: that carrier must be running (one that could not start
    // has no slot); one just started attaches to its slot in a moment.
    gh::Pool* pool = gh::Pool::process();
    int64_t give_up = gh::deadline_after(100 * 1000 * 1000);
    while (pool && !(home = carrier < pool->slots() ? pool->slot(carrier) : nullptr) &&
           gh::mono_ns() < give_up)
      gh::sleep_for(100 * 1000);
    if (!home) return EAGAIN;
  }
  int detach = PTHREAD_CREATE_JOINABLE;
  if (attr) pthread_attr_getdetachstate(attr, &detach);
  auto* st = new (std::nothrow) ShimThread;
  if (!st) return EAGAIN;
  st->start = start;
  st->arg = arg;
  st->native = os_thread_handle();
  gh::SpawnOptions opts;
  opts.stack_size = stack_size_from(attr);
  if (attr) {
    // pthread_attr_setstack: run on the program's own memory.
    void* addr = nullptr;
    size_t size = 0;
    // glibc reports an attr without a stack address (only a size, or
    // nothing) as addr = 0 - size: that is no stack of the program's.
    if (pthread_attr_getstack(attr, &addr, &size) == 0 && addr &&
        reinterpret_cast<uintptr_t>(addr) + size != 0) {
      opts.stack_addr = addr;
      opts.stack_size = size;
    }
  }
  opts.detached = false;
  opts.user = st;
  // Set up completely before it can run: another carrier may start it at
  // once.
  opts.suspended = true;
  gh::GreenThread* g = nullptr;
  int rc = gh::spawn(&green_start, st, opts, &g);
  if (rc < 0) {
    delete st;
    return EAGAIN;
  }
  st->g = g;
  if (home) {
    // Pinned: it runs on that carrier only (its wake-ups go there, and
    // gh::start sends it there).
    g->home = home;
    g->carrier.store(home, std::memory_order_relaxed);
    g->pinned.store(true, std::memory_order_relaxed);
  }
  registry_add(st);
  if (name)
    snprintf(g->name, sizeof g->name, "%s", name);
  else
    creator_name(g->name);
  if (detach == PTHREAD_CREATE_DETACHED) gh::detach(g);
  *thread = reinterpret_cast<pthread_t>(st);
  gh::start(g);
  return 0;
}
}  // namespace gh::shim

namespace {
// Joins st's green thread; frees the record on success. pthread codes.
// A join is a cancellation point. A join that completed returns (the
// cancellation acts at the next point); one the cancellation ended (EINTR
// from join_fn) acts, leaving the target joinable, or, should it not act
// after all (a handler disabled cancellation meanwhile), waits on.
template <class Fn>
int cancellable_join(CancelPoint& cp, Fn&& join_fn) {
  for (;;) {
    int rc = join_fn();
    if (rc != EINTR) return rc;
    cp.done_rc(rc);
  }
}

int join_green(ShimThread* st, void** ret, int64_t deadline) {
  void* res = nullptr;
  gh::GreenThread* g = st->g;
  int rc = gh::join(g, &res, deadline);
  if (rc != 0) return rc;
  if (ret) *ret = res;
  free_shim_thread(st);
  return 0;
}
}  // namespace

// ---- joining a carrier's root (main, once it called pthread_exit) ----
//
// A green thread may join the thread its carrier started from (typically
// main, whose pthread_t it got from pthread_self()). glibc would see a
// thread joining its own OS thread and answer EDEADLK; natively the join
// waits for main's pthread_exit and returns its value. The root publishes
// its exit here before it drains its carrier. Per OS thread = per carrier.
namespace {

// The root's join state, in its record (green threads of the carrier share
// it; a thread-local would be each green thread's own).
RootJoin* root_join() {
  gh::Carrier* c = gh::Carrier::current();
  gh::GreenThread* r = c ? program_root(c) : nullptr;
  ShimThread* root = r ? root_record(r) : nullptr;
  return root ? &root->root_join : nullptr;
}

// Whether t names the root of the calling green thread's carrier (and the
// caller is another green thread of it).
bool joins_own_root(pthread_t t) {
  gh::Carrier* c = gh::Carrier::current();
  if (!c || c->running()->thread()->is_root()) return false;
  gh::GreenThread* r = program_root(c);
  return r && pthread_equal(t, reinterpret_cast<pthread_t>(r->tp));
}

// pthread codes; deadline: CLOCK_MONOTONIC ns or kNoDeadline; try: no wait.
int join_root(void** ret, int64_t deadline, bool try_only) {
  RootJoin* j = root_join();
  if (!j) return EAGAIN;
  RootJoin& rj = *j;
  if (rj.joined || rj.waiter) return EINVAL;  // joined already, or being joined
  if (!rj.exited) {
    if (try_only) return EBUSY;
    gh::Waiter w;
    w.g = gh::self();
    rj.waiter = &w;
    int r = gh::park_waiter_cancellable(w, deadline, "join", &rj);
    rj.waiter = nullptr;
    if (r != gh::Waiter::kWoken && !rj.exited)
      return r == gh::Waiter::kInterrupted ? EINTR : ETIMEDOUT;
  }
  rj.joined = true;
  if (ret) *ret = rj.value;
  return 0;
}

// The root leaving through pthread_exit: its joiner may go on.
void root_exits(void* value) {
  RootJoin* j = root_join();
  if (!j) return;
  RootJoin& rj = *j;
  // Gone for the kernel's choice of a thread for a process-directed signal
  // too, as an exited main thread is natively: its context stays behind.
  sigset_t all;
  sigfillset(&all);
  sigprocmask_impl(SIG_SETMASK, &all, nullptr);
  rj.exited = true;
  rj.value = value;
  if (rj.waiter) gh::wake(rj.waiter);
}

}  // namespace

GH_EXPORT int pthread_join(pthread_t t, void** ret) {
  if (!threads_green()) return real::pthread_join(t, ret);
  CancelPoint cp;
  ShimThread* st = shim_from_handle(t);
  if (!st) {
    if (joins_own_root(t))
      return cancellable_join(cp, [&] { return join_root(ret, gh::kNoDeadline, false); });
    return real::pthread_join(t, ret);
  }
  return cancellable_join(cp, [&] { return join_green(st, ret, gh::kNoDeadline); });
}

GH_EXPORT int pthread_tryjoin_np(pthread_t t, void** ret) {
  if (!threads_green()) return real::pthread_tryjoin_np(t, ret);
  ShimThread* st = shim_from_handle(t);
  if (!st) {
    if (joins_own_root(t)) return join_root(ret, gh::kNoDeadline, true);
    return real::pthread_tryjoin_np(t, ret);
  }
  void* res = nullptr;
  int rc = gh::try_join(st->g, &res);
  if (rc != 0) return rc;
  if (ret) *ret = res;
  free_shim_thread(st);
  return 0;
}

GH_EXPORT int pthread_clockjoin_np(pthread_t t, void** ret, clockid_t clk,
                                   const timespec* abstime) {
  if (!threads_green()) return real::pthread_clockjoin_np(t, ret, clk, abstime);
  CancelPoint cp;
  ShimThread* st = shim_from_handle(t);
  if (!st && !joins_own_root(t)) return real::pthread_clockjoin_np(t, ret, clk, abstime);
  if (!abstime)
    return cancellable_join(cp, [&] {
      return st ? join_green(st, ret, gh::kNoDeadline) : join_root(ret, gh::kNoDeadline, false);
    });
  if (!gh::valid_clock(clk)) return EINVAL;
  if (!gh::valid_timespec(*abstime)) return EINVAL;
  if (!st) {
    // The root: a CLOCK_MONOTONIC deadline for the requested clock's time.
    for (;;) {
      int64_t rel = gh::timespec_ns(*abstime) - gh::clock_ns(clk);
      if (rel <= 0) {
        int rc = join_root(ret, gh::kNoDeadline, true);
        return rc == EBUSY ? ETIMEDOUT : rc;
      }
      int rc = join_root(ret, gh::deadline_after(rel), false);
      if (rc == EINTR)
        cp.done_rc(rc);  // cancelled, or wait on
      else if (rc != ETIMEDOUT)
        return rc;
    }
  }
  int64_t target = gh::timespec_ns(*abstime);
  for (;;) {
    int64_t rel = target - gh::clock_ns(clk);
    if (rel <= 0) {
      int rc = gh::try_join(st->g, ret);
      if (rc == 0) free_shim_thread(st);
      return rc == EBUSY ? ETIMEDOUT : rc;
    }
    int rc = join_green(st, ret, gh::deadline_after(rel));
    if (rc == EINTR)
      cp.done_rc(rc);  // cancelled, or wait on
    else if (rc != ETIMEDOUT)
      return rc;
    // Timed out on the monotonic clock: re-check the requested clock, which
    // may have been stepped, so that we never report ETIMEDOUT early.
  }
}

GH_EXPORT int pthread_timedjoin_np(pthread_t t, void** ret, const timespec* abstime) {
  return pthread_clockjoin_np(t, ret, CLOCK_REALTIME, abstime);
}

GH_EXPORT int pthread_detach(pthread_t t) {
  if (!threads_green()) return real::pthread_detach(t);
  ShimThread* st = shim_from_handle(t);
  if (!st) return real::pthread_detach(t);
  // A running thread frees its record at exit (on_green_exit); one that has
  // already exited is a zombie that gh::detach frees, record included.
  gh::GreenThread* g = st->g;
  g->lock.lock();
  bool exited = g->exited;
  g->lock.unlock();
  int rc = gh::detach(g);
  if (rc == 0 && exited) free_shim_thread(st);
  return rc;
}

// Allocator libraries call this inside malloc: it never makes a carrier
// or allocates. An OS thread that is no carrier, and a carrier's root, are
// their OS thread.
GH_EXPORT pthread_t pthread_self(void) {
  if (!threads_green()) return real::pthread_self();
  if (__builtin_expect(t_signal_self != nullptr, 0)) {
    if (t_signal_self == &g_root_self) return root_handle();
    if (t_signal_self->root) return reinterpret_cast<pthread_t>(t_signal_self->g->tp);
    return reinterpret_cast<pthread_t>(t_signal_self);
  }
  gh::Carrier* c = gh::Carrier::current();
  if (!c) return real::pthread_self();
  gh::GreenThread* g = c->running()->thread();  // a signal frame: its thread
  auto* st = static_cast<ShimThread*>(g->user);
  if (!st || st->root || g->is_root()) return root_handle();
  return reinterpret_cast<pthread_t>(st);
}

GH_EXPORT int pthread_equal(pthread_t a, pthread_t b) { return a == b; }

namespace {

// ---- C cleanup handlers (pthread_cleanup_push without C++ exceptions) ----
//
// In C, pthread_cleanup_push() sigsetjmp()s into a __pthread_unwind_buf_t on
// the caller's stack and links it into a chain with
// __pthread_register_cancel(); pthread_exit() unwinds the stack and, on
// reaching the frame that pushed the top buffer, longjmp()s into it: the
// macro runs the handler and calls __pthread_unwind_next() to go on. glibc
// keeps the chain in the OS thread's descriptor, which all green threads of
// a carrier share, so the shim keeps a chain per green thread (a carrier's
// root keeps using glibc's) in the buffer's own `prev` field, as glibc does.

using gh::glibc::UnwindBuf;

// The stack pointer saved in the buffer's jmp_buf, which glibc mangles
// with the pointer guard (core/glibc_abi.h).
uintptr_t jmpbuf_sp(const UnwindBuf* b) {
  auto v = static_cast<uintptr_t>(b->cancel_jmp_buf[0].jmp_buf[gh::glibc::kJmpBufSp]);
  return gh::arch::demangle_pointer(v, gh::arch::tcb_word(gh::glibc::kTcbPointerGuard));
}

bool is_main_root(const gh::GreenThread* g) {
  return g->is_root() && !g->internal && g->home && g->home->os_tid() == getpid();
}

// The record whose cleanup chain pthread_cleanup_push uses: a green
// thread's, or main's (whose stack the shim unwinds itself at
// pthread_exit); nullptr for other roots (glibc's chain).
ShimThread* cleanup_self() {
  if (!g_enabled) return nullptr;
  // Also in a handler running on the thread's own stack (a cancellation
  // acting there unwinds this chain); not in one running as another thread.
  gh::GreenThread* g = cancellable_here();
  if (!g) return nullptr;
  if (is_main_root(g)) return root_record(g);
  if (!g || g->is_root()) return nullptr;
  auto* st = static_cast<ShimThread*>(g->user);
  return st && !st->root ? st : nullptr;
}

// The running green thread's record, if it is one the shim created (not a
// root, not a context outside the runtime). Never allocates.
ShimThread* green_self() {
  if (!g_enabled) return nullptr;
  gh::Carrier* c = gh::Carrier::current();
  if (!c) return nullptr;
  gh::GreenThread* g = c->running()->thread();
  if (!g || g->is_root()) return nullptr;
  auto* st = static_cast<ShimThread*>(g->user);
  return st && !st->root ? st : nullptr;
}

[[noreturn]] void run_cleanup_buffer(ShimThread* st, UnwindBuf* top) {
  (void)st;
  // The macro's sigsetjmp returns 1: it calls the handler, then
  // __pthread_unwind_next(top).
  longjmp(reinterpret_cast<__jmp_buf_tag*>(top->cancel_jmp_buf), 1);
}

void main_exits(void* value);

// Where a thread's exit goes once its stack has unwound: a green thread
// ends; main goes on as main leaving through pthread_exit does.
[[noreturn]] void finish_exit(ShimThread* st) {
  if (st->g->is_root()) main_exits(st->exit_value);
  gh::Carrier::current()->exit_current(st->exit_value);
  __builtin_unreachable();
}

_Unwind_Reason_Code exit_stop(int, _Unwind_Action actions, _Unwind_Exception_Class,
                              _Unwind_Exception* exc, _Unwind_Context* ctx, void* param) {
  auto* st = static_cast<ShimThread*>(param);
  auto* top = static_cast<UnwindBuf*>(st->cleanup_top);
  if (top) {
    // Frames inside the one that pushed the handler have been cleaned up
    // once the frame about to be unwound is that one (or an outer one).
    uintptr_t sp = jmpbuf_sp(top);
    if ((actions & _UA_END_OF_STACK) || (sp && _Unwind_GetCFA(ctx) >= sp)) {
      run_cleanup_buffer(st, top);
    }
  }
  if (actions & _UA_END_OF_STACK) finish_exit(st);
  return _URC_NO_REASON;
}

// The exception object lives in the thread's record: nothing to free. The
// unwinder calls this only when a catch (...) ended without rethrowing the
// unwind of pthread_exit or a cancellation: fatal, as with glibc.
void exit_cleanup(_Unwind_Reason_Code, _Unwind_Exception*) {
  static const char kMsg[] = "FATAL: exception not rethrown\n";
  gh::sys(SYS_write, 2, kMsg, sizeof kMsg - 1);
  abort();
}

// Unwinds the green stack like glibc does (C++ destructors and C cleanup
// handlers run), then ends the green thread at the bottom of its stack.
[[noreturn]] void unwind_green(ShimThread* st) {
  _Unwind_Exception* exc = &st->exit_exception;
  *exc = _Unwind_Exception{};
  exc->exception_class = 0x47484558495400ull;  // "GHEXIT"
  exc->exception_cleanup = &exit_cleanup;
  _Unwind_ForcedUnwind(exc, &exit_stop, st);
  // The unwinder could not run: still run the C handlers, then end the
  // thread without unwinding.
  if (auto* top = static_cast<UnwindBuf*>(st->cleanup_top)) run_cleanup_buffer(st, top);
  finish_exit(st);
}

void push_cleanup(ShimThread* st, __pthread_unwind_buf_t* buf) {
  auto* b = reinterpret_cast<UnwindBuf*>(buf);
  b->priv.data.prev = static_cast<UnwindBuf*>(st->cleanup_top);
  b->priv.data.cleanup = nullptr;
  st->cleanup_top = b;
}

void pop_cleanup(ShimThread* st, __pthread_unwind_buf_t* buf) {
  st->cleanup_top = reinterpret_cast<UnwindBuf*>(buf)->priv.data.prev;
}

}  // namespace

extern "C" {
GH_EXPORT void __pthread_register_cancel(__pthread_unwind_buf_t* buf);
GH_EXPORT void __pthread_unregister_cancel(__pthread_unwind_buf_t* buf);
GH_EXPORT void __pthread_register_cancel_defer(__pthread_unwind_buf_t* buf);
GH_EXPORT void __pthread_unregister_cancel_restore(__pthread_unwind_buf_t* buf);
GH_EXPORT void __pthread_unwind_next(__pthread_unwind_buf_t* buf) __attribute__((noreturn));
}

GH_EXPORT void __pthread_register_cancel(__pthread_unwind_buf_t* buf) {
  if (ShimThread* st = cleanup_self()) return push_cleanup(st, buf);
  real::__pthread_register_cancel(buf);
}

namespace {
// A buffer pushed before the shim kept the thread's chain (main's, before
// its carrier existed) is glibc's to pop.
ShimThread* cleanup_owner(__pthread_unwind_buf_t* buf) {
  ShimThread* st = cleanup_self();
  return st && st->cleanup_top == reinterpret_cast<UnwindBuf*>(buf) ? st : nullptr;
}
}  // namespace

GH_EXPORT void __pthread_unregister_cancel(__pthread_unwind_buf_t* buf) {
  if (ShimThread* st = cleanup_owner(buf)) return pop_cleanup(st, buf);
  real::__pthread_unregister_cancel(buf);
}

// The _defer_np/_restore_np forms also make the cancellation type deferred
// for the handler's extent, and then restore the type saved in the buffer.
GH_EXPORT void __pthread_register_cancel_defer(__pthread_unwind_buf_t* buf) {
  if (ShimThread* st = cleanup_self()) {
    push_cleanup(st, buf);
    reinterpret_cast<UnwindBuf*>(buf)->priv.data.canceltype =
        st->g->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
    st->g->cancel_async = false;
    return;
  }
  real::__pthread_register_cancel_defer(buf);
}

GH_EXPORT void __pthread_unregister_cancel_restore(__pthread_unwind_buf_t* buf) {
  if (ShimThread* st = cleanup_owner(buf)) {
    pop_cleanup(st, buf);
    if (reinterpret_cast<UnwindBuf*>(buf)->priv.data.canceltype == PTHREAD_CANCEL_ASYNCHRONOUS) {
      st->g->cancel_async = true;
      gh::shim::act_on_cancel(st->g);
    }
    return;
  }
  real::__pthread_unregister_cancel_restore(buf);
}

GH_EXPORT void __pthread_unwind_next(__pthread_unwind_buf_t* buf) {
  if (ShimThread* st = cleanup_owner(buf)) {
    // A handler has run: drop its buffer and unwind on to the next one.
    pop_cleanup(st, buf);
    unwind_green(st);
  }
  real::__pthread_unwind_next(buf);
  __builtin_unreachable();
}

namespace {
// main leaving through pthread_exit or a cancellation, its stack unwound:
// natively the process lives on until its last thread exits, then exits
// with status 0.
void main_exits(void* value) {
  ShimThread* st = shim_self();
  if (st) run_key_destructors(st);
  root_exits(value);
  gh::Carrier::current()->drain();
  exit(0);
}
}  // namespace

GH_EXPORT void pthread_exit(void* value) {
  if (!threads_green()) {
    real::pthread_exit(value);
    __builtin_unreachable();
  }
  ShimThread* st = shim_self();
  if (!st) {
    real::pthread_exit(value);
    __builtin_unreachable();
  }
  if (st->root || st->g->is_root()) {
    st->g->exiting = true;
    st->g->cancel_point = false;
    if (is_main_root(st->g)) {
      // main() leaving: its stack unwinds (cleanup handlers, destructors),
      // then main_exits().
      st->exit_value = value;
      unwind_green(st);
    }
    root_exits(value);
    gh::Carrier::current()->drain();
    // The OS thread that exits is the root's own.
    gh::Carrier::current()->go_home();
    real::pthread_exit(value);
    __builtin_unreachable();
  }
  st->exit_value = value;
  // Cancellation points in its cleanup handlers and destructors no longer
  // act (glibc marks the thread EXITING likewise).
  st->g->exiting = true;
  st->g->cancel_point = false;
  unwind_green(st);
}

namespace {
int root_name_elsewhere(gh::GreenThread* r, int option, char* user);

// The running root (main) if t is its handle and it runs away from its own
// OS thread: glibc would name the OS thread it runs on.
gh::GreenThread* root_away(pthread_t t) {
  gh::Carrier* c = gh::Carrier::current();
  gh::GreenThread* r = c ? c->running()->thread() : nullptr;
  if (!r || r->internal || !r->is_root() || !r->home || r->home == c) return nullptr;
  void* tp = r->tp ? r->tp : r->home->os_tp();
  return reinterpret_cast<pthread_t>(tp) == t ? r : nullptr;
}
}  // namespace

GH_EXPORT int pthread_setname_np(pthread_t t, const char* name) {
  if (!threads_green()) return real::pthread_setname_np(t, name);
  ShimThread* st = shim_from_handle(t);
  if (!st) {
    if (gh::GreenThread* r = root_away(t)) {
      if (strlen(name) >= 16) return ERANGE;
      return root_name_elsewhere(r, PR_SET_NAME, const_cast<char*>(name)) == 0 ? 0 : errno;
    }
    int rc = real::pthread_setname_np(t, name);
    // Renaming the calling OS thread: what its green threads will inherit.
    if (rc == 0 && gh::Carrier::current() && pthread_equal(t, root_handle())) {
      ShimThread* me = shim_self();
      if (me && me->root) me->name_known = false;
    }
    return rc;
  }
  size_t n = strlen(name);
  if (n >= sizeof st->g->name) return ERANGE;
  memcpy(st->g->name, name, n + 1);
  return 0;
}

namespace {
// PR_GET_NAME / PR_SET_NAME for root r running away from its own OS thread:
// through that thread's /proc comm file (raw system calls: no hooks).
int root_name_elsewhere(gh::GreenThread* r, int option, char* user) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/comm", static_cast<int>(r->home->os_tid()));
  char name[17] = {};
  if (option == PR_SET_NAME) {
    for (size_t i = 0; i + 1 < 16; i++) {
      if (copy_from_user(&name[i], user + i, 1) != 0) {
        errno = EFAULT;
        return -1;
      }
      if (!name[i]) break;
    }
  }
  long fd = gh::sys(SYS_openat, AT_FDCWD, path,
                    (option == PR_SET_NAME ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) {
    errno = static_cast<int>(-fd);
    return -1;
  }
  long n = option == PR_SET_NAME ? gh::sys(SYS_write, fd, name, strlen(name))
                                 : gh::sys(SYS_read, fd, name, 16);
  gh::sys(SYS_close, fd);
  if (n < 0) {
    errno = static_cast<int>(-n);
    return -1;
  }
  if (option == PR_SET_NAME) {
    if (ShimThread* me = shim_self()) me->name_known = false;
    return 0;
  }
  char out[16] = {};
  for (long i = 0; i < n && i < 15 && name[i] != '\n'; i++) out[i] = name[i];
  if (copy_to_user(user, out, sizeof out) == 0) return 0;
  errno = EFAULT;
  return -1;
}
}  // namespace

// prctl(PR_SET_NAME / PR_GET_NAME) names the calling thread: for a green
// thread, its own name (what pthread_getname_np and /proc/self/task/<id>/comm
// give), not the OS thread it runs on. Everything else passes through.
GH_EXPORT int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
  va_end(ap);
  ensure_real();
  if ((option != PR_SET_NAME && option != PR_GET_NAME) || !threads_green())
    return real::prctl(option, a2, a3, a4, a5);
  ShimThread* st = green_self();
  if (!st) {
    // A root (main): its name is its own OS thread's, which may not be the
    // one it runs on now (roots move between carriers too).
    gh::Carrier* c = gh::Carrier::current();
    gh::GreenThread* r = c ? c->running()->thread() : nullptr;
    if (!r || r->internal || !r->is_root() || !r->home || r->home == c) {
      int rc = real::prctl(option, a2, a3, a4, a5);
      // The root renamed its OS thread: what its green threads will inherit.
      ShimThread* me = option == PR_SET_NAME && rc == 0 ? shim_self() : nullptr;
      if (me && me->root) me->name_known = false;
      return rc;
    }
    return root_name_elsewhere(r, option, reinterpret_cast<char*>(a2));
  }
  auto* user = reinterpret_cast<char*>(a2);
  if (option == PR_GET_NAME) {
    if (copy_to_user(user, st->g->name, sizeof st->g->name) == 0) return 0;
    errno = EFAULT;
    return -1;
  }
  // As the kernel: up to 15 bytes of the string, EFAULT if it cannot be read.
  char name[16] = {};
  for (size_t i = 0; i + 1 < sizeof name; i++) {
    if (copy_from_user(&name[i], user + i, 1) != 0) {
      errno = EFAULT;
      return -1;
    }
    if (!name[i]) break;
  }
  memcpy(st->g->name, name, sizeof name);
  return 0;
}

GH_EXPORT int pthread_getname_np(pthread_t t, char* buf, size_t len) {
  if (!threads_green()) return real::pthread_getname_np(t, buf, len);
  ShimThread* st = shim_from_handle(t);
  if (!st) {
    gh::GreenThread* r = root_away(t);
    if (!r) return real::pthread_getname_np(t, buf, len);
    if (len < 16) return ERANGE;
    return root_name_elsewhere(r, PR_GET_NAME, buf) == 0 ? 0 : errno;
  }
  // glibc: any buffer shorter than TASK_COMM_LEN (16) is ERANGE.
  if (len < 16) return ERANGE;
  size_t n = strnlen(st->g->name, sizeof st->g->name - 1);
  memcpy(buf, st->g->name, n);
  buf[n] = 0;
  return 0;
}

GH_EXPORT int pthread_getattr_np(pthread_t t, pthread_attr_t* attr) {
  if (!threads_green()) return real::pthread_getattr_np(t, attr);
  ShimThread* st = shim_from_handle(t);
  if (!st) return real::pthread_getattr_np(t, attr);
  int rc = pthread_attr_init(attr);
  if (rc) return rc;
  pthread_attr_setstack(attr, st->g->stack.lo, st->g->stack.size);
  st->g->lock.lock();
  bool detached = st->g->detached;
  st->g->lock.unlock();
  pthread_attr_setdetachstate(attr, detached ? PTHREAD_CREATE_DETACHED : PTHREAD_CREATE_JOINABLE);
  return 0;
}

namespace {

// A signal for a displaced signal target, sent again to the thread it
// stands for.
void resend(gh::GreenThread* g, int sig, const siginfo_t* came);

// pthread_kill (came: nullptr) and pthread_sigqueue (came: its SI_QUEUE
// siginfo) of green thread or root t. Returns 0 or an error number.
int signal_thread(pthread_t t, int sig, const siginfo_t* came) {
  ShimThread* st = shim_from_handle(t);
  if (!st) {
    // main (a root): if it does not run, its handler runs on its stack.
    // From a program's handler too (which runs with hooks passing through):
    // through glibc, the signal went to the carrier's OS thread, where the
    // handler's mask held it, and was taken later as another thread's.
    const bool in_handler = t_bypass != 0;
    if (sig > 0 && sig < NSIG && (!in_handler || bypass_is_handlers_only())) {
      gh::Carrier* c = gh::Carrier::current();
      gh::GreenThread* r = c ? program_root(c) : nullptr;
      void* tp = r ? (r->tp ? r->tp : (r->home ? r->home->os_tp() : nullptr)) : nullptr;
      if (tp && reinterpret_cast<pthread_t>(tp) == t) {
        if (!in_handler && signal_parked_thread(r, sig, true, came)) return 0;
        // Blocked by it (the caller itself, say): pending for it alone, as
        // for the others below. Through the kernel it would wait on the
        // carrier's OS thread, and a second one sent meanwhile to its record
        // would make two deliveries of what natively merges into one.
        uint64_t bit = uint64_t{1} << (sig - 1);
        if (sig <= 64 && (r->sigmask & bit)) {
          if (ShimThread* rec = root_record(r)) {
            keep_signal(rec, sig, came);
            return 0;
          }
        }
        // It runs, or its handler does: to the carrier it runs on, for it.
        bool sent = false;
        if (gh::GreenThread* d = send_directed(r->current_carrier(), r, sig, came, &sent))
          resend(d, sig, came);
        return sent ? 0 : EAGAIN;
      }
    }
    if (came) return real::pthread_sigqueue(t, sig, came->si_value);
    return real::pthread_kill(t, sig);
  }
  if (sig < 0 || sig >= NSIG) return EINVAL;
  if (sig == 0) return 0;
  // Ended (or ending), not yet joined: glibc sends nothing and returns 0
  // (the signal would not be observable, or would reach another thread).
  st->g->lock.lock();
  bool gone = st->g->exited;
  st->g->lock.unlock();
  if (gone) return 0;
  // Not running: its handler runs on its own stack now, not through the
  // kernel (a signal per carrier OS thread would merge the same signal sent
  // to two threads there into one).
  if (!t_bypass && signal_parked_thread(st->g, sig, true, came)) return 0;
  // Blocked by the target, the caller too: pending for the target alone, as
  // natively (left pending on the carrier's OS thread, it would reach
  // whichever green thread next ran there with it unblocked).
  uint64_t bit = uint64_t{1} << (sig - 1);
  if (sig <= 64 && (st->g->sigmask & bit)) {
    keep_signal(st, sig, came);
    return 0;
  }
  // A signal for a green thread goes to the OS thread of its carrier, which
  // then interrupts that green thread's wait (not the root's). Should the
  // thread move meanwhile, the handler there forwards it (hook_signal.cc).
  // Through the kernel, to the carrier it runs on, so that it is
  // interrupted as natively. Not glibc's pthread_kill: main away from its
  // own OS thread runs on that thread's descriptor, and glibc would take the
  // carrier's for the caller itself.
  bool sent = false;
  if (gh::GreenThread* d = send_directed(st->g->current_carrier(), st->g, sig, came, &sent))
    resend(d, sig, came);
  return sent ? 0 : EAGAIN;
}

void resend(gh::GreenThread* g, int sig, const siginfo_t* came) {
  if (g->is_root()) {
    void* tp = g->tp ? g->tp : (g->home ? g->home->os_tp() : nullptr);
    if (tp) signal_thread(reinterpret_cast<pthread_t>(tp), sig, came);
  } else if (auto* st = static_cast<ShimThread*>(g->user)) {
    signal_thread(reinterpret_cast<pthread_t>(st), sig, came);
  }
}

// glibc's own signals (cancellation, setxid), which its pthread_kill and
// pthread_sigqueue refuse.
bool internal_signal(int sig) {
  return sig > 0 && sig <= 64 && (gh::glibc::kInternalSignals & (uint64_t{1} << (sig - 1)));
}

}  // namespace

int gh::shim::signal_green_thread(pthread_t t, int sig, const siginfo_t* info) {
  return signal_thread(t, sig, info);
}

GH_EXPORT int pthread_kill(pthread_t t, int sig) {
  if (!threads_green()) return real::pthread_kill(t, sig);
  if (internal_signal(sig)) return EINVAL;
  return signal_thread(t, sig, nullptr);
}

GH_EXPORT int pthread_sigqueue(pthread_t t, int sig, const sigval val) {
  ensure_real();
  if (!threads_green()) return real::pthread_sigqueue(t, sig, val);
  if (internal_signal(sig)) return EINVAL;
  // The siginfo glibc's pthread_sigqueue sends.
  siginfo_t si = own_info(sig, SI_QUEUE);
  si.si_value = val;
  return signal_thread(t, sig, &si);
}

// raise(sig) is pthread_kill(pthread_self(), sig) (glibc's goes to the OS
// thread, the carrier, past the hook above).
static int raise_impl(int sig) {
  if (!threads_green()) return real::raise(sig);
  int r = signal_thread(pthread_self(), sig, nullptr);
  if (r == 0) return 0;
  errno = r;
  return -1;
}

GH_EXPORT int raise(int sig) { return raise_impl(sig); }
GH_EXPORT int gsignal(int sig) { return raise_impl(sig); }  // glibc's other name for raise

GH_EXPORT int pthread_setschedparam(pthread_t t, int policy, const sched_param* p) {
  ensure_real();
  return real::pthread_setschedparam(threads_green() ? native_of(t) : t, policy, p);
}
GH_EXPORT int pthread_getschedparam(pthread_t t, int* policy, sched_param* p) {
  ensure_real();
  return real::pthread_getschedparam(threads_green() ? native_of(t) : t, policy, p);
}
GH_EXPORT int pthread_setschedprio(pthread_t t, int prio) {
  ensure_real();
  return real::pthread_setschedprio(threads_green() ? native_of(t) : t, prio);
}
GH_EXPORT int pthread_setaffinity_np(pthread_t t, size_t n, const cpu_set_t* set) {
  ensure_real();
  return real::pthread_setaffinity_np(threads_green() ? native_of(t) : t, n, set);
}
GH_EXPORT int pthread_getaffinity_np(pthread_t t, size_t n, cpu_set_t* set) {
  ensure_real();
  return real::pthread_getaffinity_np(threads_green() ? native_of(t) : t, n, set);
}
