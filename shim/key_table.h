// SPDX-License-Identifier: MIT
// Thread-specific data (pthread_key_*) per green thread. glibc's keys live in
// the OS thread's descriptor, which all green threads of a carrier share, so
// the shim keeps its own table: a global array of keys with sequence numbers
// (odd = in use) and, per green thread, lazily allocated blocks of values
// (from the runtime's arena: tcmalloc sets keys inside malloc).
#pragma once

#include <pthread.h>

#include "shim/thread_registry.h"

namespace gh::shim {

// pthread codes, as glibc's functions.
int key_create(pthread_key_t* key, void (*dtor)(void*));
int key_delete(pthread_key_t key);
void* key_get(ShimThread* st, pthread_key_t key);
int key_set(ShimThread* st, pthread_key_t key, const void* value);

// Runs st's destructors in glibc's order and rounds (at green thread exit).
void run_key_destructors(ShimThread* st);
// Frees st's value blocks.
void free_keys(ShimThread* st);

}  // namespace gh::shim
