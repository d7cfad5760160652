// SPDX-License-Identifier: MIT
// The fast path (ioring/fastpath.h): single non-blocking attempts, and
// write_all's blocking-stream semantics on sockets and pipes.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "ioring/fastpath.h"
#include "ioring/ops.h"
#include "ioring/ring.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using namespace gh_test;

struct Fds {
  int a = -1, b = -1;  // socketpair ends, or pipe read (a) / write (b)
  ~Fds() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  static Fds socketpair_stream() {
    Fds f;
    int s[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    f.a = s[0];
    f.b = s[1];
    return f;
  }
  static Fds pipe() {
    Fds f;
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    f.a = p[0];
    f.b = p[1];
    return f;
  }
  Fds() = default;
  Fds(Fds&& o) noexcept : a(o.a), b(o.b) { o.a = o.b = -1; }
};

// Deterministic pattern and an order-sensitive checksum.
unsigned char pattern(size_t i) { return static_cast<unsigned char>(i * 2654435761u >> 13); }
struct Sum {
  uint64_t v = 1469598103934665603ull;
  void add(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; i++) v = (v ^ p[i]) * 1099511628211ull;
  }
};

// len bytes, byte i being pattern(i * mul + add).
std::vector<unsigned char> patterned(size_t len, size_t mul = 1, size_t add = 0) {
  std::vector<unsigned char> data(len);
  for (size_t i = 0; i < len; i++) data[i] = pattern(i * mul + add);
  return data;
}

Sum sum_of(const std::vector<unsigned char>& data) {
  Sum s;
  s.add(data.data(), data.size());
  return s;
}

// ---------------------------------------------------- single attempts ----

