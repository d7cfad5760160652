// SPDX-License-Identifier: MIT
// __thread variables of a library loaded with dlopen while threads exist.
//   tls_dlopen LIBRARY MODEL
// 8 threads are created first and park in a read of a pipe; then the
// library is dlopen'ed, and those threads, 8 threads created after the
// dlopen and main each read the library's __thread counter (initial value
// 41), add a thread-specific count in two steps with a park between them,
// and report the values. Afterwards the library is closed and opened again
// and a new thread sees the initial values. Last, a thread (not main) loads
// the library itself: inside dlopen its constructor finds its block
// initialised, and what it wrote there lasts across a park; another thread
// gets the image. Run once with the library
// built for the general-dynamic TLS model and once for initial-exec.
#include "common.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

#define EARLY 8
#define LATE 8
#define ALL (EARLY + LATE)

typedef int (*bump_fn)(int);
typedef int (*get_fn)(int*, long*);
typedef void* (*addr_fn)(void);
typedef int (*mark_fn)(void);

static bump_fn g_bump;
static get_fn g_get;
static addr_fn g_addr;
static mark_fn g_mark;
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

static const char* g_path;
static int load(const char* path);

// Loads the library in this thread and reports what it sees, before and
// after a park.
static void* loading_thread(void* arg) {
  (void)arg;
  load(g_path);
  int name_ok;
  long zero;
  int initial = g_get(&name_ok, &zero);
  int mark = g_mark();
  int bumped = g_bump(5);
  usleep(1000);  // park: the carrier runs others, then this thread again
  int dummy;
  int after_park = g_get(&dummy, &zero);
  printf(
      "loading thread: counter %d name %s, constructor's mark %d, +5 -> %d, after a park %d, "
      "mark %d\n",
      initial, name_ok ? "ok" : "WRONG", mark, bumped, after_park, g_mark());
  CHECK(initial == 41 && name_ok && mark == 7 && after_park == 46 && g_mark() == 7,
        "loading thread: initial image, the constructor's write lasts", "see above");
  return NULL;
}

static void* other_thread(void* arg) {
  (void)arg;
  int name_ok;
  long zero;
  int v = g_get(&name_ok, &zero);
  CHECK(v == 41 && name_ok && g_mark() == 1, "another thread after that load: the image",
        "counter %d name %d mark %d", v, name_ok, g_mark());
  return NULL;
}

static atomic_int g_stop_busy;

static void* busy_thread(void* arg) {
  (void)arg;
  while (!atomic_load(&g_stop_busy)) {
    for (volatile int i = 0; i < 100000; i++) {
    }
    usleep(50);
  }
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
  g_mark = (mark_fn)dlsym(h, "tls_ctor_seen");
  if (!g_bump || !g_get || !g_addr || !g_mark) {
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
    printf(
        "%-6s %2d: initial %d name %s tbss %ld, +%d -> %d, after a park %d, +%d -> %d, tbss %ld: "
        "%s\n",
        i < EARLY ? "early"
        : i < ALL ? "late"
                  : "main",
        i, r->initial, r->name_ok ? "ok" : "WRONG", r->zero_initial, k, r->after_first,
        r->after_park, 100 * k, r->final, r->zero_final, good ? "ok" : "FAIL");
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
  printf("reopened library, main: counter %d name %s tbss %ld\n", v, name_ok ? "ok" : "WRONG",
         zero);

  // Loaded by a thread of the program.
  dlclose(g_lib_handle);
  g_path = argv[1];
  pthread_create(&ft, NULL, loading_thread, NULL);
  pthread_join(ft, NULL);
  int mine = g_bump(3), changed = 0;
  pthread_create(&ft, NULL, other_thread, NULL);
  pthread_join(ft, NULL);

  // main's block is glibc's own: what main writes in the library's TLS
  // lasts while it parks and resumes, on whichever OS thread, next to busy
  // threads (the shim once copied the image over it on another carrier).
  pthread_t busy[3];
  atomic_store(&g_stop_busy, 0);
  for (int i = 0; i < 3; i++) pthread_create(&busy[i], NULL, busy_thread, NULL);
  for (int i = 0; i < 500; i++) {
    usleep(100);
    if (g_get(&name_ok, &zero) != mine) changed++;
  }
  atomic_store(&g_stop_busy, 1);
  for (int i = 0; i < 3; i++) pthread_join(busy[i], NULL);
  CHECK(changed == 0, "main's value lasts across 500 parks next to busy threads",
        "changed %d times", changed);
  return test_end();
}
