// SPDX-License-Identifier: MIT
// The glibc backend of core/thread_pointer.h: each green thread gets a
// thread control block (glibc's struct pthread) and static TLS block built
// by the dynamic loader's own TLS allocator, as glibc builds them for its
// threads (docs/design.md, "The thread pointer").
#pragma once

namespace gh::shim {

// Resolves and checks the glibc internals the backend relies on. Returns
// true if they are all there and as expected; otherwise writes the reason
// into `why` and returns false.
bool glibc_tls_init(char* why, unsigned long why_len);

// Installs the backend (core/thread_pointer.h). After glibc_tls_init().
void glibc_tls_enable();

// Before a library is loaded (dlopen, dlmopen): files the modules loaded so
// far and starts a new TLS generation, so that green threads get the static
// TLS of what the load brings before they run again; a green caller goes on
// the loader's thread list, so that glibc initialises its block during the
// load, before the library's constructors run (until its next switch-in).
void glibc_tls_before_load();

// At a green thread's start, on its own thread pointer, what glibc's
// start_thread does for the thread's TLS: the ctype tables' per-thread
// pointers (__ctype_init; isspace, toupper, ... read them).
void glibc_tls_thread_start();

// At a green thread's exit, on its own stack and thread pointer, before its
// pthread key destructors (glibc's order): runs its C++ thread_local
// destructors (__call_tls_dtors).
void glibc_tls_thread_exit();

}  // namespace gh::shim
