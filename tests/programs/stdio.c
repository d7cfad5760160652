// SPDX-License-Identifier: MIT
/* stdio on sockets and pipes between threads (the legacy way to speak a line
 * protocol: fdopen + fgets/fprintf): reads that wait for the peer, partial
 * lines, big fread/fwrite, line-buffered and unbuffered streams, inline
 * getc_unlocked/putc_unlocked, getline/getdelim, dprintf, popen, and the
 * error and EOF indicators. Both ends are threads of this process. */
#include "common.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* ---- 1. a line protocol over a socketpair, both ends through FILEs ---- */

static void* echo_server(void* p) {
  int fd = (int)(intptr_t)p;
  FILE* in = fdopen(fd, "r");
  FILE* out = fdopen(dup(fd), "w");
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, in)) {
    n++;
    line[strcspn(line, "\n")] = 0;
    fprintf(out, "%d:%s:%zu\n", n, line, strlen(line));
    fflush(out);
  }
  fclose(out);
  fclose(in);
  return (void*)(intptr_t)n;
}

static void test_line_protocol(void) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pthread_t t;
  pthread_create(&t, NULL, echo_server, (void*)(intptr_t)sv[1]);
  tasks_sample();
  FILE* f = fdopen(sv[0], "r+");
  char line[256];
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    fprintf(f, "request number %d%s\n", i, i % 7 ? "" : " with a longer tail of text");
    fflush(f);
    if (!fgets(line, sizeof line, f)) {
      bad++;
      break;
    }
    char want[256];
    char req[128];
    snprintf(req, sizeof req, "request number %d%s", i, i % 7 ? "" : " with a longer tail of text");
    snprintf(want, sizeof want, "%d:%s:%zu\n", i + 1, req, strlen(req));
    if (strcmp(line, want) != 0) bad++;
  }
  shutdown(sv[0], SHUT_WR);
  void* served;
  pthread_join(t, &served);
  char* r = fgets(line, sizeof line, f);
  printf("line protocol: 100 requests, %d wrong answers, server saw %ld lines, then EOF: %s feof=%d\n",
         bad, (long)(intptr_t)served, r ? "no" : "yes", feof(f) != 0);
  fclose(f);
}

/* ---- 2. partial lines: getline/getdelim wait for the rest ---- */

static void* slow_lines(void* p) {
  int fd = (int)(intptr_t)p;
  static const char* pieces[] = {"first ", "line\nsec", "ond line", "\n", "third;", "fourth;", "no end"};
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
    usleep(10000);
    if (write(fd, pieces[i], strlen(pieces[i])) < 0) g_failures++;
  }
  close(fd);
  return NULL;
}

static void test_partial_lines(void) {
  int p[2];
  if (pipe(p) != 0) exit(2);
  pthread_t t;
  pthread_create(&t, NULL, slow_lines, (void*)(intptr_t)p[1]);
  FILE* f = fdopen(p[0], "r");
  char* line = NULL;
  size_t cap = 0;
  ssize_t n;
  n = getline(&line, &cap, f);
  printf("getline: %zd \"%s\"\n", n, line);
  n = getline(&line, &cap, f);
  printf("getline: %zd \"%s\"\n", n, line);
  n = getdelim(&line, &cap, ';', f);
  printf("getdelim ';': %zd \"%s\"\n", n, line);
  n = getdelim(&line, &cap, ';', f);
  printf("getdelim ';': %zd \"%s\"\n", n, line);
  n = getline(&line, &cap, f);
  printf("getline at the unterminated end: %zd \"%s\"\n", n, line);
  n = getline(&line, &cap, f);
  printf("getline after EOF: %zd feof=%d ferror=%d\n", n, feof(f) != 0, ferror(f) != 0);
  free(line);
  fclose(f);
  pthread_join(t, NULL);
}

/* ---- 3. 1 MiB through a pipe with fwrite and fread ---- */

#define BULK (1u << 20)

static void* bulk_writer(void* p) {
  FILE* f = (FILE*)p;
  unsigned char* b = (unsigned char*)malloc(BULK);
  pattern_fill(9, 0, b, BULK);
  size_t off = 0, chunk = 1;
  int bad = 0;
  while (off < BULK) {
    size_t k = chunk < BULK - off ? chunk : BULK - off;
    if (fwrite(b + off, 1, k, f) != k) bad++;
    off += k;
    chunk = chunk * 3 + 7; /* 1, 10, 37, ... up to big ones */
    if (chunk > 300000) chunk = 1;
  }
  free(b);
  if (fclose(f) != 0) bad++;
  return (void*)(intptr_t)bad;
}

