// SPDX-License-Identifier: MIT
/* What ctor_lib.c's constructor recorded (see ctor.c). */
#ifndef GH_CTOR_LIB_H
#define GH_CTOR_LIB_H

#include <pthread.h>

struct ctor_record {
  int ran;
  long write_ret;        /* write() of 5 bytes to a pipe */
  long read_ret;         /* read() of them back */
  int read_ok;           /* the same bytes */
  int key_create_rc;     /* pthread_key_create */
  int setspecific_rc;    /* pthread_setspecific(key, 42) */
  long getspecific_val;  /* pthread_getspecific(key) right after */
  int lock_rc, trylock_rc, unlock_rc; /* static mutex: lock, trylock (EBUSY), unlock */
  int rec_lock_rc, rec_relock_rc, rec_unlock_rc; /* recursive mutex locked twice */
  int cond_timedwait_rc; /* pthread_cond_timedwait with a past deadline */
  int thread_create_rc;  /* a background thread started by the library */
  pthread_t self;        /* pthread_self() in the constructor */
  pthread_key_t key;
};

extern struct ctor_record ctor_record;

/* Asks the library's background thread for a reply, stops it and joins it.
 * Returns its reply (the number of requests it answered) or -1. */
int ctor_lib_ping(void);
void ctor_lib_stop(void);

#endif
