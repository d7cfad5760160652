// SPDX-License-Identifier: MIT
/* Each thread's own alternate signal stack (docs/design.md, "Alternate
 * signal stacks").
 *
 * 1. main starts without one; the errors: a stack too small (ENOMEM), bad
 *    flags (EINVAL), a bad pointer to read (EFAULT, nothing changed) or to
 *    write the old one to (EFAULT, the change stands).
 * 2. Eight threads, spread over the carriers, each start without one, set
 *    their own and, after all have (a barrier: they park, and run where they
 *    may), still see their own. A SA_ONSTACK handler raised by each runs on
 *    that thread's stack, which sigaltstack reports SS_ONSTACK and refuses to
 *    change (EPERM); one sent to each while it is blocked in a read does the
 *    same. Each disables its stack and frees it; the others' keep working.
 * 3. SS_AUTODISARM: reported back; inside the handler the stack is disabled
 *    (it may be set again), and is back when the handler returns.
 */
#include "common.h"

#include <stdatomic.h>
#include <sys/mman.h>

#define THREADS 8
#define ALT_SIZE (128 * 1024)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

struct seen {
  char* alt;             /* this thread's stack */
  uintptr_t sp;          /* an address on the handler's stack */
  int flags_inside;      /* sigaltstack's ss_flags in the handler */
  int set_inside;        /* sigaltstack(set) in the handler: 0, or errno */
  int runs;
};

static __thread struct seen* t_seen;

static void on_usr1(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)si;
  (void)uc;
  int e = errno;
  struct seen* s = t_seen;
  char local;
  s->sp = (uintptr_t)&local;
  stack_t q;
  sigaltstack(NULL, &q);
  s->flags_inside = q.ss_flags;
  stack_t n = {.ss_sp = s->alt, .ss_size = ALT_SIZE, .ss_flags = 0};
  s->set_inside = sigaltstack(&n, NULL) == 0 ? 0 : errno;
  s->runs++;
  errno = e;
}

static const char* flags_name(int f) {
  static __thread char buf[64];
  snprintf(buf, sizeof buf, "%s%s%s%s", f & SS_ONSTACK ? "SS_ONSTACK " : "",
           f & SS_DISABLE ? "SS_DISABLE " : "", f & (int)SS_AUTODISARM ? "SS_AUTODISARM " : "",
           f == 0 ? "0" : "");
  return buf;
}

static int on(const struct seen* s) {
  return s->sp >= (uintptr_t)s->alt && s->sp < (uintptr_t)s->alt + ALT_SIZE;
}

/* ---- 2 ---- */

struct worker {
  int index;
  struct seen seen;
  int start_flags;
  int kept_own;     /* after the barrier: its own stack, as set */
  int raised_on, raised_flags, raised_set;
  int parked[2];    /* main writes one byte after sending the signal */
  atomic_int blocked;
  int sent_on, sent_flags, sent_set, sent_runs;
  int disabled_flags;
};

static struct worker g_w[THREADS];
static pthread_barrier_t g_all_set, g_all_raised;

static void* worker_main(void* p) {
  struct worker* w = p;
  t_seen = &w->seen;
  stack_t q;
  sigaltstack(NULL, &q);
  w->start_flags = q.ss_flags | (q.ss_sp != NULL) << 8 | (q.ss_size != 0) << 9;
  w->seen.alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  stack_t mine = {.ss_sp = w->seen.alt, .ss_size = ALT_SIZE, .ss_flags = 0};
  if (sigaltstack(&mine, NULL) != 0) g_failures++;
  pthread_barrier_wait(&g_all_set);
  sigaltstack(NULL, &q);
  w->kept_own = q.ss_sp == w->seen.alt && q.ss_size == ALT_SIZE && q.ss_flags == 0;
  raise(SIGUSR1);
  w->raised_on = on(&w->seen);
  w->raised_flags = w->seen.flags_inside;
  w->raised_set = w->seen.set_inside;
  pthread_barrier_wait(&g_all_raised);
  /* Blocked here while main sends SIGUSR1 (SA_RESTART: the read goes on). */
  char c;
  atomic_store(&w->blocked, 1);
  if (read(w->parked[0], &c, 1) != 1) g_failures++;
  w->sent_on = on(&w->seen);
  w->sent_flags = w->seen.flags_inside;
  w->sent_set = w->seen.set_inside;
  w->sent_runs = w->seen.runs;
  stack_t off = {.ss_flags = SS_DISABLE};
  if (sigaltstack(&off, NULL) != 0) g_failures++;
  sigaltstack(NULL, &q);
  w->disabled_flags = q.ss_flags;
  munmap(w->seen.alt, ALT_SIZE);
  return NULL;
}

