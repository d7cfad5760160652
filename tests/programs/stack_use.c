// SPDX-License-Identifier: MIT
/* Stacks as glibc gives them: a thread made with default attributes has
 * glibc's default stack size (pthread_getattr_np says so) and can use 1 MiB
 * of it, and 6 MiB; threads with pthread_attr_setstacksize use theirs;
 * many threads each touching a little stack all run. */
#include "common.h"

#include <pthread.h>

/* Uses `kib` KiB of stack, touching every page; returns a checksum. */
static __attribute__((noinline)) unsigned use_stack(size_t kib) {
  volatile unsigned char buf[64 * 1024];
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof buf; i += 4096) buf[i] = (unsigned char)(i / 4096 + kib);
  for (size_t i = 0; i < sizeof buf; i += 4096) sum += buf[i];
  /* The frame is read after the call: no tail call, every frame stays. */
  unsigned deeper = kib > 64 ? use_stack(kib - 64) : 0;
  return sum + deeper + buf[sizeof buf - 4096];
}

struct job {
  size_t kib;
  unsigned sum;
  size_t stack_size;
};

static void* run(void* p) {
  struct job* j = p;
  pthread_attr_t a;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstacksize(&a, &j->stack_size);
    pthread_attr_destroy(&a);
  }
  j->sum = use_stack(j->kib);
  return NULL;
}

static void one(const char* label, size_t kib, size_t attr_size) {
  struct job j = {kib, 0, 0};
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (attr_size) pthread_attr_setstacksize(&a, attr_size);
  pthread_t t;
  int rc = pthread_create(&t, &a, run, &j);
  pthread_attr_destroy(&a);
  if (rc != 0) {
    printf("%s: pthread_create: %s\n", label, errname(rc));
    g_failures++;
    return;
  }
  pthread_join(t, NULL);
  printf("%s: used %zu KiB, checksum %u\n", label, kib, j.sum);
  /* A thread with default attributes has glibc's default size (in whole
   * MiB: natively the figure includes the guard page). */
  if (!attr_size) printf("%s: stack %zu MiB\n", label, j.stack_size >> 20);
}

int main(void) {
  test_start();
  one("default attributes, 1 MiB", 1024, 0);
  one("default attributes, 6 MiB", 6 * 1024, 0);
  one("pthread_attr_setstacksize 2 MiB, 1 MiB", 1024, 2 << 20);
  one("pthread_attr_setstacksize 256 KiB, 128 KiB", 128, 256 << 10);
  /* 200 threads at once, each 256 KiB deep. */
  enum { kN = 200 };
  static struct job jobs[kN];
  pthread_t t[kN];
  int made = 0;
  for (int i = 0; i < kN; i++) {
    jobs[i].kib = 256;
    if (pthread_create(&t[i], NULL, run, &jobs[i]) == 0) made++;
  }
  unsigned total = 0;
  for (int i = 0; i < made; i++) {
    pthread_join(t[i], NULL);
    total += jobs[i].sum;
  }
  CHECK(made == kN, "200 threads 256 KiB deep", "%d made", made);
  printf("checksum of all: %u\n", total);
  /* The runtime takes none of the program's low fd numbers (its own are
   * numbered high): the next fd is the one natively next. */
  int fd = dup(1);
  printf("the next fd after the threads: %d\n", fd);
  close(fd);
  return test_end();
}
