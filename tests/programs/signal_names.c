// SPDX-License-Identifier: MIT
/* Handlers installed under the other names, and run for a thread parked on
 * a stack of its own making (docs/design.md, "Handlers on the thread's own
 * stack").
 *
 * 1. The program defines its own sigaction, which adds SA_ONSTACK and calls
 *    the next __sigaction (dlsym(RTLD_NEXT)), as Erlang's runtime does. Its
 *    "suspend" handler, sent with pthread_kill to a thread parked in a read,
 *    runs as that thread and blocks in a read of its own until main
 *    resumes it.
 * 2. The same with a PTHREAD_STACK_MIN (16 KiB) thread, and with the target
 *    parked while on a makecontext stack: the handler runs as it, on one of
 *    its stacks.
 * 3. __sysv_signal, sysv_signal, bsd_signal and sigset: return values, the
 *    System V reset to SIG_DFL, SIG_HOLD.
 * 4. The System V and BSD mask names: a sighold lasts across a park and is
 *    inherited by a new thread; sigrelse, gsignal, ssignal, sigignore;
 *    sigblock, sigsetmask, siggetmask; sigpause (X/Open and BSD) waits for
 *    a pending signal with the caller's mask changed for the wait only,
 *    parking as sigsuspend does; siginterrupt makes a blocked read end in
 *    EINTR, and signal() then installs without SA_RESTART; signal(SIG_ERR)
 *    fails with EINVAL.
 */
#include "common.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <ucontext.h>

/* ---- the program's own sigaction (Erlang's sys_signal_stack.c way) ---- */

static int g_own_sigaction_calls;

int sigaction(int sig, const struct sigaction* act, struct sigaction* oact) {
  static int (*next)(int, const struct sigaction*, struct sigaction*);
  if (!next)
    next =
        (int (*)(int, const struct sigaction*, struct sigaction*))dlsym(RTLD_NEXT, "__sigaction");
  if (!act) return next(sig, act, oact);
  struct sigaction on = *act;
  on.sa_flags |= SA_ONSTACK;
  g_own_sigaction_calls++;
  return next(sig, &on, oact);
}

/* ---- 1 and 2: a suspend handler for a parked thread ---- */

#define SUSPEND_SIG SIGUSR2

static int g_resume[2];                 /* main writes: the handler returns */
static int g_park[2];                   /* the target reads here, parked */
static volatile pthread_t g_ran_as;     /* pthread_self() in the handler */
static volatile uintptr_t g_handler_sp; /* an address on the handler's stack */
static atomic_int g_in_handler;

static void suspend_handler(int sig) {
  (void)sig;
  int e = errno;
  char local;
  g_ran_as = pthread_self();
  g_handler_sp = (uintptr_t)&local;
  atomic_store(&g_in_handler, 1);
  char c;
  while (read(g_resume[0], &c, 1) < 0 && errno == EINTR) {
  }
  errno = e;
}

struct target {
  int on_own_stack; /* park while on a makecontext stack */
  int small;        /* a PTHREAD_STACK_MIN (16 KiB) thread stack */
  uintptr_t lo, hi; /* its thread stack */
  char* stack;
  size_t stack_size;
  ssize_t read_ret;
  int read_errno;
  atomic_int parked;
};

static struct target g_t;
static ucontext_t g_main_ctx, g_co_ctx;

static void park_in_read(void) {
  char c;
  atomic_store(&g_t.parked, 1);
  errno = 0;
  g_t.read_ret = read(g_park[0], &c, 1);
  g_t.read_errno = errno;
}

static void coroutine(void) { park_in_read(); }

static void* target_main(void* unused) {
  (void)unused;
  pthread_attr_t at;
  void* lo;
  size_t size;
  pthread_getattr_np(pthread_self(), &at);
  pthread_attr_getstack(&at, &lo, &size);
  pthread_attr_destroy(&at);
  g_t.lo = (uintptr_t)lo;
  g_t.hi = (uintptr_t)lo + size;
  if (g_t.on_own_stack) {
    getcontext(&g_co_ctx);
    g_co_ctx.uc_stack.ss_sp = g_t.stack;
    g_co_ctx.uc_stack.ss_size = g_t.stack_size;
    g_co_ctx.uc_link = &g_main_ctx;
    makecontext(&g_co_ctx, coroutine, 0);
    swapcontext(&g_main_ctx, &g_co_ctx);
  } else {
    park_in_read();
  }
  return NULL;
}