static void threads_case(void) {
  pthread_barrier_init(&g_all_set, NULL, THREADS);
  pthread_barrier_init(&g_all_raised, NULL, THREADS + 1);
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    g_w[i].index = i;
    if (pipe(g_w[i].parked) != 0) exit(2);
    pthread_create(&t[i], NULL, worker_main, &g_w[i]);
  }
  pthread_barrier_wait(&g_all_raised);
  for (int i = 0; i < THREADS; i++) {
    /* In its read, or about to be: either way the handler runs as it, on
       its stack (the signal interrupts the read or comes before it). */
    while (!atomic_load(&g_w[i].blocked)) usleep(1000);
    pthread_kill(t[i], SIGUSR1);
    if (write(g_w[i].parked[1], "x", 1) != 1) g_failures++;
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < THREADS; i++) {
    struct worker* w = &g_w[i];
    printf("thread %d: starts with %s(sp set %d, size set %d); keeps its own %d\n", i,
           flags_name(w->start_flags & 0xff), (w->start_flags >> 8) & 1, (w->start_flags >> 9) & 1,
           w->kept_own);
    printf("thread %d: raised: on its stack %d, flags %s, set inside %s\n", i, w->raised_on,
           flags_name(w->raised_flags), errname(w->raised_set));
    printf("thread %d: sent while blocked: runs %d, on its stack %d, flags %s, set inside %s\n", i,
           w->sent_runs, w->sent_on, flags_name(w->sent_flags), errname(w->sent_set));
    printf("thread %d: after disabling: %s\n", i, flags_name(w->disabled_flags));
    close(w->parked[0]);
    close(w->parked[1]);
  }
}

/* ---- 1 and 3, on main ---- */

static void errors_case(char* alt) {
  stack_t q;
  errno = 0;
  int r = sigaltstack(NULL, &q);
  printf("main starts with: %d %s(sp set %d, size %zu)\n", r, flags_name(q.ss_flags),
         q.ss_sp != NULL, q.ss_size);
  stack_t small = {.ss_sp = alt, .ss_size = 1024, .ss_flags = 0};
  errno = 0;
  r = sigaltstack(&small, NULL);
  printf("1 KiB: %d %s\n", r, errname(errno));
  stack_t bad = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = 0x10};
  errno = 0;
  r = sigaltstack(&bad, NULL);
  printf("flags 0x10: %d %s\n", r, errname(errno));
  errno = 0;
  r = sigaltstack(BADPTR, NULL);
  printf("bad stack pointer: %d %s\n", r, errname(errno));
  sigaltstack(NULL, &q);
  printf("unchanged: %s\n", flags_name(q.ss_flags));
  stack_t good = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = SS_ONSTACK /* taken as 0 */};
  errno = 0;
  r = sigaltstack(&good, BADPTR);
  printf("bad old pointer: %d %s\n", r, errname(errno));
  sigaltstack(NULL, &q);
  printf("the change stands: %d, flags %s\n", q.ss_sp == alt && q.ss_size == ALT_SIZE,
         flags_name(q.ss_flags));
}

static void autodisarm_case(char* alt) {
  struct seen s = {.alt = alt};
  t_seen = &s;
  stack_t a = {.ss_sp = alt, .ss_size = ALT_SIZE, .ss_flags = (int)SS_AUTODISARM};
  int r = sigaltstack(&a, NULL);
  stack_t q;
  sigaltstack(NULL, &q);
  printf("SS_AUTODISARM: %d, reported %s\n", r, flags_name(q.ss_flags));
  raise(SIGUSR1);
  printf("in the handler: on it %d, flags %s, set inside %s\n", on(&s), flags_name(s.flags_inside),
         errname(s.set_inside));
  sigaltstack(NULL, &q);
  printf("after it: %s, same stack %d\n", flags_name(q.ss_flags), q.ss_sp == alt);
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  sigaltstack(NULL, &q);
  printf("disabled: %s (sp set %d, size %zu)\n", flags_name(q.ss_flags), q.ss_sp != NULL,
         q.ss_size);
}

int main(void) {
  test_start();
  struct sigaction sa = {0};
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  char* alt = mmap(NULL, ALT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  errors_case(alt);
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  threads_case();
  autodisarm_case(alt);
  munmap(alt, ALT_SIZE);
  return test_end();
}
