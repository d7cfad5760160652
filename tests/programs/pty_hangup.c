// SPDX-License-Identifier: MIT
/* A thread blocked in read() on a terminal that is hung up meanwhile: on a
 * pty slave whose master is closed the waiting read fails with EIO, and the
 * next read returns 0; on a master whose slave is closed, EIO. */
#include "common.h"

#include <pthread.h>
#include <pty.h>

struct reader {
  int fd;
  long ret;
  int err;
};

static void* read_one(void* arg) {
  struct reader* r = arg;
  char b[64];
  r->ret = read(r->fd, b, sizeof b);
  r->err = errno;
  return NULL;
}

/* Closes `other` while a thread reads `fd`, and reports what the read got. */
static void hang_up(const char* label, int fd, int other) {
  struct reader r = {fd, 0, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, read_one, &r) != 0) exit(2);
  usleep(50000); /* let it block: closing first would make it a later read */
  close(other);
  pthread_join(t, NULL);
  printf("%s: ret=%ld errno=%s\n", label, r.ret, r.ret == -1 ? errname(r.err) : "0");
}

int main(void) {
  test_start();
  int m, s;
  if (openpty(&m, &s, NULL, NULL, NULL) != 0) {
    printf("no pseudo-terminal here\n");
    return test_end();
  }
  hang_up("blocked read on the slave when the master closes", s, m);
  char b[8];
  SHOW("the next read on the slave", read(s, b, sizeof b));
  close(s);
  if (openpty(&m, &s, NULL, NULL, NULL) != 0) return 2;
  hang_up("blocked read on the master when the slave closes", m, s);
  close(m);
  /* A terminal read that returns 0 without a hang-up: end of file typed
   * (VEOF at the start of a line, canonical mode). */
  if (openpty(&m, &s, NULL, NULL, NULL) != 0) return 2;
  struct reader r = {s, 0, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, read_one, &r) != 0) exit(2);
  usleep(50000);
  char eof = 4; /* ^D */
  if (write(m, &eof, 1) != 1) g_failures++;
  pthread_join(t, NULL);
  printf("read on the slave after ^D: ret=%ld errno=%s\n", r.ret,
         r.ret == -1 ? errname(r.err) : "0");
  close(s);
  close(m);
  return test_end();
}
