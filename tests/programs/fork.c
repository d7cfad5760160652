// SPDX-License-Identifier: MIT
/* fork in a multi-threaded program: the child has only the forking thread
 * and uses pipes, sleeps and threads of its own, then exits with a status
 * the parent checks with waitpid; the data it wrote arrives. Forking from a
 * thread other than main; vfork, posix_spawn and system; an O_NONBLOCK set
 * by the child on an inherited socket is seen by the parent. */
#include "common.h"

#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char** environ;

#define CHILD_BYTES (1u << 20)

static struct gate g_hold;
static int g_feed_fd;

/* Writes 1 MiB to g_feed_fd and closes it. */
static void* feeder(void* p) {
  (void)p;
  static char buf[1 << 20];
  memset(buf, 'f', sizeof buf);
  ssize_t r = write(g_feed_fd, buf, sizeof buf);
  close(g_feed_fd);
  return (void*)(intptr_t)r;
}
static pthread_key_t g_key;

static void* idle_thread(void* p) {
  gate_wait(&g_hold); /* blocked in read() in the parent when fork happens */
  return p;
}

static void* child_worker(void* p) {
  intptr_t i = (intptr_t)p;
  usleep(5000);
  return (void*)(i * i);
}

/* What the child does: threads, sleeps, a large write to the parent. */
static int child_body(int out_fd, pthread_t forking_self) {
  printf("child: pthread_self unchanged across fork: %s\n",
         pthread_equal(pthread_self(), forking_self) ? "yes" : "no");
  printf("child: key value inherited: %ld\n", (long)(intptr_t)pthread_getspecific(g_key));
  printf("child: OS threads: %d\n", count_tasks());
  pthread_t t[4];
  for (intptr_t i = 0; i < 4; i++) pthread_create(&t[i], NULL, child_worker, (void*)i);
  long sum = 0;
  for (int i = 0; i < 4; i++) {
    void* v;
    pthread_join(t[i], &v);
    sum += (long)(intptr_t)v;
  }
  printf("child: its own 4 threads returned %ld\n", sum);
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  usleep(20000);
  printf("child: usleep 20ms %s\n", now_ns(CLOCK_MONOTONIC) - t0 >= 20000000 ? "ok" : "EARLY");
  /* a pipe of its own between two of its threads */
  int p[2];
  if (pipe(p) != 0) return 90;
  unsigned char* buf = (unsigned char*)malloc(CHILD_BYTES);
  pattern_fill(3, 0, buf, CHILD_BYTES);
  ssize_t w = write(out_fd, buf, CHILD_BYTES); /* the parent reads it */
  printf("child: wrote %zd bytes to the parent in one write\n", w);
  free(buf);
  close(p[0]);
  close(p[1]);
  fflush(stdout);
  return 7;
}

struct fork_result {
  pid_t pid;
  int status;
  size_t got;
  int sum_ok;
};

/* Reads everything the child writes while the forking thread waits. */
struct reader_arg {
  int fd;
  size_t got;
  uint64_t sum;
};

static void* reader_main(void* p) {
  struct reader_arg* r = (struct reader_arg*)p;
  char buf[65536];
  uint64_t h = FNV_INIT;
  for (;;) {
    ssize_t n = read(r->fd, buf, sizeof buf);
    if (n <= 0) break;
    h = fnv1a(h, buf, (size_t)n);
    r->got += (size_t)n;
  }
  r->sum = h;
  return NULL;
}

static void do_fork(const char* who, struct fork_result* res) {
  int p[2];
  if (pipe(p) != 0) exit(2);
  struct reader_arg ra = {p[0], 0, 0};
  pthread_t rt;
  pthread_create(&rt, NULL, reader_main, &ra);
  pthread_t me = pthread_self();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    int st = child_body(p[1], me);
    close(p[1]);
    exit(st);
  }
  close(p[1]);
  int status = 0;
  pid_t w = waitpid(pid, &status, 0);
  pthread_join(rt, NULL);
  close(p[0]);
  unsigned char* want = (unsigned char*)malloc(CHILD_BYTES);
  pattern_fill(3, 0, want, CHILD_BYTES);
  res->pid = w == pid;
  res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  res->got = ra.got;
  res->sum_ok = ra.sum == fnv1a(FNV_INIT, want, CHILD_BYTES);
  free(want);
  printf("%s: waitpid %s, child exit status %d, received %zu bytes, checksum %s\n", who,
         res->pid ? "ok" : "FAIL", res->status, res->got, res->sum_ok ? "ok" : "FAIL");
  if (!res->pid || res->status != 7 || res->got != CHILD_BYTES || !res->sum_ok) g_failures++;
}

