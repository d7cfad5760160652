// The io_uring backend (ioring/ring.h, ioring/ops.h) on pipes, socketpairs
// and TCP loopback: data, errors exactly as the kernel reports them,
// deadlines, cancellation, batching, scale, cross-carrier wake-ups, and the
// setup fallbacks of older kernels.
//
// Most tests run on a fresh std::thread so that they get a fresh carrier and
// ring (clean stats, options applied); the carrier is destroyed when the
// thread exits.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "core/clock.h"
#include "core/green.h"
#include "ioring/ops.h"
#include "ioring/ring.h"

namespace {

using gh::ioring::Request;
using gh::ioring::Ring;
using gh::ioring::RingOptions;

constexpr int64_t kMs = 1'000'000;

// Runs fn as the root green thread of a fresh carrier on a new OS thread,
// with `opts` in force for that thread's ring.
void on_fresh_carrier(const std::function<void()>& fn, const RingOptions& opts = RingOptions{}) {
  gh::ioring::set_ring_options(opts);
  std::thread t([&] { fn(); });
  t.join();
  gh::ioring::set_ring_options(RingOptions{});
}

// Spawns fn as a green thread on the calling carrier.
gh::GreenThread* go(std::function<void()> fn, size_t stack = 0) {
  auto* p = new std::function<void()>(std::move(fn));
  gh::SpawnOptions o;
  o.stack_size = stack;
  gh::GreenThread* g = nullptr;
  int rc = gh::spawn(
      [](void* a) -> void* {
        auto* f = static_cast<std::function<void()>*>(a);
        (*f)();
        delete f;
        return nullptr;
      },
      p, o, &g);
  EXPECT_EQ(rc, 0);
  return g;
}

void join(gh::GreenThread* g) { ASSERT_EQ(gh::join(g, nullptr), 0); }

// Yields until pred() holds; fails after many rounds (never a sleep).
bool yield_until(const std::function<bool()>& pred, int64_t limit_ns = 10'000 * kMs) {
  int64_t end = gh::deadline_after(limit_ns);
  while (!pred()) {
    if (gh::mono_ns() > end) return false;
    gh::yield();
  }
  return true;
}

#define RING_OR_SKIP(r)                                               \
  Ring* r = Ring::current();                                          \
  if (!r) GTEST_SKIP() << "io_uring unavailable: " << strerror(errno)

bool kernel_at_least(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

long fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur == RLIM_INFINITY ? 1 << 20 : static_cast<long>(rl.rlim_cur);
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
    r = p[0];
    w = p[1];
  }
  ~Pipe() {
    if (r >= 0) close(r);
    if (w >= 0) close(w);
  }
  void close_w() { close(w), w = -1; }
  void close_r() { close(r), r = -1; }
};

struct SockPair {
  int a = -1, b = -1;
  explicit SockPair(int type = SOCK_STREAM) {
    int s[2];
    EXPECT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, s), 0);
    a = s[0];
    b = s[1];
  }
  ~SockPair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  void close_b() { close(b), b = -1; }
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
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// Connects a TCP pair through the ring: returns {client, server}.
std::pair<int, int> tcp_pair(const Listener& l) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int s = -1;
  gh::GreenThread* acc = go([&] { s = gh::io::accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC); });
  EXPECT_EQ(gh::io::connect(c, l.sa(), sizeof l.addr), 0);
  join(acc);
  EXPECT_GE(s, 0);
  return {c, s};
}

// ---------------------------------------------------------------- setup ----