TEST(Fast, RecvNowaitOnEmptySocketIsEagain) {
  Fds s = Fds::socketpair_stream();
  char buf[8];
  EXPECT_EQ(gh::io::recv_nowait(s.a, buf, sizeof buf, 0), -EAGAIN);
  // The fd itself stays blocking: only this call was non-blocking.
  EXPECT_EQ(fcntl(s.a, F_GETFL) & O_NONBLOCK, 0);
  ASSERT_EQ(write(s.b, "hi", 2), 2);
  EXPECT_EQ(gh::io::recv_nowait(s.a, buf, sizeof buf, 0), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  // MSG_PEEK passes through with MSG_DONTWAIT added.
  ASSERT_EQ(write(s.b, "x", 1), 1);
  EXPECT_EQ(gh::io::recv_nowait(s.a, buf, sizeof buf, MSG_PEEK), 1);
  EXPECT_EQ(gh::io::recv_nowait(s.a, buf, sizeof buf, 0), 1);
  // EOF is 0, not -EAGAIN.
  shutdown(s.b, SHUT_WR);
  EXPECT_EQ(gh::io::recv_nowait(s.a, buf, sizeof buf, 0), 0);
  EXPECT_EQ(gh::io::recv_nowait(-1, buf, sizeof buf, 0), -EBADF);
}

TEST(Fast, RecvmsgNowait) {
  Fds s = Fds::socketpair_stream();
  char x[3], y[8];
  iovec v[2] = {{x, sizeof x}, {y, sizeof y}};
  msghdr m{};
  m.msg_iov = v;
  m.msg_iovlen = 2;
  EXPECT_EQ(gh::io::recvmsg_nowait(s.a, &m, 0), -EAGAIN);
  char out[] = "abcdef";
  iovec o{out, 6};
  msghdr om{};
  om.msg_iov = &o;
  om.msg_iovlen = 1;
  EXPECT_EQ(gh::io::sendmsg_nowait(s.b, &om, 0), 6);
  EXPECT_EQ(gh::io::recvmsg_nowait(s.a, &m, 0), 6);
  EXPECT_EQ(std::string(x, 3) + std::string(y, 3), "abcdef");
}

TEST(Fast, SendNowaitOnFullSocketIsEagain) {
  Fds s = Fds::socketpair_stream();
  std::vector<char> chunk(64 * 1024, 'q');
  size_t total = 0;
  ssize_t n;
  int rounds = 0;
  while ((n = gh::io::send_nowait(s.b, chunk.data(), chunk.size(), 0)) > 0) {
    total += n;
    ASSERT_LT(++rounds, 100000);
  }
  EXPECT_EQ(n, -EAGAIN);
  EXPECT_GT(total, 0u);
  iovec v{chunk.data(), chunk.size()};
  msghdr m{};
  m.msg_iov = &v;
  m.msg_iovlen = 1;
  EXPECT_EQ(gh::io::sendmsg_nowait(s.b, &m, 0), -EAGAIN);
  EXPECT_EQ(fcntl(s.b, F_GETFL) & O_NONBLOCK, 0);
}

TEST(Fast, ReadvNowaitOnEmptyPipeIsEagain) {
  Fds p = Fds::pipe();
  char x[2], y[8];
  iovec v[2] = {{x, sizeof x}, {y, sizeof y}};
  ssize_t n = gh::io::readv_nowait(p.a, v, 2);
  if (n == -EOPNOTSUPP) GTEST_SKIP() << "pipes without RWF_NOWAIT (Linux < 5.9)";
  EXPECT_EQ(n, -EAGAIN);
  EXPECT_EQ(fcntl(p.a, F_GETFL) & O_NONBLOCK, 0);
  ASSERT_EQ(write(p.b, "12345", 5), 5);
  EXPECT_EQ(gh::io::readv_nowait(p.a, v, 2), 5);
  EXPECT_EQ(std::string(x, 2) + std::string(y, 3), "12345");
  // Writer gone: EOF.
  close(p.b);
  p.b = -1;
  EXPECT_EQ(gh::io::readv_nowait(p.a, v, 2), 0);
}

TEST(Fast, WritevNowaitOnFullPipeIsEagain) {
  Fds p = Fds::pipe();
  std::vector<char> chunk(16 * 1024, 'w');
  iovec v{chunk.data(), chunk.size()};
  ssize_t n;
  size_t total = 0;
  while ((n = gh::io::writev_nowait(p.b, &v, 1)) > 0) total += n;
  if (n == -EOPNOTSUPP) GTEST_SKIP() << "pipes without RWF_NOWAIT";
  EXPECT_EQ(n, -EAGAIN);
  EXPECT_EQ(static_cast<long>(total), fcntl(p.b, F_GETPIPE_SZ));
}

// -------------------------------------------------------------- write_all --

// 8 MiB through a socketpair whose reader takes small bites and yields: the
// writer fills the buffer, waits in the ring, and returns only when all is
// written.
TEST(Fast, WriteAllSocketSlowReaderDeliversEverything) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds s = Fds::socketpair_stream();
    constexpr size_t kLen = 8 << 20;
    std::vector<unsigned char> data = patterned(kLen);
    Sum want = sum_of(data);

    Sum got;
    size_t received = 0;
    int bites = 0;
    gh::GreenThread* rd = go([&] {
      unsigned char buf[3000];  // deliberately odd and small
      for (;;) {
        ssize_t n = gh::io::recv(s.a, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.add(buf, n);
        received += n;
        bites++;
        gh::yield();
      }
    });
    uint64_t completions0 = r->stats().completions;
    ssize_t n = gh::io::write_all(s.b, data.data(), kLen, true, MSG_NOSIGNAL);
    EXPECT_EQ(n, static_cast<ssize_t>(kLen));
    shutdown(s.b, SHUT_WR);
    ASSERT_EQ(gh::join(rd, nullptr), 0);
    EXPECT_EQ(received, kLen);
    EXPECT_EQ(got.v, want.v);
    EXPECT_GT(bites, 1000);
    // The writer did have to wait for room (socket buffers are far smaller).
    EXPECT_GT(r->stats().completions, completions0 + static_cast<uint64_t>(bites) / 2);
  });
}

TEST(Fast, WriteAllPipeSlowReaderDeliversEverything) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds p = Fds::pipe();
    constexpr size_t kLen = 8 << 20;
    std::vector<unsigned char> data = patterned(kLen, 1, 7);
    Sum want = sum_of(data);
    Sum got;
    size_t received = 0;
    gh::GreenThread* rd = go([&] {
      unsigned char buf[5000];
      for (;;) {
        ssize_t n = gh::io::read(p.a, buf, sizeof buf);
        if (n <= 0) break;
        got.add(buf, n);
        received += n;
        gh::yield();
      }
    });
    EXPECT_EQ(gh::io::write_all(p.b, data.data(), kLen, false, 0), static_cast<ssize_t>(kLen));
    close(p.b);
    p.b = -1;
    ASSERT_EQ(gh::join(rd, nullptr), 0);
    EXPECT_EQ(received, kLen);
    EXPECT_EQ(got.v, want.v);
  });
}

