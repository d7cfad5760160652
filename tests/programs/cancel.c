// SPDX-License-Identifier: MIT
/* pthread_cancel with deferred cancellation (pthreads(7)), as glibc does it:
 *
 *   - a thread blocked in a cancellation point (read, recv, accept, poll,
 *     select, epoll_wait, nanosleep, sem_wait, sigwait, pause,
 *     pthread_cond_wait, pthread_join, fgets and getline on a pipe) is woken
 *     and ends (a FILE it read is left usable): its cleanup
 *     handlers run innermost first, and pthread_join returns PTHREAD_CANCELED;
 *   - a cancellation requested while the thread runs acts at its next
 *     cancellation point (pthread_testcancel, usleep), not before;
 *   - pthread_cond_wait acts with the mutex held again (the handler unlocks an
 *     error-checking mutex: 0 only for its owner);
 *   - a thread cancelled in pthread_join leaves its target joinable;
 *   - PTHREAD_CANCEL_DISABLE keeps a blocked read going to its data; the
 *     request then acts at the first cancellation point after re-enabling;
 *   - asynchronous cancellation acts at once, also on a thread that computes
 *     without calls (from another thread); pthread_cancel of an
 *     ended, unjoined thread returns 0 and its value stays its own;
 *   - pthread_setcancelstate/type return the old value and refuse others;
 *   - a thread is cancelled in its own signal handler at a cancellation
 *     point there; a fork child keeps the forking thread's state; waiters
 *     with a disabled pending cancellation take no wake-up from each other.
 *
 * The canceller waits until the target announced that it is about to block,
 * then yields a while so that it usually is blocked (either way the result
 * must be the same: a request that comes first acts when the call begins).
 * A thread parked in a read keeps every target company on its carrier. */
#include "common.h"

#include <poll.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>

static atomic_int g_ready;   /* the target is about to block */
static atomic_int g_cleanup; /* cleanup handlers run, as a digit string */
static int g_pipe[2];
static int g_listener;
static int g_sock[2];
static sem_t g_sem;
static pthread_mutex_t g_mu;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_mu_unlock_rc = -1;
static pthread_t g_join_target;
static int g_epfd;
static int g_file_pipe[2];
static FILE* g_file; /* the read end of g_file_pipe */

static void note(void* digit) {
  atomic_store(&g_cleanup, atomic_load(&g_cleanup) * 10 + (int)(intptr_t)digit);
}
static void unlock_mu(void* unused) {
  (void)unused;
  g_mu_unlock_rc = pthread_mutex_unlock(&g_mu);
}

enum kind {
  K_READ,
  K_RECV,
  K_ACCEPT,
  K_POLL,
  K_SELECT,
  K_EPOLL,
  K_NANOSLEEP,
  K_SEM,
  K_SIGWAIT,
  K_PAUSE,
  K_COND,
  K_JOIN,
  K_FGETS,
  K_GETLINE,
  K_COUNT
};
static const char* kind_name[] = {"read",
                                  "recv",
                                  "accept",
                                  "poll",
                                  "select",
                                  "epoll_wait",
                                  "nanosleep",
                                  "sem_wait",
                                  "sigwait",
                                  "pause",
                                  "pthread_cond_wait",
                                  "pthread_join",
                                  "fgets",
                                  "getline"};

