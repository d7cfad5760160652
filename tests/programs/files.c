// SPDX-License-Identifier: MIT
/* Regular-file I/O with the system calls' semantics, which the shim carries
 * out through the ring (docs/design.md, "What blocks what"): the file
 * position shared by dup()ed fds and across fork, O_APPEND, short reads at
 * the end of the file, vectored and positional forms, the sync calls, the
 * errors; and threads sharing one fd's position or appending at once, which
 * must see each record exactly once / intact, as natively.
 *
 * The files are made in the working directory (a disk filesystem in the
 * test runs: run_diff.sh's scratch directory).
 *
 *   files [dsync]
 * With "dsync" every file written is opened O_DSYNC. The shim makes a
 * buffered write to a local disk directly and sends a synchronous one to
 * the ring (docs/design.md, "Regular files"): the two runs cover both. */
#include "common.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define THREADS 8
#define MAX_RECORDS 200

/* With "dsync": O_DSYNC, and a tenth of the records (each write waits for
   the disk). */
static int g_open_extra;
static int RECORDS = MAX_RECORDS;
static int DUP_RECORDS = 2000;

static void show(const char* what, long r) {
  int e = errno;
  if (r < 0)
    printf("%s: -1 %s\n", what, errname(e));
  else
    printf("%s: %ld\n", what, r);
}

