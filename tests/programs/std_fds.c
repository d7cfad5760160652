// SPDX-License-Identifier: MIT
/* A threaded server whose sockets and pipes are numbered 0-2: the shim must
 * decide by what an fd is, not by its number, and park on a socket at fd 0
 * as on any other.
 *
 *   std_fds closed   started with stdin closed (run_diff --stdin-closed):
 *                    the listening socket is fd 0
 *   std_fds daemon   a daemon: the program forks a child that calls
 *                    daemon(), closes 0-2 and serves with its listener at 0
 *                    and a pipe at 1 and 2, then reports through a pipe
 *                    the first process prints from
 *
 * Run with one carrier and no hand-off: a blocking call made for real on fd
 * 0-2 would stop every other thread (a time-out). */
#include "common.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define ROUNDS 50

static int g_listener = -1, g_port;
static int g_pipe[2] = {-1, -1};
static FILE* g_out;
static int g_local_failures;

#include <stdarg.h>

static void report(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(g_out, fmt, ap);
  va_end(ap);
  fflush(g_out);
}

static void* server(void* arg) {
  (void)arg;
  int c = accept(g_listener, NULL, NULL);
  if (c < 0) {
    g_local_failures++;
    return NULL;
  }
  /* (its number is not printed: the main thread's tasks_sample opens fds
     concurrently) */
  report("accepted a connection\n");
  echo_until_closed(c);
  return NULL;
}

/* Reads the pipe (at a low fd) while the client has not written yet. */
static void* pipe_reader(void* arg) {
  (void)arg;
  char buf[16] = {0};
  ssize_t n = read_full(g_pipe[0], buf, 5);
  report("pipe read at fd %d: %d bytes\n", g_pipe[0], (int)n);
  if (n != 5 || memcmp(buf, "ahead", 5) != 0) g_local_failures++;
  return NULL;
}

static void* client(void* arg) {
  (void)arg;
  int ok = echo_rounds(g_port, ROUNDS);
  report("%d echo rounds: %s\n", ROUNDS, ok ? "ok" : "FAILED");
  if (!ok) g_local_failures++;
  /* only now: the reader has been waiting on the pipe all along */
  if (write_full(g_pipe[1], "ahead", 5) != 0) g_local_failures++;
  return NULL;
}

/* Serves with the fds it has; returns the number of failures. */
static int serve(void) {
  if ((g_listener = loopback_listener(&g_port)) < 0 || pipe(g_pipe) != 0) return 1;
  report("listener at fd %d, pipe at fds %d and %d\n", g_listener, g_pipe[0], g_pipe[1]);
  pthread_t s, r, c;
  pthread_create(&s, NULL, server, NULL);
  pthread_create(&r, NULL, pipe_reader, NULL);
  pthread_create(&c, NULL, client, NULL);
  tasks_sample();
  pthread_join(c, NULL);
  pthread_join(r, NULL);
  pthread_join(s, NULL);
  return g_local_failures;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (strcmp(argv[1], "closed") == 0) {
    /* stdout is fd 1; fd 0 must be closed */
    if (fcntl(0, F_GETFD) != -1 || errno != EBADF) {
      printf("stdin is open: run with 0<&-\n");
      return 2;
    }
    test_start();
    g_out = stdout;
    g_failures += serve();
    return test_end();
  }
  if (strcmp(argv[1], "daemon") != 0) return 2;
  test_start();
  int rep[2];
  if (pipe(rep) != 0) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    close(rep[0]);
    /* daemon(): the child's child goes on, in a new session, with 0-2 on
       /dev/null; then it closes them, as daemons do */
    if (daemon(1, 0) != 0) _exit(3);
    close(0);
    close(1);
    close(2);
    g_out = fdopen(rep[1], "w");
    if (!g_out) _exit(3);
    int f = serve();
    fprintf(g_out, "daemon failures: %d\n", f);
    fclose(g_out);
    _exit(0);
  }
  close(rep[1]);
  int st;
  waitpid(pid, &st, 0); /* daemon()'s parent exits at once */
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "daemon() in the child", "status %d", st);
  /* the daemon's report, until it closes the pipe (it has exited then) */
  char line[256];
  FILE* in = fdopen(rep[0], "r");
  while (in && fgets(line, sizeof line, in)) {
    fputs(line, stdout);
    if (strstr(line, "daemon failures: ") && strcmp(line, "daemon failures: 0\n") != 0)
      g_failures++;
  }
  if (in) fclose(in);
  return test_end();
}
