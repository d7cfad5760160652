// SPDX-License-Identifier: MIT
// __thread variables of a library loaded with dlopen while threads exist.
//   tls_dlopen LIBRARY MODEL
// 8 threads are created first and park in a read of a pipe; then the
// library is dlopen'ed, and those threads, 8 threads created after the
// dlopen and main each read the library's __thread counter (initial value
// 41), add a thread-specific count in two steps with a park between them,
// and report the values. Afterwards the library is closed and opened again
// and a new thread sees the initial values. Run once with the library
// built for the general-dynamic TLS model and once for initial-exec.
#include "common.h"

#include <dlfcn.h>
#include <pthread.h>

#define EARLY 8
#define LATE 8
#define ALL (EARLY + LATE)

typedef int (*bump_fn)(int);
typedef int (*get_fn)(int*, long*);
typedef void* (*addr_fn)(void);

static bump_fn g_bump;
static get_fn g_get;
static addr_fn g_addr;
static void* g_lib_handle;

struct result {
  int initial, name_ok, after_first, after_park, final;
  long zero_initial, zero_final;
  void* addr;
};
static struct result g_res[ALL + 1];  // [ALL] = main
static int g_ready[2];
static struct gate g_go;

static pthread_barrier_t g_alive;

static void use_library(int i) {
  struct result* r = &g_res[i];
  r->initial = g_get(&r->name_ok, &r->zero_initial);
  r->addr = g_addr();
  r->after_first = g_bump(i + 1);
  usleep(200 + (unsigned)(i % 3) * 100);  // park: others run and bump theirs
  int dummy;
  long zero;
  r->after_park = g_get(&dummy, &zero);
  r->final = g_bump(100 * (i + 1));
  g_get(&dummy, &r->zero_final);
  // Every thread stays alive until all have recorded their block's address:
  // a thread that ended could have its block given to a later one.
  pthread_barrier_wait(&g_alive);
}

static void* early_thread(void* arg) {
  int i = (int)(intptr_t)arg;
  char c = 'r';
  if (write(g_ready[1], &c, 1) != 1) g_failures++;
  gate_wait(&g_go);  // parked across the dlopen
  use_library(i);
  return NULL;
}

static void* late_thread(void* arg) {
  use_library((int)(intptr_t)arg);
  return NULL;
}

static void* fresh_thread(void* arg) {
  int* out = (int*)arg;
  long zero;
  out[0] = g_get(&out[1], &zero);
  out[2] = (int)zero;
  return NULL;
}

static int load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    printf("dlopen failed: %s\n", dlerror());
    exit(2);
  }
  g_bump = (bump_fn)dlsym(h, "tls_bump");
  g_get = (get_fn)dlsym(h, "tls_get");
  g_addr = (addr_fn)dlsym(h, "tls_counter_addr");
  if (!g_bump || !g_get || !g_addr) {
    printf("dlsym failed\n");
    exit(2);
  }
  g_lib_handle = h;
  return 0;
}

int main(int argc, char** argv) {
  test_start();
  if (argc != 3) {
    fprintf(stderr, "usage: tls_dlopen LIBRARY MODEL\n");
    return 2;
  }
  printf("TLS model of the library: %s\n", argv[2]);
  if (pipe(g_ready) != 0) return 2;
  gate_init(&g_go);

  pthread_barrier_init(&g_alive, NULL, ALL + 1);
  pthread_t t[ALL];
  for (int i = 0; i < EARLY; i++)
    if (pthread_create(&t[i], NULL, early_thread, (void*)(intptr_t)i) != 0) return 2;
  for (int i = 0; i < EARLY; i++) {
    char c;
    if (read(g_ready[0], &c, 1) != 1) g_failures++;
  }
  usleep(1000);  // the early threads are (probably) parked in gate_wait

  load(argv[1]);
  for (int i = EARLY; i < ALL; i++)
    if (pthread_create(&t[i], NULL, late_thread, (void*)(intptr_t)i) != 0) return 2;
  tasks_sample();
  gate_open(&g_go, EARLY);
  use_library(ALL);
  for (int i = 0; i < ALL; i++) pthread_join(t[i], NULL);

  int distinct = 1;
  for (int i = 0; i <= ALL; i++) {
    struct result* r = &g_res[i];
    int k = i + 1;
    int good = r->initial == 41 && r->name_ok && r->zero_initial == 0 && r->after_first == 41 + k &&
               r->after_park == 41 + k && r->final == 41 + 101 * k && r->zero_final == 101 * k;
    if (!good) g_failures++;
    printf("%-6s %2d: initial %d name %s tbss %ld, +%d -> %d, after a park %d, +%d -> %d, tbss %ld: %s\n",
           i < EARLY ? "early" : i < ALL ? "late" : "main", i, r->initial,
           r->name_ok ? "ok" : "WRONG", r->zero_initial, k, r->after_first, r->after_park, 100 * k,
           r->final, r->zero_final, good ? "ok" : "FAIL");
    for (int j = 0; j < i; j++)
      if (g_res[j].addr == r->addr) distinct = 0;
  }
  CHECK(distinct, "each thread's own tls_counter address", "shared");

  // Closed and opened again: a new thread and main see the initial image
  // (main's block of the old library is gone with it).
  dlclose(g_lib_handle);
  load(argv[1]);
  int fresh[3] = {0};
  pthread_t ft;
  pthread_create(&ft, NULL, fresh_thread, fresh);
  pthread_join(ft, NULL);
  CHECK(fresh[0] == 41 && fresh[1] && fresh[2] == 0, "reopened library, new thread: initial values",
        "counter %d name %d tbss %d", fresh[0], fresh[1], fresh[2]);
  int name_ok;
  long zero;
  int v = g_get(&name_ok, &zero);
  printf("reopened library, main: counter %d name %s tbss %ld\n", v, name_ok ? "ok" : "WRONG", zero);
  return test_end();
}
