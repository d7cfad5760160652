// SPDX-License-Identifier: MIT
// Clang's thread-safety analysis, so that "[lock]" comments on fields are
// checked by the compiler: GH_GUARDED_BY(lock) on a field, GH_CAPABILITY on
// a lock type, GH_ACQUIRE/GH_RELEASE on its methods. The analysis runs in
// the `lint.thread_safety` test (clang++ -Wthread-safety); with other
// compilers the annotations are empty.
#pragma once

#if defined(__clang__)
#define GH_TSA(x) __attribute__((x))
#else
#define GH_TSA(x)
#endif

#define GH_CAPABILITY(name) GH_TSA(capability(name))
#define GH_SCOPED_CAPABILITY GH_TSA(scoped_lockable)
#define GH_GUARDED_BY(lock) GH_TSA(guarded_by(lock))
#define GH_PT_GUARDED_BY(lock) GH_TSA(pt_guarded_by(lock))
#define GH_ACQUIRE(...) GH_TSA(acquire_capability(__VA_ARGS__))
#define GH_RELEASE(...) GH_TSA(release_capability(__VA_ARGS__))
#define GH_TRY_ACQUIRE(...) GH_TSA(try_acquire_capability(__VA_ARGS__))
#define GH_REQUIRES(...) GH_TSA(requires_capability(__VA_ARGS__))
#define GH_NO_TSA GH_TSA(no_thread_safety_analysis)