TEST(Ring, SetupFlagsFdsAndFeatures) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    const auto& f = r->features();
    if (kernel_at_least(6, 1)) {
      EXPECT_TRUE(f.single_issuer);
      EXPECT_TRUE(f.defer_taskrun);
      EXPECT_TRUE(f.coop_taskrun);
      EXPECT_TRUE(f.taskrun_flag);
      EXPECT_TRUE(f.submit_all);
      EXPECT_TRUE(f.registered_fd);
    }
    EXPECT_TRUE(f.nodrop);
    EXPECT_EQ(f.sq_entries, RingOptions{}.sq_entries);
    EXPECT_EQ(f.cq_entries, RingOptions{}.cq_entries);

    // Runtime fds out of the program's way, and not inherited across exec.
    int floor = gh::ioring::runtime_fd_floor();
    EXPECT_GE(floor, 3);
    EXPECT_GE(r->ring_fd(), floor);
    EXPECT_GE(r->wake_fd(), floor);
    EXPECT_NE(fcntl(r->ring_fd(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_NE(fcntl(r->wake_fd(), F_GETFD) & FD_CLOEXEC, 0);
    // The program's next fd is still a low one.
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_LT(fd, floor);
    close(fd);
    // One ring per carrier: the same one again.
    EXPECT_EQ(Ring::current(), r);
  });
}

TEST(Ring, OneRingPerCarrier) {
  Ring* a = nullptr;
  Ring* b = nullptr;
  on_fresh_carrier([&] { a = Ring::current(); });
  std::thread t1([&] {
    b = Ring::current();
    std::thread t2([&] { EXPECT_NE(Ring::current(), b); });
    t2.join();
  });
  t1.join();
  if (!a || !b) GTEST_SKIP() << "io_uring unavailable";
}

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

// ---------------------------------------------------------- deadlines ------

TEST(Ring, ReadDeadlineOnIdlePipeIsEtimeNeverEarly) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    for (int64_t rel : {0 * kMs, 1 * kMs, 20 * kMs, 60 * kMs}) {
      char c;
      int64_t start = gh::mono_ns();
      int64_t deadline = start + rel;
      EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, deadline), -ETIME) << rel;
      int64_t now = gh::mono_ns();
      EXPECT_GE(now, deadline) << rel;
      EXPECT_LT(now - start, rel + 5000 * kMs) << rel;
    }
    // The pipe still works afterwards, and data present beats the deadline.
    EXPECT_EQ(gh::io::write(p.w, "z", 1), 1);
    char c = 0;
    EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, gh::deadline_after(10'000 * kMs)), 1);
    EXPECT_EQ(c, 'z');
  });
}

