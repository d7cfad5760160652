// SPDX-License-Identifier: MIT
// io_uring operations (ioring/ops.h) on pipes and socketpairs: read/write,
// readv/writev, send/recv, sendmsg/recvmsg with iovecs, EOF, datagram
// truncation, and errors exactly as the kernel reports them (EPIPE, EBADF,
// ENOTSOCK). Each test runs on a fresh carrier (on_fresh_carrier).
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "core/green.h"
#include "ioring/ops.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using namespace gh_test;

// ----------------------------------------------------------- pipes ---------

TEST(Ring, PipeReadWriteAndEof) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    char buf[64] = {};
    ssize_t got = -1;
    bool reader_done = false;
    gh::GreenThread* rd = go([&] {
      got = gh::io::read(p.r, buf, sizeof buf);
      reader_done = true;
    });
    gh::yield();  // the reader parks on an empty pipe
    EXPECT_FALSE(reader_done);
    EXPECT_EQ(gh::io::write(p.w, "hello", 5), 5);
    join(rd);
    ASSERT_EQ(got, 5);
    EXPECT_EQ(std::string(buf, 5), "hello");

    // EOF: the writer closes while a reader waits: read returns 0.
    rd = go([&] { got = gh::io::read(p.r, buf, sizeof buf); });
    gh::yield();
    p.close_w();
    join(rd);
    EXPECT_EQ(got, 0);
  });
}

TEST(Ring, PipeReadvWritev) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    char a[] = "abc", b[] = "defgh", c[] = "ij";
    iovec out[3] = {{a, 3}, {b, 5}, {c, 2}};
    EXPECT_EQ(gh::io::writev(p.w, out, 3), 10);
    char x[4] = {}, y[16] = {};
    iovec in[2] = {{x, 4}, {y, sizeof y}};
    EXPECT_EQ(gh::io::readv(p.r, in, 2), 10);
    EXPECT_EQ(std::string(x, 4), "abcd");
    EXPECT_EQ(std::string(y, 6), "efghij");
  });
}

TEST(Ring, WriteToPipeWithoutReaderIsEpipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    signal(SIGPIPE, SIG_IGN);
    Pipe p;
    p.close_r();
    EXPECT_EQ(gh::io::write(p.w, "x", 1), -EPIPE);
  });
}

TEST(Ring, BadFdIsEbadf) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    char c;
    EXPECT_EQ(gh::io::read(-1, &c, 1), -EBADF);
    EXPECT_EQ(gh::io::recv(12345, &c, 1, 0), -EBADF);
    Pipe p;  // not a socket
    EXPECT_EQ(gh::io::recv(p.r, &c, 1, 0), -ENOTSOCK);
  });
}

// ------------------------------------------------------- socketpairs -------

TEST(Ring, SocketpairSendRecvAndEof) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char buf[32] = {};
    ssize_t got = -1;
    gh::GreenThread* rd = go([&] { got = gh::io::recv(s.a, buf, sizeof buf, 0); });
    gh::yield();
    EXPECT_EQ(gh::io::send(s.b, "ping", 4, 0), 4);
    join(rd);
    ASSERT_EQ(got, 4);
    EXPECT_EQ(std::string(buf, 4), "ping");

    rd = go([&] { got = gh::io::recv(s.a, buf, sizeof buf, 0); });
    gh::yield();
    shutdown(s.b, SHUT_WR);
    join(rd);
    EXPECT_EQ(got, 0);
  });
}

TEST(Ring, SocketpairRecvmsgSendmsgIovecs) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char h[] = "head:", body[] = "payload", t[] = ":tail";
    iovec out[3] = {{h, 5}, {body, 7}, {t, 5}};
    msghdr om{};
    om.msg_iov = out;
    om.msg_iovlen = 3;

    char a[6] = {}, b[32] = {};
    iovec in[2] = {{a, 6}, {b, sizeof b}};
    msghdr im{};
    im.msg_iov = in;
    im.msg_iovlen = 2;
    ssize_t got = -1;
    gh::GreenThread* rd = go([&] { got = gh::io::recvmsg(s.a, &im, 0); });
    gh::yield();
    EXPECT_EQ(gh::io::sendmsg(s.b, &om, 0), 17);
    join(rd);
    ASSERT_EQ(got, 17);
    EXPECT_EQ(std::string(a, 6), "head:p");
    EXPECT_EQ(std::string(b, 11), "ayload:tail");
    EXPECT_EQ(im.msg_flags & MSG_TRUNC, 0);
  });
}

TEST(Ring, SocketpairDatagramTruncationReported) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s(SOCK_DGRAM);
    EXPECT_EQ(gh::io::send(s.b, "0123456789", 10, 0), 10);
    char small[4];
    iovec v{small, sizeof small};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    EXPECT_EQ(gh::io::recvmsg(s.a, &m, 0), 4);
    EXPECT_NE(m.msg_flags & MSG_TRUNC, 0);
    EXPECT_EQ(std::string(small, 4), "0123");
  });
}

TEST(Ring, SendToClosedPeerIsEpipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    s.close_b();
    EXPECT_EQ(gh::io::send(s.a, "x", 1, MSG_NOSIGNAL), -EPIPE);
    // Without MSG_NOSIGNAL the kernel also raises SIGPIPE; ignored here.
    signal(SIGPIPE, SIG_IGN);
    EXPECT_EQ(gh::io::write(s.a, "x", 1), -EPIPE);
  });
}

}  // namespace
