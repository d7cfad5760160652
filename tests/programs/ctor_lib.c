// SPDX-License-Identifier: MIT
/* A shared library whose constructor uses interposed calls before main():
 * write/read on a pipe, thread-specific data, mutexes, a condition variable,
 * and a background thread that lives until the program stops it. Under the
 * shim the constructor may run before or after the shim's own start-up;
 * either way the results must be the native ones. */
#define _GNU_SOURCE
#include "ctor_lib.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ctor_record ctor_record;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_rec = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_req[2], g_rep[2];
static pthread_t g_worker;

static void key_dtor(void* v) { (void)v; }

static void* worker(void* p) {
  (void)p;
  int answered = 0;
  char c;
  while (read(g_req[0], &c, 1) == 1) {
    if (c == 'q') break;
    answered++;
    if (write(g_rep[1], &answered, sizeof answered) != (ssize_t)sizeof answered) break;
  }
  return NULL;
}

__attribute__((constructor)) static void ctor_lib_init(void) {
  struct ctor_record* r = &ctor_record;
  r->ran = 1;
  static const char msg[] = "ctor_lib: constructor running\n";
  if (write(1, msg, sizeof msg - 1) < 0) r->ran = 2;

  int p[2];
  if (pipe(p) == 0) {
    char buf[8] = {0};
    r->write_ret = write(p[1], "hello", 5);
    r->read_ret = read(p[0], buf, sizeof buf);
    r->read_ok = memcmp(buf, "hello", 5) == 0;
    close(p[0]);
    close(p[1]);
  }

  r->key_create_rc = pthread_key_create(&r->key, key_dtor);
  r->setspecific_rc = pthread_setspecific(r->key, (void*)42);
  r->getspecific_val = (long)pthread_getspecific(r->key);

  r->lock_rc = pthread_mutex_lock(&g_mu);
  r->trylock_rc = pthread_mutex_trylock(&g_mu);
  r->unlock_rc = pthread_mutex_unlock(&g_mu);
  r->rec_lock_rc = pthread_mutex_lock(&g_rec);
  r->rec_relock_rc = pthread_mutex_lock(&g_rec);
  r->rec_unlock_rc = pthread_mutex_unlock(&g_rec) | pthread_mutex_unlock(&g_rec);

  struct timespec past = {1, 0};
  pthread_mutex_lock(&g_mu);
  r->cond_timedwait_rc = pthread_cond_timedwait(&g_cv, &g_mu, &past);
  pthread_mutex_unlock(&g_mu);

  r->self = pthread_self();
  if (pipe(g_req) == 0 && pipe(g_rep) == 0)
    r->thread_create_rc = pthread_create(&g_worker, NULL, worker, NULL);
  else
    r->thread_create_rc = errno;
}

int ctor_lib_ping(void) {
  int v = -1;
  if (write(g_req[1], "p", 1) != 1) return -1;
  if (read(g_rep[0], &v, sizeof v) != (ssize_t)sizeof v) return -1;
  return v;
}

void ctor_lib_stop(void) {
  if (write(g_req[1], "q", 1) != 1) return;
  pthread_join(g_worker, NULL);
}