TEST(Ring, DeadlineNotHitReturnsData) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char buf[8] = {};
    ssize_t got = -1;
    gh::GreenThread* rd =
        go([&] { got = gh::io::recv(s.a, buf, sizeof buf, 0, gh::deadline_after(10'000 * kMs)); });
    gh::yield();
    EXPECT_EQ(gh::io::send(s.b, "ok", 2, 0), 2);
    join(rd);
    EXPECT_EQ(got, 2);
    // The cancelled linked timeout's completion must not disturb later ops.
    for (int i = 0; i < 10; i++) {
      EXPECT_EQ(gh::io::send(s.b, "k", 1, 0), 1);
      EXPECT_EQ(gh::io::recv(s.a, buf, 1, 0, gh::deadline_after(10'000 * kMs)), 1);
    }
    EXPECT_EQ(r->inflight(), 0u);
  });
}

TEST(Ring, PollWithTimeout) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    int64_t deadline = gh::deadline_after(30 * kMs);
    EXPECT_EQ(gh::io::poll(p.r, POLLIN, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);

    int ev = -1;
    gh::GreenThread* w = go([&] { ev = gh::io::poll(p.r, POLLIN, gh::deadline_after(10'000 * kMs)); });
    gh::yield();
    EXPECT_EQ(ev, -1);  // still waiting
    EXPECT_EQ(write(p.w, "x", 1), 1);
    join(w);
    EXPECT_EQ(ev & POLLIN, POLLIN);
    // Writable pipe: POLLOUT at once, no deadline needed.
    EXPECT_EQ(gh::io::poll(p.w, POLLOUT) & POLLOUT, POLLOUT);
    // Writer gone: POLLHUP.
    p.close_w();
    char c;
    EXPECT_EQ(read(p.r, &c, 1), 1);
    EXPECT_NE(gh::io::poll(p.r, POLLIN) & POLLHUP, 0);
  });
}

TEST(Ring, AcceptWithDeadlineTimesOut) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Listener l;
    int64_t deadline = gh::deadline_after(25 * kMs);
    EXPECT_EQ(gh::io::accept(l.fd, nullptr, nullptr, 0, deadline), -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    // The listener is intact: a later accept works.
    auto [c, s] = tcp_pair(l);
    EXPECT_GE(s, 0);
    close(c);
    close(s);
  });
}

TEST(Ring, AnyOpWithLinkedTimeout) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    char buf[4];
    int64_t deadline = gh::deadline_after(15 * kMs);
    int32_t rc = gh::io::submit_and_wait(
        [&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, s.a, buf, sizeof buf, 0); }, deadline);
    EXPECT_EQ(rc, -ETIME);
    EXPECT_GE(gh::mono_ns(), deadline);
    // A NOP completes long before its deadline.
    rc = gh::io::submit_and_wait([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); },
                                 gh::deadline_after(10'000 * kMs));
    EXPECT_EQ(rc, 0);
  });
}

TEST(Ring, TimeoutNeverEarly) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    for (int i = 0; i < 40; i++) {
      int64_t deadline = gh::mono_ns() + (i % 8) * 700'000 + i * 13'000;
      EXPECT_EQ(gh::io::timeout(deadline), 0);
      EXPECT_GE(gh::mono_ns(), deadline) << i;
    }
    // Past deadline: returns at once.
    int64_t t0 = gh::mono_ns();
    EXPECT_EQ(gh::io::timeout(t0 - 1000 * kMs), 0);
    EXPECT_LT(gh::mono_ns() - t0, 2000 * kMs);
    // Many green threads with staggered timeouts all wake, none early.
    constexpr int kN = 200;
    int early = 0, done = 0;
    std::vector<gh::GreenThread*> gs;
    int64_t base = gh::mono_ns();
    for (int i = 0; i < kN; i++) {
      gs.push_back(go([&, i] {
        int64_t d = base + (i % 20) * kMs;
        if (gh::io::timeout(d) != 0 || gh::mono_ns() < d) early++;
        done++;
      }));
    }
    for (auto* g : gs) join(g);
    EXPECT_EQ(done, kN);
    EXPECT_EQ(early, 0);
  });
}

// ------------------------------------------------------- cancellation ------

TEST(Ring, CancelFdWakesParkedReaderWithEcanceled) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    SockPair other;
    ssize_t got = 1, other_got = -99;
    bool started = false;
    char c, d;
    gh::GreenThread* rd = go([&] {
      started = true;
      got = gh::io::read(p.r, &c, 1);
    });
    gh::GreenThread* rd2 = go([&] { other_got = gh::io::recv(other.a, &d, 1, 0); });
    ASSERT_TRUE(yield_until([&] { return started; }));
    int n = gh::io::cancel_fd(p.r);
    if (n == -EINVAL) GTEST_SKIP() << "IORING_ASYNC_CANCEL_FD needs Linux 5.19";
    EXPECT_EQ(n, 1);
    join(rd);
    EXPECT_EQ(got, -ECANCELED);
    // Nothing left to cancel: 0, and the other fd's reader is untouched.
    EXPECT_EQ(gh::io::cancel_fd(p.r), 0);
    EXPECT_EQ(other_got, -99);
    EXPECT_EQ(send(other.b, "y", 1, 0), 1);
    join(rd2);
    EXPECT_EQ(other_got, 1);
    EXPECT_EQ(d, 'y');
  });
}

TEST(Ring, CancelFdCancelsEveryWaiterOnTheFd) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    SockPair s;
    constexpr int kN = 10;
    int cancelled = 0;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < kN; i++)
      gs.push_back(go([&] {
        char c;
        if (gh::io::recv(s.a, &c, 1, 0) == -ECANCELED) cancelled++;
      }));
    gh::yield();
    int n = gh::io::cancel_fd(s.a);
    if (n == -EINVAL) GTEST_SKIP() << "IORING_ASYNC_CANCEL_FD needs Linux 5.19";
    EXPECT_EQ(n, kN);
    for (auto* g : gs) join(g);
    EXPECT_EQ(cancelled, kN);
  });
}

