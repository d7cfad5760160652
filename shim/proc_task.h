// SPDX-License-Identifier: MIT
// /proc/self/task/<id> for a green thread's id (docs/design.md, "Thread
// ids"): the kernel has entries only for OS threads, so the open hooks
// (hook_conn.cc) ask here before they open a path under /proc.
#pragma once

#include <cstddef>

namespace gh::shim {

// What opening `path` with `flags` comes to.
struct ProcTaskPath {
  enum Kind {
    kAsIs,       // not a green thread's entry: open path as it is
    kRewritten,  // open `path`: the entry of the OS thread that runs the green thread
    kComm,       // its comm, read-only: `fd` holds the green thread's name
    kGone,       // a green id of no live thread: fail with ENOENT, as natively
    kRefused,    // its comm for writing: fail with EACCES (it would rename the OS thread)
  } kind = kAsIs;
  const char* path = nullptr;
  int fd = -1;
};

// Looks at an absolute `path` of the form /proc/self/task/<id>[/...] or
// /proc/<our pid>/task/<id>[/...] with a green thread's id. `buf` (of `len`
// bytes) holds a rewritten path. A kComm fd is a read-only memory file (O_CLOEXEC if
// flags asks for it) at offset 0; -1 with errno set if it cannot be made.
ProcTaskPath proc_task_path(const char* path, int flags, char* buf, size_t len);

}  // namespace gh::shim
