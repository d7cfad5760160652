// SPDX-License-Identifier: MIT
/* Writes to a regular file that cross RLIMIT_FSIZE, from a thread (another
 * one stays parked, so the writer is not alone on its carrier): natively the
 * write that crosses the limit is short and moves the file position to the
 * limit; the next fails with EFBIG and raises SIGXFSZ. A write that comes
 * back short must leave the position after the bytes it wrote, or the
 * program's next write lands on them. Checked with the file position, with
 * O_APPEND, with pwrite, and with SIGXFSZ at its default action in a child
 * (it dies of the signal). The file is next to the program, in the build
 * tree: a disk filesystem (writes to tmpfs, where a test's temporary
 * directory may be, do not go through the ring). */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define LIMIT 10000
static char g_path[4096];

static void show(const char* what, ssize_t n, int fd) {
  int e = errno;
  printf("%s -> %zd%s%s, position %ld\n", what, n, n < 0 ? " " : "", n < 0 ? errname(e) : "",
         (long)lseek(fd, 0, SEEK_CUR));
}

static void* writer(void* arg) {
  int append = (int)(intptr_t)arg;
  char buf[8192];
  memset(buf, append ? 'b' : 'a', sizeof buf);
  int fd = open(g_path, O_CREAT | O_TRUNC | O_WRONLY | (append ? O_APPEND : 0), 0600);
  if (fd < 0) return (void*)1;
  printf("%s:\n", append ? "O_APPEND" : "at the file position");
  for (int i = 0; i < 3; i++) show("  write 8192", write(fd, buf, sizeof buf), fd);
  show("  pwrite 100 at 9950", pwrite(fd, buf, 100, 9950), fd);
  show("  pwrite 100 at 10000", pwrite(fd, buf, 100, 10000), fd);
  struct stat st;
  fstat(fd, &st);
  printf("  file size %ld\n", (long)st.st_size);
  close(fd);
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  ssize_t n = readlink("/proc/self/exe", g_path, sizeof g_path - 32);
  if (n <= 0) return 2;
  g_path[n] = '\0';
  /* One file per process: the io_uring and epoll runs of this test run at
   * the same time, next to the same executable. */
  snprintf(strrchr(g_path, '/') + 1, 32, "file_limit.%d.tmp", (int)getpid());
  struct parked idle;
  parked_start(&idle);
  struct rlimit rl = {LIMIT, LIMIT};
  setrlimit(RLIMIT_FSIZE, &rl);
  signal(SIGXFSZ, SIG_IGN);
  for (int append = 0; append < 2; append++) {
    pthread_t t;
    pthread_create(&t, NULL, writer, (void*)(intptr_t)append);
    pthread_join(t, NULL);
  }
  /* At its default action SIGXFSZ ends the process that writes past the
   * limit: a child does it. */
  pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_DFL);
    struct parked idle2;
    parked_start(&idle2);
    pthread_t t;
    pthread_create(&t, NULL, writer, (void*)0);
    pthread_join(t, NULL);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("child: %s %d\n", WIFSIGNALED(status) ? "killed by signal" : "exit status",
         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  unlink(g_path);
  parked_stop(&idle);
  return g_failures ? 1 : 0;
}
