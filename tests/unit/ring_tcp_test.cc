// SPDX-License-Identifier: MIT
// io_uring operations (ioring/ops.h) on TCP loopback: accept and connect,
// an echo through the ring, the peer address accept fills in, ECONNREFUSED,
// ECONNRESET from a linger-0 close and from a close with unread data, and a
// 4 MiB transfer checked end to end. Each test runs on a fresh carrier.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using namespace gh_test;

// ------------------------------------------------------- TCP loopback ------

TEST(Ring, TcpAcceptConnectEcho) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    int server_fd = -1;
    std::string server_got;
    sockaddr_in peer{};
    socklen_t peer_len = sizeof peer;
    gh::GreenThread* srv = go([&] {
      server_fd = gh::io::accept(l.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_CLOEXEC);
      if (server_fd < 0) return;
      char buf[64];
      ssize_t n = gh::io::recv(server_fd, buf, sizeof buf, 0);
      if (n > 0) server_got.assign(buf, n);
      // Echo back through write (not send): any fd op works on the socket.
      gh::io::write(server_fd, buf, n);
    });
    gh::yield();  // the server parks in accept

    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    ASSERT_EQ(gh::io::connect(c, l.sa(), sizeof l.addr), 0);
    EXPECT_EQ(gh::io::send(c, "echo me", 7, 0), 7);
    char back[16] = {};
    EXPECT_EQ(gh::io::recv(c, back, 7, MSG_WAITALL), 7);
    join(srv);
    ASSERT_GE(server_fd, 0);
    EXPECT_EQ(server_got, "echo me");
    EXPECT_EQ(std::string(back, 7), "echo me");

    // accept filled in the peer's address: our client's local address.
    sockaddr_in local{};
    socklen_t ll = sizeof local;
    ASSERT_EQ(getsockname(c, reinterpret_cast<sockaddr*>(&local), &ll), 0);
    EXPECT_EQ(peer_len, sizeof peer);
    EXPECT_EQ(peer.sin_port, local.sin_port);
    EXPECT_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    EXPECT_NE(fcntl(server_fd, F_GETFD) & FD_CLOEXEC, 0);  // SOCK_CLOEXEC honoured

    // EOF after the peer closes.
    close(server_fd);
    EXPECT_EQ(gh::io::recv(c, back, sizeof back, 0), 0);
    close(c);
  });
}

// recv_expecting_wait, for a caller that expects to wait, still returns data
// that is already there, at once, and data that comes later, and EOF.
TEST(Ring, TcpRecvExpectingWaitSeesDataThereAndDataLater) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(c, 0);
    ASSERT_EQ(gh::io::connect(c, l.sa(), sizeof l.addr), 0);
    int s = gh::io::accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(s, 0);
    char buf[64] = {};
    // Already there.
    ASSERT_EQ(gh::io::send(c, "now", 3, 0), 3);
    ASSERT_TRUE(wait_until_true([&] {
      pollfd p{s, POLLIN, 0};
      return poll(&p, 1, 0) == 1;
    }));
    EXPECT_EQ(gh::io::recv_expecting_wait(s, buf, sizeof buf, 0), 3);
    EXPECT_EQ(std::string(buf, 3), "now");
    // Comes while the reader waits.
    bool waiting = false;
    gh::GreenThread* writer = go([&] {
      ASSERT_TRUE(wait_until_true([&] { return waiting; }));
      gh::yield();
      EXPECT_EQ(gh::io::send(c, "later", 5, 0), 5);
      EXPECT_EQ(shutdown(c, SHUT_WR), 0);
    });
    waiting = true;
    EXPECT_EQ(gh::io::recv_expecting_wait(s, buf, sizeof buf, 0), 5);
    EXPECT_EQ(std::string(buf, 5), "later");
    EXPECT_EQ(gh::io::recv_expecting_wait(s, buf, sizeof buf, 0), 0);
    join(writer);
    close(s);
    close(c);
  });
}

TEST(Ring, TcpConnectToClosedPortIsEconnrefused) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    // Bound but not listening: the port is ours and answers with RST.
    Listener bound(/*listen_too=*/false);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(gh::io::connect(c, bound.sa(), sizeof bound.addr), -ECONNREFUSED);
    close(c);
  });
}

TEST(Ring, TcpPeerResetWithLingerZeroIsEconnreset) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    auto [c, s] = tcp_pair(l);
    ssize_t got = 1;
    gh::GreenThread* rd = go([&, c = c] {
      char b[8];
      got = gh::io::recv(c, b, sizeof b, 0);
    });
    gh::yield();  // parked in recv
    linger lg{1, 0};
    ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(s);  // RST
    join(rd);
    EXPECT_EQ(got, -ECONNRESET);
    close(c);
  });
}

TEST(Ring, TcpPeerClosesWithUnreadDataIsEconnreset) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    auto [c, s] = tcp_pair(l);
    // Data the server never reads: closing then sends RST, not FIN.
    EXPECT_EQ(gh::io::send(c, "unread", 6, 0), 6);
    ssize_t got = 1;
    gh::GreenThread* rd = go([&, c = c] {
      char b[8];
      got = gh::io::recv(c, b, sizeof b, 0);
    });
    gh::yield();
    // Make sure the bytes reached the server's receive queue first.
    ASSERT_EQ(gh::io::poll(s, POLLIN, gh::deadline_after(5000 * kMs)) & POLLIN, POLLIN);
    close(s);
    join(rd);
    EXPECT_EQ(got, -ECONNRESET);
    // And the next send on the reset connection fails too.
    EXPECT_EQ(gh::io::send(c, "x", 1, MSG_NOSIGNAL), -EPIPE);
    close(c);
  });
}

TEST(Ring, TcpLargeTransferChecksum) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    auto [c, s] = tcp_pair(l);
    constexpr size_t kLen = 4 << 20;
    std::vector<unsigned char> data(kLen);
    uint64_t sum_out = 0;
    for (size_t i = 0; i < kLen; i++) {
      data[i] = static_cast<unsigned char>(i * 131 + (i >> 11));
      sum_out = sum_out * 31 + data[i];
    }
    uint64_t sum_in = 0;
    size_t got = 0;
    gh::GreenThread* rd = go([&, s = s] {
      std::vector<unsigned char> buf(70000);
      while (got < kLen) {
        ssize_t n = gh::io::recv(s, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) sum_in = sum_in * 31 + buf[i];
        got += n;
      }
    });
    size_t sent = 0;
    while (sent < kLen) {
      ssize_t n = gh::io::send(c, data.data() + sent, kLen - sent, 0);
      ASSERT_GT(n, 0);
      sent += n;
    }
    join(rd);
    EXPECT_EQ(got, kLen);
    EXPECT_EQ(sum_in, sum_out);
    close(c);
    close(s);
  });
}

}  // namespace
