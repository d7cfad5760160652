// SPDX-License-Identifier: MIT
/* no_io_uring ERRNO COMMAND [ARGS...]
 *
 * Runs COMMAND with the io_uring system calls (io_uring_setup, _enter,
 * _register) refused with ERRNO (EPERM or ENOSYS), as the seccomp profiles
 * of Docker, Kubernetes and other container runtimes refuse them. The filter
 * holds for COMMAND and everything it starts. Exit status 125 if the filter
 * cannot be installed or does not take effect, 127 if COMMAND cannot run. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

int main(int argc, char** argv) {
  if (argc < 3 || (strcmp(argv[1], "EPERM") != 0 && strcmp(argv[1], "ENOSYS") != 0)) {
    fprintf(stderr, "usage: no_io_uring EPERM|ENOSYS COMMAND [ARGS...]\n");
    return 125;
  }
  unsigned err = strcmp(argv[1], "EPERM") == 0 ? EPERM : ENOSYS;
  struct sock_filter code[] = {
      /* other architectures' calls (x86-64 only here): allowed */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      /* 425 <= nr <= 427: refused with err */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __NR_io_uring_setup, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, __NR_io_uring_register, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("no_io_uring: seccomp");
    return 125;
  }
  char params[120] = {0}; /* struct io_uring_params */
  errno = 0;
  if (syscall(__NR_io_uring_setup, 1, params) != -1 || errno != (int)err) {
    fprintf(stderr, "no_io_uring: the filter did not take effect\n");
    return 125;
  }
  execvp(argv[2], argv + 2);
  fprintf(stderr, "no_io_uring: cannot run %s: %s\n", argv[2], strerror(errno));
  return 127;
}
