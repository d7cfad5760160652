// SPDX-License-Identifier: MIT
// Synchronisation: pthread mutex, cond, rwlock, barrier, spin, sem, once.
//
// Each green object lives inside the program's own pthread/sem storage
// (core/mutex.h etc. are laid out to fit and to treat zero-filled storage,
// i.e. the static initialisers, as a valid object). Process-shared objects,
// robust and priority-protocol mutexes keep native semantics: they are
// initialised by glibc and every later call on them goes to glibc. The shim
// tells them apart by what glibc writes into the storage at init:
//   mutex   __kind (offset 16) has a bit in 0xf0 (pshared 0x80, robust 0x10,
//           prio-inherit 0x20, prio-protect 0x40), which green never sets
//   cond    __wrefs (offset 36) bit 0 is glibc's pshared bit
//   rwlock  __shared (offset 28) is non-zero
//   barrier, sem: no static initialiser, so green init stamps kGreenMark at
//           offset 12 / 8; anything without the stamp is glibc's
#include <cerrno>

#include "core/barrier.h"
#include "core/cond.h"
#include "core/glibc_abi.h"
#include "core/mutex.h"
#include "core/once.h"
#include "core/rwlock.h"
#include "core/semaphore.h"
#include "core/spin.h"
#include "shim/cancel.h"
#include "shim/thread_registry.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

constexpr uint32_t kGreenMark = 0x67726e31;  // "grn1"

inline bool green() { return threads_green(); }

gh::Mutex* gm(pthread_mutex_t* m) { return reinterpret_cast<gh::Mutex*>(m); }
gh::Cond* gc(pthread_cond_t* c) { return reinterpret_cast<gh::Cond*>(c); }
gh::RwLock* grw(pthread_rwlock_t* l) { return reinterpret_cast<gh::RwLock*>(l); }
gh::Barrier* gb(pthread_barrier_t* b) { return reinterpret_cast<gh::Barrier*>(b); }
gh::Semaphore* gs(sem_t* s) { return reinterpret_cast<gh::Semaphore*>(s); }
gh::Spin* gsp(pthread_spinlock_t* s) { return reinterpret_cast<gh::Spin*>(const_cast<int*>(s)); }

bool native(const pthread_mutex_t* m) {
  return !green() || (m->__data.__kind & gh::glibc::kMutexKindGlibcOnly) != 0;
}
bool native(const pthread_cond_t* c) {
  return !green() || (c->__data.__wrefs & gh::glibc::kCondWrefsShared) != 0;
}
bool native(const pthread_rwlock_t* l) { return !green() || l->__data.__shared != 0; }
bool native(const pthread_barrier_t* b) {
  return !green() || gb(const_cast<pthread_barrier_t*>(b))->shim_ != kGreenMark;
}
bool native(const sem_t* s) {
  return !green() || gs(const_cast<sem_t*>(s))->shim_[0] != kGreenMark;
}

// sem_* report errors through errno.
int sem_ret(int rc) {
  if (rc == 0) return 0;
  errno = rc;
  return -1;
}

}  // namespace

// ---- mutex ----

GH_EXPORT int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* attr) {
  ensure_real();
  if (!green()) return real::pthread_mutex_init(m, attr);
  int type = PTHREAD_MUTEX_DEFAULT, pshared = PTHREAD_PROCESS_PRIVATE;
  int robust = PTHREAD_MUTEX_STALLED, protocol = PTHREAD_PRIO_NONE;
  if (attr) {
    pthread_mutexattr_gettype(attr, &type);
    pthread_mutexattr_getpshared(attr, &pshared);
    pthread_mutexattr_getrobust(attr, &robust);
    pthread_mutexattr_getprotocol(attr, &protocol);
  }
  if (pshared != PTHREAD_PROCESS_PRIVATE || robust != PTHREAD_MUTEX_STALLED ||
      protocol != PTHREAD_PRIO_NONE)
    return real::pthread_mutex_init(m, attr);
  return gm(m)->init(type);
}

