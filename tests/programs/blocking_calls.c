// SPDX-License-Identifier: MIT
/* One thread waits in a call that waits for another party — a file lock,
 * a message queue, a semaphore, a FIFO's other end, a tty, a signal —
 * while a client thread and a server thread exchange TCP echo rounds over
 * loopback; then the client lets the waiting call go on (releases the lock,
 * sends the message, signals, ...) and the program prints what the call
 * returned.
 *
 * The test runs with one carrier and no hand-off (CMakeLists.txt): a call
 * that blocked its carrier instead of parking its green thread would keep the
 * client and the server from ever running, and the run would time out.
 * Natively every thread is an OS thread of its own.
 *
 * Signal cases: a handler without SA_RESTART interrupts each call (EINTR);
 * with SA_RESTART the lock, POSIX queue and open calls restart (the client
 * then releases them) and the System V ones still fail with EINTR
 * (signal(7)). */
#include "common.h"

#include <mqueue.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

#define ROUNDS 50

struct scenario {
  const char* name;
  int (*setup)(void);    /* main, before the threads; 0 = ok, else skip */
  long (*wait)(void);    /* the waiting thread: the call (result, errno) */
  void (*release)(void); /* the client, after its rounds */
  void (*teardown)(void);
  int signal; /* 0, or: the client sends it to the waiting thread until it is back */
};

static atomic_int g_entering; /* the waiting thread is about to make its call */
static atomic_int g_back;     /* ... and has returned from it */
static pthread_t g_waiter;
static volatile sig_atomic_t g_handled;
static int g_listener, g_port;
static char g_dir[64];
static char g_path[128];

/* ---- file locks ---- */

static int g_fd1, g_fd2;      /* two descriptions of one file */
static int g_child_cmd[2];    /* to the lock-holding child: let go */
static pid_t g_child;

static void path_in_dir(const char* name) { snprintf(g_path, sizeof g_path, "%s/%s", g_dir, name); }