TEST(Ring, CancelRequest) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    Request* target = nullptr;
    int32_t got = 1;
    char c;
    gh::GreenThread* rd = go([&] {
      Ring* ring = Ring::current();
      Request req;
      io_uring_sqe* sqe = ring->sqe();
      io_uring_prep_read(sqe, p.r, &c, 1, -1);
      target = &req;
      got = gh::io::wait_tracked(ring, &req, sqe, gh::kNoDeadline);
      target = nullptr;
    });
    ASSERT_TRUE(yield_until([&] { return target != nullptr; }));
    EXPECT_EQ(gh::io::cancel(target), 0);
    join(rd);
    EXPECT_EQ(got, -ECANCELED);

    // A request that is not (or no longer) in flight: -ENOENT.
    Request gone;
    EXPECT_EQ(gh::io::cancel(&gone), -ENOENT);
  });
}

// ------------------------------------------- concurrency on one carrier -----

TEST(Ring, BlockedReaderDoesNotBlockOthers) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    Pipe p;
    int counter = 0;
    int counter_when_read = -1;
    char c = 0;
    gh::GreenThread* rd = go([&] {
      EXPECT_EQ(gh::io::read(p.r, &c, 1), 1);
      counter_when_read = counter;
    });
    gh::GreenThread* busy = go([&] {
      for (int i = 0; i < 1000; i++) {
        counter++;
        gh::yield();
      }
      EXPECT_EQ(gh::io::write(p.w, "!", 1), 1);
    });
    // And a sleeper on the same carrier wakes meanwhile too.
    bool slept = false;
    gh::GreenThread* sl = go([&] {
      gh::sleep_for(2 * kMs);
      slept = true;
    });
    join(busy);
    join(rd);
    join(sl);
    EXPECT_EQ(counter_when_read, 1000);
    EXPECT_EQ(c, '!');
    EXPECT_TRUE(slept);
  });
}

TEST(Ring, ReadersOnManyCarriersAtOnce) {
  // Four OS threads, each its own carrier and ring, each with green readers
  // fed by a green writer: no crosstalk between rings.
  constexpr int kThreads = 4, kPer = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&] {
      if (!Ring::current()) return;
      std::vector<SockPair> ps(kPer);
      std::vector<gh::GreenThread*> gs;
      for (int i = 0; i < kPer; i++)
        gs.push_back(go([&, i] {
          int v = -1;
          if (gh::io::recv(ps[i].a, &v, sizeof v, MSG_WAITALL) == sizeof v && v == i) ok++;
        }));
      gs.push_back(go([&] {
        for (int i = 0; i < kPer; i++) gh::io::send(ps[i].b, &i, sizeof i, 0);
      }));
      for (auto* g : gs) join(g);
    });
  for (auto& t : ts) t.join();
  if (ok == 0) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(ok, kThreads * kPer);
}

// ----------------------------------------------------------- batching ------

