// The real libc functions behind every interposed symbol, resolved once with
// dlsym(RTLD_NEXT) (dlvsym where glibc keeps several versions). Hooks call
// real::name(...) to pass a call straight through.
//
// resolve() is idempotent and safe to call from any hook that runs before the
// shim's constructor (another library's constructor, the dynamic loader).
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

namespace gh::shim {

// X(name, version): version nullptr means the default symbol.
#define GH_REAL_FUNCS(X)                               \
  /* data */                                           \
  X(read, nullptr)                                     \
  X(readv, nullptr)                                    \
  X(pread, nullptr)                                    \
  X(pread64, nullptr)                                  \
  X(preadv, nullptr)                                   \
  X(preadv2, nullptr)                                  \
  X(write, nullptr)                                    \
  X(writev, nullptr)                                   \
  X(pwrite, nullptr)                                   \
  X(pwrite64, nullptr)                                 \
  X(pwritev, nullptr)                                  \
  X(pwritev2, nullptr)                                 \
  X(recv, nullptr)                                     \
  X(recvfrom, nullptr)                                 \
  X(recvmsg, nullptr)                                  \
  X(recvmmsg, nullptr)                                 \
  X(send, nullptr)                                     \
  X(sendto, nullptr)                                   \
  X(sendmsg, nullptr)                                  \
  X(sendmmsg, nullptr)                                 \
  X(sendfile, nullptr)                                 \
  X(sendfile64, nullptr)                               \
  X(splice, nullptr)                                   \
  /* connections */                                    \
  X(socket, nullptr)                                   \
  X(socketpair, nullptr)                               \
  X(pipe, nullptr)                                     \
  X(pipe2, nullptr)                                    \
  X(accept, nullptr)                                   \
  X(accept4, nullptr)                                  \
  X(connect, nullptr)                                  \
  X(shutdown, nullptr)                                 \
  X(close, nullptr)                                    \
  X(dup, nullptr)                                      \
  X(dup2, nullptr)                                     \
  X(dup3, nullptr)                                     \
  X(fcntl, nullptr)                                    \
  X(fcntl64, nullptr)                                  \
  X(ioctl, nullptr)                                    \
  X(setsockopt, nullptr)                               \
  X(getsockopt, nullptr)                               \
  /* waiting */                                        \
  X(poll, nullptr)                                     \
  X(ppoll, nullptr)                                    \
  X(select, nullptr)                                   \
  X(pselect, nullptr)                                  \
  X(epoll_wait, nullptr)                               \
  X(epoll_pwait, nullptr)                              \
  X(epoll_pwait2, nullptr)                             \
  /* time */                                           \
  X(sleep, nullptr)                                    \
  X(usleep, nullptr)                                   \
  X(nanosleep, nullptr)                                \
  X(clock_nanosleep, "GLIBC_2.17")                     \
  X(sched_yield, nullptr)                              \
  /* threads (the real ones serve process-shared objects and native threads) */ \
  X(pthread_create, "GLIBC_2.34")                      \
  X(pthread_join, "GLIBC_2.34")                        \
  X(pthread_detach, "GLIBC_2.34")                      \
  X(pthread_self, nullptr)                             \
  X(pthread_kill, "GLIBC_2.34")                        \
  X(pthread_sigmask, "GLIBC_2.32")                     \
  X(pthread_tryjoin_np, "GLIBC_2.34")                  \
  X(pthread_timedjoin_np, "GLIBC_2.34")                \
  X(pthread_clockjoin_np, "GLIBC_2.34")                \
  X(pthread_exit, "GLIBC_2.34")                        \
  X(pthread_equal, nullptr)                            \
  X(pthread_once, "GLIBC_2.34")                        \
  X(pthread_key_create, "GLIBC_2.34")                  \
  X(pthread_key_delete, "GLIBC_2.34")                  \
  X(pthread_getspecific, "GLIBC_2.34")                 \
  X(pthread_setspecific, "GLIBC_2.34")                 \
  X(pthread_setname_np, "GLIBC_2.34")                  \
  X(pthread_getname_np, "GLIBC_2.34")                  \
  X(pthread_getattr_np, "GLIBC_2.32")                  \
  X(pthread_cancel, "GLIBC_2.34")                      \
  X(pthread_setschedparam, nullptr)                    \
  X(pthread_getschedparam, nullptr)                    \
  X(pthread_setaffinity_np, "GLIBC_2.34")              \
  X(pthread_getaffinity_np, "GLIBC_2.34")              \
  X(pthread_getcpuclockid, "GLIBC_2.34")               \
  X(pthread_sigqueue, "GLIBC_2.34")                    \
  X(pthread_spin_init, "GLIBC_2.34")                   \
  X(pthread_spin_lock, "GLIBC_2.34")                   \
  X(pthread_spin_trylock, "GLIBC_2.34")                \
  X(pthread_spin_unlock, "GLIBC_2.34")                 \
  X(pthread_spin_destroy, "GLIBC_2.34")                \
  X(pthread_mutex_init, nullptr)                       \
  X(pthread_mutex_destroy, nullptr)                    \
  X(pthread_mutex_lock, nullptr)                       \
  X(pthread_mutex_trylock, "GLIBC_2.34")               \
  X(pthread_mutex_timedlock, "GLIBC_2.34")             \
  X(pthread_mutex_clocklock, "GLIBC_2.34")             \
  X(pthread_mutex_unlock, nullptr)                     \
  X(pthread_cond_init, "GLIBC_2.3.2")                  \
  X(pthread_cond_destroy, "GLIBC_2.3.2")               \
  X(pthread_cond_wait, "GLIBC_2.3.2")                  \
  X(pthread_cond_timedwait, "GLIBC_2.3.2")             \
  X(pthread_cond_clockwait, "GLIBC_2.34")              \
  X(pthread_cond_signal, "GLIBC_2.3.2")                \
  X(pthread_cond_broadcast, "GLIBC_2.3.2")             \
  X(pthread_rwlock_init, "GLIBC_2.34")                 \
  X(pthread_rwlock_destroy, "GLIBC_2.34")              \
  X(pthread_rwlock_rdlock, "GLIBC_2.34")               \
  X(pthread_rwlock_wrlock, "GLIBC_2.34")               \
  X(pthread_rwlock_tryrdlock, "GLIBC_2.34")            \
  X(pthread_rwlock_trywrlock, "GLIBC_2.34")            \
  X(pthread_rwlock_timedrdlock, "GLIBC_2.34")          \
  X(pthread_rwlock_timedwrlock, "GLIBC_2.34")          \
  X(pthread_rwlock_clockrdlock, "GLIBC_2.34")          \
  X(pthread_rwlock_clockwrlock, "GLIBC_2.34")          \
  X(pthread_rwlock_unlock, "GLIBC_2.34")               \
  X(pthread_barrier_init, "GLIBC_2.34")                \
  X(pthread_barrier_destroy, "GLIBC_2.34")             \
  X(pthread_barrier_wait, "GLIBC_2.34")                \
  X(sem_init, "GLIBC_2.34")                            \
  X(sem_destroy, "GLIBC_2.34")                         \
  X(sem_wait, "GLIBC_2.34")                            \
  X(sem_trywait, "GLIBC_2.34")                         \
  X(sem_timedwait, "GLIBC_2.34")                       \
  X(sem_clockwait, "GLIBC_2.34")                       \
  X(sem_post, "GLIBC_2.34")                            \
  X(sem_getvalue, "GLIBC_2.34")                        \
  /* signals */                                        \
  X(sigaction, nullptr)                                \
  X(sigprocmask, nullptr)                              \
  X(signal, nullptr)                                   \
  /* processes */                                      \
  X(fork, nullptr)                                     \
  X(exit, nullptr)                                     \
  X(fclose, nullptr)                                   \
  X(close_range, nullptr)                              \
  /* dns */                                            \
  X(getaddrinfo, nullptr)                              \
  X(getnameinfo, nullptr)                              \
  X(gethostbyname, nullptr)                            \
  X(gethostbyname_r, nullptr)

namespace real {
#define GH_DECLARE_REAL(name, version) extern decltype(&::name) name;
GH_REAL_FUNCS(GH_DECLARE_REAL)
#undef GH_DECLARE_REAL
}  // namespace real

// Resolves every real:: pointer. Idempotent; cheap after the first call.
void resolve_real();
extern bool g_real_resolved;

inline void ensure_real() {
  if (__builtin_expect(!g_real_resolved, 0)) resolve_real();
}

}  // namespace gh::shim
