// SPDX-License-Identifier: MIT
// Compiler attributes used across the runtime and the shim.
#pragma once

// Thread-locals of the runtime use the initial-exec model: the library is
// loaded at start-up (LD_PRELOAD), so its TLS is in the static block and an
// access is one %fs-relative load, with no __tls_get_addr call (which may
// allocate, and costs a call on every scheduler step).
#define GH_TLS __attribute__((tls_model("initial-exec")))