static int open_two(void) {
  path_in_dir("lockfile");
  g_fd1 = open(g_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  g_fd2 = open(g_path, O_RDWR);
  return g_fd1 < 0 || g_fd2 < 0;
}
static void close_two(void) {
  close(g_fd1);
  close(g_fd2);
  unlink(g_path);
}

static int flock_setup(void) { return open_two() || flock(g_fd1, LOCK_EX) != 0; }
static long flock_wait(void) { return flock(g_fd2, LOCK_EX); }
static void flock_release(void) { flock(g_fd1, LOCK_UN); }

static int ofd_setup(void) {
  if (open_two()) return 1;
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  return fcntl(g_fd1, F_OFD_SETLK, &l) != 0;
}
static long ofd_wait(void) {
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
  return fcntl(g_fd2, F_OFD_SETLKW, &l);
}
static void ofd_release(void) {
  struct flock l = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
  fcntl(g_fd1, F_OFD_SETLK, &l);
}

/* Record locks belong to the process: another process holds this one. */
static int child_holds(int lockf_style) {
  if (open_two() || pipe(g_child_cmd) != 0) return 1;
  int ready[2];
  if (pipe(ready) != 0) return 1;
  g_child = fork();
  if (g_child == 0) {
    int ok;
    if (lockf_style) {
      ok = lockf(g_fd1, F_LOCK, 0) == 0;
    } else {
      struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
      ok = fcntl(g_fd1, F_SETLK, &l) == 0;
    }
    char c = ok ? 'l' : 'x';
    if (write(ready[1], &c, 1) != 1) _exit(3);
    if (read(g_child_cmd[0], &c, 1) != 1) _exit(3);
    _exit(0); /* exiting lets go of the lock */
  }
  char c = 0;
  if (read(ready[0], &c, 1) != 1) c = 0;
  close(ready[0]);
  close(ready[1]);
  return c != 'l';
}
static int lockf_setup(void) { return child_holds(1); }
static int setlkw_setup(void) { return child_holds(0); }
static long lockf_wait(void) { return lockf(g_fd2, F_LOCK, 0); }
static long setlkw_wait(void) {
  struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
  return fcntl(g_fd2, F_SETLKW, &l);
}
static void child_release(void) {
  char c = 'u';
  if (write(g_child_cmd[1], &c, 1) != 1) g_failures++;
}
static void child_teardown(void) {
  child_release(); /* signal cases: the child still holds it */
  int st;
  waitpid(g_child, &st, 0);
  close(g_child_cmd[0]);
  close(g_child_cmd[1]);
  close_two();
}

/* ---- System V IPC ---- */

static int g_msq, g_sem;
struct msg {
  long type;
  char text[16];
};

static int msq_setup(void) { return (g_msq = msgget(IPC_PRIVATE, IPC_CREAT | 0600)) < 0; }
static void msq_teardown(void) { msgctl(g_msq, IPC_RMID, NULL); }
static long msgrcv_wait(void) {
  struct msg m = {0};
  long n = msgrcv(g_msq, &m, sizeof m.text, 7, 0);
  if (n >= 0) printf("  msgrcv got type %ld \"%s\"\n", m.type, m.text);
  return n;
}
static void msgrcv_release(void) {
  struct msg m = {7, "hello"};
  msgsnd(g_msq, &m, sizeof m.text, 0);
}

/* A queue that holds one message, filled. */
static int msgsnd_setup(void) {
  if (msq_setup()) return 1;
  struct msqid_ds ds;
  if (msgctl(g_msq, IPC_STAT, &ds) != 0) return 1;
  ds.msg_qbytes = sizeof(((struct msg*)0)->text);
  if (msgctl(g_msq, IPC_SET, &ds) != 0) return 1;
  struct msg m = {1, "first"};
  return msgsnd(g_msq, &m, sizeof m.text, 0) != 0;
}
static long msgsnd_wait(void) {
  struct msg m = {2, "second"};
  return msgsnd(g_msq, &m, sizeof m.text, 0);
}
static void msgsnd_release(void) {
  struct msg m;
  msgrcv(g_msq, &m, sizeof m.text, 0, 0);
}
static void msgsnd_teardown(void) {
  struct msg m = {0};
  long n = msgrcv(g_msq, &m, sizeof m.text, 0, IPC_NOWAIT);
  printf("  left in the queue: %s\n", n >= 0 ? m.text : "nothing");
  msq_teardown();
}

static int sem_setup(void) { return (g_sem = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600)) < 0; }
static long semop_wait(void) {
  struct sembuf ops[2] = {{0, -1, 0}, {1, 1, 0}}; /* take 0, give 1: all or nothing */
  return semop(g_sem, ops, 2);
}
static void semop_release(void) {
  struct sembuf op = {0, 1, 0};
  semop(g_sem, &op, 1);
}
static void sem_teardown(void) {
  printf("  semaphores now %d %d\n", semctl(g_sem, 0, GETVAL), semctl(g_sem, 1, GETVAL));
  semctl(g_sem, 0, IPC_RMID);
}

/* ---- POSIX message queues ---- */

static mqd_t g_mq = (mqd_t)-1;
static char g_mq_name[64];