GH_EXPORT int pthread_mutex_destroy(pthread_mutex_t* m) {
  if (native(m)) return real::pthread_mutex_destroy(m);
  return gm(m)->destroy();
}

namespace {
// A lock or barrier wait is no cancellation point, but an asynchronous
// cancellation ends it, as glibc's signal interrupts any wait: with the
// thread's type asynchronous the wait may end with EINTR (GreenThread::
// async_wait), and the cancellation acts here. Should it not act after all,
// the wait is made again, not to be ended so.
template <class Wait>
int async_cancellable(Wait&& wait) {
  gh::GreenThread* g = cancellable_here();
  if (!g) {
    // A handler running as another thread: the running one's asynchronous
    // cancellation must not end this wait.
    gh::GreenThread* r = running_green_thread();
    if (!r || !r->async_wait) return wait();
    r->async_wait = false;
    int rc = wait();
    r->async_wait = true;
    return rc;
  }
  if (!g->cancel_async.load(std::memory_order_relaxed) || g->cancel_disabled || g->exiting)
    return wait();
  g->async_wait = true;
  int rc = wait();
  g->async_wait = false;
  if (rc != EINTR) return rc;
  act_on_cancel(g);
  return wait();
}

// Out of line, so that the uncontended lock keeps a lean frame.
[[gnu::noinline]] int green_mutex_lock(pthread_mutex_t* m) {
  return async_cancellable([m] { return gm(m)->lock(); });
}
}  // namespace

GH_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) {
  if (native(m)) return real::pthread_mutex_lock(m);
  if (gm(m)->lock_uncontended()) return 0;
  return green_mutex_lock(m);
}

GH_EXPORT int pthread_mutex_trylock(pthread_mutex_t* m) {
  if (native(m)) return real::pthread_mutex_trylock(m);
  return gm(m)->trylock();
}

GH_EXPORT int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abs) {
  if (native(m)) return real::pthread_mutex_timedlock(m, abs);
  return gm(m)->timedlock(abs);
}

GH_EXPORT int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clk, const timespec* abs) {
  if (native(m)) return real::pthread_mutex_clocklock(m, clk, abs);
  return gm(m)->clocklock(clk, abs);
}

GH_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) {
  if (native(m)) return real::pthread_mutex_unlock(m);
  return gm(m)->unlock();
}

// ---- condition variable ----

GH_EXPORT int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* attr) {
  ensure_real();
  if (!green()) return real::pthread_cond_init(c, attr);
  int pshared = PTHREAD_PROCESS_PRIVATE;
  clockid_t clk = CLOCK_REALTIME;
  if (attr) {
    pthread_condattr_getpshared(attr, &pshared);
    pthread_condattr_getclock(attr, &clk);
  }
  if (pshared != PTHREAD_PROCESS_PRIVATE) return real::pthread_cond_init(c, attr);
  return gc(c)->init(clk);
}

GH_EXPORT int pthread_cond_destroy(pthread_cond_t* c) {
  if (native(c)) return real::pthread_cond_destroy(c);
  return gc(c)->destroy();
}

GH_EXPORT int pthread_cond_signal(pthread_cond_t* c) {
  if (native(c)) return real::pthread_cond_signal(c);
  return gc(c)->signal();
}

GH_EXPORT int pthread_cond_broadcast(pthread_cond_t* c) {
  if (native(c)) return real::pthread_cond_broadcast(c);
  return gc(c)->broadcast();
}

namespace {
// A cancellation point: a wait the cancellation ended (EINTR, no wake-up
// taken) acts, with m held again as natively. Should it not act after all
// (a handler disabled cancellation meanwhile), the end is a spurious
// wake-up, which POSIX allows.
int cond_done(CancelPoint& cp, int rc) { return cp.done_rc(rc) == EINTR ? 0 : rc; }
}  // namespace