// N green readers park on N socketpairs; an OS thread writes to all of them
// while the carrier is busy; their completions are then reaped together:
// the carrier never blocks, and far fewer io_uring_enter calls than readers.
TEST(Ring, BatchedWakeupsReapedByFewEnters) {
  long limit = fd_limit();
  int n = static_cast<int>(std::min<long>(1000, (limit - 300) / 2));
  if (n < 64) GTEST_SKIP() << "RLIMIT_NOFILE " << limit << " too low";
  on_fresh_carrier([n] {
    RING_OR_SKIP(r);
    gh::Carrier* c = gh::Carrier::current();
    std::vector<SockPair> ps(n);
    std::vector<char> got(n, 0);
    std::vector<ssize_t> res(n, -1);
    int started = 0;
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < n; i++)
      gs.push_back(go(
          [&, i] {
            started++;
            res[i] = gh::io::read(ps[i].a, &got[i], 1);
          },
          16 * 1024));
    ASSERT_TRUE(yield_until([&] { return started == n; }));
    // Their reads are queued in the SQ; hand them to the kernel so that they
    // are truly parked there (all of them in a few enters: SQ of 256).
    uint64_t enters0 = r->stats().enters;
    r->submit();
    EXPECT_LE(r->stats().enters - enters0, static_cast<uint64_t>(n / 200 + 2));
    EXPECT_EQ(r->inflight(), static_cast<uint32_t>(n));

    std::atomic<bool> go_write{false}, written{false};
    std::thread writer([&] {
      while (!go_write.load()) {
      }
      for (int i = 0; i < n; i++) {
        char v = static_cast<char>('a' + i % 26);
        EXPECT_EQ(write(ps[i].b, &v, 1), 1);
      }
      written = true;
    });
    gh::CarrierStats before = c->stats();
    gh::ioring::RingStats rbefore = r->stats();
    go_write = true;
    while (!written.load()) {
      // The carrier is busy: completions pile up in the kernel.
    }
    writer.join();
    for (auto* g : gs) join(g);
    gh::CarrierStats after = c->stats();
    gh::ioring::RingStats rafter = r->stats();

    for (int i = 0; i < n; i++) {
      ASSERT_EQ(res[i], 1) << i;
      ASSERT_EQ(got[i], static_cast<char>('a' + i % 26)) << i;
    }
    uint64_t waits = after.waits - before.waits;
    uint64_t polls = after.polls - before.polls;
    uint64_t enters = rafter.enters - rbefore.enters;
    std::printf("[ batching ] readers %d: carrier waits %llu, polls %llu, io_uring_enter %llu, "
                "completions %llu\n",
                n, (unsigned long long)waits, (unsigned long long)polls,
                (unsigned long long)enters,
                (unsigned long long)(rafter.completions - rbefore.completions));
    ::testing::Test::RecordProperty("readers", n);
    ::testing::Test::RecordProperty("waits", static_cast<int>(waits));
    ::testing::Test::RecordProperty("enters", static_cast<int>(enters));
    EXPECT_LE(waits, 2u);
    EXPECT_LE(polls, 4u);
    EXPECT_LT(enters, static_cast<uint64_t>(n / 8));
    EXPECT_EQ(r->dropped(), 0u);
  });
}

// The same with the wake-ups arriving while the carrier sleeps in the ring:
// every completion is delivered, and a wake-up reaps what arrived with it.
TEST(Ring, WakeupsWhileBlockedAllDelivered) {
  long limit = fd_limit();
  int n = static_cast<int>(std::min<long>(1000, (limit - 300) / 2));
  if (n < 64) GTEST_SKIP() << "RLIMIT_NOFILE " << limit << " too low";
  on_fresh_carrier([n] {
    RING_OR_SKIP(r);
    gh::Carrier* c = gh::Carrier::current();
    std::vector<SockPair> ps(n);
    std::vector<ssize_t> res(n, -1);
    std::vector<gh::GreenThread*> gs;
    for (int i = 0; i < n; i++)
      gs.push_back(go(
          [&, i] {
            char v;
            res[i] = gh::io::read(ps[i].a, &v, 1);
          },
          16 * 1024));
    gh::CarrierStats before = c->stats();
    std::thread writer([&] {
      for (int i = 0; i < n; i++) EXPECT_EQ(write(ps[i].b, "w", 1), 1);
    });
    for (auto* g : gs) join(g);
    writer.join();
    for (int i = 0; i < n; i++) ASSERT_EQ(res[i], 1) << i;
    std::printf("[ batching ] readers %d woken while blocked: carrier waits %llu\n", n,
                (unsigned long long)(c->stats().waits - before.waits));
    EXPECT_LE(c->stats().waits - before.waits, static_cast<uint64_t>(n));
  });
}

// --------------------------------------------------------------- scale -----

namespace hundred_k {
int pipe_r = -1;
int ok = 0;
int started = 0;
void* poller(void*) {
  started++;
  int ev = gh::io::poll(pipe_r, POLLIN);
  if (ev > 0 && (ev & POLLIN)) ok++;
  return nullptr;
}
}  // namespace hundred_k

