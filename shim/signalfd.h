// SPDX-License-Identifier: MIT
// Signalfds and the signals kept pending for one green thread.
//
// A signal sent with pthread_kill, raise or tgkill to a green thread that
// blocks it stays in that thread's own pending set
// (ShimThread::pending_signals): the kernel has no OS thread that is this
// green thread to queue it on. Natively a signalfd read or polled by that
// thread reports it; so reads and polls of a signalfd (made through the
// hook, or found when its fd is classified: shim/fd_table.cc) look at the
// calling thread's set too, before the kernel's (thread-directed
// signals come first natively as well). A wait on such a signalfd looks at
// the set again every 10 ms, as sigwait does: a kept signal does not touch
// the fd. A signalfd only watched through epoll does not see kept signals
// (docs/compatibility.md).
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace gh::shim {

struct FdEntry;

// The siginfo_t of a signal read from a signalfd, with the fields of its
// layout (the timer's id, a child's times, a fault's address, ...) where
// sigwaitinfo would have put them.
siginfo_t siginfo_from_signalfd(const struct signalfd_siginfo& s);

// Records the mask of signalfd fd, made or changed by signalfd(2).
void signalfd_made(int fd, const sigset_t* mask);

// The mask of fd if it is a signalfd made through the hook, else 0.
uint64_t signalfd_mask(int fd);

// Whether a signal of `mask` is kept pending for the calling green thread.
bool signalfd_pending(uint64_t mask);

// A read of signalfd fd (entry e, mask != 0) by a green thread, blocking
// unless the fd is non-blocking. Returns bytes read (whole signalfd_siginfo
// records) or -errno.
ssize_t signalfd_read(int fd, FdEntry* e, void* buf, size_t len);

// The end of one slice of a wait that includes a signalfd (at most 10 ms,
// never after `deadline`, < 0: none).
int64_t signalfd_slice(int64_t deadline);

}  // namespace gh::shim
