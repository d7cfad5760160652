// SPDX-License-Identifier: MIT
// C11 threads (<threads.h>): glibc implements thrd_*, mtx_*, cnd_*, tss_*
// and call_once with its internal pthread functions, which the shim's hooks
// never see (a thrd_create would make an OS thread, an mtx_lock would block
// the carrier). Each is mapped here onto the pthread function the shim
// interposes, with glibc's result mapping (thrd_success, thrd_nomem, ...).
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <threads.h>
#include <time.h>

#include <cstdint>
#include <new>

#include "core/arena.h"
#include "shim/state.h"

namespace {

// glibc's thrd_err_map.
int c11_result(int err) {
  switch (err) {
    case 0:
      return thrd_success;
    case ENOMEM:
      return thrd_nomem;
    case ETIMEDOUT:
      return thrd_timedout;
    case EBUSY:
      return thrd_busy;
    default:
      return thrd_error;
  }
}

struct C11Start : gh::ArenaObject {
  thrd_start_t fn = nullptr;
  void* arg = nullptr;
};

void* c11_entry(void* p) {
  auto* s = static_cast<C11Start*>(p);
  thrd_start_t fn = s->fn;
  void* arg = s->arg;
  delete s;
  return reinterpret_cast<void*>(static_cast<intptr_t>(fn(arg)));
}

}  // namespace

GH_EXPORT int thrd_create(thrd_t* thr, thrd_start_t fn, void* arg) {
  auto* s = new (std::nothrow) C11Start;
  if (!s) return thrd_nomem;
  s->fn = fn;
  s->arg = arg;
  pthread_t t;
  int rc = pthread_create(&t, nullptr, &c11_entry, s);
  if (rc != 0) {
    delete s;
    return c11_result(rc);
  }
  *thr = t;
  return thrd_success;
}

GH_EXPORT int thrd_join(thrd_t thr, int* res) {
  void* v = nullptr;
  int rc = pthread_join(thr, &v);
  if (rc == 0 && res) *res = static_cast<int>(reinterpret_cast<intptr_t>(v));
  return c11_result(rc);
}

GH_EXPORT int thrd_detach(thrd_t thr) { return c11_result(pthread_detach(thr)); }
GH_EXPORT thrd_t thrd_current(void) { return pthread_self(); }
GH_EXPORT int thrd_equal(thrd_t a, thrd_t b) { return pthread_equal(a, b); }
GH_EXPORT void thrd_yield(void) { sched_yield(); }

GH_EXPORT void thrd_exit(int res) {
  pthread_exit(reinterpret_cast<void*>(static_cast<intptr_t>(res)));
}

// 0, -1 when a signal interrupted it, another negative value on error.
GH_EXPORT int thrd_sleep(const timespec* dur, timespec* rem) {
  if (nanosleep(dur, rem) == 0) return 0;
  return errno == EINTR ? -1 : -2;
}

GH_EXPORT int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  int rc = pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return c11_result(rc);
}

GH_EXPORT int mtx_lock(mtx_t* m) {
  return c11_result(pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(m)));
}
GH_EXPORT int mtx_trylock(mtx_t* m) {
  return c11_result(pthread_mutex_trylock(reinterpret_cast<pthread_mutex_t*>(m)));
}
GH_EXPORT int mtx_timedlock(mtx_t* __restrict m, const timespec* __restrict abs) {
  return c11_result(pthread_mutex_timedlock(reinterpret_cast<pthread_mutex_t*>(m), abs));
}
GH_EXPORT int mtx_unlock(mtx_t* m) {
  return c11_result(pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(m)));
}
GH_EXPORT void mtx_destroy(mtx_t* m) {
  pthread_mutex_destroy(reinterpret_cast<pthread_mutex_t*>(m));
}

GH_EXPORT int cnd_init(cnd_t* c) {
  return c11_result(pthread_cond_init(reinterpret_cast<pthread_cond_t*>(c), nullptr));
}
GH_EXPORT int cnd_signal(cnd_t* c) {
  return c11_result(pthread_cond_signal(reinterpret_cast<pthread_cond_t*>(c)));
}
GH_EXPORT int cnd_broadcast(cnd_t* c) {
  return c11_result(pthread_cond_broadcast(reinterpret_cast<pthread_cond_t*>(c)));
}
GH_EXPORT int cnd_wait(cnd_t* c, mtx_t* m) {
  return c11_result(pthread_cond_wait(reinterpret_cast<pthread_cond_t*>(c),
                                      reinterpret_cast<pthread_mutex_t*>(m)));
}
GH_EXPORT int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m,
                            const timespec* __restrict abs) {
  return c11_result(pthread_cond_timedwait(reinterpret_cast<pthread_cond_t*>(c),
                                           reinterpret_cast<pthread_mutex_t*>(m), abs));
}
GH_EXPORT void cnd_destroy(cnd_t* c) { pthread_cond_destroy(reinterpret_cast<pthread_cond_t*>(c)); }

GH_EXPORT int tss_create(tss_t* key, tss_dtor_t dtor) {
  return c11_result(pthread_key_create(reinterpret_cast<pthread_key_t*>(key), dtor));
}
GH_EXPORT void* tss_get(tss_t key) { return pthread_getspecific(key); }
GH_EXPORT int tss_set(tss_t key, void* value) {
  return c11_result(pthread_setspecific(key, value));
}
GH_EXPORT void tss_delete(tss_t key) { pthread_key_delete(key); }

GH_EXPORT void call_once(once_flag* flag, void (*fn)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), fn);
}