static void test_bulk(void) {
  int p[2];
  if (pipe(p) != 0) exit(2);
  FILE* w = fdopen(p[1], "w");
  FILE* r = fdopen(p[0], "r");
  pthread_t t;
  pthread_create(&t, NULL, bulk_writer, w);
  unsigned char* got = (unsigned char*)malloc(BULK + 10);
  size_t total = 0, n;
  size_t sizes[] = {1, 4096, 100000, 7, 65536};
  int i = 0;
  while ((n = fread(got + total, 1, sizes[i++ % 5], r)) > 0) {
    total += n;
    if (total > BULK) break;
  }
  void* bad;
  pthread_join(t, &bad);
  unsigned char* want = (unsigned char*)malloc(BULK);
  pattern_fill(9, 0, want, BULK);
  printf("fwrite/fread 1 MiB through a pipe: %zu bytes, %s, writer errors %ld, feof=%d\n", total,
         total == BULK && memcmp(got, want, BULK) == 0 ? "intact" : "CORRUPT", (long)(intptr_t)bad,
         feof(r) != 0);
  free(got);
  free(want);
  fclose(r);
}

/* ---- 4. line-buffered and unbuffered writers; the reader answers ---- */

struct ack_peer {
  int data_fd, ack_fd;
  int lines;
};

static void* acker(void* p) {
  struct ack_peer* a = (struct ack_peer*)p;
  char buf[256];
  size_t have = 0;
  int lines = 0;
  for (;;) {
    ssize_t r = read(a->data_fd, buf + have, sizeof buf - have);
    if (r <= 0) break;
    have += (size_t)r;
    char* nl;
    while ((nl = memchr(buf, '\n', have)) != NULL) {
      size_t len = (size_t)(nl - buf) + 1;
      memmove(buf, buf + len, have - len);
      have -= len;
      lines++;
      if (write(a->ack_fd, "A", 1) != 1) g_failures++;
    }
  }
  a->lines = lines;
  return NULL;
}

static void test_buffer_modes(int mode, const char* name) {
  int d[2], k[2];
  if (pipe(d) != 0 || pipe(k) != 0) exit(2);
  struct ack_peer a = {d[0], k[1], 0};
  pthread_t t;
  pthread_create(&t, NULL, acker, &a);
  FILE* f = fdopen(d[1], "w");
  setvbuf(f, NULL, mode, 0);
  int acks = 0;
  for (int i = 0; i < 20; i++) {
    /* each line must reach the peer without an fflush */
    fprintf(f, "line %d of a %s stream\n", i, name);
    char c;
    if (read(k[0], &c, 1) == 1) acks++;
  }
  /* a line in two pieces: only the newline sends it */
  fputs("half a ", f);
  fputc('l', f);
  fputs("ine\n", f);
  char c;
  if (read(k[0], &c, 1) == 1) acks++;
  fclose(f);
  pthread_join(t, NULL);
  printf("%s writer: %d lines acknowledged one by one, reader counted %d\n", name, acks, a.lines);
  close(d[0]);
  close(k[0]);
  close(k[1]);
}

/* ---- 5. inline getc_unlocked/putc_unlocked (libc's __uflow/__overflow) ---- */

static void* byte_echo(void* p) {
  int fd = (int)(intptr_t)p;
  FILE* in = fdopen(fd, "r");
  FILE* out = fdopen(dup(fd), "w");
  int c, n = 0;
  flockfile(in);
  flockfile(out);
  while ((c = getc_unlocked(in)) != EOF) {
    putc_unlocked(c == '\n' ? '\n' : c + 1, out);
    n++;
    if (c == '\n') fflush_unlocked(out);
  }
  funlockfile(out);
  funlockfile(in);
  fclose(out);
  fclose(in);
  return (void*)(intptr_t)n;
}

static void test_inline_getc(void) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  pthread_t t;
  pthread_create(&t, NULL, byte_echo, (void*)(intptr_t)sv[1]);
  FILE* f = fdopen(sv[0], "r+");
  char line[64];
  int ok = 0;
  for (int i = 0; i < 30; i++) {
    fputs("HAL\n", f);
    fflush(f);
    int c1 = fgetc(f);
    ungetc(c1, f);
    if (fgets(line, sizeof line, f) && strcmp(line, "IBM\n") == 0) ok++;
  }
  shutdown(sv[0], SHUT_WR);
  void* n;
  pthread_join(t, &n);
  printf("getc_unlocked/putc_unlocked echo: %d of 30 lines right, %ld bytes\n", ok, (long)(intptr_t)n);
  fclose(f);
}

/* ---- 6. errors, timeouts, dprintf, popen ---- */

static void* big_dprintf_reader(void* p) {
  int fd = (int)(intptr_t)p;
  char buf[4096];
  long got = 0;
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) got += r;
  return (void*)(intptr_t)got;
}

static void* popen_feeder(void* p) {
  FILE* w = (FILE*)p;
  for (int i = 0; i < 200; i++) {
    fprintf(w, "fed line %d\n", i);
    if (i % 50 == 0) usleep(5000);
  }
  fclose(w);
  return NULL;
}

