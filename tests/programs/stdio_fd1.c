// SPDX-License-Identifier: MIT
// stdio on fd 1 from many threads while fd 1 is a pipe read by a thread of
// the program: stdout is redirected (dup2) to a pipe, 50 threads each write
// 200 lines with printf, fputs and fwrite (line buffered: one write(2) per
// line, no longer than PIPE_BUF), and a reader thread reads the pipe and
// checks every line: intact (its checksum), each writer's lines complete
// and in order. 10000 lines of up to 140 bytes fill the 64 KiB pipe many
// times, so writers block in write(1) while the reader must still run. Then
// fd 1 is restored and the summary printed.
#include "common.h"

#include <pthread.h>

#define WRITERS 50
#define LINES 200

static int g_ready[2];
static struct gate g_go;

static void payload(int w, int l, char* out) {
  int n = 20 + (w * 7 + l * 13) % 90;
  for (int i = 0; i < n; i++) out[i] = (char)('a' + pattern_byte((unsigned)(w * 1000 + l), (uint64_t)i) % 26);
  out[n] = 0;
}

static void* writer(void* arg) {
  int w = (int)(intptr_t)arg;
  char c = 'r';
  if (write(g_ready[1], &c, 1) != 1) g_failures++;
  gate_wait(&g_go);
  for (int l = 0; l < LINES; l++) {
    char p[128], line[192];
    payload(w, l, p);
    unsigned long long h = (unsigned long long)fnv1a(FNV_INIT, p, strlen(p));
    switch (l % 3) {
      case 0:
        printf("w=%02d l=%03d h=%016llx %s\n", w, l, h, p);
        break;
      case 1:
        snprintf(line, sizeof line, "w=%02d l=%03d h=%016llx %s\n", w, l, h, p);
        fputs(line, stdout);
        break;
      default: {
        int n = snprintf(line, sizeof line, "w=%02d l=%03d h=%016llx %s\n", w, l, h, p);
        fwrite(line, 1, (size_t)n, stdout);
        break;
      }
    }
  }
  return NULL;
}

struct summary {
  long lines, bad, out_of_order, bytes;
  int count[WRITERS];
  uint64_t sum[WRITERS];
};
static struct summary g_sum;
static int g_pipe_read;

static void check_line(char* s, size_t n) {
  struct summary* S = &g_sum;
  S->lines++;
  int w, l;
  unsigned long long h;
  char p[256];
  if (n >= sizeof p || sscanf(s, "w=%d l=%d h=%llx %255s", &w, &l, &h, p) != 4 || w < 0 ||
      w >= WRITERS || l < 0 || l >= LINES) {
    S->bad++;
    return;
  }
  char want[128];
  payload(w, l, want);
  if (strcmp(p, want) != 0 || h != (unsigned long long)fnv1a(FNV_INIT, p, strlen(p))) {
    S->bad++;
    return;
  }
  if (l != S->count[w]) S->out_of_order++;
  S->count[w]++;
  S->sum[w] = fnv1a(S->sum[w], s, n);
}

static void* reader(void* arg) {
  (void)arg;
  static char buf[1 << 16];
  size_t have = 0;
  for (int i = 0; i < WRITERS; i++) g_sum.sum[i] = FNV_INIT;
  for (;;) {
    ssize_t r = read(g_pipe_read, buf + have, sizeof buf - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    g_sum.bytes += r;
    have += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      buf[i] = 0;
      check_line(buf + start, i - start);
      start = i + 1;
    }
    memmove(buf, buf + start, have - start);
    have -= start;
    if (have == sizeof buf) {  // no newline in 64 KiB
      g_sum.bad++;
      have = 0;
    }
  }
  if (have) g_sum.bad++;  // an unterminated last line
  return NULL;
}

int main(void) {
  test_start();
  fflush(stdout);
  int saved = dup(1);
  int p[2];
  if (saved < 0 || pipe(p) != 0 || pipe(g_ready) != 0) return 2;
  gate_init(&g_go);
  g_pipe_read = p[0];
  if (dup2(p[1], 1) != 1) return 2;
  close(p[1]);

  pthread_t rt, wt[WRITERS];
  pthread_create(&rt, NULL, reader, NULL);
  for (int w = 0; w < WRITERS; w++) pthread_create(&wt[w], NULL, writer, (void*)(intptr_t)w);
  for (int w = 0; w < WRITERS; w++) {
    char c;
    if (read(g_ready[0], &c, 1) != 1) g_failures++;
  }
  tasks_sample();
  gate_open(&g_go, WRITERS);
  for (int w = 0; w < WRITERS; w++) pthread_join(wt[w], NULL);
  fflush(stdout);
  if (dup2(saved, 1) != 1) return 2;  // closes the pipe's last write end: EOF
  close(saved);
  pthread_join(rt, NULL);

  int complete = 0;
  uint64_t all = FNV_INIT;
  for (int w = 0; w < WRITERS; w++) {
    complete += g_sum.count[w] == LINES;
    all = fnv1a(all, &g_sum.sum[w], sizeof g_sum.sum[w]);
  }
  printf("lines read: %ld (want %d)\n", g_sum.lines, WRITERS * LINES);
  printf("bytes read: %ld\n", g_sum.bytes);
  CHECK(g_sum.bad == 0, "every line intact", "%ld bad lines", g_sum.bad);
  CHECK(complete == WRITERS, "all 200 lines of each of the 50 writers", "%d writers complete", complete);
  CHECK(g_sum.out_of_order == 0, "each writer's lines in order", "%ld out of order", g_sum.out_of_order);
  printf("checksum of the lines per writer: %016llx\n", (unsigned long long)all);
  return test_end();
}