static void block_in(enum kind k) {
  char c;
  struct pollfd pfd = {g_pipe[0], POLLIN, 0};
  fd_set rd;
  struct epoll_event ev;
  struct timespec ts = {60, 0};
  sigset_t set;
  switch (k) {
    case K_READ:
      (void)!read(g_pipe[0], &c, 1);
      break;
    case K_RECV:
      (void)!recv(g_sock[0], &c, 1, 0);
      break;
    case K_ACCEPT:
      (void)!accept(g_listener, NULL, NULL);
      break;
    case K_POLL:
      (void)!poll(&pfd, 1, -1);
      break;
    case K_SELECT:
      FD_ZERO(&rd);
      FD_SET(g_pipe[0], &rd);
      (void)!select(g_pipe[0] + 1, &rd, NULL, NULL, NULL);
      break;
    case K_EPOLL:
      (void)!epoll_wait(g_epfd, &ev, 1, -1);
      break;
    case K_NANOSLEEP:
      nanosleep(&ts, NULL);
      break;
    case K_SEM:
      sem_wait(&g_sem);
      break;
    case K_SIGWAIT: {
      int sig;
      sigemptyset(&set);
      sigaddset(&set, SIGUSR2);
      pthread_sigmask(SIG_BLOCK, &set, NULL);
      sigwait(&set, &sig);
      break;
    }
    case K_PAUSE:
      pause();
      break;
    case K_COND:
      pthread_mutex_lock(&g_mu);
      pthread_cleanup_push(unlock_mu, NULL);
      for (;;) pthread_cond_wait(&g_cv, &g_mu); /* never signalled */
      pthread_cleanup_pop(0);
      break;
    case K_JOIN:
      pthread_join(g_join_target, NULL);
      break;
    case K_FGETS: {
      char line[64];
      (void)!fgets(line, sizeof line, g_file);
      break;
    }
    case K_GETLINE: {
      char* line = NULL;
      size_t cap = 0;
      (void)!getline(&line, &cap, g_file);
      free(line);
      break;
    }
    default:
      break;
  }
}

static void* target(void* arg) {
  enum kind k = (enum kind)(intptr_t)arg;
  pthread_cleanup_push(note, (void*)1);
  pthread_cleanup_push(note, (void*)2);
  atomic_store(&g_ready, 1);
  block_in(k);
  printf("%s: FAIL (returned)\n", kind_name[k]);
  g_failures++;
  pthread_cleanup_pop(0);
  pthread_cleanup_pop(0);
  return NULL;
}

static void wait_ready(void) {
  while (!atomic_load(&g_ready)) sched_yield();
  for (int i = 0; i < 200; i++) sched_yield();
}

static void* read_forever(void* unused) {
  (void)unused;
  char c;
  return (void*)(intptr_t)read(g_pipe[0], &c, 1);
}

static void cancel_blocked(enum kind k) {
  pthread_t t;
  atomic_store(&g_ready, 0);
  atomic_store(&g_cleanup, 0);
  if (k == K_JOIN) pthread_create(&g_join_target, NULL, read_forever, NULL);
  pthread_create(&t, NULL, target, (void*)(intptr_t)k);
  wait_ready();
  tasks_sample();
  int rc = pthread_cancel(t);
  void* v = NULL;
  int jr = pthread_join(t, &v);
  char label[64];
  snprintf(label, sizeof label, "cancel in %s", kind_name[k]);
  CHECK(rc == 0 && jr == 0 && v == PTHREAD_CANCELED && atomic_load(&g_cleanup) == 21, label,
        "cancel=%d join=%d canceled=%d cleanups=%d", rc, jr, v == PTHREAD_CANCELED,
        atomic_load(&g_cleanup));
  if (k == K_COND)
    CHECK(g_mu_unlock_rc == 0, "cond wait cancelled with the mutex held", "unlock=%d",
          g_mu_unlock_rc);
  if (k == K_FGETS || k == K_GETLINE) {
    /* The FILE is left usable: unlocked, no error, nothing lost. */
    char line[64] = "";
    if (write(g_file_pipe[1], "x\n", 2) != 2) g_failures++;
    char* got = fgets(line, sizeof line, g_file);
    CHECK(got && strcmp(line, "x\n") == 0 && !ferror(g_file), "FILE usable after the cancel",
          "got=%p line=%s error=%d", (void*)got, line, ferror(g_file));
  }
  if (k == K_JOIN) {
    /* The target of the cancelled join is still joinable. */
    if (write(g_pipe[1], "j", 1) != 1) g_failures++;
    CHECK(pthread_join(g_join_target, &v) == 0 && (intptr_t)v == 1,
          "target of a cancelled join still joinable", "value=%ld", (long)(intptr_t)v);
  }
}