TEST(Ring, HundredThousandGreenThreadsParkedOnOnePipe) {
  on_fresh_carrier([] {
    RING_OR_SKIP(r);
    constexpr int kN = 100'000;
    int64_t t0 = gh::mono_ns();
    Pipe p;
    hundred_k::pipe_r = p.r;
    hundred_k::ok = hundred_k::started = 0;
    std::vector<gh::GreenThread*> gs(kN);
    gh::SpawnOptions o;
    o.stack_size = 16 * 1024;
    for (int i = 0; i < kN; i++) ASSERT_EQ(gh::spawn(hundred_k::poller, nullptr, o, &gs[i]), 0) << i;
    ASSERT_TRUE(yield_until([] { return hundred_k::started == kN; }));
    r->submit();  // the last batch still in the SQ
    EXPECT_EQ(r->inflight(), static_cast<uint32_t>(kN));
    EXPECT_EQ(hundred_k::ok, 0);
    int64_t t1 = gh::mono_ns();
    EXPECT_EQ(write(p.w, "!", 1), 1);  // one write wakes them all
    for (int i = 0; i < kN; i++) ASSERT_EQ(gh::join(gs[i], nullptr), 0) << i;
    int64_t t2 = gh::mono_ns();
    EXPECT_EQ(hundred_k::ok, kN);
    EXPECT_EQ(r->inflight(), 0u);
    EXPECT_EQ(r->dropped(), 0u);
    std::printf("[ scale ] %d pollers: park %.0f ms, wake+join %.0f ms, enters %llu, "
                "overflow seen %llu\n",
                kN, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (unsigned long long)r->stats().enters,
                (unsigned long long)r->stats().overflow_seen);
  });
}

// ----------------------------------------------- queue limits and overflow --

// A tiny CQ and no deferred task work: completions far outnumber the CQ and
// go through the kernel's overflow list. None may be lost.
TEST(Ring, CqOverflowLosesNothing) {
  RingOptions o;
  o.sq_entries = 16;
  o.cq_entries = 32;
  o.setup_mask = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;  // plain task work
  on_fresh_carrier(
      [] {
        RING_OR_SKIP(r);
        if (!r->features().nodrop) GTEST_SKIP() << "no IORING_FEAT_NODROP";
        EXPECT_EQ(r->features().cq_entries, 32u);
        EXPECT_FALSE(r->features().defer_taskrun);
        constexpr int kN = 3000;
        Pipe p;
        int ok = 0, started = 0;
        std::vector<gh::GreenThread*> gs;
        for (int i = 0; i < kN; i++)
          gs.push_back(go(
              [&] {
                started++;
                if (gh::io::poll(p.r, POLLIN) & POLLIN) ok++;
              },
              16 * 1024));
        ASSERT_TRUE(yield_until([&] { return started == kN; }));
        r->submit();
        EXPECT_EQ(r->inflight(), static_cast<uint32_t>(kN));
        // The write's return to user space runs the task work: 3000
        // completions at once into a CQ of 32.
        EXPECT_EQ(write(p.w, "x", 1), 1);
        for (auto* g : gs) join(g);
        EXPECT_EQ(ok, kN);
        EXPECT_EQ(r->inflight(), 0u);
        EXPECT_EQ(r->dropped(), 0u);
        EXPECT_GT(r->stats().overflow_seen, 0u);
        std::printf("[ overflow ] %d completions through a CQ of 32: enters %llu, overflow seen %llu\n",
                    kN, (unsigned long long)r->stats().enters,
                    (unsigned long long)r->stats().overflow_seen);
      },
      o);
}

