// SPDX-License-Identifier: MIT
/* What glibc sets up in every new thread's own storage before the thread
 * function runs must be there in each thread: the ctype tables
 * (isspace, toupper, tolower, isalpha, used by strtol, sscanf, the NSS
 * parsers behind getpwuid, ...), the current locale, errno 0. Each of 8
 * threads checks them, then looks its user up with getpwuid_r, as main
 * does; the results must match main's and the native run's. */
#include "common.h"

#include <ctype.h>
#include <locale.h>
#include <pthread.h>
#include <pwd.h>

static char g_main_user[64];

/* What each thread found, printed by main in thread order. */
struct result {
  int errno_at_start, ctype_ok, parse_ok, global_locale, pw_rc, pw_same;
};
static struct result g_res[8];
/* The threads stay until main has counted the OS threads. */
static pthread_barrier_t g_all_counted;

static void* check(void* arg) {
  struct result* r = &g_res[(long)arg];
  r->errno_at_start = errno;
  r->ctype_ok = isspace(' ') && !isspace('x') && toupper('a') == 'A' && tolower('Q') == 'q' &&
                isalpha('z') && !isalpha('7');
  int a = 0, b = 0;
  r->parse_ok = strtol("  \t42", NULL, 10) == 42 && sscanf(" 7  9", "%d %d", &a, &b) == 2 &&
                a == 7 && b == 9;
  r->global_locale = uselocale((locale_t)0) == LC_GLOBAL_LOCALE;
  struct passwd pw, *res = NULL;
  char buf[4096];
  r->pw_rc = getpwuid_r(getuid(), &pw, buf, sizeof buf, &res);
  r->pw_same = r->pw_rc == 0 && res && strcmp(pw.pw_name, g_main_user) == 0;
  pthread_barrier_wait(&g_all_counted);
  return NULL;
}

int main(void) {
  struct passwd* p = getpwuid(getuid());
  snprintf(g_main_user, sizeof g_main_user, "%s", p ? p->pw_name : "?");
  pthread_t t[8];
  pthread_barrier_init(&g_all_counted, NULL, 9);
  for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, check, (void*)i);
  tasks_sample();
  pthread_barrier_wait(&g_all_counted);
  for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 8; i++) {
    const struct result* r = &g_res[i];
    char label[64];
    snprintf(label, sizeof label, "thread %d: errno 0 at start", i);
    CHECK(r->errno_at_start == 0, label, "%d", r->errno_at_start);
    snprintf(label, sizeof label, "thread %d: ctype", i);
    CHECK(r->ctype_ok, label, "isspace/toupper/tolower/isalpha disagree");
    snprintf(label, sizeof label, "thread %d: strtol and sscanf with blanks", i);
    CHECK(r->parse_ok, label, "wrong numbers");
    snprintf(label, sizeof label, "thread %d: the global locale", i);
    CHECK(r->global_locale, label, "another locale");
    snprintf(label, sizeof label, "thread %d: getpwuid_r finds main's user", i);
    CHECK(r->pw_same, label, "rc=%d", r->pw_rc);
  }
  printf("failures: %d\n", g_failures);
  return g_failures ? 1 : 0;
}