static void suspend_case(int on_own_stack, int small, const char* what) {
  memset(&g_t, 0, sizeof g_t);
  g_t.on_own_stack = on_own_stack;
  g_t.small = small;
  g_t.stack_size = 256 * 1024;
  g_t.stack = malloc(g_t.stack_size);
  atomic_store(&g_in_handler, 0);
  g_ran_as = 0;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (small) pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
  pthread_create(&t, &attr, target_main, NULL);
  pthread_attr_destroy(&attr);
  /* Parked in its read, or about to be: either way the handler runs as it,
     on the stack it is on. */
  while (!atomic_load(&g_t.parked)) usleep(1000);
  tasks_sample();
  pthread_kill(t, SUSPEND_SIG); /* returns at once: the handler runs in t */
  while (!atomic_load(&g_in_handler)) usleep(1000);
  char c = 'r';
  if (write(g_resume[1], &c, 1) != 1) g_failures++;
  /* Its read ended with EINTR, or the handler came first: this ends it. */
  if (write(g_park[1], &c, 1) != 1) g_failures++;
  pthread_join(t, NULL);
  int fl = fcntl(g_park[0], F_GETFL);
  fcntl(g_park[0], F_SETFL, fl | O_NONBLOCK);
  while (read(g_park[0], &c, 1) == 1) {
  }
  fcntl(g_park[0], F_SETFL, fl);
  char label[128];
  snprintf(label, sizeof label, "%s: the handler ran as the target", what);
  CHECK(pthread_equal(g_ran_as, t), label, "it ran as another thread");
  int on_thread = g_handler_sp >= g_t.lo && g_handler_sp < g_t.hi;
  int on_co =
      g_handler_sp >= (uintptr_t)g_t.stack && g_handler_sp < (uintptr_t)g_t.stack + g_t.stack_size;
  if (!on_own_stack) {
    snprintf(label, sizeof label, "%s: on the target's stack", what);
    CHECK(on_thread, label, "sp %#lx, stack %#lx-%#lx", (unsigned long)g_handler_sp,
          (unsigned long)g_t.lo, (unsigned long)g_t.hi);
  } else {
    /* Natively below its saved frame on the makecontext stack; under the
       shim at the bottom of its thread stack (docs/design.md, "Handlers on
       the thread's own stack"): one of the target's, not the sender's. */
    snprintf(label, sizeof label, "%s: on one of the target's stacks", what);
    CHECK(on_thread || on_co, label, "sp %#lx", (unsigned long)g_handler_sp);
  }
  snprintf(label, sizeof label, "%s: its read ended (EINTR, or the byte)", what);
  CHECK(g_t.read_ret == 1 || (g_t.read_ret < 0 && g_t.read_errno == EINTR), label,
        "ret=%zd errno=%s", g_t.read_ret, errname(g_t.read_errno));
  free(g_t.stack);
}

/* ---- 3: the System V and BSD names ---- */

extern sighandler_t __sysv_signal(int, sighandler_t);
extern sighandler_t bsd_signal(int, sighandler_t);

static atomic_int g_hits;
static void count_hit(int sig) {
  (void)sig;
  atomic_fetch_add(&g_hits, 1);
}

static const char* disposition(int sig) {
  struct sigaction cur;
  sigaction(sig, NULL, &cur);
  if (cur.sa_handler == SIG_DFL) return "SIG_DFL";
  if (cur.sa_handler == SIG_IGN) return "SIG_IGN";
  return cur.sa_handler == count_hit ? "count_hit" : "other";
}

/* sigset is what is tested here, deprecated or not. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static void names(void) {
  printf("__sysv_signal returns the old: %s\n",
         __sysv_signal(SIGUSR1, count_hit) == SIG_DFL ? "SIG_DFL" : "other");
  raise(SIGUSR1);
  printf("after one SysV delivery: hits=%d, disposition %s\n", atomic_load(&g_hits),
         disposition(SIGUSR1));
  printf("sysv_signal returns the old: %s\n",
         sysv_signal(SIGUSR1, count_hit) == SIG_DFL ? "SIG_DFL" : "other");
  printf("bsd_signal returns the old: %s\n",
         bsd_signal(SIGUSR1, count_hit) == count_hit ? "count_hit" : "other");
  raise(SIGUSR1);
  printf("after a BSD delivery: hits=%d, disposition %s\n", atomic_load(&g_hits),
         disposition(SIGUSR1));
  sighandler_t r = sigset(SIGUSR1, SIG_HOLD);
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  printf("sigset SIG_HOLD returns %s, blocked %d\n", r == count_hit ? "count_hit" : "other",
         sigismember(&now, SIGUSR1));
  raise(SIGUSR1); /* held: pending */
  printf("while held: hits=%d\n", atomic_load(&g_hits));
  r = sigset(SIGUSR1, count_hit); /* unblocks: the pending one runs */
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  printf("sigset a handler returns %s, blocked %d, hits=%d\n", r == SIG_HOLD ? "SIG_HOLD" : "other",
         sigismember(&now, SIGUSR1), atomic_load(&g_hits));
  errno = 0;
  r = __sysv_signal(0, count_hit);
  printf("__sysv_signal(0): %s errno=%s\n", r == SIG_ERR ? "SIG_ERR" : "other", errname(errno));
}

