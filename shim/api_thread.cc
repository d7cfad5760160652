// SPDX-License-Identifier: MIT
// greenhouse.h: the runtime, green threads, Timeout and green-local storage
// (docs/api.md). Threads are made by the pthread_create path, so a green
// thread spawned here is a whole thread to the program; with the runtime off
// (threads_green() false) they are OS threads, and the waits below still
// park, each OS thread being a carrier of its own.
#include <time.h>

#include <cerrno>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "core/pool.h"
#include "shim/api.h"
#include "shim/include/greenhouse.h"
#include "shim/real.h"
#include "shim/state.h"
#include "shim/thread_registry.h"

using namespace gh::shim;

namespace gh::shim {

int64_t api_deadline(int64_t timeout_ns) {
  int64_t own = timeout_ns < 0 ? kNoDeadline : deadline_after(timeout_ns);
  GreenThread* g = gh::self();
  int64_t cap = g ? g->deadline : kNoDeadline;
  if (cap < 0) return own;
  return own < 0 || cap < own ? cap : own;
}

int api_timed_out(int64_t timeout_ns) {
  return timeout_ns == 0 && !api_scope_expired() ? EAGAIN : ETIMEDOUT;
}

bool api_scope_expired() {
  GreenThread* g = gh::self();
  return g && g->deadline >= 0 && mono_ns() >= g->deadline;
}

}  // namespace gh::shim

GH_EXPORT int gh_enabled(void) {
  ensure_real();
  return threads_green() ? 1 : 0;
}

GH_EXPORT int gh_carriers(void) {
  ensure_real();
  if (!threads_green()) return 1;
  gh::Pool* p = gh::Pool::process();
  return p ? p->options().carriers : 1;
}

GH_EXPORT int gh_spawn(gh_thread_t* thread, void* (*fn)(void*), void* arg,
                       const gh_spawn_opts* opts) {
  ensure_real();
  if (!thread || !fn) return EINVAL;
  gh_spawn_opts o = GH_SPAWN_OPTS_INIT;
  if (opts) o = *opts;
  if (o.carrier < -1 || o.carrier >= gh_carriers()) return EINVAL;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  int rc = 0;
  if (o.stack_size) rc = pthread_attr_setstacksize(&attr, o.stack_size);
  if (rc == 0 && o.detached) rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (rc == 0) {
    if (threads_green()) {
      start_carriers();
      rc = create_green_thread(thread, &attr, fn, arg, o.name, o.carrier);
    } else {
      rc = real::pthread_create(thread, &attr, fn, arg);
      if (rc == 0 && o.name) pthread_setname_np(*thread, o.name);
    }
  }
  pthread_attr_destroy(&attr);
  return rc;
}

GH_EXPORT int gh_join(gh_thread_t thread, void** result) { return pthread_join(thread, result); }

GH_EXPORT int gh_detach(gh_thread_t thread) { return pthread_detach(thread); }

GH_EXPORT void gh_yield(void) {
  ensure_real();
  if (gh::Carrier::get())
    gh::yield();
  else
    real::sched_yield();
}

GH_EXPORT int gh_sleep(int64_t ns) {
  ensure_real();
  if (ns < 0) ns = 0;
  int64_t want = gh::deadline_after(ns);
  int64_t until = api_deadline(ns);
  if (gh::Carrier::get()) {
    gh::sleep_until(until);
  } else {
    timespec ts = gh::ns_timespec(until);
    while (real::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  }
  return until < want ? ETIMEDOUT : 0;
}

GH_EXPORT pid_t gh_id(void) { return gettid(); }

GH_EXPORT void gh_timeout_start(gh_timeout_t* t, int64_t ns) {
  ensure_real();
  gh::GreenThread* g = gh::self();
  t->deadline_ = ns < 0 ? gh::kNoDeadline : gh::deadline_after(ns);
  t->outer_ = g ? g->deadline : gh::kNoDeadline;
  if (!g || t->deadline_ < 0) return;
  if (g->deadline < 0 || t->deadline_ < g->deadline) g->deadline = t->deadline_;
}

GH_EXPORT void gh_timeout_end(gh_timeout_t* t) {
  if (gh::GreenThread* g = gh::self()) g->deadline = t->outer_;
}

GH_EXPORT int gh_timeout_expired(const gh_timeout_t* t) {
  return t->deadline_ >= 0 && gh::mono_ns() >= t->deadline_ ? 1 : 0;
}

GH_EXPORT int gh_local_new(gh_local_t* key, void (*destructor)(void*)) {
  return pthread_key_create(key, destructor);
}
GH_EXPORT int gh_local_delete(gh_local_t key) { return pthread_key_delete(key); }
GH_EXPORT void* gh_local_get(gh_local_t key) { return pthread_getspecific(key); }
GH_EXPORT int gh_local_set(gh_local_t key, const void* value) {
  return pthread_setspecific(key, value);
}
