// SPDX-License-Identifier: MIT
/* A thread named "deep" recurses until its stack overflows.
 *   stack_overflow plain KIB    stack of KIB KiB (0: default attributes);
 *                               dies of SIGSEGV
 *   stack_overflow handler KIB  the thread first installs its own SIGSEGV
 *                               handler on its own alternate stack, which
 *                               says so and exits with status 3
 *   stack_overflow recover KIB  8 threads at once, each with its own
 *                               alternate stack, overflow 3 times each and
 *                               recover with siglongjmp from the handler;
 *                               prints how many recovered, status 0
 * Run by tests/integration/settings/stack_overflow.sh natively and under
 * the shim (not a differential test: the shim adds its report on stderr). */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

static __attribute__((noinline)) int recurse(int n) {
  volatile char frame[512];
  memset((char*)frame, n, sizeof frame);
  return recurse(n + 1) + frame[n % 512];
}

static void on_segv(int sig) {
  (void)sig;
  static const char msg[] = "the program's SIGSEGV handler ran\n";
  if (write(1, msg, sizeof msg - 1) < 0) _exit(4);
  _exit(3);
}

static int g_own_handler;

static void* run(void* p) {
  (void)p;
  pthread_setname_np(pthread_self(), "deep");
  if (g_own_handler) {
    static char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
  }
  printf("%d\n", recurse(0));
  return NULL;
}

/* ---- recover ---- */

#define RECOVERERS 8
#define OVERFLOWS 3

static __thread sigjmp_buf t_back;
static int g_recovered[RECOVERERS];

static void back_out(int sig) {
  (void)sig;
  siglongjmp(t_back, 1);
}

static void* recoverer(void* p) {
  int id = (int)(long)p;
  stack_t ss = {.ss_sp = malloc(64 * 1024), .ss_size = 64 * 1024};
  sigaltstack(&ss, NULL);
  for (int i = 0; i < OVERFLOWS; i++) {
    if (sigsetjmp(t_back, 1) == 0)
      recurse(0);
    else
      g_recovered[id]++;
    sched_yield();
  }
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  free(ss.ss_sp);
  return NULL;
}

static int recover_all(pthread_attr_t* a) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = back_out;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  pthread_t t[RECOVERERS];
  for (long i = 0; i < RECOVERERS; i++)
    if (pthread_create(&t[i], a, recoverer, (void*)i) != 0) return 2;
  for (int i = 0; i < RECOVERERS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < RECOVERERS; i++)
    printf("thread %d recovered %d of %d\n", i, g_recovered[i], OVERFLOWS);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: stack_overflow plain|handler|recover KIB\n");
    return 2;
  }
  g_own_handler = strcmp(argv[1], "handler") == 0;
  size_t kib = strtoul(argv[2], NULL, 10);
  setvbuf(stdout, NULL, _IONBF, 0);
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (kib) pthread_attr_setstacksize(&a, kib * 1024);
  if (strcmp(argv[1], "recover") == 0) return recover_all(&a);
  pthread_t t;
  if (pthread_create(&t, &a, run, NULL) != 0) return 2;
  pthread_join(t, NULL);
  return 0;
}