/* Cancellation disabled around a blocked read: the read gets its byte. */
static atomic_int g_read_result;
static void* disabled_reader(void* unused) {
  (void)unused;
  int old = -1;
  char c;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  atomic_store(&g_ready, 1);
  atomic_store(&g_read_result, (int)read(g_pipe[0], &c, 1));
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  /* Deferred: re-enabling does not act; a cancellation point does. */
  atomic_store(&g_cleanup, old == PTHREAD_CANCEL_DISABLE ? 7 : 8);
  pthread_testcancel();
  atomic_store(&g_cleanup, 9);
  return NULL;
}

static void cancel_disabled(void) {
  pthread_t t;
  atomic_store(&g_ready, 0);
  atomic_store(&g_cleanup, 0);
  pthread_create(&t, NULL, disabled_reader, NULL);
  wait_ready();
  int rc = pthread_cancel(t);
  if (write(g_pipe[1], "d", 1) != 1) g_failures++;
  void* v = NULL;
  pthread_join(t, &v);
  CHECK(rc == 0 && v == PTHREAD_CANCELED && atomic_load(&g_read_result) == 1 &&
            atomic_load(&g_cleanup) == 7,
        "disabled cancellation: the read completes, testcancel acts",
        "cancel=%d canceled=%d read=%d state=%d", rc, v == PTHREAD_CANCELED,
        atomic_load(&g_read_result), atomic_load(&g_cleanup));
}

/* A request made while the thread computes acts at its next cancellation
 * point only: here, after the flag it sets once it saw the request. */
static atomic_int g_go;
static atomic_int g_stage;
static void* computing(void* unused) {
  (void)unused;
  atomic_store(&g_ready, 1);
  while (!atomic_load(&g_go)) {
  }
  atomic_store(&g_stage, 1);
  pthread_mutex_lock(&g_mu); /* not a cancellation point */
  pthread_mutex_unlock(&g_mu);
  atomic_store(&g_stage, 2);
  usleep(1);
  atomic_store(&g_stage, 3);
  return NULL;
}

static void cancel_running(void) {
  pthread_t t;
  atomic_store(&g_ready, 0);
  atomic_store(&g_stage, 0);
  pthread_create(&t, NULL, computing, NULL);
  while (!atomic_load(&g_ready)) sched_yield();
  int rc = pthread_cancel(t);
  atomic_store(&g_go, 1);
  void* v = NULL;
  pthread_join(t, &v);
  CHECK(rc == 0 && v == PTHREAD_CANCELED && atomic_load(&g_stage) == 2,
        "deferred: acts at the next cancellation point", "cancel=%d canceled=%d stage=%d", rc,
        v == PTHREAD_CANCELED, atomic_load(&g_stage));
}

static void* self_async(void* unused) {
  (void)unused;
  int old = -1;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
  atomic_store(&g_stage, old == PTHREAD_CANCEL_DEFERRED ? 1 : 5);
  pthread_cancel(pthread_self());
  atomic_store(&g_stage, 2);
  return NULL;
}

static void* self_deferred(void* unused) {
  (void)unused;
  pthread_cancel(pthread_self());
  atomic_store(&g_stage, 1); /* still running */
  usleep(1);
  atomic_store(&g_stage, 2);
  return NULL;
}

static atomic_int g_ended;
/* Asynchronous, computing without a single call: ends at once. */
static void* spins_async(void* unused) {
  (void)unused;
  static volatile unsigned long spins;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  atomic_store(&g_ready, 1);
  for (;;) spins++;
  return NULL;
}

static void* ends_at_once(void* unused) {
  (void)unused;
  atomic_store(&g_ended, 1);
  return (void*)42;
}