// A small SQ: more parked operations than SQ entries, and linked pairs that
// arrive when the SQ has a single free slot.
TEST(Ring, FullSqNeverSplitsLinkedTimeout) {
  RingOptions o;
  o.sq_entries = 8;
  on_fresh_carrier(
      [] {
        RING_OR_SKIP(r);
        ASSERT_EQ(r->features().sq_entries, 8u);
        Pipe p;
        // 7 readers fill 7 of the 8 SQ slots (the scheduler has not polled yet).
        int started = 0;
        std::vector<ssize_t> res(7, 1);
        std::vector<gh::GreenThread*> gs;
        for (int i = 0; i < 7; i++)
          gs.push_back(go([&, i] {
            started++;
            char c;
            res[i] = gh::io::read(p.r, &c, 1);
          }));
        ASSERT_TRUE(yield_until([&] { return started == 7; }));
        // A read with a deadline needs two adjacent slots: one is left.
        uint64_t full0 = r->stats().sq_full;
        int64_t deadline = gh::deadline_after(20 * kMs);
        char c;
        EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, deadline), -ETIME);
        EXPECT_GE(gh::mono_ns(), deadline);
        EXPECT_GT(r->stats().sq_full, full0);
        // Many more timed reads than SQ entries, all timing out properly.
        std::vector<gh::GreenThread*> timed;
        int etime = 0;
        int64_t d2 = gh::deadline_after(20 * kMs);
        for (int i = 0; i < 40; i++)
          timed.push_back(go([&] {
            char x;
            if (gh::io::read(p.r, &x, 1, -1, d2) == -ETIME && gh::mono_ns() >= d2) etime++;
          }));
        for (auto* g : timed) join(g);
        EXPECT_EQ(etime, 40);
        // Release the 7 readers.
        EXPECT_EQ(write(p.w, "1234567", 7), 7);
        for (auto* g : gs) join(g);
        for (ssize_t v : res) EXPECT_EQ(v, 1);
        EXPECT_EQ(r->inflight(), 0u);
      },
      o);
}

// ---------------------------------------------------- setup fallbacks ------

struct FallbackCase {
  const char* name;
  unsigned mask;
  bool defer, single, coop;
};

class RingFallback : public ::testing::TestWithParam<FallbackCase> {};

TEST_P(RingFallback, OpsWork) {
  const FallbackCase& fc = GetParam();
  RingOptions o;
  o.setup_mask = fc.mask;
  on_fresh_carrier(
      [&] {
        RING_OR_SKIP(r);
        const auto& f = r->features();
        EXPECT_EQ(f.defer_taskrun, fc.defer && kernel_at_least(6, 1));
        EXPECT_EQ(f.single_issuer, fc.single && kernel_at_least(6, 0));
        EXPECT_EQ(f.coop_taskrun, fc.coop && kernel_at_least(5, 19));
        Pipe p;
        char c = 0;
        ssize_t got = -1;
        gh::GreenThread* rd = go([&] { got = gh::io::read(p.r, &c, 1); });
        gh::yield();
        EXPECT_EQ(gh::io::write(p.w, "f", 1), 1);
        join(rd);
        EXPECT_EQ(got, 1);
        EXPECT_EQ(c, 'f');
        int64_t d = gh::deadline_after(10 * kMs);
        EXPECT_EQ(gh::io::read(p.r, &c, 1, -1, d), -ETIME);
        EXPECT_GE(gh::mono_ns(), d);
        EXPECT_EQ(gh::io::timeout(gh::deadline_after(kMs)), 0);
        // A busy green thread polls the ring: completions still arrive.
        bool done = false;
        gh::GreenThread* rd2 = go([&] {
          got = gh::io::read(p.r, &c, 1);
          done = true;
        });
        gh::yield();
        std::thread([&] { EXPECT_EQ(write(p.w, "g", 1), 1); }).join();
        EXPECT_TRUE(yield_until([&] { return done; }));
        join(rd2);
        EXPECT_EQ(got, 1);
      },
      o);
}

INSTANTIATE_TEST_SUITE_P(
    Setups, RingFallback,
    ::testing::Values(FallbackCase{"best", ~0u, true, true, true},
                      FallbackCase{"no_defer", ~unsigned{IORING_SETUP_DEFER_TASKRUN}, false, true, true},
                      FallbackCase{"coop_only",
                                   ~unsigned{IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER},
                                   false, false, true},
                      FallbackCase{"plain", IORING_SETUP_CQSIZE, false, false, false},
                      FallbackCase{"nothing", 0u, false, false, false}),
    [](const ::testing::TestParamInfo<FallbackCase>& i) { return std::string(i.param.name); });

