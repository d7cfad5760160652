// SPDX-License-Identifier: MIT
/* main waits in pause(), sigsuspend() and flock() on a file another process
 * holds, while other threads serve TCP echo over loopback and then end main's
 * wait: with a process-directed signal (kill), which the kernel gives to
 * main as the one thread not blocking it, or by having the lock released.
 * Natively the other threads run on their own OS threads; under the shim
 * main's green thread parks in these calls (docs/design.md, "What blocks
 * what"); blocking_calls.c covers the same calls with thread-directed
 * signals and one carrier. */
#include "common.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define ROUNDS 200

static int g_listener;
static int g_port;
static pthread_t g_main;
static int g_child_pipe[2];  /* to the child: release the lock */
static int g_how;            /* 0 pause, 1 sigsuspend, 2 flock */
static volatile sig_atomic_t g_got;
static atomic_int g_main_back; /* main returned from its wait */

static void on_usr1(int sig) { (void)sig; g_got++; }

/* The workers leave SIGUSR1 to main, as a program whose main waits for it
   would: the kernel then delivers the process-directed signal to main. */
static void block_usr1(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
}

static void* server(void* arg) {
  (void)arg;
  block_usr1();
  accept_and_echo(g_listener);
  return NULL;
}

static void* client(void* arg) {
  (void)arg;
  block_usr1();
  int ok = echo_rounds(g_port, ROUNDS);
  if (!ok) g_failures++;
  /* end main's wait */
  if (g_how == 2) {
    char c = 'u';
    if (write(g_child_pipe[1], &c, 1) != 1) g_failures++;
  } else if (g_how == 1) {
    kill(getpid(), SIGUSR1); /* pending until sigsuspend unblocks it */
  } else {
    /* pause() cannot unblock atomically: signal until main is back */
    while (!atomic_load(&g_main_back)) {
      kill(getpid(), SIGUSR1);
      usleep(2000);
    }
  }
  return (void*)(intptr_t)ok;
}

static void serve_while_main_blocks(const char* what, int how) {
  g_how = how;
  if ((g_listener = loopback_listener(&g_port)) < 0) {
    printf("%s: setup failed\n", what);
    g_failures++;
    return;
  }
  g_got = 0;
  atomic_store(&g_main_back, 0);
  /* sigsuspend: SIGUSR1 stays pending until main waits for it */
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  if (how == 1) sigprocmask(SIG_BLOCK, &usr1, &old);
  pthread_t s, c;
  pthread_create(&s, NULL, server, NULL);
  pthread_create(&c, NULL, client, NULL);
  tasks_sample();
  int r = 0, e = 0;
  if (how == 0) {
    r = pause();
    e = errno;
  } else if (how == 1) {
    sigset_t none;
    sigemptyset(&none);
    r = sigsuspend(&none);
    e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
  } else {
    int fd = open("lockfile", O_RDWR);
    r = flock(fd, LOCK_EX);
    e = r ? errno : 0;
    flock(fd, LOCK_UN);
    close(fd);
  }
  atomic_store(&g_main_back, 1);
  void* ok;
  pthread_join(c, &ok);
  pthread_join(s, NULL);
  close(g_listener);
  /* (flock: no handler line; a SIGUSR1 the pause round's client sent after
     main was back may still be arriving, in either run) */
  printf("%s in main while threads served %d echo rounds: returned %d %s, rounds %s%s\n", what,
         ROUNDS, r, r ? errname(e) : "", ok ? "ok" : "FAILED",
         how == 2 ? "" : (g_got > 0 ? ", handler ran" : ", handler NOT RUN"));
}

int main(void) {
  test_start();
  g_main = pthread_self();
  struct sigaction sa = {0};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  serve_while_main_blocks("pause", 0);
  serve_while_main_blocks("sigsuspend", 1);

  /* flock: a child process holds the lock until the client thread says so. */
  int fd = open("lockfile", O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || pipe(g_child_pipe) != 0) return 2;
  int ready[2];
  if (pipe(ready) != 0) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    flock(fd, LOCK_EX);
    char c = 'l';
    if (write(ready[1], &c, 1) != 1) _exit(3);
    if (read(g_child_pipe[0], &c, 1) != 1) _exit(3);
    flock(fd, LOCK_UN);
    _exit(0);
  }
  close(fd);
  char c;
  if (read(ready[0], &c, 1) != 1) return 2;
  serve_while_main_blocks("flock", 2);
  int status;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lock holder exited", "status %d", status);
  unlink("lockfile");
  return test_end();
}