static int mq_setup_n(long held) {
  snprintf(g_mq_name, sizeof g_mq_name, "/gh-blocking-%d", (int)getpid());
  struct mq_attr a = {.mq_maxmsg = 1, .mq_msgsize = 16};
  g_mq = mq_open(g_mq_name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
  if (g_mq == (mqd_t)-1) return 1;
  return held ? mq_send(g_mq, "first", 6, 1) != 0 : 0;
}
static int mqrecv_setup(void) { return mq_setup_n(0); }
static int mqsend_setup(void) { return mq_setup_n(1); }
static long mqrecv_wait(void) {
  char buf[16] = {0};
  unsigned prio = 0;
  long n = mq_receive(g_mq, buf, sizeof buf, &prio);
  if (n >= 0) printf("  mq_receive got \"%s\" priority %u\n", buf, prio);
  return n;
}
static void mqrecv_release(void) { mq_send(g_mq, "hello", 6, 3); }
static long mqsend_wait(void) { return mq_send(g_mq, "second", 7, 2); }
static void mqsend_release(void) {
  char buf[16];
  mq_receive(g_mq, buf, sizeof buf, NULL);
}
static void mq_teardown(void) {
  char buf[16] = {0};
  struct timespec past = {0, 0};
  long n = mq_timedreceive(g_mq, buf, sizeof buf, NULL, &past);
  printf("  left in the queue: %s\n", n >= 0 ? buf : "nothing");
  mq_close(g_mq);
  mq_unlink(g_mq_name);
}

/* ---- FIFO open, tty read ---- */

static int g_fifo_writer = -1;
static int fifo_setup(void) {
  path_in_dir("fifo");
  return mkfifo(g_path, 0600) != 0;
}
static long fifo_wait(void) {
  int fd = open(g_path, O_RDONLY);
  if (fd < 0) return -1;
  char buf[16] = {0};
  long n = read(fd, buf, sizeof buf - 1);
  printf("  read from the FIFO: %ld \"%s\"\n", n, n > 0 ? buf : "");
  close(fd);
  return 0;
}
static void fifo_release(void) {
  g_fifo_writer = open(g_path, O_WRONLY);
  if (g_fifo_writer < 0 || write(g_fifo_writer, "through", 7) != 7) g_failures++;
  close(g_fifo_writer);
}
static void fifo_teardown(void) { unlink(g_path); }

static int g_ptm = -1, g_pts = -1;
static int tty_setup(void) {
  g_ptm = posix_openpt(O_RDWR | O_NOCTTY);
  if (g_ptm < 0 || grantpt(g_ptm) != 0 || unlockpt(g_ptm) != 0) return 1;
  g_pts = open(ptsname(g_ptm), O_RDWR | O_NOCTTY);
  if (g_pts < 0) return 1;
  struct termios t;
  if (tcgetattr(g_pts, &t) != 0) return 1;
  t.c_lflag &= ~(tcflag_t)ECHO; /* canonical mode: read returns a line */
  return tcsetattr(g_pts, TCSANOW, &t) != 0;
}
static long tty_wait(void) {
  char buf[32] = {0};
  long n = read(g_pts, buf, sizeof buf - 1);
  if (n > 0) printf("  read from the tty: %ld \"%.*s\"\n", n, (int)n - 1, buf);
  return n;
}
static void tty_release(void) {
  if (write(g_ptm, "a line\n", 7) != 7) g_failures++;
}
static void tty_teardown(void) {
  close(g_pts);
  close(g_ptm);
}

/* ---- stdio on stdin: fd 0 is a pipe, then a tty ---- */

static int g_saved_stdin = -1, g_stdin_pipe[2];
static int stdin_pipe_setup(void) {
  if (pipe(g_stdin_pipe) != 0) return 1;
  g_saved_stdin = dup(0);
  return dup2(g_stdin_pipe[0], 0) != 0;
}
static long fgets_wait(void) {
  char line[32] = {0};
  if (!fgets(line, sizeof line, stdin)) return -1;
  line[strcspn(line, "\n")] = 0;
  printf("  fgets(stdin) got \"%s\"\n", line);
  return (long)strlen(line);
}
static void stdin_pipe_release(void) {
  if (write(g_stdin_pipe[1], "typed\n", 6) != 6) g_failures++;
}
static void stdin_restore(void) {
  dup2(g_saved_stdin, 0);
  close(g_saved_stdin);
  clearerr(stdin);
}
static void stdin_pipe_teardown(void) {
  stdin_restore();
  close(g_stdin_pipe[0]);
  close(g_stdin_pipe[1]);
}
static int stdin_tty_setup(void) {
  if (tty_setup()) return 1;
  g_saved_stdin = dup(0);
  return dup2(g_pts, 0) != 0;
}
static long getchar_wait(void) {
  int c = getchar();
  int d = getchar();
  printf("  getchar() got '%c' then '%c'\n", c, d);
  return c;
}
static void stdin_tty_teardown(void) {
  int c;
  while ((c = getchar()) != '\n' && c != EOF) {
  } /* the rest of the line, from stdin's buffer */
  stdin_restore();
  tty_teardown();
}

/* ---- waitpid: a child that ends when told ---- */

static pid_t g_kid;
static int g_kid_cmd[2];
static int kid_setup(void) {
  if (pipe(g_kid_cmd) != 0) return 1;
  g_kid = fork();
  if (g_kid == 0) {
    char c;
    _exit(read(g_kid_cmd[0], &c, 1) == 1 ? 7 : 8);
  }
  return g_kid < 0;
}
static long waitpid_wait(void) {
  int st = 0;
  pid_t r = waitpid(g_kid, &st, 0);
  if (r == g_kid) {
    printf("  reaped the child: exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    g_kid = 0;
    return 0;
  }
  return r;
}
static void kid_release(void) {
  if (write(g_kid_cmd[1], "x", 1) != 1) g_failures++;
}
static void kid_teardown(void) {
  if (g_kid > 0) { /* interrupted: end it now */
    kid_release();
    waitpid(g_kid, NULL, 0);
  }
  close(g_kid_cmd[0]);
  close(g_kid_cmd[1]);
}

/* ---- bad timeouts: refused before anything is done ---- */

static int bad_setup(void) { return sem_setup() || mq_setup_n(0); }
static long bad_timeouts(void) {
  struct sembuf up = {0, 1, 0};
  struct timespec bad = {0, 2000000000L}, neg = {-1, 0};
  errno = 0;
  long r = semtimedop(g_sem, &up, 1, &bad);
  printf("  semtimedop, tv_nsec 2e9: %ld %s, semaphore %d\n", r, r ? errname(errno) : "",
         semctl(g_sem, 0, GETVAL));
  r = mq_timedsend(g_mq, "x", 1, 0, &neg);
  printf("  mq_timedsend, tv_sec -1: %ld %s\n", r, r ? errname(errno) : "");
  char buf[16];
  r = mq_timedreceive(g_mq, buf, sizeof buf, NULL, &bad);
  printf("  mq_timedreceive, tv_nsec 2e9: %ld %s\n", r, r ? errname(errno) : "");
  return 0;
}
static void bad_teardown(void) {
  sem_teardown();
  mq_teardown();
}

/* ---- pause, sigsuspend ---- */

static int nothing(void) { return 0; }
static void nothing_v(void) {}
static long pause_wait(void) { return pause(); }
static long sigsuspend_wait(void) {
  sigset_t none;
  sigemptyset(&none);
  return sigsuspend(&none);
}

/* ---- the harness ---- */

static void* server(void* arg) {
  (void)arg;
  accept_and_echo(g_listener);
  return NULL;
}

static const struct scenario* g_cur;

static void* waiter(void* arg) {
  (void)arg;
  if (g_cur->signal == SIGUSR1) {
    /* sigsuspend's signal stays pending until it unblocks it */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
  }
  atomic_store(&g_entering, 1);
  errno = 0;
  long r = g_cur->wait();
  int e = errno;
  atomic_store(&g_back, 1);
  printf("  returned %ld%s%s\n", r < 0 ? -1 : r, r < 0 ? " " : "", r < 0 ? errname(e) : "");
  return NULL;
}

static void* client(void* arg) {
  (void)arg;
  while (!atomic_load(&g_entering)) sched_yield();
  int ok = echo_rounds(g_port, ROUNDS);
  printf("  %d echo rounds while it waited: %s\n", ROUNDS, ok ? "ok" : "FAILED");
  if (!ok) g_failures++;
  if (g_cur->signal && g_cur->release) {
    /* A handler that the call survives: signal until it ran, then release. */
    while (!g_handled) {
      pthread_kill(g_waiter, g_cur->signal);
      usleep(1000);
    }
    g_cur->release();
  } else if (g_cur->signal) {
    /* A signal may come before the call is made: send until it is back. */
    while (!atomic_load(&g_back)) {
      pthread_kill(g_waiter, g_cur->signal);
      usleep(1000);
    }
  } else if (g_cur->release) {
    g_cur->release();
  }
  return NULL;
}

static void run(const struct scenario* sc) {
  printf("%s:\n", sc->name);
  fflush(stdout);
  if (sc->setup()) {
    printf("  skipped: cannot set up (%s)\n", errname(errno));
    return;
  }
  g_cur = sc;
  atomic_store(&g_entering, 0);
  atomic_store(&g_back, 0);
  g_handled = 0;
  if ((g_listener = loopback_listener(&g_port)) < 0) {
    printf("  listener: FAIL\n");
    g_failures++;
    return;
  }
  pthread_t srv, cli;
  pthread_create(&srv, NULL, server, NULL);
  pthread_create(&g_waiter, NULL, waiter, NULL);
  pthread_create(&cli, NULL, client, NULL);
  tasks_sample();
  pthread_join(cli, NULL);
  pthread_join(g_waiter, NULL);
  pthread_join(srv, NULL);
  close(g_listener);
  if (sc->signal) printf("  handler ran: %s\n", g_handled ? "yes" : "NO");
  if (sc->teardown) sc->teardown();
}

static void on_signal(int sig) {
  (void)sig;
  g_handled = 1;
}

int main(void) {
  test_start();
  snprintf(g_dir, sizeof g_dir, "/tmp/gh-blocking-%d", (int)getpid());
  if (mkdir(g_dir, 0700) != 0) return 2;
  /* SIGUSR1, SIGUSR2: plain handlers; SIGWINCH: an SA_RESTART one */
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGWINCH, &sa, NULL);

  static const struct scenario all[] = {
      {"flock", flock_setup, flock_wait, flock_release, close_two, 0},
      {"fcntl F_OFD_SETLKW", ofd_setup, ofd_wait, ofd_release, close_two, 0},
      {"lockf F_LOCK (another process holds it)", lockf_setup, lockf_wait, child_release,
       child_teardown, 0},
      {"fcntl F_SETLKW (another process holds it)", setlkw_setup, setlkw_wait, child_release,
       child_teardown, 0},
      {"msgrcv", msq_setup, msgrcv_wait, msgrcv_release, msq_teardown, 0},
      {"msgsnd on a full queue", msgsnd_setup, msgsnd_wait, msgsnd_release, msgsnd_teardown, 0},
      {"semop", sem_setup, semop_wait, semop_release, sem_teardown, 0},
      {"mq_receive", mqrecv_setup, mqrecv_wait, mqrecv_release, mq_teardown, 0},
      {"mq_send on a full queue", mqsend_setup, mqsend_wait, mqsend_release, mq_teardown, 0},
      {"open of a FIFO", fifo_setup, fifo_wait, fifo_release, fifo_teardown, 0},
      {"read on a tty", tty_setup, tty_wait, tty_release, tty_teardown, 0},
      {"fgets(stdin), stdin a pipe", stdin_pipe_setup, fgets_wait, stdin_pipe_release,
       stdin_pipe_teardown, 0},
      {"getchar(), stdin a tty", stdin_tty_setup, getchar_wait, tty_release, stdin_tty_teardown, 0},
      {"waitpid", kid_setup, waitpid_wait, kid_release, kid_teardown, 0},
      {"bad timeouts", bad_setup, bad_timeouts, NULL, bad_teardown, 0},
      {"pause", nothing, pause_wait, NULL, nothing_v, SIGUSR2},
      {"sigsuspend", nothing, sigsuspend_wait, NULL, nothing_v, SIGUSR1},
      /* interrupted by a plain handler: EINTR */
      {"flock, signal", flock_setup, flock_wait, NULL, close_two, SIGUSR2},
      {"fcntl F_SETLKW, signal", setlkw_setup, setlkw_wait, NULL, child_teardown, SIGUSR2},
      {"msgrcv, signal", msq_setup, msgrcv_wait, NULL, msq_teardown, SIGUSR2},
      {"semop, signal", sem_setup, semop_wait, NULL, sem_teardown, SIGUSR2},
      {"mq_receive, signal", mqrecv_setup, mqrecv_wait, NULL, mq_teardown, SIGUSR2},
      {"open of a FIFO, signal", fifo_setup, fifo_wait, NULL, fifo_teardown, SIGUSR2},
      {"waitpid, signal", kid_setup, waitpid_wait, NULL, kid_teardown, SIGUSR2},
      /* an SA_RESTART handler: System V calls still fail, the others go on */
      {"msgrcv, SA_RESTART signal", msq_setup, msgrcv_wait, NULL, msq_teardown, SIGWINCH},
      {"semop, SA_RESTART signal", sem_setup, semop_wait, NULL, sem_teardown, SIGWINCH},
      {"flock, SA_RESTART signal", flock_setup, flock_wait, flock_release, close_two, SIGWINCH},
      {"fcntl F_SETLKW, SA_RESTART signal", setlkw_setup, setlkw_wait, child_release,
       child_teardown, SIGWINCH},
      {"mq_receive, SA_RESTART signal", mqrecv_setup, mqrecv_wait, mqrecv_release, mq_teardown,
       SIGWINCH},
      {"open of a FIFO, SA_RESTART signal", fifo_setup, fifo_wait, fifo_release, fifo_teardown,
       SIGWINCH},
      {"waitpid, SA_RESTART signal", kid_setup, waitpid_wait, kid_release, kid_teardown,
       SIGWINCH},
  };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) run(&all[i]);
  rmdir(g_dir);
  return test_end();
}