/* ---- 4: the System V and BSD mask names ---- */

extern int __sigpause(int sig_or_mask, int is_sig);
extern int bsd_sigpause(int mask) __asm__("sigpause");

static int blocked_now(int sig) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  return sigismember(&now, sig);
}

static void* report_inherited(void* p) {
  *(int*)p = blocked_now(SIGUSR1);
  return NULL;
}

struct sender {
  pthread_t target;
  int go[2];   /* main writes a byte: send one signal */
  int sent[2]; /* the sender answers after sending it */
  atomic_int stop;
  atomic_int repeat; /* send until stop is set, 1 ms apart */
};
static struct sender g_s;

static void* sender_main(void* unused) {
  (void)unused;
  char c;
  while (read(g_s.go[0], &c, 1) == 1 && c != 'q') {
    if (c == 's') {
      pthread_kill(g_s.target, SIGUSR1);
    } else { /* 'r': repeat until main's read ends, at most 5 s */
      for (int i = 0; i < 5000 && !atomic_load(&g_s.stop); i++) {
        pthread_kill(g_s.target, SIGUSR1);
        usleep(1000);
      }
    }
    if (write(g_s.sent[1], &c, 1) != 1) g_failures++;
  }
  return NULL;
}

/* Has the sender send one SIGUSR1 to main and waits until it has. */
static void send_one(void) {
  char c = 's';
  if (write(g_s.go[1], &c, 1) != 1 || read(g_s.sent[0], &c, 1) != 1) g_failures++;
}

