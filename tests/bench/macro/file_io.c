// SPDX-License-Identifier: MIT
/* File-I/O benchmark, written the legacy way: N threads, each making blocking
 * file calls on one shared file, as a database server's connection threads
 * do. Run natively and under the shim by file_bench.py.
 *
 *   file_io sync  THREADS OPS   each thread: pwrite 512 bytes at its own
 *                               offset, then fdatasync (a commit), OPS times
 *   file_io cold  THREADS OPS   each thread: OPS random 4 KiB preads of a
 *                               64 MiB file evicted from the page cache
 *   file_io warm  THREADS OPS   the same, with the file cached
 *   file_io log   THREADS OPS   each thread: OPS writes of a 100-byte line to
 *                               the file opened O_APPEND (a log)
 *
 * Prints one line: "<mode> threads=<n> ops=<total> seconds=<s> ops_per_sec=<r>".
 * The file is made in the working directory. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (64L << 20)
#define BLOCK 4096

static int g_fd, g_ops, g_mode; /* 0 sync, 1 cold, 2 warm, 3 log */
static pthread_barrier_t g_start;
static int g_errors;
static double* g_begin; /* per thread: when it started and ended its calls */
static double* g_end;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void* worker(void* arg) {
  long i = (long)(intptr_t)arg;
  char buf[BLOCK];
  memset(buf, (int)('a' + i % 26), sizeof buf);
  unsigned seed = (unsigned)i * 2654435761u + 1;
  pthread_barrier_wait(&g_start);
  g_begin[i] = now();
  for (int k = 0; k < g_ops; k++) {
    if (g_mode == 3) {
      buf[99] = '\n';
      if (write(g_fd, buf, 100) != 100) __atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
    } else if (g_mode == 0) {
      off_t off = ((off_t)i * g_ops + k) * 512;
      if (pwrite(g_fd, buf, 512, off) != 512 || fdatasync(g_fd) != 0)
        __atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
    } else {
      off_t off = (off_t)(rand_r(&seed) % (FILE_SIZE / BLOCK)) * BLOCK;
      if (pread(g_fd, buf, BLOCK, off) != BLOCK) __atomic_add_fetch(&g_errors, 1, __ATOMIC_RELAXED);
    }
  }
  g_end[i] = now();
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: file_io sync|cold|warm|log THREADS OPS\n");
    return 2;
  }
  g_mode = strcmp(argv[1], "sync") == 0   ? 0
           : strcmp(argv[1], "cold") == 0 ? 1
           : strcmp(argv[1], "warm") == 0 ? 2
                                          : 3;
  int threads = atoi(argv[2]);
  g_ops = atoi(argv[3]);
  if (threads < 1 || g_ops < 1) return 2;
  char name[64];
  snprintf(name, sizeof name, "file_io.%d.dat", (int)getpid());
  g_fd = open(name, O_RDWR | O_CREAT | O_TRUNC | (g_mode == 3 ? O_APPEND : 0), 0600);
  if (g_fd < 0) {
    perror("open");
    return 1;
  }
  if (g_mode == 1 || g_mode == 2) {
    char* chunk = malloc(1 << 20);
    memset(chunk, 'x', 1 << 20);
    for (long off = 0; off < FILE_SIZE; off += 1 << 20)
      if (pwrite(g_fd, chunk, 1 << 20, off) != 1 << 20) return 1;
    free(chunk);
    fsync(g_fd);
    if (g_mode == 1) posix_fadvise(g_fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
  pthread_t* t = calloc((size_t)threads, sizeof *t);
  g_begin = calloc((size_t)threads, sizeof *g_begin);
  g_end = calloc((size_t)threads, sizeof *g_end);
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i);
  pthread_barrier_wait(&g_start);
  /* from the first thread's start to the last one's end (the main thread
     may run again only after the others are done) */
  double t0 = 1e300, t1 = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(t[i], NULL);
    if (g_begin[i] < t0) t0 = g_begin[i];
    if (g_end[i] > t1) t1 = g_end[i];
  }
  double s = t1 - t0;
  unlink(name);
  long total = (long)threads * g_ops;
  printf("%s threads=%d ops=%ld seconds=%.4f ops_per_sec=%.1f errors=%d\n", argv[1], threads, total,
         s, (double)total / s, g_errors);
  return g_errors ? 1 : 0;
}
