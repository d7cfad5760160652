// SPDX-License-Identifier: MIT
// dlopen and dlclose from many threads at once.
//   dlopen_threads LIBRARY
// 8 threads load and unload LIBRARY (tls_lib.c, initial-exec TLS) and
// libm 200 times each, at the same time, and call into the library in every
// round; afterwards each of 8 new threads, once all exist, loads it once more
// and checks its __thread values. (Values read during the concurrent rounds are not
// compared: glibc itself races there, natively, about once in thousands.) The loader serialises
// loads with a recursive lock that knows its owner by the thread's id, so two threads that share
// one id would both get in and corrupt its state (ld.so asserts). The program's own static TLS is
// large (a 512 KiB __thread array): each thread's block, and the runtime's own contexts, must make
// room for it.
#include "common.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#define THREADS 8
#define ROUNDS 200

static __thread char g_big[512 * 1024];
static const char* g_path;
static atomic_int g_bad_values, g_load_errors, g_big_errors;

typedef int (*get_fn)(int*, long*);

static void* worker(void* arg) {
  int id = (int)(intptr_t)arg;
  memset(g_big, id + 1, sizeof g_big);
  for (int round = 0; round < ROUNDS; round++) {
    void* h = dlopen(g_path, RTLD_NOW | RTLD_LOCAL);
    void* m = dlopen("libm.so.6", RTLD_NOW);
    if (!h || !m) {
      atomic_fetch_add(&g_load_errors, 1);
      continue;
    }
    get_fn get = (get_fn)dlsym(h, "tls_get");
    int name_ok = 0;
    long zero = -1;
    if (!get)
      atomic_fetch_add(&g_load_errors, 1);
    else
      get(&name_ok, &zero);
    dlclose(m);
    dlclose(h);
    if (round % 50 == 0) usleep(100);  // park now and then: move between carriers
  }
  for (size_t i = 0; i < sizeof g_big; i += 4096)
    if (g_big[i] != id + 1) atomic_fetch_add(&g_big_errors, 1);
  return NULL;
}

// The checkers start loading once all of them exist: natively, glibc can
// miss a thread that pthread_create is making while another thread loads a
// static-TLS library (its block is copied before the load, and the load
// initialises only the threads already listed; seen once in 40 runs).
static pthread_barrier_t g_checkers_made;

static void* checker(void* arg) {
  (void)arg;
  pthread_barrier_wait(&g_checkers_made);
  void* h = dlopen(g_path, RTLD_NOW | RTLD_LOCAL);
  get_fn get = h ? (get_fn)dlsym(h, "tls_get") : NULL;
  int name_ok = 0;
  long zero = -1;
  if (!get || get(&name_ok, &zero) != 41 || !name_ok || zero != 0)
    atomic_fetch_add(&g_bad_values, 1);
  if (h) dlclose(h);
  return NULL;
}

int main(int argc, char** argv) {
  test_start();
  if (argc != 2) {
    fprintf(stderr, "usage: dlopen_threads LIBRARY\n");
    return 2;
  }
  g_path = argv[1];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i) != 0) return 2;
  tasks_sample();
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_barrier_init(&g_checkers_made, NULL, THREADS);
  for (int i = 0; i < THREADS; i++)
    if (pthread_create(&t[i], NULL, checker, NULL) != 0) return 2;
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  CHECK(g_load_errors == 0, "every dlopen succeeded", "%d failed: %s", (int)g_load_errors,
        dlerror() ? dlerror() : "");
  CHECK(g_bad_values == 0, "then each new thread saw the library's initial __thread values",
        "%d bad", (int)g_bad_values);
  CHECK(g_big_errors == 0, "each thread's 512 KiB __thread array kept its bytes", "%d bad",
        (int)g_big_errors);
  return test_end();
}
