// SPDX-License-Identifier: MIT
// The runtime's own fds (ioring/runtime_fd.h): adopted as soon as they are
// made, moved out of the program's range, and still recorded where the fd
// limit leaves no high number.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <gtest/gtest.h>

#include "core/carrier.h"
#include "ioring/ring.h"
#include "ioring/runtime_fd.h"

namespace {

using gh::ioring::adopt_runtime_fd;
using gh::ioring::is_runtime_fd;
using gh::ioring::runtime_fd_floor;
using gh::ioring::unregister_runtime_fd;

bool open_fd(int fd) { return fcntl(fd, F_GETFD) >= 0; }

TEST(RuntimeFd, AdoptedFdMovesHighAndFreesItsNumber) {
  int low = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(low, 0);
  ASSERT_LT(low, runtime_fd_floor());
  int fd = adopt_runtime_fd(low);
  EXPECT_GE(fd, runtime_fd_floor());
  EXPECT_TRUE(is_runtime_fd(fd));
  EXPECT_FALSE(is_runtime_fd(low));
  EXPECT_FALSE(open_fd(low)) << "the low number is the program's again";
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  unregister_runtime_fd(fd);
  EXPECT_FALSE(is_runtime_fd(fd));
  close(fd);
  EXPECT_EQ(adopt_runtime_fd(-1), -1);
}

TEST(RuntimeFd, AnFdClosedBeforeItIsAdoptedIsMadeAgain) {
  // What a program thread's close of a stale number does between the
  // system call that made the fd and its adoption.
  int gone = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(gone, 0);
  close(gone);
  EXPECT_EQ(adopt_runtime_fd(gone), -EBADF);
  EXPECT_FALSE(is_runtime_fd(gone));
  int calls = 0;
  int fd = gh::ioring::make_runtime_fd([&]() -> long {
    if (++calls < 3) return gone;  // closed again "by the program"
    return eventfd(0, EFD_CLOEXEC);
  });
  EXPECT_EQ(calls, 3);
  ASSERT_GE(fd, runtime_fd_floor());
  EXPECT_TRUE(is_runtime_fd(fd));
  EXPECT_FALSE(is_runtime_fd(gone));
  unregister_runtime_fd(fd);
  close(fd);
  // A failure to make one is passed on as it is.
  EXPECT_EQ(gh::ioring::make_runtime_fd([] { return -EMFILE; }), -EMFILE);
}

TEST(RuntimeFd, StaysLowButRecordedWhenTheLimitLeavesNoHighNumber) {
  int floor = runtime_fd_floor();
  rlimit was{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &was), 0);
  // A program that lowers its limit after start-up: the floor is above it.
  int low = eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(low, 0);
  rlimit lowered = was;
  lowered.rlim_cur = static_cast<rlim_t>(low + 8);
  if (lowered.rlim_cur >= static_cast<rlim_t>(floor)) GTEST_SKIP() << "floor " << floor;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  int fd = adopt_runtime_fd(low);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &was), 0);
  EXPECT_EQ(fd, low);
  EXPECT_TRUE(is_runtime_fd(fd)) << "a close of that number by the program is refused";
  EXPECT_TRUE(open_fd(fd));
  unregister_runtime_fd(fd);
  EXPECT_FALSE(is_runtime_fd(fd));
  close(fd);
}

TEST(RuntimeFd, RingMadeWithStdinClosedLeavesFdZeroFree) {
  // The new ring's fd, the eventfd and every step between get the lowest
  // free number first: 0 here. None may stay there.
  int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
  bool had_stdin = saved >= 0;
  if (had_stdin) close(0);
  int ring_fd = -1, wake_fd = -1;
  bool fd0_free_inside = false;
  std::thread([&] {
    gh::ioring::Ring* r = gh::ioring::Ring::current();
    if (!r) return;
    ring_fd = r->ring_fd();
    wake_fd = r->wake_fd();
    fd0_free_inside = !open_fd(0);
  }).join();
  bool fd0_free_after = !open_fd(0);
  if (had_stdin) {
    dup2(saved, 0);
    close(saved);
  }
  if (ring_fd < 0) GTEST_SKIP() << "no io_uring here";
  EXPECT_GE(ring_fd, runtime_fd_floor());
  EXPECT_GE(wake_fd, runtime_fd_floor());
  EXPECT_TRUE(fd0_free_inside);
  EXPECT_TRUE(fd0_free_after);
}

}  // namespace