// ------------------------------------------------ cross-carrier wake-ups ---

// Thread A's only green thread parks; A's carrier sleeps in io_uring_enter.
// Thread B readies it with gh::wake(): the eventfd read in A's ring fires.
TEST(Ring, CrossThreadWakeReachesCarrierBlockedInRing) {
  std::atomic<pid_t> tid{0};
  std::atomic<gh::Waiter*> waiter{nullptr};
  std::atomic<int64_t> resumed_at{0};
  std::atomic<int> result{-1};
  std::atomic<bool> no_ring{false};
  std::thread a([&] {
    if (!Ring::current()) {
      no_ring = true;
      return;
    }
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    gh::Waiter w;
    w.g = gh::self();
    waiter = &w;
    // The deadline only bounds a failure; the wake must come long before.
    int rc = gh::park_waiter(w, gh::deadline_after(10'000 * kMs), "test");
    resumed_at = gh::mono_ns();
    result = rc;
  });
  while (!waiter.load() && !no_ring.load()) std::this_thread::yield();
  if (no_ring) {
    a.join();
    GTEST_SKIP() << "io_uring unavailable";
  }
  // Wait (bounded) until A sleeps in io_uring_enter (syscall 426 on x86-64).
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid.load());
  bool seen_in_enter = false, proc_readable = false;
  int64_t end = gh::deadline_after(5000 * kMs);
  while (gh::mono_ns() < end) {
    FILE* f = fopen(path, "re");
    if (!f) break;
    long nr = -2;
    proc_readable = fscanf(f, "%ld", &nr) == 1;
    fclose(f);
    if (!proc_readable) break;
    if (nr == SYS_io_uring_enter) {
      seen_in_enter = true;
      break;
    }
    std::this_thread::yield();
  }
  if (proc_readable) {
    EXPECT_TRUE(seen_in_enter);
  }
  int64_t t0 = gh::mono_ns();
  EXPECT_TRUE(gh::wake(waiter.load()));
  a.join();
  EXPECT_EQ(result.load(), gh::Waiter::kWoken);
  EXPECT_LT(resumed_at.load() - t0, 1000 * kMs);
}

// Two carriers hand a token back and forth 5,000 times with gh::wake(); each
// hand-off lands on a carrier that is about to sleep or asleep in its ring.
TEST(Ring, CrossCarrierPingPong) {
  constexpr int kRounds = 5000;
  std::atomic<gh::Waiter*> slot[2] = {nullptr, nullptr};
  std::atomic<int> timeouts{0}, rounds_done{0};
  std::atomic<bool> no_ring{false};
  auto player = [&](int me) {
    if (!Ring::current()) {
      no_ring = true;
      return;
    }
    int other = 1 - me;
    for (int i = 0; i < kRounds; i++) {
      if (me == 1 || i > 0) {
        // Take the other's waiter (it published before parking) and wake it
        // after publishing our own, so neither spins for long.
        gh::Waiter* theirs;
        int64_t end = gh::deadline_after(10'000 * kMs);
        while (!(theirs = slot[other].exchange(nullptr))) {
          if (no_ring || gh::mono_ns() > end) return;
          std::this_thread::yield();
        }
        gh::Waiter w;
        w.g = gh::self();
        slot[me] = &w;
        gh::wake(theirs);
        if (i == kRounds - 1 && me == 1) break;  // last hand-off
        if (gh::park_waiter(w, gh::deadline_after(10'000 * kMs)) != gh::Waiter::kWoken) {
          timeouts++;
          return;
        }
      } else {
        gh::Waiter w;
        w.g = gh::self();
        slot[me] = &w;
        if (gh::park_waiter(w, gh::deadline_after(10'000 * kMs)) != gh::Waiter::kWoken) {
          timeouts++;
          return;
        }
      }
      rounds_done++;
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  if (no_ring) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(timeouts.load(), 0);
  EXPECT_GE(rounds_done.load(), 2 * kRounds - 2);
}

}  // namespace