static void mask_names(void) {
  if (pipe(g_s.go) != 0 || pipe(g_s.sent) != 0) exit(2);
  g_s.target = pthread_self();
  pthread_t sender;
  pthread_create(&sender, NULL, sender_main, NULL);
  atomic_store(&g_hits, 0);
  signal(SIGUSR1, SIG_DFL);
  printf("ssignal returns the old: %s\n",
         ssignal(SIGUSR1, count_hit) == SIG_DFL ? "SIG_DFL" : "other");
  gsignal(SIGUSR1);
  printf("gsignal: hits=%d\n", atomic_load(&g_hits));

  int r = sighold(SIGUSR1);
  printf("sighold: %d, blocked %d\n", r, blocked_now(SIGUSR1));
  usleep(1000); /* a park: the hold is the thread's, not its OS thread's */
  gsignal(SIGUSR1);
  send_one();
  printf("held across a park: blocked %d, hits=%d\n", blocked_now(SIGUSR1), atomic_load(&g_hits));
  int inherited = -1;
  pthread_t child;
  pthread_create(&child, NULL, report_inherited, &inherited);
  pthread_join(child, NULL);
  printf("a new thread inherits the hold: %d\n", inherited);
  r = sigrelse(SIGUSR1); /* the pending one runs */
  printf("sigrelse: %d, blocked %d, hits=%d\n", r, blocked_now(SIGUSR1), atomic_load(&g_hits));
  errno = 0;
  r = sighold(0);
  printf("sighold(0): %d errno=%s\n", r, errname(errno));

  /* X/Open sigpause: SIGUSR1 taken out of the mask for the wait. */
  sighold(SIGUSR1);
  send_one(); /* pending: the wait ends at once */
  errno = 0;
  r = sigpause(SIGUSR1);
  printf("sigpause(SIGUSR1): %d errno=%s hits=%d, blocked after %d\n", r, errname(errno),
         atomic_load(&g_hits), blocked_now(SIGUSR1));
  send_one();
  errno = 0;
  r = __sigpause(SIGUSR1, 1);
  printf("__sigpause(SIGUSR1, 1): %d errno=%s hits=%d\n", r, errname(errno), atomic_load(&g_hits));
  /* BSD sigpause: the int mask is the whole mask for the wait. */
  send_one();
  errno = 0;
  r = bsd_sigpause(0);
  printf("BSD sigpause(0): %d errno=%s hits=%d, blocked after %d\n", r, errname(errno),
         atomic_load(&g_hits), blocked_now(SIGUSR1));
  sigrelse(SIGUSR1);

  /* BSD masks: signals 1..32 as bits. */
  const int usr2 = 1 << (SIGUSR2 - 1), both = 1 << (SIGUSR1 - 1) | usr2;
  int old = sigblock(usr2);
  printf("sigblock: old has USR2 %d; blocked %d\n", (old & both) != 0, blocked_now(SIGUSR2));
  printf("siggetmask: %#x\n", siggetmask() & both);
  r = sigsetmask(old);
  printf("sigsetmask back: returned %#x, blocked %d\n", r & both, blocked_now(SIGUSR2));

  /* sigignore, then siginterrupt: a read the handler would restart ends. */
  r = sigignore(SIGUSR2);
  printf("sigignore(SIGUSR2): %d, disposition %s\n", r, disposition(SIGUSR2));
  errno = 0;
  r = sigignore(SIGKILL);
  printf("sigignore(SIGKILL): %d errno=%s\n", r, errname(errno));
  printf("siginterrupt(SIGUSR1, 1): %d\n", siginterrupt(SIGUSR1, 1));
  struct sigaction cur;
  sigaction(SIGUSR1, NULL, &cur);
  printf("SA_RESTART after siginterrupt: %d, handler %s\n", (cur.sa_flags & SA_RESTART) != 0,
         disposition(SIGUSR1));
  int empty[2];
  if (pipe(empty) != 0) exit(2);
  char c = 'r';
  atomic_store(&g_s.stop, 0);
  if (write(g_s.go[1], &c, 1) != 1) g_failures++;
  errno = 0;
  ssize_t n = read(empty[0], &c, 1); /* nothing is ever written */
  int e = errno;
  atomic_store(&g_s.stop, 1);
  if (read(g_s.sent[0], &c, 1) != 1) g_failures++;
  printf("a blocked read under siginterrupt: %zd errno=%s\n", n, errname(e));
  signal(SIGUSR1, count_hit); /* signal() keeps to what siginterrupt said */
  sigaction(SIGUSR1, NULL, &cur);
  printf("signal() after siginterrupt: SA_RESTART %d\n", (cur.sa_flags & SA_RESTART) != 0);
  printf("siginterrupt(SIGUSR1, 0): %d\n", siginterrupt(SIGUSR1, 0));
  sigaction(SIGUSR1, NULL, &cur);
  printf("SA_RESTART after: %d\n", (cur.sa_flags & SA_RESTART) != 0);
  signal(SIGUSR1, count_hit);
  sigaction(SIGUSR1, NULL, &cur);
  printf("signal() then: SA_RESTART %d\n", (cur.sa_flags & SA_RESTART) != 0);
  errno = 0;
  sighandler_t bad = signal(SIGUSR2, SIG_ERR);
  printf("signal(SIG_ERR): %s errno=%s, disposition %s\n", bad == SIG_ERR ? "SIG_ERR" : "other",
         errname(errno), disposition(SIGUSR2));

  c = 'q';
  if (write(g_s.go[1], &c, 1) != 1) g_failures++;
  pthread_join(sender, NULL);
  signal(SIGUSR1, SIG_DFL);
  signal(SIGUSR2, SIG_DFL);
  close(empty[0]);
  close(empty[1]);
}

/* Keeps a second thread alive for part 3, so that the shim's paths are the
   ones for threads sharing a carrier. */
static void* idle_companion(void* p) {
  char c;
  ssize_t r = read(*(int*)p, &c, 1);
  (void)r;
  return NULL;
}

int main(void) {
  test_start();
  if (pipe(g_resume) != 0 || pipe(g_park) != 0) return 2;
  struct sigaction sa = {0};
  sa.sa_handler = suspend_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SUSPEND_SIG, &sa, NULL); /* the program's own, which adds SA_ONSTACK */
  struct sigaction cur;
  sigaction(SUSPEND_SIG, NULL, &cur);
  printf("installed through the program's sigaction: calls=%d, SA_ONSTACK=%d\n",
         g_own_sigaction_calls, (cur.sa_flags & SA_ONSTACK) != 0);
  suspend_case(0, 0, "parked on its own stack");
  suspend_case(0, 1, "parked on a 16 KiB stack");
  suspend_case(1, 0, "parked on a makecontext stack");

  int quit[2];
  if (pipe(quit) != 0) return 2;
  pthread_t c;
  pthread_create(&c, NULL, idle_companion, &quit[0]);
  names();
  mask_names();
  if (write(quit[1], "q", 1) != 1) g_failures++;
  pthread_join(c, NULL);
  return test_end();
}
