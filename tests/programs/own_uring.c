// SPDX-License-Identifier: MIT
/* Calls that block the OS thread inside the program's own code, where no
 * hook can park them: a program driving its own io_uring with liburing
 * (io_uring_enter is a raw `syscall` instruction), and a read(2) made with
 * inline assembly. Natively another thread makes the data arrive; under the
 * shim that thread is green and must run on another carrier while this
 * one's OS thread is blocked in the kernel (docs/design.md, "Hand-off"). */
#include "common.h"

#include <liburing.h>
#include <pthread.h>
#include <sys/syscall.h>

static int g_pipe[2];

/* Writes after a while: the reader is blocked in the kernel by then. */
static void* late_writer(void* arg) {
  const char* what = (const char*)arg;
  usleep(20000);
  if (write(g_pipe[1], what, strlen(what)) < 0) g_failures++;
  return NULL;
}

static long raw_read(int fd, void* buf, size_t n) {
  long ret;
  register long rdi asm("rdi") = fd;
  register void* rsi asm("rsi") = buf;
  register size_t rdx asm("rdx") = n;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"((long)SYS_read), "r"(rdi), "r"(rsi), "r"(rdx)
               : "rcx", "r11", "memory");
  return ret;
}

int main(void) {
  test_start();
  struct io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    printf("io_uring_queue_init: %s (skipped)\n", errname(-rc));
    return test_end();
  }
  if (pipe(g_pipe) != 0) return 2;

  /* 1. The program's own ring: a read that completes when the thread writes. */
  pthread_t w;
  pthread_create(&w, NULL, late_writer, "uring");
  tasks_sample();
  char buf[16] = {0};
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_read(sqe, g_pipe[0], buf, sizeof buf - 1, 0);
  io_uring_submit(&ring);
  struct io_uring_cqe* cqe;
  rc = io_uring_wait_cqe(&ring, &cqe);
  printf("own ring: wait %d, read %d bytes: %s\n", rc, rc == 0 ? cqe->res : -1, buf);
  if (rc == 0) io_uring_cqe_seen(&ring, cqe);
  pthread_join(w, NULL);
  io_uring_queue_exit(&ring);

  /* 2. A raw read(2) that blocks until the thread writes. */
  memset(buf, 0, sizeof buf);
  pthread_create(&w, NULL, late_writer, "raw");
  long n = raw_read(g_pipe[0], buf, sizeof buf - 1);
  printf("raw syscall read: %ld bytes: %s\n", n, buf);
  pthread_join(w, NULL);
  return test_end();
}