static void self_and_ended(void) {
  pthread_t t;
  void* v = NULL;
  atomic_store(&g_stage, 0);
  pthread_create(&t, NULL, self_async, NULL);
  pthread_join(t, &v);
  CHECK(v == PTHREAD_CANCELED && atomic_load(&g_stage) == 1,
        "asynchronous self-cancel acts at once", "canceled=%d stage=%d", v == PTHREAD_CANCELED,
        atomic_load(&g_stage));

  atomic_store(&g_stage, 0);
  pthread_create(&t, NULL, self_deferred, NULL);
  pthread_join(t, &v);
  CHECK(v == PTHREAD_CANCELED && atomic_load(&g_stage) == 1,
        "deferred self-cancel acts at the next point", "canceled=%d stage=%d",
        v == PTHREAD_CANCELED, atomic_load(&g_stage));

  atomic_store(&g_ready, 0);
  pthread_create(&t, NULL, spins_async, NULL);
  while (!atomic_load(&g_ready)) sched_yield();
  int arc = pthread_cancel(t);
  int ajr = pthread_join(t, &v);
  CHECK(arc == 0 && ajr == 0 && v == PTHREAD_CANCELED, "asynchronous cancel of a spinning thread",
        "cancel=%d join=%d canceled=%d", arc, ajr, v == PTHREAD_CANCELED);

  /* A thread that has returned (or is returning): the request changes
   * nothing, its value stays its own. */
  pthread_create(&t, NULL, ends_at_once, NULL);
  while (!atomic_load(&g_ended)) sched_yield();
  int rc = pthread_cancel(t);
  int jr = pthread_join(t, &v);
  CHECK(rc == 0 && jr == 0 && (intptr_t)v == 42, "cancel of a thread that returned",
        "cancel=%d join=%d value=%ld", rc, jr, (long)(intptr_t)v);
}

/* A handler that runs in the thread with its cancellation pending and
 * calls a cancellation point: the thread is cancelled inside the handler. */
static void handler_writes(int sig) {
  (void)sig;
  (void)!write(g_pipe[1], "", 0);
}
static void* cancelled_in_handler(void* unused) {
  (void)unused;
  pthread_cancel(pthread_self());
  pthread_kill(pthread_self(), SIGUSR1);
  atomic_store(&g_stage, 9); /* natively never: the handler's write acted */
  return NULL;
}

/* The cancellation state goes with a forking thread to the child, whose
 * one thread it is: disabled there, enabled again, then acted on. */
static void* forks(void* unused) {
  (void)unused;
  int old = -1;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pid_t pid = fork();
  if (pid == 0) {
    int state = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    pthread_cancel(pthread_self());
    pthread_testcancel(); /* disabled: goes on */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    pthread_testcancel(); /* acts: the child's last thread ends, status 0 */
    _exit(state == PTHREAD_CANCEL_DISABLE ? 7 : 8);
  }
  pthread_setcancelstate(old, NULL);
  int status = -1;
  waitpid(pid, &status, 0);
  return (void*)(intptr_t)status;
}

/* Two waiters with cancellation disabled and requested: one signal wakes
 * one of them, once. */
static atomic_int g_wakeups;
static int g_go_out;
static void* disabled_waiter(void* unused) {
  (void)unused;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  pthread_cancel(pthread_self());
  pthread_mutex_lock(&g_mu);
  atomic_fetch_add(&g_ready, 1);
  while (!g_go_out) {
    pthread_cond_wait(&g_cv, &g_mu);
    atomic_fetch_add(&g_wakeups, 1);
  }
  pthread_mutex_unlock(&g_mu);
  return NULL;
}

static void handlers_forks_and_disabled_waits(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler_writes;
  sigaction(SIGUSR1, &sa, NULL);
  pthread_t t;
  void* v = NULL;
  atomic_store(&g_stage, 0);
  pthread_create(&t, NULL, cancelled_in_handler, NULL);
  pthread_join(t, &v);
  CHECK(v == PTHREAD_CANCELED && atomic_load(&g_stage) == 0, "cancelled in its own signal handler",
        "canceled=%d stage=%d", v == PTHREAD_CANCELED, atomic_load(&g_stage));

  pthread_create(&t, NULL, forks, NULL);
  pthread_join(t, &v);
  int status = (int)(intptr_t)v;
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a fork child keeps its cancellation state",
        "status=0x%x", status);

  pthread_t w[2];
  atomic_store(&g_ready, 0);
  for (int i = 0; i < 2; i++) pthread_create(&w[i], NULL, disabled_waiter, NULL);
  while (atomic_load(&g_ready) < 2) sched_yield();
  pthread_mutex_lock(&g_mu);
  pthread_cond_signal(&g_cv);
  pthread_mutex_unlock(&g_mu);
  while (atomic_load(&g_wakeups) < 1) sched_yield();
  for (int i = 0; i < 2000; i++) sched_yield();
  int wakeups = atomic_load(&g_wakeups);
  pthread_mutex_lock(&g_mu);
  g_go_out = 1;
  pthread_cond_broadcast(&g_cv);
  pthread_mutex_unlock(&g_mu);
  for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
  /* One, or two when the second waiter had not parked yet as the signal
   * came (a spurious wake-up, which POSIX allows); a wake-up passed back
   * and forth between the two would count thousands. */
  CHECK(wakeups >= 1 && wakeups <= 2, "a pending, disabled cancellation takes no extra wake-ups",
        "wakeups=%d", wakeups);
}