GH_EXPORT int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  CancelPoint cp;
  if (native(c) || native(m)) {
    if (native(c) && native(m)) return real::pthread_cond_wait(c, m);
    return EINVAL;  // a green cond with a native mutex or the reverse
  }
  return cond_done(cp, gc(c)->wait(*gm(m)));
}

GH_EXPORT int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m, const timespec* abs) {
  CancelPoint cp;
  if (native(c) || native(m)) {
    if (native(c) && native(m)) return real::pthread_cond_timedwait(c, m, abs);
    return EINVAL;
  }
  return cond_done(cp, gc(c)->timedwait(*gm(m), abs));
}

GH_EXPORT int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clk,
                                     const timespec* abs) {
  CancelPoint cp;
  if (native(c) || native(m)) {
    if (native(c) && native(m)) return real::pthread_cond_clockwait(c, m, clk, abs);
    return EINVAL;
  }
  return cond_done(cp, gc(c)->clockwait(*gm(m), clk, abs));
}

// ---- rwlock ----

GH_EXPORT int pthread_rwlock_init(pthread_rwlock_t* l, const pthread_rwlockattr_t* attr) {
  ensure_real();
  if (!green()) return real::pthread_rwlock_init(l, attr);
  int pshared = PTHREAD_PROCESS_PRIVATE, kind = PTHREAD_RWLOCK_DEFAULT_NP;
  if (attr) {
    pthread_rwlockattr_getpshared(attr, &pshared);
    pthread_rwlockattr_getkind_np(attr, &kind);
  }
  if (pshared != PTHREAD_PROCESS_PRIVATE) return real::pthread_rwlock_init(l, attr);
  return grw(l)->init(static_cast<uint32_t>(kind));
}

GH_EXPORT int pthread_rwlock_destroy(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_destroy(l);
  return grw(l)->destroy();
}
GH_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_rdlock(l);
  return async_cancellable([l] { return grw(l)->rdlock(); });
}
GH_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_wrlock(l);
  return async_cancellable([l] { return grw(l)->wrlock(); });
}
GH_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_tryrdlock(l);
  return grw(l)->tryrdlock();
}
GH_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_trywrlock(l);
  return grw(l)->trywrlock();
}
GH_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* abs) {
  if (native(l)) return real::pthread_rwlock_timedrdlock(l, abs);
  return grw(l)->timedrdlock(abs);
}
GH_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* abs) {
  if (native(l)) return real::pthread_rwlock_timedwrlock(l, abs);
  return grw(l)->timedwrlock(abs);
}
GH_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clk, const timespec* abs) {
  if (native(l)) return real::pthread_rwlock_clockrdlock(l, clk, abs);
  return grw(l)->clockrdlock(clk, abs);
}
GH_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clk, const timespec* abs) {
  if (native(l)) return real::pthread_rwlock_clockwrlock(l, clk, abs);
  return grw(l)->clockwrlock(clk, abs);
}
GH_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t* l) {
  if (native(l)) return real::pthread_rwlock_unlock(l);
  return grw(l)->unlock();
}

// ---- barrier ----

GH_EXPORT int pthread_barrier_init(pthread_barrier_t* b, const pthread_barrierattr_t* attr,
                                   unsigned count) {
  ensure_real();
  if (!green()) return real::pthread_barrier_init(b, attr, count);
  int pshared = PTHREAD_PROCESS_PRIVATE;
  if (attr) pthread_barrierattr_getpshared(attr, &pshared);
  if (pshared != PTHREAD_PROCESS_PRIVATE) return real::pthread_barrier_init(b, attr, count);
  int rc = gb(b)->init(count);
  if (rc == 0) gb(b)->shim_ = kGreenMark;
  return rc;
}

GH_EXPORT int pthread_barrier_destroy(pthread_barrier_t* b) {
  if (native(b)) return real::pthread_barrier_destroy(b);
  int rc = gb(b)->destroy();
  if (rc == 0) gb(b)->shim_ = 0;
  return rc;
}

