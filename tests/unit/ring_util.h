// SPDX-License-Identifier: MIT
// Helpers shared by the io_uring tests (ring_*_test.cc, fastpath_test.cc):
// fd pairs closed on scope exit, a TCP listener on loopback, and the skip
// for hosts without io_uring.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <gtest/gtest.h>

#include "ioring/ops.h"
#include "ioring/ring.h"
#include "test_util.h"

// Declares `Ring* r`, the calling thread's ring; skips the test without one.
#define RING_OR_SKIP(r)                              \
  gh::ioring::Ring* r = gh::ioring::Ring::current(); \
  if (!r) GTEST_SKIP() << "io_uring unavailable: " << strerror(errno)

namespace gh_test {

inline bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

inline long fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<long>(rl.rlim_cur);
}

// Two fds, each closed on destruction unless already closed (-1).
struct FdPair {
  int fd[2] = {-1, -1};
  FdPair() = default;
  FdPair(const FdPair&) = delete;
  FdPair& operator=(const FdPair&) = delete;
  ~FdPair() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  void close_end(int i) { close(fd[i]), fd[i] = -1; }
};

struct Pipe : FdPair {
  int& r = fd[0];
  int& w = fd[1];
  Pipe() { EXPECT_EQ(pipe2(fd, O_CLOEXEC), 0); }
  void close_w() { close_end(1); }
  void close_r() { close_end(0); }
};

struct SockPair : FdPair {
  int& a = fd[0];
  int& b = fd[1];
  explicit SockPair(int type = SOCK_STREAM) {
    EXPECT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fd), 0);
  }
  void close_b() { close_end(1); }
};

// A TCP listener on 127.0.0.1, port chosen by the kernel.
struct Listener {
  int fd = -1;
  sockaddr_in addr{};
  explicit Listener(bool listen_too = true) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    if (listen_too) {
      EXPECT_EQ(listen(fd, 64), 0);
    }
  }
  ~Listener() { close(fd); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// Connects a TCP pair through the ring: returns {client, server}.
inline std::pair<int, int> tcp_pair(const Listener& l) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int s = -1;
  gh::GreenThread* acc = go([&] { s = gh::io::accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC); });
  EXPECT_EQ(gh::io::connect(c, l.sa(), sizeof l.addr), 0);
  join(acc);
  EXPECT_GE(s, 0);
  return {c, s};
}

}  // namespace gh_test