TEST(Fast, WriteAllReaderOnAnotherOsThread) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds s = Fds::socketpair_stream();
    constexpr size_t kLen = 4 << 20;
    std::vector<unsigned char> data = patterned(kLen, 3);
    Sum want = sum_of(data);
    Sum got;
    size_t received = 0;
    std::thread reader([&] {
      unsigned char buf[4096];
      ssize_t n;
      while ((n = read(s.a, buf, sizeof buf)) > 0) {
        got.add(buf, n);
        received += n;
      }
    });
    EXPECT_EQ(gh::io::write_all(s.b, data.data(), kLen, true, MSG_NOSIGNAL),
              static_cast<ssize_t>(kLen));
    shutdown(s.b, SHUT_WR);
    reader.join();
    EXPECT_EQ(received, kLen);
    EXPECT_EQ(got.v, want.v);
  });
}

TEST(Fast, WriteAllToPipeWithoutReaderIsEpipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    signal(SIGPIPE, SIG_IGN);
    Fds p = Fds::pipe();
    close(p.a);
    p.a = -1;
    char buf[100] = {};
    EXPECT_EQ(gh::io::write_all(p.b, buf, sizeof buf, false, 0), -EPIPE);
  });
}

TEST(Fast, WriteAllToSocketWithoutPeerIsEpipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds s = Fds::socketpair_stream();
    close(s.a);
    s.a = -1;
    char buf[100] = {};
    EXPECT_EQ(gh::io::write_all(s.b, buf, sizeof buf, true, MSG_NOSIGNAL), -EPIPE);
  });
}

// The reader takes some bytes, then goes away while the writer waits: like a
// native blocking write, the count written so far comes back, not an error.
TEST(Fast, WriteAllReaderLeavesMidwayReturnsCountWritten) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    signal(SIGPIPE, SIG_IGN);
    Fds p = Fds::pipe();
    constexpr size_t kLen = 4 << 20;
    std::vector<char> data(kLen, 'm');
    size_t taken = 0;
    gh::GreenThread* rd = go([&] {
      char buf[8192];
      while (taken < (256u << 10)) {
        ssize_t n = gh::io::read(p.a, buf, sizeof buf);
        if (n <= 0) break;
        taken += n;
      }
      close(p.a);
      p.a = -1;
    });
    ssize_t n = gh::io::write_all(p.b, data.data(), kLen, false, 0);
    ASSERT_EQ(gh::join(rd, nullptr), 0);
    EXPECT_GE(n, static_cast<ssize_t>(taken));
    EXPECT_LT(n, static_cast<ssize_t>(kLen));
  });
}

TEST(Fast, WriteAllDeadlineReturnsWhatFit) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds p = Fds::pipe();
    long cap = fcntl(p.b, F_GETPIPE_SZ);
    ASSERT_GT(cap, 0);
    std::vector<char> data(1 << 20, 'd');
    int64_t deadline = gh::deadline_after(30 * kMs);
    ssize_t n = gh::io::write_all(p.b, data.data(), data.size(), false, 0, deadline);
    EXPECT_GE(gh::mono_ns(), deadline);
    EXPECT_EQ(n, cap);  // the pipe's capacity, then the deadline
    // Nothing fits at all: -ETIME.
    deadline = gh::deadline_after(10 * kMs);
    EXPECT_EQ(gh::io::write_all(p.b, data.data(), 10, false, 0, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
  });
}

TEST(Fast, WriteAllZeroLengthAndRegularFile) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Fds s = Fds::socketpair_stream();
    EXPECT_EQ(gh::io::write_all(s.b, "", 0, true, 0), 0);
    Fds p = Fds::pipe();
    EXPECT_EQ(gh::io::write_all(p.b, "", 0, false, 0), 0);
    char c;
    EXPECT_EQ(gh::io::recv_nowait(s.a, &c, 1, 0), -EAGAIN);

    // A regular file: RWF_NOWAIT may be unsupported (-EOPNOTSUPP) or refuse
    // to block (-EAGAIN though poll says ready); either way all is written.
    char path[] = "/tmp/gh_fastpath_XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    std::vector<unsigned char> data = patterned(3 << 20);
    EXPECT_EQ(gh::io::write_all(fd, data.data(), data.size(), false, 0),
              static_cast<ssize_t>(data.size()));
    std::vector<unsigned char> back(data.size());
    EXPECT_EQ(pread(fd, back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
    EXPECT_TRUE(back == data);
    close(fd);
  });
}

}  // namespace
