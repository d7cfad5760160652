// SPDX-License-Identifier: MIT
// The runtime's own file descriptors (rings, epoll sets, wake-up eventfds):
// numbered high, close-on-exec, and known, so that the shim can keep the
// program from closing them (close, close_range, closefrom).
#pragma once

namespace gh::ioring {

// Lowest fd number the runtime uses for its own descriptors, chosen high so
// that they stay out of the program's usual range.
int runtime_fd_floor();

// Moves fd to the lowest free number >= runtime_fd_floor(), close-on-exec.
// Returns the new fd (or the old one if it cannot be moved).
int move_high(int fd);

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
