// SPDX-License-Identifier: MIT
// pthread_key_*: per green thread (shim/key_table.h), glibc's for threads
// that are not green.
#include "shim/key_table.h"
#include "shim/state.h"

using namespace gh::shim;

GH_EXPORT int pthread_key_create(pthread_key_t* key, void (*dtor)(void*)) {
  if (!threads_green()) return real::pthread_key_create(key, dtor);
  return key_create(key, dtor);
}

GH_EXPORT int pthread_key_delete(pthread_key_t key) {
  if (!threads_green()) return real::pthread_key_delete(key);
  return key_delete(key);
}

GH_EXPORT void* pthread_getspecific(pthread_key_t key) {
  if (!threads_green()) return real::pthread_getspecific(key);
  return key_get(shim_self(), key);
}

GH_EXPORT int pthread_setspecific(pthread_key_t key, const void* value) {
  if (!threads_green()) return real::pthread_setspecific(key, value);
  return key_set(shim_self(), key, value);
}
