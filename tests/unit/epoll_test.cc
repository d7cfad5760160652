// SPDX-License-Identifier: MIT
// The epoll backend (ioring/epoll.h, ops_epoll.cc): the operations of
// ioring/ops.h with the same results as on io_uring: parks until ready,
// EOF, errors, deadlines, cancel_fd, accept/connect on blocking sockets
// (their O_NONBLOCK left as it was), several acceptors on one listener, fd
// numbers reused behind a stale registration, files (never waited for),
// poll_many, and wake-ups from another OS thread. Each test runs on a fresh
// carrier whose pool uses epoll.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/backend.h"
#include "core/green.h"
#include "ioring/epoll.h"
#include "ioring/ops.h"
#include "ioring/poll_many.h"
#include "ring_util.h"
#include "test_util.h"

namespace {

using namespace gh_test;

// Runs fn on a fresh carrier of a pool that uses epoll.
void on_epoll_carrier(const std::function<void()>& fn) {
  gh::set_default_backend(gh::BackendKind::kEpoll);
  on_fresh_carrier([&] {
    gh::ioring::Epoll* ep = gh::ioring::Epoll::current();
    ASSERT_NE(ep, nullptr) << "epoll unavailable: " << strerror(errno);
    fn();
    EXPECT_EQ(ep->inflight(), 0u) << "a wait left registered";
  });
  gh::set_default_backend(gh::BackendKind::kAuto);
}

bool nonblocking(int fd) { return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

TEST(Epoll, BackendSaysWhatItIs) {
  on_epoll_carrier([] {
    gh::Backend* b = gh::Carrier::get()->backend();
    EXPECT_EQ(b->kind(), gh::BackendKind::kEpoll);
    EXPECT_STREQ(b->name(), "epoll");
    EXPECT_EQ(gh::ioring::Ring::current(), nullptr);
    EXPECT_TRUE(gh::ioring::is_runtime_fd(gh::ioring::Epoll::current()->epoll_fd()));
  });
}

TEST(Epoll, PipeReadParksUntilWrittenThenEof) {
  on_epoll_carrier([] {
    Pipe p;
    char buf[64] = {};
    ssize_t got = -1;
    bool done = false;
    gh::GreenThread* rd = go([&] {
      got = gh::io::read(p.r, buf, sizeof buf);
      done = true;
    });
    gh::yield();
    EXPECT_FALSE(done);
    EXPECT_EQ(gh::io::write(p.w, "hello", 5), 5);
    join(rd);
    ASSERT_EQ(got, 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    rd = go([&] { got = gh::io::read(p.r, buf, sizeof buf); });
    gh::yield();
    p.close_w();
    join(rd);
    EXPECT_EQ(got, 0);
  });
}

TEST(Epoll, SocketpairVectoredAndErrors) {
  on_epoll_carrier([] {
    SockPair s;
    char a[] = "abc", b[] = "defgh";
    iovec out[2] = {{a, 3}, {b, 5}};
    msghdr m{};
    m.msg_iov = out;
    m.msg_iovlen = 2;
    char in1[4] = {}, in2[8] = {};
    iovec in[2] = {{in1, 4}, {in2, 8}};
    msghdr r{};
    r.msg_iov = in;
    r.msg_iovlen = 2;
    ssize_t got = -1;
    gh::GreenThread* rd = go([&] { got = gh::io::recvmsg(s.b, &r, 0); });
    gh::yield();
    EXPECT_EQ(gh::io::sendmsg(s.a, &m, 0), 8);
    join(rd);
    ASSERT_EQ(got, 8);
    EXPECT_EQ(std::string(in1, 4) + std::string(in2, 4), "abcdefgh");
    // Errors as the kernel reports them.
    EXPECT_EQ(gh::io::recv(-1, in1, 1, 0), -EBADF);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(gh::io::recv(fd, in1, 1, 0), -ENOTSOCK);
    close(fd);
    s.close_b();
    EXPECT_EQ(gh::io::send(s.a, "x", 1, MSG_NOSIGNAL), -EPIPE);
  });
}

TEST(Epoll, DeadlineIsEtimeNeverEarly) {
  on_epoll_carrier([] {
    Pipe p;
    char c;
    int64_t deadline = gh::deadline_after(20 * kMs);
    EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    deadline = gh::deadline_after(5 * kMs);
    EXPECT_EQ(gh::io::poll(p.r, POLLIN, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    EXPECT_EQ(gh::io::timeout(gh::deadline_after(kMs)), 0);
  });
}

TEST(Epoll, TcpAcceptConnectLeaveBlockingSocketsBlocking) {
  on_epoll_carrier([] {
    Listener l;
    ASSERT_FALSE(nonblocking(l.fd));
    auto [c, s] = tcp_pair(l);
    ASSERT_GE(s, 0);
    EXPECT_FALSE(nonblocking(l.fd));
    EXPECT_FALSE(nonblocking(c));
    EXPECT_FALSE(nonblocking(s));
    char buf[8] = {};
    ssize_t got = -1;
    gh::GreenThread* rd = go([&] { got = gh::io::recv(s, buf, sizeof buf, 0); });
    EXPECT_EQ(gh::io::send(c, "ping", 4, 0), 4);
    join(rd);
    EXPECT_EQ(got, 4);
    close(c);
    close(s);
  });
}

TEST(Epoll, AcceptorsSharingAListenerEachGetOneConnection) {
  on_epoll_carrier([] {
    Listener l;
    constexpr int kN = 4;
    int accepted[kN];
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kN; i++)
      gs.push_back(go([&, i] { accepted[i] = gh::io::accept(l.fd, nullptr, nullptr, 0); }));
    gh::yield();  // all four park on the same listener
    int clients[kN];
    for (int i = 0; i < kN; i++) {
      clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      EXPECT_EQ(gh::io::connect(clients[i], l.sa(), sizeof l.addr), 0);
    }
    join_all(gs);
    for (int i = 0; i < kN; i++) {
      EXPECT_GE(accepted[i], 0);
      close(accepted[i]);
      close(clients[i]);
    }
    EXPECT_FALSE(nonblocking(l.fd)) << "O_NONBLOCK left on the listener";
  });
}

TEST(Epoll, ConnectToClosedPortIsEconnrefused) {
  on_epoll_carrier([] {
    Listener l(false);  // bound, not listening
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(gh::io::connect(c, l.sa(), sizeof l.addr), -ECONNREFUSED);
    EXPECT_FALSE(nonblocking(c));
    close(c);
  });
}

TEST(Epoll, CancelFdEndsEveryWaitOnTheFd) {
  on_epoll_carrier([] {
    SockPair s, other;
    constexpr int kN = 10;
    int cancelled = 0;
    ssize_t other_got = -99;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kN; i++)
      gs.push_back(go([&] {
        char c;
        if (gh::io::recv(s.a, &c, 1, 0) == -ECANCELED) cancelled++;
      }));
    gh::GreenThread* o = go([&] {
      char d;
      other_got = gh::io::recv(other.a, &d, 1, 0);
    });
    gh::yield();
    EXPECT_EQ(gh::io::cancel_fd(s.a), kN);
    join_all(gs);
    EXPECT_EQ(cancelled, kN);
    EXPECT_EQ(gh::io::cancel_fd(s.a), 0);
    EXPECT_EQ(other_got, -99);
    EXPECT_EQ(send(other.b, "y", 1, 0), 1);
    join(o);
    EXPECT_EQ(other_got, 1);
  });
}

TEST(Epoll, FdNumberReusedBehindAStaleRegistrationIsWatchedAnew) {
  on_epoll_carrier([] {
    Pipe first;
    char c;
    // A wait that times out leaves first.r's one-shot registration armed.
    EXPECT_EQ(gh::io::read(first.r, &c, 1, -1, gh::deadline_after(kMs)), -ETIME);
    int n = first.r;
    // The description lives on in a dup; the number now names a new pipe.
    int keep = dup(first.r);
    Pipe second;
    ASSERT_EQ(dup2(second.r, n), n);
    ssize_t got = -1;
    gh::GreenThread* rd = go([&] { got = gh::io::read(n, &c, 1); });
    gh::yield();
    // Data on the old description must not wake the reader of the new one.
    EXPECT_EQ(write(first.w, "o", 1), 1);
    gh::yield();
    EXPECT_EQ(got, -1);
    EXPECT_EQ(write(second.w, "n", 1), 1);
    join(rd);
    EXPECT_EQ(got, 1);
    EXPECT_EQ(c, 'n');
    close(keep);
  });
}

TEST(Epoll, RegularFileIsReadyAtOnce) {
  on_epoll_carrier([] {
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(gh::io::poll(fd, POLLIN, gh::deadline_after(10'000 * kMs)), POLLIN);
    char buf[16];
    EXPECT_GT(gh::io::read(fd, buf, sizeof buf), 0);
    close(fd);
  });
}

TEST(Epoll, PollManyEndsAtTheFirstReadyFd) {
  on_epoll_carrier([] {
    Pipe a, b, c;
    int fds[3] = {a.r, b.r, c.r};
    uint32_t ev[3] = {POLLIN, POLLIN, POLLIN};
    int got = -1;
    gh::GreenThread* w = go([&] { got = gh::io::poll_many(fds, ev, 3, gh::kNoDeadline); });
    gh::yield();
    EXPECT_EQ(got, -1);
    EXPECT_EQ(write(b.w, "x", 1), 1);
    join(w);
    EXPECT_EQ(got, 1);
    // b still ready: at once, however long the deadline (1 ms was too short
    // under TSan for the registration to report it).
    EXPECT_EQ(gh::io::poll_many(fds, ev, 3, gh::deadline_after(10'000 * kMs)), 1);
    char x;
    EXPECT_EQ(read(b.r, &x, 1), 1);
    EXPECT_EQ(gh::io::poll_many(fds, ev, 3, gh::deadline_after(kMs)), 0);
  });
}

TEST(Epoll, WokenByAnotherOsThread) {
  on_epoll_carrier([] {
    Pipe p;
    std::atomic<bool> parked{false};
    std::thread writer([&] {
      while (!parked.load()) std::this_thread::yield();
      EXPECT_EQ(write(p.w, "z", 1), 1);
    });
    char c = 0;
    // The reader parks (unless the write came first) and the carrier sleeps
    // in epoll_pwait2 until the other OS thread's write.
    gh::GreenThread* rd = go([&] {
      parked = true;
      EXPECT_EQ(gh::io::read(p.r, &c, 1), 1);
    });
    join(rd);
    writer.join();
    EXPECT_EQ(c, 'z');
  });
}

TEST(Epoll, PersistentPollerrDoesNotSpin) {
  on_epoll_carrier([] {
    // A UDP socket with IP_RECVERR whose datagram to a closed port came back
    // as an ICMP error: the error queue keeps POLLERR set, and a blocking
    // receive still has nothing to read.
    Listener closed(false);  // a TCP port number is as good as any: free
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    ASSERT_EQ(setsockopt(u, SOL_IP, IP_RECVERR, &on, sizeof on), 0);
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(getsockname(probe, reinterpret_cast<sockaddr*>(&a), &al), 0);
    close(probe);  // now nobody listens on that UDP port
    ASSERT_EQ(connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ASSERT_EQ(send(u, "x", 1, 0), 1);
    pollfd p{u, 0, 0};
    ASSERT_TRUE(yield_until([&] { return poll(&p, 1, 0) == 1 && (p.revents & POLLERR); }));
    char c;
    EXPECT_EQ(recv(u, &c, 1, MSG_DONTWAIT), -1);  // ECONNREFUSED, once
    p.revents = 0;
    ASSERT_EQ(poll(&p, 1, 0), 1);
    ASSERT_TRUE(p.revents & POLLERR) << "the error queue should still say POLLERR";
    gh::ioring::Epoll* ep = gh::ioring::Epoll::current();
    uint64_t before = ep->stats().events;
    EXPECT_EQ(gh::io::recv(u, &c, 1, 0, gh::deadline_after(200 * kMs)), -ETIME);
    // With the pause doubling from 1 ms, about ten wake-ups in 200 ms; a
    // spinning wait would take thousands.
    EXPECT_LT(ep->stats().events - before, 40u);
    close(u);
  });
}

}  // namespace