static void test_errors(void) {
  char line[64];
  /* the peer resets: fgets fails, ferror */
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  FILE* f = fdopen(sv[0], "r");
  close(sv[1]);
  char* r = fgets(line, sizeof line, f);
  printf("fgets after the peer closed: %s feof=%d ferror=%d\n", r ? "data" : "NULL", feof(f) != 0,
         ferror(f) != 0);
  fclose(f);

  /* SO_RCVTIMEO: fgets gives up with EAGAIN */
  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
  struct timeval tv = {0, 50000};
  setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  f = fdopen(sv[0], "r");
  if (write(sv[1], "partial", 7) != 7) g_failures++;
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  errno = 0;
  r = fgets(line, sizeof line, f);
  int e = errno;
  printf("fgets with SO_RCVTIMEO and a partial line: %s \"%s\" errno=%s ferror=%d\n",
         r ? "returns the partial line" : "NULL", r ? line : "", errname(e), ferror(f) != 0);
  CHECK(now_ns(CLOCK_MONOTONIC) - t0 >= 49000000, "fgets waited for SO_RCVTIMEO", "early");
  clearerr(f);
  errno = 0;
  r = fgets(line, sizeof line, f);
  e = errno;
  printf("fgets with SO_RCVTIMEO and nothing: %s errno=%s ferror=%d\n", r ? "data" : "NULL",
         errname(e), ferror(f) != 0);
  fclose(f);
  close(sv[1]);

  /* writing to a pipe without reader: the flush fails with EPIPE */
  int p[2];
  if (pipe(p) != 0) exit(2);
  close(p[0]);
  f = fdopen(p[1], "w");
  int pr = fputs("lost\n", f);
  errno = 0;
  int fl = fflush(f);
  e = errno;
  printf("fputs into a pipe without reader: %d, fflush: %d errno=%s ferror=%d\n", pr, fl, errname(e),
         ferror(f) != 0);
  fclose(f);

  /* dprintf of 300 KB to a pipe read by another thread */
  if (pipe(p) != 0) exit(2);
  pthread_t t;
  pthread_create(&t, NULL, big_dprintf_reader, (void*)(intptr_t)p[0]);
  static char big[300001];
  memset(big, 'd', sizeof big - 1);
  int n = dprintf(p[1], "%s|%d", big, 42);
  close(p[1]);
  void* got;
  pthread_join(t, &got);
  printf("dprintf of %d bytes into a pipe: the reader got %ld\n", n, (long)(intptr_t)got);
  close(p[0]);

  /* popen: the command reads what a thread of ours writes */
  int q[2];
  if (pipe2(q, O_CLOEXEC) != 0) exit(2);
  int child_end = dup(q[0]);
  close(q[0]);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "exec tr a-z A-Z <&%d", child_end);
  fflush(stdout);
  FILE* pf = popen(cmd, "r");
  close(child_end);
  FILE* w = fdopen(q[1], "w");
  pthread_create(&t, NULL, popen_feeder, w);
  int lines = 0, right = 0;
  while (fgets(line, sizeof line, pf)) {
    char want[64];
    snprintf(want, sizeof want, "FED LINE %d\n", lines);
    if (strcmp(line, want) == 0) right++;
    lines++;
  }
  pthread_join(t, NULL);
  int st = pclose(pf);
  printf("popen'ed tr fed by a thread: %d lines back, %d right, pclose status %d\n", lines, right,
         WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* ---- 7. fscanf of numbers a thread writes later ---- */

static void* numbers_later(void* p) {
  int fd = (int)(intptr_t)p;
  for (int i = 0; i < 5; i++) {
    usleep(5000);
    char line[32];
    int n = snprintf(line, sizeof line, "%d %d\n", i, i * i);
    if (write(fd, line, (size_t)n) != n) g_failures++;
  }
  close(fd);
  return NULL;
}

static void test_scanf(void) {
  int p[2];
  if (pipe(p) != 0) exit(2);
  pthread_t t;
  pthread_create(&t, NULL, numbers_later, (void*)(intptr_t)p[1]);
  FILE* f = fdopen(p[0], "r");
  int a, b, n, sum = 0, rounds = 0;
  while ((n = fscanf(f, "%d %d", &a, &b)) == 2) {
    sum += a + b;
    rounds++;
  }
  pthread_join(t, NULL);
  printf("fscanf of pairs written later: %d pairs, sum %d, last result %d, feof=%d\n", rounds, sum, n,
         feof(f) != 0);
  fclose(f);
}

int main(void) {
  test_start();
  test_line_protocol();
  test_partial_lines();
  test_bulk();
  test_buffer_modes(_IOLBF, "line-buffered");
  test_buffer_modes(_IONBF, "unbuffered");
  test_inline_getc();
  test_errors();
  test_scanf();
  return test_end();
}
