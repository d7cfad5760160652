// SPDX-License-Identifier: MIT
/* A signalfd read or polled by a thread that was sent a signal it blocks
 * (raise, pthread_kill): natively the signal is pending for that thread and
 * the signalfd reports it. Also a process-directed signal, several records
 * in one read, select, and a non-blocking signalfd with nothing pending. */
#include "common.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

static int g_sfd;    /* blocking, SIGUSR1 and SIGUSR2 */
static int g_sfd_nb; /* non-blocking, the same mask */
static struct gate g_in_poll, g_in_read, g_in_restart;
static sigset_t g_mask;
static atomic_int g_urg;

static void on_urg(int sig) {
  (void)sig;
  atomic_fetch_add(&g_urg, 1);
}

static void show_records(const char* label, const struct signalfd_siginfo* si, ssize_t n) {
  printf("%s: ret=%zd", label, n);
  for (ssize_t i = 0; i + (ssize_t)sizeof *si <= n; i += (ssize_t)sizeof *si, si++)
    printf(" [signo=%s code=%s pid=%s]",
           si->ssi_signo == SIGUSR1   ? "USR1"
           : si->ssi_signo == SIGUSR2 ? "USR2"
                                      : "other",
           si->ssi_code == SI_TKILL  ? "SI_TKILL"
           : si->ssi_code == SI_USER ? "SI_USER"
                                     : "other",
           si->ssi_pid == (uint32_t)getpid() ? "self" : "other");
  printf("\n");
}

static void* waiter(void* unused) {
  (void)unused;
  struct signalfd_siginfo si[4];
  /* 1. raise() in this thread, which blocks the signal */
  raise(SIGUSR1);
  show_records("read after raise", si, read(g_sfd, si, sizeof si));
  /* 2. two kept signals, one read with room for four */
  raise(SIGUSR2);
  raise(SIGUSR1);
  show_records("read of two kept signals", si, read(g_sfd, si, sizeof si));
  /* 3. nothing pending, non-blocking */
  EXPECT_ERR("non-blocking read with nothing pending", read(g_sfd_nb, si, sizeof si), EAGAIN);
  /* 4. pthread_kill while this thread waits in poll */
  gate_open(&g_in_poll, 1);
  struct pollfd p = {g_sfd, POLLIN, 0};
  int r = poll(&p, 1, 20000);
  printf("poll woken by pthread_kill: ret=%d revents=%s\n", r,
         p.revents == POLLIN ? "POLLIN" : "other");
  show_records("read after poll", si, read(g_sfd, si, sizeof si));
  /* 5. pthread_kill while this thread waits in read */
  gate_open(&g_in_read, 1);
  show_records("read woken by pthread_kill", si, read(g_sfd, si, sizeof si));
  /* 6. select sees a kept signal */
  raise(SIGUSR2);
  fd_set rd;
  FD_ZERO(&rd);
  FD_SET(g_sfd, &rd);
  struct timeval tv = {20, 0};
  r = select(g_sfd + 1, &rd, NULL, NULL, &tv);
  printf("select with a kept signal: ret=%d readable=%s\n", r, FD_ISSET(g_sfd, &rd) ? "yes" : "no");
  show_records("read after select", si, read(g_sfd, si, sizeof si));
  /* 7. process-directed */
  kill(getpid(), SIGUSR2);
  show_records("read after kill()", si, read(g_sfd, si, sizeof si));
  /* 8. an SA_RESTART handler (SIGURG) while this thread waits in read:
   * the read goes on, as natively */
  gate_open(&g_in_restart, 1);
  show_records("read across an SA_RESTART handler", si, read(g_sfd, si, sizeof si));
  printf("the SA_RESTART handler ran: %s\n", atomic_load(&g_urg) == 1 ? "yes" : "no");
  /* 9. a closed signalfd's number reused by a FIFO: not readable for a
   * kept signal */
  int sfd = signalfd(-1, &g_mask, SFD_CLOEXEC);
  close(sfd);
  char path[64];
  snprintf(path, sizeof path, "/tmp/gh_signalfd_kept.%d", (int)getpid());
  unlink(path);
  if (mkfifo(path, 0600) != 0) exit(2);
  int f = open(path, O_RDWR); /* natively always the number just closed */
  unlink(path);
  raise(SIGUSR1);
  struct pollfd q = {f, POLLIN, 0};
  int rr = poll(&q, 1, 50);
  /* Under the shim the runtime may have taken that number meanwhile: then
   * there is nothing stale to see, and the answer is the native one. */
  printf("FIFO on a closed signalfd's number readable: ret=%d\n", f == sfd ? rr : 0);
  if (f != sfd) CHECK(rr == 0, "FIFO on another number not readable", "ret=%d", rr);
  show_records("the kept signal still there", si, read(g_sfd, si, sizeof si));
  close(f);
  return NULL;
}

/* The exec'd image: a signalfd it did not make (inherited, CLOEXEC off) is
 * read by a thread that raised a signal it blocks (the mask is inherited
 * across exec too). */
static void* read_inherited(void* arg) {
  int fd = *(int*)arg;
  raise(SIGUSR1);
  struct signalfd_siginfo si[2];
  show_records("read of an inherited signalfd after raise", si, read(fd, si, sizeof si));
  return NULL;
}

static int inherited(int fd) {
  alarm(20); /* a read that never sees the signal ends the child */
  pthread_t t;
  if (pthread_create(&t, NULL, read_inherited, &fd) != 0) return 2;
  pthread_join(t, NULL);
  return 0;
}

static void exec_with_signalfd(void) {
  int fd = signalfd(-1, &g_mask, 0); /* kept across exec */
  char arg[16];
  snprintf(arg, sizeof arg, "%d", fd);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", "signalfd_kept", "inherited", arg, (char*)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  printf("exec'd image: %s %d\n", WIFEXITED(st) ? "exit" : "signal",
         WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  close(fd);
}

int main(int argc, char** argv) {
  test_start();
  if (argc == 3 && strcmp(argv[1], "inherited") == 0) return inherited(atoi(argv[2]));
  sigset_t m;
  sigemptyset(&m);
  sigaddset(&m, SIGUSR1);
  sigaddset(&m, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &m, NULL); /* inherited by the thread */
  g_mask = m;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_urg;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGURG, &sa, NULL);
  gate_init(&g_in_restart);
  g_sfd = signalfd(-1, &m, SFD_CLOEXEC);
  g_sfd_nb = signalfd(-1, &m, SFD_CLOEXEC | SFD_NONBLOCK);
  if (g_sfd < 0 || g_sfd_nb < 0) return 2;
  gate_init(&g_in_poll);
  gate_init(&g_in_read);
  pthread_t t;
  if (pthread_create(&t, NULL, waiter, NULL) != 0) return 2;
  gate_wait(&g_in_poll);
  usleep(50000); /* most likely in poll by now; the answer is the same either way */
  pthread_kill(t, SIGUSR2);
  gate_wait(&g_in_read);
  usleep(50000);
  pthread_kill(t, SIGUSR1);
  gate_wait(&g_in_restart);
  usleep(50000);
  pthread_kill(t, SIGURG);
  usleep(50000); /* the handler has run by now, most likely during the read */
  pthread_kill(t, SIGUSR2);
  pthread_join(t, NULL);
  exec_with_signalfd();
  return test_end();
}
