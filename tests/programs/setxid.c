// SPDX-License-Identifier: MIT
/* set*id calls with threads: glibc changes the credentials of every OS
 * thread of the process (its SIGSETXID broadcast) and waits until each has.
 * Four threads wait in read() while a fifth calls setresuid/setresgid (to
 * the nobody ids when run as root, else to the current ids) and back: every
 * call returns, and every OS thread of the process (the runtime's own under
 * the shim) then has the new effective ids, as /proc/self/task shows; so
 * does a call from main when its only thread has ended. Before the runtime
 * let glibc's signal through (also while a carrier waits) and ran its
 * handler on the carrier's own descriptor, the first call hung. */
#include "common.h"

#include <dirent.h>
#include <sys/syscall.h>

#define WAITERS 4

static int g_pipe[2];

static void* waiter(void* arg) {
  (void)arg;
  char c;
  tasks_sample();
  while (read(g_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

/* How many OS threads of the process do not have effective uid `uid` and
 * effective gid `gid` (the second field of Uid: and Gid: in status). */
static int threads_without(uid_t uid, gid_t gid) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return -1;
  int wrong = 0;
  struct dirent* de;
  while ((de = readdir(d)) != NULL) {
    /* Kernel io_uring workers are not the process's threads for glibc
     * (io_uring runs each request with its submitter's credentials). */
    if (de->d_name[0] == '.' || is_io_worker(de->d_name)) continue;
    char path[300], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", de->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue; /* ended meanwhile */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    unsigned long ru = 0, eu = 0, rg = 0, eg = 0;
    const char* u = strstr(buf, "\nUid:");
    const char* g = strstr(buf, "\nGid:");
    if (!u || !g || sscanf(u, "\nUid: %lu %lu", &ru, &eu) != 2 ||
        sscanf(g, "\nGid: %lu %lu", &rg, &eg) != 2 || eu != uid || eg != gid)
      wrong++;
  }
  closedir(d);
  return wrong;
}

struct result {
  int rc[4];
  int wrong_after, wrong_back;
};

static void* changer(void* arg) {
  struct result* r = arg;
  uid_t uid = geteuid();
  gid_t gid = getegid();
  uid_t to_uid = uid == 0 ? 65534 : uid;
  gid_t to_gid = uid == 0 ? 65534 : gid;
  /* The gid first: once the effective uid is not root, it cannot change. */
  r->rc[0] = setresgid((gid_t)-1, to_gid, (gid_t)-1);
  r->rc[1] = setresuid((uid_t)-1, to_uid, (uid_t)-1);
  r->wrong_after = threads_without(to_uid, to_gid);
  r->rc[2] = setresuid((uid_t)-1, uid, (uid_t)-1);
  r->rc[3] = setresgid((gid_t)-1, gid, (gid_t)-1);
  r->wrong_back = threads_without(uid, gid);
  return NULL;
}

static void* nothing(void* arg) { return arg; }

static volatile int g_spin;
static void* spinner(void* arg) {
  while (g_spin) {
  }
  return arg;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* main alone again after a thread has come and gone: the runtime's OS
   * threads are still there (an idle carrier waiting in its ring), and each
   * must take glibc's signal. */
  pthread_t first;
  pthread_create(&first, NULL, nothing, NULL);
  pthread_join(first, NULL);
  /* Time for an idle carrier to go to sleep in its ring, where the bug was
   * (with no program thread to take a signal there, its wait blocked
   * them all); were it not asleep yet, the check would pass regardless. */
  usleep(100 * 1000);
  CHECK(setresuid((uid_t)-1, geteuid(), (uid_t)-1) == 0,
        "setresuid from main after a joined thread", "errno %s", errname(errno));
  if (pipe(g_pipe) != 0) return 2;
  pthread_t w[WAITERS], c;
  for (int i = 0; i < WAITERS; i++) pthread_create(&w[i], NULL, waiter, NULL);
  struct result r;
  memset(&r, 0, sizeof r);
  pthread_create(&c, NULL, changer, &r);
  pthread_join(c, NULL);
  CHECK(r.rc[0] == 0 && r.rc[1] == 0, "setresgid and setresuid with threads return", "%d %d",
        r.rc[0], r.rc[1]);
  CHECK(r.wrong_after == 0, "every OS thread has the new effective ids",
        "%d threads kept the old ones", r.wrong_after);
  CHECK(r.rc[2] == 0 && r.rc[3] == 0, "and back", "%d %d", r.rc[2], r.rc[3]);
  CHECK(r.wrong_back == 0, "every OS thread has the old effective ids again", "%d threads did not",
        r.wrong_back);
  /* main, once it runs on another OS thread than its own (under the shim
   * main moves between carriers; natively it never does, and the loop ends
   * after its bound): glibc must still reach main's own OS thread. */
  pthread_t busy;
  g_spin = 1;
  pthread_create(&busy, NULL, spinner, NULL);
  for (int i = 0; i < 300 && syscall(SYS_gettid) == getpid(); i++) usleep(1000);
  gid_t gid = getegid();
  gid_t to_gid = geteuid() == 0 ? 65534 : gid;
  int rc1 = setresgid((gid_t)-1, to_gid, (gid_t)-1);
  int wrong = threads_without(geteuid(), to_gid);
  int rc2 = setresgid((gid_t)-1, gid, (gid_t)-1);
  g_spin = 0;
  pthread_join(busy, NULL);
  CHECK(rc1 == 0 && rc2 == 0 && wrong == 0, "setresgid from main wherever it runs",
        "rc %d %d, %d threads kept the old gid", rc1, rc2, wrong);
  /* main too, after the waiters have ended. */
  if (write(g_pipe[1], "xxxx", WAITERS) != WAITERS) return 2;
  for (int i = 0; i < WAITERS; i++) pthread_join(w[i], NULL);
  CHECK(seteuid(geteuid()) == 0, "seteuid from main", "errno %s", errname(errno));
  return g_failures ? 1 : 0;
}
