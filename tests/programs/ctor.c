// SPDX-License-Identifier: MIT
/* Prints what ctor_lib.c's constructor recorded before main() ran, then
 * uses what it left behind (its key, its mutexes, its background thread). */
#include "common.h"
#include "ctor_lib.h"

int main(void) {
  test_start();
  struct ctor_record* r = &ctor_record;
  printf("constructor ran: %d\n", r->ran);
  printf("write to a pipe: %ld, read back: %ld, same bytes: %d\n", r->write_ret, r->read_ret,
         r->read_ok);
  printf("pthread_key_create: %s, setspecific: %s, getspecific: %ld\n", errname(r->key_create_rc),
         errname(r->setspecific_rc), r->getspecific_val);
  printf("mutex lock: %s, trylock while held: %s, unlock: %s\n", errname(r->lock_rc),
         errname(r->trylock_rc), errname(r->unlock_rc));
  printf("recursive mutex lock: %s, relock: %s, unlocks: %s\n", errname(r->rec_lock_rc),
         errname(r->rec_relock_rc), errname(r->rec_unlock_rc));
  printf("cond timedwait with a past deadline: %s\n", errname(r->cond_timedwait_rc));
  printf("background thread started: %s\n", errname(r->thread_create_rc));
  /* main runs on the thread the constructor ran on */
  printf("pthread_self in main equals the constructor's: %s\n",
         pthread_equal(pthread_self(), r->self) ? "yes" : "no");
  printf("the constructor's key value seen from main: %ld\n", (long)pthread_getspecific(r->key));
  EXPECT_RC("setspecific on the constructor's key from main", pthread_setspecific(r->key, (void*)7), 0);
  printf("getspecific: %ld\n", (long)pthread_getspecific(r->key));
  tasks_sample(); /* the library's thread is alive */
  int a = ctor_lib_ping(), b = ctor_lib_ping();
  printf("the library's thread answered: %d %d\n", a, b);
  ctor_lib_stop();
  printf("the library's thread stopped\n");
  return test_end();
}
