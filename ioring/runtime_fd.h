// SPDX-License-Identifier: MIT
// The runtime's own file descriptors (rings, epoll sets, wake-up eventfds):
// numbered high, close-on-exec, and known, so that the shim can keep the
// program from closing them (close, close_range, closefrom).
#pragma once

namespace gh::ioring {

// Lowest fd number the runtime uses for its own descriptors, chosen high so
// that they stay out of the program's usual range.
int runtime_fd_floor();

// Takes fd, just made for the runtime, as one of its own: records it at once,
// so that a close of that number by the program from now on is refused, then
// moves it to the lowest free number >= runtime_fd_floor(), close-on-exec.
// Returns the fd's number: fd itself, still recorded, when the limit leaves
// no high number. Returns -EBADF when fd is gone already: a
// program thread's close of that number, checked before fd existed (a
// stale number, a close-all loop), closed it; the caller makes a new one.
// fd < 0 is returned as it is.
int adopt_runtime_fd(int fd);

// make() -> fd or -errno, adopted (adopt_runtime_fd), made again while a
// program thread's close takes it before it is adopted (up to 8 times).
// Returns the fd or -errno; errno is left alone.
template <typename Make>
int make_runtime_fd(Make&& make) {
  for (int tries = 0;; tries++) {
    long fd = make();
    if (fd < 0) return static_cast<int>(fd);
    int own = adopt_runtime_fd(static_cast<int>(fd));
    if (own >= 0 || tries == 8) return own;
  }
}

// Records fd as the runtime's / forgets it. Any thread.
void register_runtime_fd(int fd);
void unregister_runtime_fd(int fd);

// True if fd is one of the runtime's own descriptors on any carrier. Any
// thread; cheap for fd < runtime_fd_floor().
bool is_runtime_fd(int fd);
// How many fds the runtime may record (a carrier has two, at most 256
// carriers, and a few more for the control thread).
inline constexpr int kMaxRuntimeFds = 600;
// Copies up to max runtime fds, ascending, into out. Returns how many.
int runtime_fds(int* out, int max);
// In a fork child, before it makes a runtime of its own: closes the
// parent's runtime fds (rings and eventfds the child never uses) and forgets
// them, so that a child whose parent used every fd the limit allows can
// still make its carrier.
void close_runtime_fds_after_fork();

}  // namespace gh::ioring