static void* fork_from_thread(void* p) {
  (void)p;
  pthread_setspecific(g_key, (void*)(intptr_t)2);
  struct fork_result r;
  do_fork("fork from a thread", &r);
  return NULL;
}

/* The child makes an inherited socket non-blocking; the parent's blocking
 * recv on its copy then fails with EAGAIN, as the description is shared. */
static void* shared_nonblock(void* p) {
  (void)p;
  int sv[2], note[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  if (pipe(note) != 0) exit(2);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    if (write(note[1], "n", 1) != 1) _exit(1);
    _exit(0);
  }
  char c;
  if (read(note[0], &c, 1) != 1) g_failures++;
  char buf[8];
  errno = 0;
  ssize_t r = recv(sv[0], buf, sizeof buf, 0);
  printf("parent's recv after the child set O_NONBLOCK on the shared socket: ret=%zd errno=%s\n", r,
         errname(errno));
  int status;
  waitpid(pid, &status, 0);
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) & ~O_NONBLOCK);
  close(sv[0]);
  close(sv[1]);
  close(note[0]);
  close(note[1]);
  return NULL;
}

int main(void) {
  test_start();
  pthread_key_create(&g_key, NULL);
  pthread_setspecific(g_key, (void*)(intptr_t)1);
  gate_init(&g_hold);
  pthread_t idle[3];
  for (int i = 0; i < 3; i++) pthread_create(&idle[i], NULL, idle_thread, NULL);
  tasks_sample();

  struct fork_result r;
  do_fork("fork from main", &r);

  pthread_t t;
  pthread_create(&t, NULL, fork_from_thread, NULL);
  pthread_join(t, NULL);

  /* the threads that were blocked across the forks are fine */
  gate_open(&g_hold, 3);
  for (int i = 0; i < 3; i++) pthread_join(idle[i], NULL);
  printf("parent: the 3 threads blocked across the forks finished\n");

  /* vfork + _exit */
  fflush(stdout);
  pid_t v = vfork();
  if (v == 0) _exit(5);
  int status = 0;
  waitpid(v, &status, 0);
  printf("vfork child: exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  /* posix_spawn and system */
  pid_t sp;
  char* argv[] = {"/bin/sh", "-c", "echo spawned child output; exit 3", NULL};
  int rc = posix_spawn(&sp, "/bin/sh", NULL, NULL, argv, environ);
  status = 0;
  if (rc == 0) waitpid(sp, &status, 0);
  printf("posix_spawn: rc %d, exit status %d\n", rc, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  status = system("exit 4");
  printf("system: exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  /* system() and pclose() while the child depends on a thread of ours: the
     child reads what a thread writes to it */
  int sp2[2];
  if (pipe2(sp2, O_CLOEXEC) != 0) return 2;
  int child_end = dup(sp2[0]); /* inherited by the command */
  close(sp2[0]);
  g_feed_fd = sp2[1];
  pthread_create(&t, NULL, feeder, NULL);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "exec wc -c <&%d", child_end);
  fflush(stdout);
  status = system(cmd);
  close(child_end);
  void* fed;
  pthread_join(t, &fed);
  printf("system(wc) fed by a thread: exit status %d, thread wrote %ld\n",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, (long)(intptr_t)fed);
  if (pipe2(sp2, O_CLOEXEC) != 0) return 2;
  child_end = dup(sp2[0]);
  close(sp2[0]);
  g_feed_fd = sp2[1];
  snprintf(cmd, sizeof cmd, "exec wc -c <&%d", child_end);
  fflush(stdout);
  FILE* pf = popen(cmd, "r");
  close(child_end);
  pthread_create(&t, NULL, feeder, NULL);
  char line[64] = "";
  if (!fgets(line, sizeof line, pf)) strcpy(line, "(nothing)\n");
  status = pclose(pf);
  pthread_join(t, &fed);
  printf("popen(wc) fed by a thread: read %s", line);
  printf("pclose: exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

  pthread_create(&t, NULL, shared_nonblock, NULL);
  pthread_join(t, NULL);

  /* waitpid for a child that does not exist */
  EXPECT_ERR("waitpid with no children: ECHILD", waitpid(-1, &status, 0), ECHILD);
  gate_close(&g_hold);
  return test_end();
}
