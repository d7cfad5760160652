// SPDX-License-Identifier: MIT
// File locks that wait for another process or description to let go
// (shim/hook_lock.cc): the parts other hook files call.
#pragma once

namespace gh::shim {

// fcntl(fd, cmd, lock) for cmd F_SETLKW or F_OFD_SETLKW made by a green
// thread that may park: tries the non-waiting form first, then waits on the
// offload pool, interruptible as the native call. Returns like fcntl.
int fcntl_lock_wait(int (*fcntl_fn)(int, int, ...), int fd, int cmd, void* lock);

}  // namespace gh::shim
