// SPDX-License-Identifier: MIT
#include "shim/proc_task.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/carrier.h"
#include "core/sys.h"
#include "shim/thread_registry.h"

namespace gh::shim {

namespace {

// Reads a decimal number at *p (no sign, no leading zero, as /proc names
// tasks) and moves *p past it. Returns -1 if there is none.
long read_id(const char** p) {
  const char* s = *p;
  if (*s < '1' || *s > '9') return -1;
  long v = 0;
  while (*s >= '0' && *s <= '9') {
    if (v > (1L << 40)) return -1;
    v = v * 10 + (*s++ - '0');
  }
  *p = s;
  return v;
}

struct Found {
  long os_tid;
  char name[16];
};

void look(ShimThread* st, void* out) {
  auto* f = static_cast<Found*>(out);
  f->os_tid = st->g->current_carrier()->os_tid();
  memcpy(f->name, st->g->name, sizeof f->name);
  f->name[sizeof f->name - 1] = 0;
}

// A read-only memory file holding `name` and a newline, at offset 0.
int comm_file(const char* name, int flags) {
  long mfd = gh::sys(SYS_memfd_create, "comm", MFD_CLOEXEC);
  if (mfd < 0) {
    errno = static_cast<int>(-mfd);
    return -1;
  }
  char text[18];
  int n = snprintf(text, sizeof text, "%s\n", name);
  long fd = gh::sys(SYS_pwrite64, mfd, text, n, 0) == n ? 0 : -EIO;
  if (fd == 0) {
    // Opened again read-only, as the kernel's comm file is for a reader.
    char self[40];
    snprintf(self, sizeof self, "/proc/self/fd/%ld", mfd);
    fd = gh::sys(SYS_openat, AT_FDCWD, self, O_RDONLY | (flags & O_CLOEXEC));
  }
  gh::sys(SYS_close, mfd);
  if (fd < 0) {
    errno = static_cast<int>(-fd);
    return -1;
  }
  return static_cast<int>(fd);
}

}  // namespace

ProcTaskPath proc_task_path(const char* path, int flags, char* buf, size_t len) {
  ProcTaskPath r;
  if (!path || strncmp(path, "/proc/", 6) != 0 || !threads_green()) return r;
  const char* p = path + 6;
  if (strncmp(p, "self/", 5) == 0) {
    p += 5;
  } else {
    long pid = read_id(&p);
    if (pid != static_cast<long>(getpid()) || *p != '/') return r;
    p++;
  }
  if (strncmp(p, "task/", 5) != 0) return r;
  p += 5;
  const char* id_at = p;
  long tid = read_id(&p);
  if (tid < 0 || !is_green_tid(tid) || (*p != 0 && *p != '/')) return r;
  Found f{};
  if (tid > 0x7fffffff || !with_green_tid(static_cast<pid_t>(tid), &look, &f)) {
    r.kind = ProcTaskPath::kGone;
    return r;
  }
  if (strcmp(p, "/comm") == 0 && !(flags & (O_PATH | O_DIRECTORY))) {
    if ((flags & O_ACCMODE) != O_RDONLY) {
      // Writing renames the thread natively; here it would rename the OS
      // thread under it, which others share. pthread_setname_np does it.
      r.kind = ProcTaskPath::kRefused;
      return r;
    }
    r.kind = ProcTaskPath::kComm;
    r.fd = comm_file(f.name, flags);
    return r;
  }
  int n = snprintf(buf, len, "%.*s%ld%s", static_cast<int>(id_at - path), path, f.os_tid, p);
  if (n < 0 || static_cast<size_t>(n) >= len) return r;  // too long: as it is (ENOENT)
  r.kind = ProcTaskPath::kRewritten;
  r.path = buf;
  return r;
}

}  // namespace gh::shim
