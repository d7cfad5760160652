// SPDX-License-Identifier: MIT
#include "shim/fd_table.h"

#include "ioring/ops.h"
#include "core/sys.h"

#include <fcntl.h>
#include <signal.h>
#include <cstring>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <termios.h>
#include <sys/time.h>
#include <unistd.h>

#include <new>

#include "shim/state.h"

namespace gh::shim {

namespace {

constexpr int kChunkBits = 12;  // 4096 entries per chunk
constexpr int kChunkSize = 1 << kChunkBits;
constexpr int kChunks = 1 << 8;  // up to 1,048,576 fds
std::atomic<FdEntry*> g_chunks[kChunks];
// Entries with a late_error stored: parking_fd's fast test.
std::atomic<int> g_late_errors{0};

FdEntry* slot(int fd, bool create) {
  if (fd < 0) return nullptr;
  unsigned c = static_cast<unsigned>(fd) >> kChunkBits;
  if (c >= kChunks) return nullptr;
  FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
  if (!chunk) {
    if (!create) return nullptr;
    auto* fresh = new (std::nothrow) FdEntry[kChunkSize];
    if (!fresh) return nullptr;
    if (!g_chunks[c].compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      delete[] fresh;  // another thread won; use its chunk
    } else {
      chunk = fresh;
    }
  }
  return &chunk[fd & (kChunkSize - 1)];
}

int64_t sock_timeout_ns(int fd, int name) {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (gh::sys_ret(SYS_getsockopt, fd, SOL_SOCKET, name, &tv, &len) != 0) return 0;
  return int64_t{tv.tv_sec} * 1000000000 + int64_t{tv.tv_usec} * 1000;
}

// Where a regular file's filesystem keeps its data, and so whether its I/O
// may wait: the ring does it then (hook_file.cc). Memory (tmpfs) and pseudo
// filesystems (proc, sysfs, cgroup, ...) answer at once, and some of their
// files act on the calling thread, which the ring's worker threads are not;
// unknown ones pass through too, as natively.
enum class FsPlace { kMemory, kLocalDisk, kRemote };

FsPlace fs_place(int fd) {
  struct statfs sf;
  if (gh::sys_ret(SYS_fstatfs, fd, &sf) != 0) return FsPlace::kMemory;
  switch (static_cast<uint32_t>(sf.f_type)) {
    case 0xEF53:      // ext2/3/4
    case 0x58465342:  // xfs
    case 0x9123683E:  // btrfs
    case 0xF2F52010:  // f2fs
    case 0xCA451A4E:  // bcachefs
    case 0x2FC12FC1:  // zfs
    case 0x794C7630:  // overlayfs (on one of these, in containers)
    case 0x4D44:      // vfat
    case 0x2011BAB0:  // exfat
    case 0x5346544E:  // ntfs
      return FsPlace::kLocalDisk;
    case 0x6969:      // nfs
    case 0xFF534D42:  // cifs
    case 0xFE534D42:  // smb2
    case 0x00C36400:  // ceph
    case 0x65735546:  // fuse (its server may be a thread of this process)
    case 0x01021997:  // 9p
      return FsPlace::kRemote;
    default:
      return FsPlace::kMemory;
  }
}

// "/proc/self/<dir>/<fd>" into path (room for 40 bytes).
void proc_fd_path(char* path, const char* dir, int fd) {
  size_t at = 0;
  for (const char* p = "/proc/self/"; *p;) path[at++] = *p++;
  while (*dir) path[at++] = *dir++;
  path[at++] = '/';
  char digits[12];
  int n = 0;
  for (unsigned v = static_cast<unsigned>(fd); n == 0 || v != 0; v /= 10)
    digits[n++] = static_cast<char>('0' + v % 10);
  while (n > 0) path[at++] = digits[--n];
  path[at] = 0;
}

// What anonymous inode fd is, from its /proc/self/fd link
// ("anon_inode:[eventfd]"): 'e' an eventfd, 's' a signalfd, 0 anything else
// (or no /proc).
char anon_kind(int fd) {
  char path[40];
  proc_fd_path(path, "fd", fd);
  char link[32];
  long len = gh::sys_ret(SYS_readlinkat, AT_FDCWD, path, link, sizeof link);
  auto is = [&](const char* want, size_t n) {
    return len == static_cast<long>(n) && memcmp(link, want, n) == 0;
  };
  if (is("anon_inode:[eventfd]", sizeof "anon_inode:[eventfd]" - 1)) return 'e';
  if (is("anon_inode:[signalfd]", sizeof "anon_inode:[signalfd]" - 1)) return 's';
  return 0;
}

// The mask of signalfd fd from the "sigmask:" line of /proc/self/fdinfo (a
// signalfd the hook did not make: inherited across exec, received), in the
// bits shim/signalfd.h uses; 0 when unknown.
uint64_t signalfd_fdinfo_mask(int fd) {
  char path[40];
  proc_fd_path(path, "fdinfo", fd);
  long f = gh::sys_ret(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return 0;
  char text[512];
  long len = gh::sys_ret(SYS_read, f, text, sizeof text - 1);
  gh::sys(SYS_close, f);
  if (len <= 0) return 0;
  text[len] = 0;
  const char* at = strstr(text, "sigmask:");
  if (!at) return 0;
  at += sizeof "sigmask:" - 1;
  while (*at == ' ' || *at == '\t') at++;
  uint64_t mask = 0;
  for (; *at; at++) {
    int d = *at >= '0' && *at <= '9' ? *at - '0' : *at >= 'a' && *at <= 'f' ? *at - 'a' + 10 : -1;
    if (d < 0) break;
    mask = mask << 4 | static_cast<uint64_t>(d);
  }
  // Never SIGKILL or SIGSTOP, as signalfd_made.
  return mask & ~((uint64_t{1} << (SIGKILL - 1)) | (uint64_t{1} << (SIGSTOP - 1)));
}

// What classify() learns of an fd besides its kind.
}  // namespace

bool is_tty(int fd) {
  termios t;
  return gh::sys_ret(SYS_ioctl, fd, TCGETS, &t) == 0;
}

namespace {

struct FdMode {
  bool nonblock = false, append = false, eventfd = false, local_disk = false, tty = false;
  uint64_t sigfd_mask = 0;
  long flags = -1;  // F_GETFL, or -errno
};

// Whether a file with these status flags writes to the page cache (not
// O_DIRECT, O_SYNC or O_DSYNC).
bool buffered(long flags) { return flags >= 0 && !(flags & (O_DIRECT | O_DSYNC | O_SYNC)); }

FdKind classify(int fd, FdMode* m) {
  struct stat st;
  if (gh::sys_ret(SYS_fstat, fd, &st) != 0) return FdKind::kBad;
  long fl = gh::io::file_status_flags(fd);
  m->flags = fl;
  m->nonblock = fl >= 0 && (fl & O_NONBLOCK);
  m->append = fl >= 0 && (fl & O_APPEND);
  switch (st.st_mode & S_IFMT) {
    case S_IFSOCK: {
      int type = 0;
      socklen_t len = sizeof type;
      if (gh::sys_ret(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return FdKind::kPacket;
      return type == SOCK_STREAM ? FdKind::kStream : FdKind::kPacket;
    }
    case S_IFIFO:
      return FdKind::kPipe;
    case S_IFBLK:
      m->local_disk = true;
      return FdKind::kDiskFile;
    case S_IFREG: {
      FsPlace at = fs_place(fd);
      m->local_disk = at == FsPlace::kLocalDisk;
      return at == FsPlace::kMemory ? FdKind::kFile : FdKind::kDiskFile;
    }
    case S_IFDIR:
      return FdKind::kFile;
    default:
      // Character devices and anonymous inodes (eventfd, timerfd, ...).
      if ((st.st_mode & S_IFMT) == 0) {
        char anon = anon_kind(fd);
        m->eventfd = anon == 'e';
        if (anon == 's') m->sigfd_mask = signalfd_fdinfo_mask(fd);
      }
      m->tty = S_ISCHR(st.st_mode) && is_tty(fd);
      return FdKind::kPollable;
  }
}

}  // namespace

FdEntry* fd_peek(int fd) { return slot(fd, false); }

FdEntry* fd_get(int fd) {
  FdEntry* e = slot(fd, true);
  if (!e) return nullptr;
  if (e->kind.load(std::memory_order_acquire) == FdKind::kUnknown) {
    FdMode m;
    FdKind k = classify(fd, &m);
    if (k == FdKind::kBad) return e;  // not cached: the fd may be opened later
    e->nonblock.store(m.nonblock, std::memory_order_relaxed);
    e->append.store(m.append, std::memory_order_relaxed);
    e->eventfd.store(m.eventfd, std::memory_order_relaxed);
    e->tty.store(m.tty, std::memory_order_relaxed);
    e->sigfd_mask.store(m.sigfd_mask, std::memory_order_relaxed);
    e->buffered_local.store(m.local_disk && buffered(m.flags), std::memory_order_relaxed);
    e->writes_wait_until.store(0, std::memory_order_relaxed);
    // Unless a hook just opened it: inherited, received or opened by a call
    // the shim does not see, so possibly shared.
    e->shared.store(!e->fresh.exchange(false, std::memory_order_relaxed),
                    std::memory_order_relaxed);
    e->recv_waits.store(false, std::memory_order_relaxed);
    fd_take_late_error(e);
    // A socket made elsewhere may come with SO_RCVTIMEO / SO_SNDTIMEO.
    bool sock = k == FdKind::kStream || k == FdKind::kPacket;
    e->rcvtimeo_ns.store(sock ? sock_timeout_ns(fd, SO_RCVTIMEO) : 0, std::memory_order_relaxed);
    e->sndtimeo_ns.store(sock ? sock_timeout_ns(fd, SO_SNDTIMEO) : 0, std::memory_order_relaxed);
    e->kind.store(k, std::memory_order_release);
  }
  return e;
}

bool fd_parks(int fd, const FdEntry* e) {
  if (!e) return false;
  FdKind k = e->kind.load(std::memory_order_acquire);
  if (k == FdKind::kUnknown || k == FdKind::kFile || k == FdKind::kDiskFile) return false;
  return e->shared.load(std::memory_order_relaxed) || !e->nonblock.load(std::memory_order_relaxed);
}

void fd_created(int fd, FdKind kind, bool nonblock, bool eventfd) {
  FdEntry* e = slot(fd, true);
  if (!e) return;
  e->nonblock.store(nonblock, std::memory_order_relaxed);
  e->eventfd.store(eventfd, std::memory_order_relaxed);
  e->tty.store(false, std::memory_order_relaxed);
  e->sigfd_mask.store(0, std::memory_order_relaxed);
  e->buffered_local.store(false, std::memory_order_relaxed);
  e->writes_wait_until.store(0, std::memory_order_relaxed);
  e->append.store(false, std::memory_order_relaxed);
  e->shared.store(false, std::memory_order_relaxed);
  e->fresh.store(false, std::memory_order_relaxed);
  e->recv_waits.store(false, std::memory_order_relaxed);
  fd_take_late_error(e);
  e->rcvtimeo_ns.store(0, std::memory_order_relaxed);
  e->sndtimeo_ns.store(0, std::memory_order_relaxed);
  e->kind.store(kind, std::memory_order_release);
}

void fd_status_flags_set(int fd, FdEntry* e) {
  if (e->kind.load(std::memory_order_acquire) != FdKind::kDiskFile) return;
  long fl = gh::io::file_status_flags(fd);
  e->buffered_local.store(fs_place(fd) != FsPlace::kRemote && buffered(fl),
                          std::memory_order_relaxed);
}

void fd_mark_shared(int fd) {
  if (FdEntry* e = slot(fd, false)) e->shared.store(true, std::memory_order_relaxed);
}

void fd_mark_all_shared() {
  for (int c = 0; c < kChunks; c++) {
    FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) continue;
    for (int i = 0; i < kChunkSize; i++) chunk[i].shared.store(true, std::memory_order_relaxed);
  }
}

void fd_forget(int fd) {
  if (FdEntry* e = slot(fd, false)) {
    fd_take_late_error(e);
    e->sigfd_mask.store(0, std::memory_order_relaxed);
    e->fresh.store(false, std::memory_order_relaxed);
    e->kind.store(FdKind::kUnknown, std::memory_order_release);
  }
}

void fd_opened(int fd) {
  FdEntry* e = slot(fd, true);
  if (!e) return;
  fd_take_late_error(e);
  e->sigfd_mask.store(0, std::memory_order_relaxed);
  e->kind.store(FdKind::kUnknown, std::memory_order_release);
  e->fresh.store(true, std::memory_order_relaxed);
}

void fd_after_fork_child() {
  for (int c = 0; c < kChunks; c++) {
    FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) continue;
    for (int i = 0; i < kChunkSize; i++) chunk[i].pos_lock.store(0, std::memory_order_relaxed);
  }
}

void fd_forget_range(unsigned lo, unsigned hi) {
  for (unsigned c = lo >> kChunkBits; c < kChunks && c <= (hi >> kChunkBits); c++) {
    FdEntry* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (!chunk) continue;
    for (int i = 0; i < kChunkSize; i++) {
      unsigned fd = (c << kChunkBits) | static_cast<unsigned>(i);
      if (fd < lo || fd > hi) continue;
      fd_take_late_error(&chunk[i]);
      chunk[i].sigfd_mask.store(0, std::memory_order_relaxed);
      chunk[i].fresh.store(false, std::memory_order_relaxed);
      chunk[i].kind.store(FdKind::kUnknown, std::memory_order_release);
    }
  }
}

void fd_set_late_error(FdEntry* e, int neg_errno) {
  if (e->late_error.exchange(neg_errno, std::memory_order_relaxed) == 0)
    g_late_errors.fetch_add(1, std::memory_order_relaxed);
}

int fd_take_late_error(FdEntry* e) {
  if (e->late_error.load(std::memory_order_relaxed) == 0) return 0;
  int err = e->late_error.exchange(0, std::memory_order_relaxed);
  if (err != 0) g_late_errors.fetch_sub(1, std::memory_order_relaxed);
  return err;
}

FdEntry* parking_fd(int fd) {
  if (!may_park()) {
    // A late error is reported by the green path even when the call would
    // otherwise pass through (the kernel no longer has it).
    if (g_late_errors.load(std::memory_order_relaxed) == 0 || !green_ok()) return nullptr;
    FdEntry* e = slot(fd, false);
    return e && e->late_error.load(std::memory_order_relaxed) != 0 &&
                   e->kind.load(std::memory_order_acquire) != FdKind::kUnknown
               ? e
               : nullptr;
  }
  FdEntry* e = fd_get(fd);
  return fd_parks(fd, e) ? e : nullptr;
}

}  // namespace gh::shim