GH_EXPORT int pthread_barrier_wait(pthread_barrier_t* b) {
  if (native(b)) return real::pthread_barrier_wait(b);
  int rc = async_cancellable([b] { return gb(b)->wait(); });
  return rc == EINTR ? 0 : rc;  // not acted on after all: it has arrived
}

// ---- spinlock (an atomic word: the same code is right for pshared) ----

GH_EXPORT int pthread_spin_init(pthread_spinlock_t* s, int pshared) {
  ensure_real();
  if (!green()) return real::pthread_spin_init(s, pshared);
  return gsp(s)->init();
}
GH_EXPORT int pthread_spin_destroy(pthread_spinlock_t* s) {
  if (!green()) return real::pthread_spin_destroy(s);
  return gsp(s)->destroy();
}
GH_EXPORT int pthread_spin_lock(pthread_spinlock_t* s) {
  if (!green()) return real::pthread_spin_lock(s);
  if (gsp(s)->trylock() == 0) return 0;
  return async_cancellable([s] { return gsp(s)->lock(); });
}
GH_EXPORT int pthread_spin_trylock(pthread_spinlock_t* s) {
  if (!green()) return real::pthread_spin_trylock(s);
  return gsp(s)->trylock();
}
GH_EXPORT int pthread_spin_unlock(pthread_spinlock_t* s) {
  if (!green()) return real::pthread_spin_unlock(s);
  return gsp(s)->unlock();
}

// ---- once ----

GH_EXPORT int pthread_once(pthread_once_t* once, void (*fn)(void)) {
  ensure_real();
  if (!green()) return real::pthread_once(once, fn);
  return gh::once(reinterpret_cast<std::atomic<int>*>(once), fn);
}

// ---- POSIX semaphores (unnamed; named ones from sem_open stay glibc's) ----

GH_EXPORT int sem_init(sem_t* s, int pshared, unsigned value) {
  ensure_real();
  if (!green() || pshared) return real::sem_init(s, pshared, value);
  int rc = gs(s)->init(value);
  if (rc == 0) gs(s)->shim_[0] = kGreenMark;
  return sem_ret(rc);
}

GH_EXPORT int sem_destroy(sem_t* s) {
  if (native(s)) return real::sem_destroy(s);
  gs(s)->shim_[0] = 0;
  return 0;
}

GH_EXPORT int sem_wait(sem_t* s) {
  CancelPoint cp;
  if (native(s)) return cp.done(real::sem_wait(s));
  // EINTR from a handler without SA_RESTART, as glibc's (signal(7)).
  return cp.done(sem_ret(gs(s)->wait(gh::Semaphore::Intr::kUnlessRestart)));
}

GH_EXPORT int sem_trywait(sem_t* s) {
  if (native(s)) return real::sem_trywait(s);
  return sem_ret(gs(s)->trywait());
}

GH_EXPORT int sem_timedwait(sem_t* s, const timespec* abs) {
  CancelPoint cp;
  if (native(s)) return cp.done(real::sem_timedwait(s, abs));
  // EINTR from any handler: the kernel never restarts a timed futex wait.
  return cp.done(sem_ret(gs(s)->timedwait(abs, gh::Semaphore::Intr::kAlways)));
}

GH_EXPORT int sem_clockwait(sem_t* s, clockid_t clk, const timespec* abs) {
  CancelPoint cp;
  if (native(s)) return cp.done(real::sem_clockwait(s, clk, abs));
  return cp.done(sem_ret(gs(s)->clockwait(clk, abs, gh::Semaphore::Intr::kAlways)));
}

GH_EXPORT int sem_post(sem_t* s) {
  if (native(s)) return real::sem_post(s);
  return sem_ret(gs(s)->post());
}

GH_EXPORT int sem_getvalue(sem_t* s, int* value) {
  if (native(s)) return real::sem_getvalue(s, value);
  *value = gs(s)->getvalue();
  return 0;
}
