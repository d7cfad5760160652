// SPDX-License-Identifier: MIT
// The real libc functions behind every interposed symbol, and every other
// libc function the shim needs from the next object rather than from its
// own hooks: one table, resolved once (shim/elf_symbols.h: no allocation, no
// hook re-entered), before any hook does green work. Hooks call
// real::name(...) to pass a call straight through.
//
// ensure_real() is cheap after the first call and safe from any hook at any
// time: from another library's constructor before the shim's, from inside
// the program's malloc (jemalloc and tcmalloc call pthread_mutex_trylock,
// pthread_self, ... there), and from several threads at once.
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <grp.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <mqueue.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace gh::shim {

// D(name, version): a function <headers> declare; version nullptr means the
// default version (what a program linked today binds to). A version is named
// only where an older default would be wrong; if the running glibc lacks it,
// the default is used and the debug log says so (tests/unit/real_test.cc
// fails then).
// T(name, type...): the same for functions no public header declares.
#define GH_REAL_FUNCS(D, T)                                                     \
  /* data */                                                                    \
  D(read, nullptr)                                                              \
  D(readv, nullptr)                                                             \
  D(pread, nullptr)                                                             \
  D(pread64, nullptr)                                                           \
  D(preadv, nullptr)                                                            \
  D(preadv2, nullptr)                                                           \
  D(write, nullptr)                                                             \
  D(writev, nullptr)                                                            \
  D(pwrite, nullptr)                                                            \
  D(pwrite64, nullptr)                                                          \
  D(pwritev, nullptr)                                                           \
  D(pwritev2, nullptr)                                                          \
  D(recv, nullptr)                                                              \
  D(recvfrom, nullptr)                                                          \
  D(recvmsg, nullptr)                                                           \
  D(recvmmsg, nullptr)                                                          \
  D(send, nullptr)                                                              \
  D(sendto, nullptr)                                                            \
  D(sendmsg, nullptr)                                                           \
  D(sendmmsg, nullptr)                                                          \
  D(sendfile, nullptr)                                                          \
  D(sendfile64, nullptr)                                                        \
  D(splice, nullptr)                                                            \
  /* connections */                                                             \
  D(socket, nullptr)                                                            \
  D(socketpair, nullptr)                                                        \
  D(pipe, nullptr)                                                              \
  D(pipe2, nullptr)                                                             \
  D(accept, nullptr)                                                            \
  D(accept4, nullptr)                                                           \
  D(connect, nullptr)                                                           \
  D(shutdown, nullptr)                                                          \
  D(close, nullptr)                                                             \
  D(dup, nullptr)                                                               \
  D(dup2, nullptr)                                                              \
  D(dup3, nullptr)                                                              \
  D(fcntl, nullptr)                                                             \
  D(fcntl64, nullptr)                                                           \
  D(ioctl, nullptr)                                                             \
  D(setsockopt, nullptr)                                                        \
  D(getsockopt, nullptr)                                                        \
  D(open, nullptr)                                                              \
  D(open64, nullptr)                                                            \
  D(openat, nullptr)                                                            \
  D(openat64, nullptr)                                                          \
  D(creat, nullptr)                                                             \
  D(creat64, nullptr)                                                           \
  D(fopen, nullptr)                                                             \
  D(fopen64, nullptr)                                                           \
  D(eventfd, nullptr)                                                           \
  D(timerfd_create, nullptr)                                                    \
  D(signalfd, nullptr)                                                          \
  D(inotify_init, nullptr)                                                      \
  D(inotify_init1, nullptr)                                                     \
  D(epoll_create, nullptr)                                                      \
  D(epoll_create1, nullptr)                                                     \
  D(memfd_create, nullptr)                                                      \
  D(closefrom, nullptr)                                                         \
  T(__open_2, int(const char*, int))                                            \
  T(__open64_2, int(const char*, int))                                          \
  T(__openat_2, int(int, const char*, int))                                     \
  T(__openat64_2, int(int, const char*, int))                                   \
  /* waiting */                                                                 \
  D(poll, nullptr)                                                              \
  D(ppoll, nullptr)                                                             \
  D(select, nullptr)                                                            \
  D(pselect, nullptr)                                                           \
  D(epoll_wait, nullptr)                                                        \
  D(epoll_pwait, nullptr)                                                       \
  D(epoll_pwait2, nullptr)                                                      \
  /* time */                                                                    \
  D(sleep, nullptr)                                                             \
  D(usleep, nullptr)                                                            \
  D(nanosleep, nullptr)                                                         \
  D(clock_nanosleep, nullptr)                                                   \
  D(clock_gettime, nullptr)                                                     \
  D(clock_getres, nullptr)                                                      \
  D(timer_create, nullptr)                                                      \
  D(getrusage, nullptr)                                                         \
  D(setuid, nullptr)                                                            \
  D(setgid, nullptr)                                                            \
  D(seteuid, nullptr)                                                           \
  D(setegid, nullptr)                                                           \
  D(setreuid, nullptr)                                                          \
  D(setregid, nullptr)                                                          \
  D(setresuid, nullptr)                                                         \
  D(setresgid, nullptr)                                                         \
  D(setgroups, nullptr)                                                         \
  D(sched_yield, nullptr)                                                       \
  D(sched_setaffinity, nullptr)                                                 \
  D(sched_getaffinity, nullptr)                                                 \
  D(sched_setscheduler, nullptr)                                                \
  D(sched_getscheduler, nullptr)                                                \
  D(sched_setparam, nullptr)                                                    \
  D(sched_getparam, nullptr)                                                    \
  D(setpriority, nullptr)                                                       \
  D(getpriority, nullptr)                                                       \
  /* threads (the real ones serve process-shared objects and native threads) */ \
  D(pthread_create, nullptr)                                                    \
  D(pthread_join, nullptr)                                                      \
  D(pthread_detach, nullptr)                                                    \
  D(pthread_self, nullptr)                                                      \
  D(pthread_kill, nullptr)                                                      \
  D(raise, nullptr)                                                             \
  D(pthread_sigmask, nullptr)                                                   \
  D(pthread_tryjoin_np, nullptr)                                                \
  D(pthread_timedjoin_np, nullptr)                                              \
  D(pthread_clockjoin_np, nullptr)                                              \
  D(pthread_exit, nullptr)                                                      \
  D(pthread_equal, nullptr)                                                     \
  D(pthread_once, nullptr)                                                      \
  D(pthread_key_create, nullptr)                                                \
  D(pthread_key_delete, nullptr)                                                \
  D(pthread_getspecific, nullptr)                                               \
  D(pthread_setspecific, nullptr)                                               \
  D(pthread_setname_np, nullptr)                                                \
  D(prctl, nullptr)                                                             \
  D(pthread_getname_np, nullptr)                                                \
  D(pthread_getattr_np, nullptr)                                                \
  D(pthread_cancel, nullptr)                                                    \
  D(pthread_testcancel, nullptr)                                                \
  D(pthread_setcancelstate, nullptr)                                            \
  D(pthread_setcanceltype, nullptr)                                             \
  D(pthread_setschedparam, nullptr)                                             \
  D(pthread_getschedparam, nullptr)                                             \
  D(pthread_setschedprio, nullptr)                                              \
  D(pthread_setaffinity_np, nullptr)                                            \
  D(pthread_getaffinity_np, nullptr)                                            \
  D(pthread_getcpuclockid, nullptr)                                             \
  D(pthread_sigqueue, nullptr)                                                  \
  D(pthread_spin_init, nullptr)                                                 \
  D(pthread_spin_lock, nullptr)                                                 \
  D(pthread_spin_trylock, nullptr)                                              \
  D(pthread_spin_unlock, nullptr)                                               \
  D(pthread_spin_destroy, nullptr)                                              \
  D(pthread_mutex_init, nullptr)                                                \
  D(pthread_mutex_destroy, nullptr)                                             \
  D(pthread_mutex_lock, nullptr)                                                \
  D(pthread_mutex_trylock, nullptr)                                             \
  D(pthread_mutex_timedlock, nullptr)                                           \
  D(pthread_mutex_clocklock, nullptr)                                           \
  D(pthread_mutex_unlock, nullptr)                                              \
  D(pthread_cond_init, "GLIBC_2.3.2")                                           \
  D(pthread_cond_destroy, "GLIBC_2.3.2")                                        \
  D(pthread_cond_wait, "GLIBC_2.3.2")                                           \
  D(pthread_cond_timedwait, "GLIBC_2.3.2")                                      \
  D(pthread_cond_clockwait, nullptr)                                            \
  D(pthread_cond_signal, "GLIBC_2.3.2")                                         \
  D(pthread_cond_broadcast, "GLIBC_2.3.2")                                      \
  D(pthread_rwlock_init, nullptr)                                               \
  D(pthread_rwlock_destroy, nullptr)                                            \
  D(pthread_rwlock_rdlock, nullptr)                                             \
  D(pthread_rwlock_wrlock, nullptr)                                             \
  D(pthread_rwlock_tryrdlock, nullptr)                                          \
  D(pthread_rwlock_trywrlock, nullptr)                                          \
  D(pthread_rwlock_timedrdlock, nullptr)                                        \
  D(pthread_rwlock_timedwrlock, nullptr)                                        \
  D(pthread_rwlock_clockrdlock, nullptr)                                        \
  D(pthread_rwlock_clockwrlock, nullptr)                                        \
  D(pthread_rwlock_unlock, nullptr)                                             \
  D(pthread_barrier_init, nullptr)                                              \
  D(pthread_barrier_destroy, nullptr)                                           \
  D(pthread_barrier_wait, nullptr)                                              \
  D(sem_init, nullptr)                                                          \
  D(sem_destroy, nullptr)                                                       \
  D(sem_wait, nullptr)                                                          \
  D(sem_trywait, nullptr)                                                       \
  D(sem_timedwait, nullptr)                                                     \
  D(sem_clockwait, nullptr)                                                     \
  D(sem_post, nullptr)                                                          \
  D(sem_getvalue, nullptr)                                                      \
  T(__pthread_register_cancel, void(__pthread_unwind_buf_t*))                   \
  T(__pthread_unregister_cancel, void(__pthread_unwind_buf_t*))                 \
  T(__pthread_register_cancel_defer, void(__pthread_unwind_buf_t*))             \
  T(__pthread_unregister_cancel_restore, void(__pthread_unwind_buf_t*))         \
  T(__pthread_unwind_next, void(__pthread_unwind_buf_t*))                       \
  /* signals */                                                                 \
  D(sigaction, nullptr)                                                         \
  D(sigprocmask, nullptr)                                                       \
  D(signal, nullptr)                                                            \
  D(sigpending, nullptr)                                                        \
  D(sigtimedwait, nullptr)                                                      \
  D(pause, nullptr)                                                             \
  D(sigsuspend, nullptr)                                                        \
  D(siglongjmp, nullptr)                                                        \
  D(longjmp, nullptr)                                                           \
  D(_longjmp, nullptr)                                                          \
  T(__longjmp_chk, void(struct __jmp_buf_tag*, int))                            \
  T(__libc_current_sigrtmax, int(void))                                         \
  /* locks and IPC: waiting for another party */                                \
  D(flock, nullptr)                                                             \
  D(fsync, nullptr)                                                             \
  D(lseek, nullptr)                                                             \
  D(lseek64, nullptr)                                                           \
  D(fdatasync, nullptr)                                                         \
  D(sync_file_range, nullptr)                                                   \
  D(fallocate, nullptr)                                                         \
  D(fallocate64, nullptr)                                                       \
  D(lockf, nullptr)                                                             \
  D(lockf64, nullptr)                                                           \
  D(msgsnd, nullptr)                                                            \
  D(msgrcv, nullptr)                                                            \
  D(semop, nullptr)                                                             \
  D(semtimedop, nullptr)                                                        \
  D(mq_send, nullptr)                                                           \
  D(mq_receive, nullptr)                                                        \
  D(mq_timedsend, nullptr)                                                      \
  D(mq_timedreceive, nullptr)                                                   \
  /* processes */                                                               \
  D(fork, nullptr)                                                              \
  D(ptrace, nullptr)                                                            \
  D(exit, nullptr)                                                              \
  D(fclose, nullptr)                                                            \
  /* stdio */                                                                   \
  D(flockfile, nullptr)                                                         \
  D(ftrylockfile, nullptr)                                                      \
  D(funlockfile, nullptr)                                                       \
  D(fgets, nullptr)                                                             \
  D(fgets_unlocked, nullptr)                                                    \
  D(fgetc, nullptr)                                                             \
  D(getc, nullptr)                                                              \
  D(fgetc_unlocked, nullptr)                                                    \
  D(getc_unlocked, nullptr)                                                     \
  D(fread, nullptr)                                                             \
  D(fread_unlocked, nullptr)                                                    \
  D(getdelim, nullptr)                                                          \
  D(fflush, nullptr)                                                            \
  D(fflush_unlocked, nullptr)                                                   \
  D(fputs, nullptr)                                                             \
  D(fputs_unlocked, nullptr)                                                    \
  D(fwrite, nullptr)                                                            \
  D(fwrite_unlocked, nullptr)                                                   \
  D(fputc, nullptr)                                                             \
  D(putc, nullptr)                                                              \
  D(fputc_unlocked, nullptr)                                                    \
  D(putc_unlocked, nullptr)                                                     \
  D(vfprintf, nullptr)                                                          \
  D(vdprintf, nullptr)                                                          \
  D(vfscanf, nullptr)                                                           \
  T(__uflow, int(FILE*))                                                        \
  T(__underflow, int(FILE*))                                                    \
  T(__overflow, int(FILE*, int))                                                \
  T(_IO_getc, int(FILE*))                                                       \
  T(_IO_putc, int(int, FILE*))                                                  \
  T(__vfprintf_chk, int(FILE*, int, const char*, va_list))                      \
  T(__isoc99_vfscanf, int(FILE*, const char*, va_list))                         \
  D(close_range, nullptr)                                                       \
  D(waitpid, nullptr)                                                           \
  D(wait, nullptr)                                                              \
  D(wait3, nullptr)                                                             \
  D(wait4, nullptr)                                                             \
  D(waitid, nullptr)                                                            \
  D(system, nullptr)                                                            \
  D(pclose, nullptr)                                                            \
  D(syscall, nullptr)                                                           \
  /* dns */                                                                     \
  /* libraries */                                                               \
  D(dlopen, nullptr)                                                            \
  D(dlmopen, nullptr)                                                           \
  D(getaddrinfo, nullptr)                                                       \
  D(getnameinfo, nullptr)                                                       \
  D(gethostbyname, nullptr)                                                     \
  D(gethostbyname_r, nullptr)

// Resolves every real:: pointer. Idempotent; a caller that finds another
// thread resolving waits for it.
void resolve_real();
// 0: not started, 1: a thread is resolving, 2: resolved.
extern std::atomic<int> g_real_state;
constexpr int kRealResolved = 2;

inline void ensure_real() {
  if (__builtin_expect(g_real_state.load(std::memory_order_acquire) != kRealResolved, 0))
    resolve_real();
}

// A real function: calling it (or taking it as a function pointer) first
// makes sure the table is resolved, so that no hook can call through a
// pointer that is not set yet, whatever path it took.
template <class F>
struct RealFn {
  F* ptr;
  operator F*() const {
    ensure_real();
    return ptr;
  }
};

// The declarations' nonnull/warn_unused_result attributes do not carry
// over to the pointer type, which is what we want.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
namespace real {
#define GH_REAL_DECLARE_D(name, version) extern RealFn<decltype(::name)> name;
#define GH_REAL_DECLARE_T(name, ...) extern RealFn<__VA_ARGS__> name;
GH_REAL_FUNCS(GH_REAL_DECLARE_D, GH_REAL_DECLARE_T)
#undef GH_REAL_DECLARE_D
#undef GH_REAL_DECLARE_T
}  // namespace real
#pragma GCC diagnostic pop

// One entry of the table, for checks and the debug log.
struct RealSymbol {
  const char* name;
  const char* version;  // requested; nullptr: default
  void* addr;           // resolved, or nullptr if no object defines it
  bool version_found;   // the requested version exists
};
// Calls fn for every entry (after resolution).
void for_each_real(void (*fn)(const RealSymbol&, void*), void* arg);

}  // namespace gh::shim
