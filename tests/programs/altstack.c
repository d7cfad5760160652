// SPDX-License-Identifier: MIT
/* Each thread's own alternate signal stack (docs/design.md, "Alternate
 * signal stacks").
 *
 * 1. main starts without one; the errors: a stack too small (ENOMEM), bad
 *    flags (EINVAL), a bad pointer to read (EFAULT, nothing changed) or to
 *    write the old one to (EFAULT, the change stands).
 * 2. Eight threads, spread over the carriers, each start without one, set
 *    their own and, after all have (a barrier: they park, and run where they
 *    may), still see their own. In a SA_ONSTACK handler raised by each,
 *    sigaltstack reports SS_ONSTACK and refuses a change (EPERM); in one
 *    sent to each while it is blocked in a read (a frame on its alternate
 *    stack under the shim) too. Each disables its stack and frees it; the
 *    others' keep working.
 * 3. SS_AUTODISARM: reported back; inside the handler the stack is disabled
 *    (it may be set again), and is back when the handler returns.
 * 4. Signals within a handler on the alternate stack: one that asks for the
 *    alternate stack too (sent from the handler: it runs, at the latest
 *    after the thread's next wait), a fault that another handler mends;
 *    two signals for a thread parked with an SS_AUTODISARM stack.
 * The stack a handler for the running thread runs on is not compared: under
 * the shim it is its carrier's (docs/design.md, "Alternate signal stacks").
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
  char* alt;        /* this thread's stack */
  int flags_inside; /* sigaltstack's ss_flags in the handler */
  int set_inside;   /* sigaltstack(set) in the handler: 0, or errno */
  int runs;
};

static __thread struct seen* t_seen;

static void on_usr1(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)si;
  (void)uc;
  int e = errno;
  struct seen* s = t_seen;
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

/* ---- 2 ---- */

struct worker {
  int index;
  struct seen seen;
  int start_flags;
  int kept_own; /* after the barrier: its own stack, as set */
  int raised_flags, raised_set;
  int parked[2]; /* main writes one byte after sending the signal */
  atomic_int blocked;
  int sent_flags, sent_set, sent_runs;
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
  w->raised_flags = w->seen.flags_inside;
  w->raised_set = w->seen.set_inside;
  pthread_barrier_wait(&g_all_raised);
  /* Blocked here while main sends SIGUSR1 (SA_RESTART: the read goes on). */
  char c;
  atomic_store(&w->blocked, 1);
  if (read(w->parked[0], &c, 1) != 1) g_failures++;
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
    printf("thread %d: raised: flags %s, set inside %s\n", i, flags_name(w->raised_flags),
           errname(w->raised_set));
    printf("thread %d: sent while blocked: runs %d, flags %s, set inside %s\n", i, w->sent_runs,
           flags_name(w->sent_flags), errname(w->sent_set));
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
  printf("in the handler: flags %s, set inside %s\n", flags_name(s.flags_inside),
         errname(s.set_inside));
  sigaltstack(NULL, &q);
  printf("after it: %s, same stack %d\n", flags_name(q.ss_flags), q.ss_sp == alt);
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  sigaltstack(NULL, &q);
  printf("disabled: %s (sp set %d, size %zu)\n", flags_name(q.ss_flags), q.ss_sp != NULL,
         q.ss_size);
}

/* ---- 4 ---- */

static atomic_int g_outer, g_inner, g_faults;
static char* g_page;

static void inner_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&g_inner, 1);
}

static void outer_handler(int sig) {
  (void)sig;
  volatile char buf[256];
  memset((char*)buf, 0x5a, sizeof buf);
  pthread_kill(pthread_self(), SIGUSR2); /* asks for the alternate stack too */
  g_page[0] = 1;                         /* faults: fault_handler mends it */
  mprotect(g_page, 4096, PROT_NONE);
  atomic_fetch_add(&g_outer, 1);
}

static void fault_handler(int sig, siginfo_t* si, void* uc) {
  (void)sig;
  (void)uc;
  if ((char*)si->si_addr < g_page || (char*)si->si_addr >= g_page + 4096) abort();
  mprotect(g_page, 4096, PROT_READ | PROT_WRITE);
  atomic_fetch_add(&g_faults, 1);
}

static void* nested_main(void* unused) {
  (void)unused;
  stack_t ss = {.ss_sp = malloc(ALT_SIZE), .ss_size = ALT_SIZE, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) g_failures++;
  for (int i = 0; i < 20; i++) raise(SIGUSR1);
  usleep(1000); /* a wait: a signal kept for later has come by its end */
  printf("nested: outer %d, inner %d, faults %d\n", atomic_load(&g_outer), atomic_load(&g_inner),
         atomic_load(&g_faults));
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  free(ss.ss_sp);
  return NULL;
}

static int g_parked_pipe[2];
static atomic_int g_parked_ready, g_n1, g_n2;

static void count_usr(int sig) {
  volatile char buf[512];
  memset((char*)buf, sig, sizeof buf);
  atomic_fetch_add(sig == SIGUSR1 ? &g_n1 : &g_n2, 1);
}

static void* disarmed_main(void* unused) {
  (void)unused;
  stack_t ss = {.ss_sp = malloc(ALT_SIZE), .ss_size = ALT_SIZE, .ss_flags = (int)SS_AUTODISARM};
  if (sigaltstack(&ss, NULL) != 0) g_failures++;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigaddset(&s, SIGUSR2);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
  atomic_store(&g_parked_ready, 1);
  char c;
  ssize_t r = read(g_parked_pipe[0], &c, 1);
  printf("two signals for a parked thread: read %zd, SIGUSR1 %d, SIGUSR2 %d\n", r,
         atomic_load(&g_n1), atomic_load(&g_n2));
  stack_t off = {.ss_flags = SS_DISABLE};
  sigaltstack(&off, NULL);
  free(ss.ss_sp);
  return NULL;
}

static void nested_case(void) {
  g_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct sigaction sa = {0};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = outer_handler;
  sa.sa_flags = SA_ONSTACK;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = inner_handler;
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_sigaction = fault_handler;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  pthread_t t;
  pthread_create(&t, NULL, nested_main, NULL);
  pthread_join(t, NULL);
  signal(SIGSEGV, SIG_DFL);

  /* Only the parked thread takes SIGUSR1 and SIGUSR2. */
  sa.sa_handler = count_usr;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sigset_t s, old;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigaddset(&s, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &s, &old);
  if (pipe(g_parked_pipe) != 0) exit(2);
  pthread_create(&t, NULL, disarmed_main, NULL);
  while (!atomic_load(&g_parked_ready)) usleep(1000);
  kill(getpid(), SIGUSR1);
  kill(getpid(), SIGUSR2);
  while (atomic_load(&g_n1) == 0 || atomic_load(&g_n2) == 0) usleep(1000);
  if (write(g_parked_pipe[1], "x", 1) != 1) g_failures++;
  pthread_join(t, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  munmap(g_page, 4096);
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
  nested_case();
  return test_end();
}