/* Asynchronous type, waiting for a mutex (no cancellation point): ended by
 * the cancellation as natively (its signal interrupts any wait), leaving
 * the mutex to its owner. */
static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static void* async_locker(void* unused) {
  (void)unused;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
  atomic_store(&g_ready, 1);
  pthread_mutex_lock(&g_held);
  atomic_store(&g_stage, 9); /* never: cancelled while waiting */
  pthread_mutex_unlock(&g_held);
  return NULL;
}

static void async_lock_wait(void) {
  pthread_t t;
  void* v = NULL;
  atomic_store(&g_ready, 0);
  atomic_store(&g_stage, 0);
  pthread_mutex_lock(&g_held);
  pthread_create(&t, NULL, async_locker, NULL);
  wait_ready();
  int rc = pthread_cancel(t);
  int jr = pthread_join(t, &v);
  int unlock = pthread_mutex_unlock(&g_held);
  int relock = pthread_mutex_trylock(&g_held);
  if (relock == 0) pthread_mutex_unlock(&g_held);
  CHECK(rc == 0 && jr == 0 && v == PTHREAD_CANCELED && atomic_load(&g_stage) == 0 && unlock == 0 &&
            relock == 0,
        "asynchronous cancel of a thread waiting for a mutex",
        "cancel=%d join=%d canceled=%d stage=%d unlock=%d relock=%d", rc, jr, v == PTHREAD_CANCELED,
        atomic_load(&g_stage), unlock, relock);
}

static void states(void) {
  int old = -1;
  EXPECT_RC("setcancelstate(7)", pthread_setcancelstate(7, &old), EINVAL);
  EXPECT_RC("setcanceltype(7)", pthread_setcanceltype(7, &old), EINVAL);
}

static void* state_thread(void* unused) {
  (void)unused;
  int a = -1, b = -1, c = -1, d = -1;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &a);
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &b);
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &c);
  pthread_setcanceltype(PTHREAD_CANCEL_DEFERRED, &d);
  states();
  return (void*)(intptr_t)(a == PTHREAD_CANCEL_ENABLE && b == PTHREAD_CANCEL_DISABLE &&
                           c == PTHREAD_CANCEL_DEFERRED && d == PTHREAD_CANCEL_ASYNCHRONOUS);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (pipe(g_pipe) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, g_sock) != 0) return 2;
  int port;
  g_listener = loopback_listener(&port);
  sem_init(&g_sem, 0, 0);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&g_mu, &ma);
  if (pipe(g_file_pipe) != 0 || !(g_file = fdopen(g_file_pipe[0], "r"))) return 2;
  g_epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_sock[0], &ev);

  struct parked company;
  parked_start(&company);
  for (int k = 0; k < K_COUNT; k++) cancel_blocked((enum kind)k);
  cancel_disabled();
  cancel_running();
  self_and_ended();
  handlers_forks_and_disabled_waits();
  async_lock_wait();
  pthread_t t;
  void* v = NULL;
  pthread_create(&t, NULL, state_thread, NULL);
  pthread_join(t, &v);
  CHECK(v == (void*)1, "setcancelstate/type return the old value", "got %p", v);
  parked_stop(&company);
  return g_failures ? 1 : 0;
}