static void offsets(void) {
  errno = 0;
  int fd = open("pos.dat", O_RDWR | O_CREAT | O_TRUNC | g_open_extra, 0600);
  printf("open of a new file: errno after success %s\n", errno ? errname(errno) : "0");
  show("write abc", write(fd, "abc", 3));
  int d = dup(fd);
  show("write through dup", write(d, "DEF", 3));
  show("position after both", (long)lseek(fd, 0, SEEK_CUR));
  show("pwrite at 10", pwrite(fd, "xyz", 3, 10));
  show("position unchanged", (long)lseek(fd, 0, SEEK_CUR));
  struct stat st;
  fstat(fd, &st);
  show("size after pwrite past end", (long)st.st_size);
  char buf[32] = {0};
  show("read at end", read(fd, buf, sizeof buf));
  lseek(fd, 0, SEEK_SET);
  long n = read(fd, buf, sizeof buf);
  show("read all (short at end of file)", n);
  printf("  bytes: ");
  for (long i = 0; i < n; i++) putchar(buf[i] ? buf[i] : '.');
  putchar('\n');
  show("pread past end", pread(fd, buf, 4, 100));
  show("pread straddling the end", pread(fd, buf, 8, 9));
  char a[3], b[4];
  struct iovec iv[2] = {{a, sizeof a}, {b, sizeof b}};
  show("preadv 7 at 1", preadv(fd, iv, 2, 1));
  printf("  %.3s|%.4s\n", a, b);
  struct iovec ow[2] = {{"12", 2}, {"345", 3}};
  show("pwritev at 3", pwritev(fd, ow, 2, 3));
  lseek(fd, 0, SEEK_SET);
  show("readv from the start", readv(fd, iv, 2));
  printf("  %.3s|%.4s\n", a, b);
  show("position after readv", (long)lseek(d, 0, SEEK_CUR));
  /* a child moves the shared position */
  pid_t pid = fork();
  if (pid == 0) {
    _exit(write(fd, "child", 5) == 5 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  show("position after the child's write", (long)lseek(fd, 0, SEEK_CUR));
  show("fsync", fsync(fd));
  show("fdatasync", fdatasync(fd));
  show("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
  show("fallocate 4096", fallocate(fd, 0, 0, 4096));
  fstat(fd, &st);
  show("size after fallocate", (long)st.st_size);
  show("fallocate KEEP_SIZE 8192", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8192));
  fstat(fd, &st);
  show("size kept", (long)st.st_size);
  close(d);
  close(fd);

  /* O_APPEND: every write goes to the end, even a pwrite */
  fd = open("append.dat", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | g_open_extra, 0600);
  int fd2 = open("append.dat", O_WRONLY | O_APPEND | g_open_extra);
  show("append 1", write(fd, "one,", 4));
  show("append 2 (other fd)", write(fd2, "two,", 4));
  show("pwrite at 0 with O_APPEND", pwrite(fd, "three", 5, 0));
  close(fd2);
  close(fd);
  fd = open("append.dat", O_RDONLY);
  memset(buf, 0, sizeof buf);
  show("read back", read(fd, buf, sizeof buf - 1));
  printf("  %s\n", buf);

  /* errors */
  show("write on O_RDONLY", write(fd, "x", 1));
  show("pwrite on O_RDONLY", pwrite(fd, "x", 1, 0));
  show("pread at -5", pread(fd, buf, 1, -5));
  show("pwrite at -1", pwrite(fd, "x", 1, -1));
  show("fallocate on O_RDONLY", fallocate(fd, 0, 0, 10));
  show("read into a bad address", read(fd, (void*)g_bad_address, 4));
  close(fd);
  show("read on a closed fd", read(fd, buf, 1));
  int dir = open(".", O_RDONLY | O_DIRECTORY);
  show("read on a directory", read(dir, buf, 1));
  show("fsync on a directory", fsync(dir));
  close(dir);
  int p[2];
  if (pipe(p) == 0) {
    show("fsync on a pipe", fsync(p[0]));
    show("pread on a pipe", pread(p[0], buf, 1, 0));
    close(p[0]);
    close(p[1]);
  }
  unlink("pos.dat");
  unlink("append.dat");
}

/* ---- threads sharing a position, threads appending ---- */

static int g_shared_fd;
static long g_sum[THREADS], g_count[THREADS];

static pthread_barrier_t g_readers_start;
static void* share_reader(void* arg) {
  long i = (long)(intptr_t)arg;
  /* All start together, after main counted the OS threads (natively the
   * fastest could otherwise have ended before). */
  pthread_barrier_wait(&g_readers_start);
  for (;;) {
    uint32_t rec;
    ssize_t n = read(g_shared_fd, &rec, sizeof rec);
    if (n != sizeof rec) break;
    g_sum[i] += rec;
    g_count[i]++;
  }
  return NULL;
}

static int g_append_fd;
static void* appender(void* arg) {
  long i = (long)(intptr_t)arg;
  for (int k = 0; k < RECORDS; k++) {
    char rec[32];
    int len = snprintf(rec, sizeof rec, "t%ld-%04d......\n", i, k); /* 14 bytes */
    if (write(g_append_fd, rec, (size_t)len) != len) g_failures++;
    if (k % 50 == 0) fdatasync(g_append_fd);
  }
  return NULL;
}

/* Threads writing at one file position through two fds of one description
   (dup): the kernel serialises them, every byte lands. */
static int g_dup_fds[2];
static void* dup_writer(void* arg) {
  long i = (long)(intptr_t)arg;
  char rec[100];
  memset(rec, 'a' + (int)i, sizeof rec);
  for (int k = 0; k < DUP_RECORDS; k++)
    if (write(g_dup_fds[i % 2], rec, sizeof rec) != (ssize_t)sizeof rec) g_failures++;
  return NULL;
}

static void dup_writers(void) {
  g_dup_fds[0] = open("dup.dat", O_WRONLY | O_CREAT | O_TRUNC | g_open_extra, 0600);
  g_dup_fds[1] = dup(g_dup_fds[0]);
  pthread_t t[4];
  for (long i = 0; i < 4; i++) pthread_create(&t[i], NULL, dup_writer, (void*)(intptr_t)i);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  struct stat st;
  fstat(g_dup_fds[0], &st);
  CHECK(st.st_size == 4L * DUP_RECORDS * 100,
        "threads writing through dup()ed fds: every byte lands", "size %ld", (long)st.st_size);
  close(g_dup_fds[0]);
  close(g_dup_fds[1]);
  unlink("dup.dat");
}

static void threads(void) {
  int fd = open("records.dat", O_RDWR | O_CREAT | O_TRUNC | g_open_extra, 0600);
  uint32_t all[THREADS * MAX_RECORDS];
  long want = 0;
  for (uint32_t k = 0; k < (uint32_t)(THREADS * RECORDS); k++) {
    all[k] = k * 7 + 1;
    want += all[k];
  }
  ssize_t all_len = (ssize_t)(THREADS * RECORDS * sizeof all[0]);
  if (write(fd, all, (size_t)all_len) != all_len) g_failures++;
  lseek(fd, 0, SEEK_SET);
  g_shared_fd = fd;
  pthread_t t[THREADS];
  pthread_barrier_init(&g_readers_start, NULL, THREADS + 1);
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, share_reader, (void*)(intptr_t)i);
  tasks_sample();
  pthread_barrier_wait(&g_readers_start);
  long sum = 0, count = 0;
  for (long i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    sum += g_sum[i];
    count += g_count[i];
  }
  CHECK(count == THREADS * RECORDS && sum == want, "threads reading one fd see each record once",
        "count %ld sum %ld want %ld", count, sum, want);
  close(fd);

  g_append_fd = open("records.dat", O_WRONLY | O_TRUNC | O_APPEND | g_open_extra);
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, appender, (void*)(intptr_t)i);
  for (long i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  close(g_append_fd);
  FILE* f = fopen("records.dat", "r");
  char line[64];
  int per[THREADS] = {0}, bad = 0;
  while (f && fgets(line, sizeof line, f)) {
    long i;
    int k;
    if (strlen(line) != 14 || sscanf(line, "t%ld-%d", &i, &k) != 2 || i < 0 || i >= THREADS ||
        k != per[i]) {
      bad++;
      continue;
    }
    per[i]++;
  }
  if (f) fclose(f);
  int full = 1;
  for (int i = 0; i < THREADS; i++) full &= per[i] == RECORDS;
  CHECK(!bad && full, "threads appending: every record whole and in each thread's order",
        "bad lines %d", bad);
  unlink("records.dat");
}

/* Opens that fail in the path walk: the shim looks at the path once before
   a green thread's open (a FIFO would make the open wait) and answers these
   from that look (docs/design.md, "What blocks what"); the errors must be
   the open's own. Runs while the companion thread keeps the shim's paths. */
static void open_errors(void) {
  int fd = open("plain.dat", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  close(fd);
  if (symlink("nowhere.dat", "dangling.lnk") != 0) g_failures++;
  show("open a missing file", open("missing.dat", O_RDONLY));
  show("open in a missing directory", open("missing.dir/x", O_WRONLY));
  show("open below a regular file", open("plain.dat/x", O_RDONLY));
  show("open the empty path", open("", O_RDONLY));
  show("open a dangling symlink", open("dangling.lnk", O_RDONLY));
  show("open a dangling symlink O_NOFOLLOW", open("dangling.lnk", O_RDONLY | O_NOFOLLOW));
  fd = open("dangling.lnk", O_WRONLY | O_CREAT, 0600);
  show("O_CREAT through a dangling symlink makes its target", fd >= 0 ? 0 : -1);
  if (fd >= 0) close(fd);
  struct stat st;
  show("the target exists", stat("nowhere.dat", &st));
  int dir = open(".", O_RDONLY | O_DIRECTORY);
  show("openat a missing file", openat(dir, "missing.dat", O_RDONLY));
  show("openat on a bad dirfd", openat(9999, "missing.dat", O_RDONLY));
  fd = openat(dir, "plain.dat", O_RDONLY);
  show("openat an existing file", fd >= 0 ? 0 : -1);
  if (fd >= 0) close(fd);
  close(dir);
  errno = 0;
  FILE* f = fopen("missing.dat", "r");
  show("fopen a missing file", f ? 0 : -1);
  if (f) fclose(f);
  f = fopen("plain.dat/x", "r");
  show("fopen below a regular file", f ? 0 : -1);
  if (f) fclose(f);
  f = fopen("new_w.dat", "w");
  show("fopen w makes a new file", f ? 0 : -1);
  if (f) fclose(f);
  f = fopen("new_a.dat", "a");
  show("fopen a makes a new file", f ? 0 : -1);
  if (f) fclose(f);
  errno = 0;
  f = fopen("new_z.dat", "z");
  show("fopen with mode z", f ? 0 : -1);
  if (f) fclose(f);
  unlink("new_w.dat");
  unlink("new_a.dat");
  unlink("dangling.lnk");
  unlink("nowhere.dat");
  unlink("plain.dat");
}

/* Keeps a second thread alive: under the shim a thread alone on its carrier
   makes the real calls, and offsets() is to test the ring's. */
static struct gate g_done;
static void* companion(void* arg) {
  (void)arg;
  gate_wait(&g_done);
  return NULL;
}

int main(int argc, char** argv) {
  test_start();
  if (argc > 1 && strcmp(argv[1], "dsync") == 0) {
    g_open_extra = O_DSYNC;
    RECORDS /= 10;
    DUP_RECORDS /= 10;
  }
  gate_init(&g_done);
  pthread_t c;
  pthread_create(&c, NULL, companion, NULL);
  offsets();
  open_errors();
  gate_open(&g_done, 1);
  pthread_join(c, NULL);
  threads();
  dup_writers();
  return test_end();
}
