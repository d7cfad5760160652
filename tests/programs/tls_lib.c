// SPDX-License-Identifier: MIT
// The library tls_dlopen.c loads with dlopen: __thread variables with
// non-zero initial images. Built twice: with the default TLS model of -fPIC
// code (general dynamic: __tls_get_addr, the block made on first use) and
// with -ftls-model=initial-exec (static TLS, DF_STATIC_TLS: the loader puts
// the block into the static TLS of every thread that exists at dlopen).
__thread int tls_counter = 41;
__thread char tls_name[16] = "tls_lib";
__thread long tls_zero;  // .tbss
__thread int tls_ctor_mark = 1;

// Runs in the thread that loads the library, inside dlopen: it must find
// its initial image there already and its write must last.
__attribute__((constructor)) static void mark_loader(void) {
  if (tls_ctor_mark == 1) tls_ctor_mark = 7;
}

// 7 in the thread that loaded the library (1 if the image was not there
// when the constructor ran), 1 in every other thread.
int tls_ctor_seen(void) { return tls_ctor_mark; }

// Adds `times` to this thread's counter; returns the new value.
int tls_bump(int times) {
  for (int i = 0; i < times; i++) tls_counter++;
  tls_zero += times;
  return tls_counter;
}

// This thread's counter, and whether the other variables hold their
// initial image / what tls_bump added.
int tls_get(int* name_ok, long* zero) {
  const char* want = "tls_lib";
  int ok = 1;
  for (int i = 0; i < 8; i++)
    if (tls_name[i] != want[i]) ok = 0;
  *name_ok = ok;
  *zero = tls_zero;
  return tls_counter;
}

void* tls_counter_addr(void) { return &tls_counter; }
