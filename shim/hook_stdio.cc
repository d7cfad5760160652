// SPDX-License-Identifier: MIT
// Stdio on sockets and pipes. glibc's FILE functions read and write through
// libc-internal calls that the shim cannot interpose, so fgets() on a socket
// would block the whole carrier until input arrives: with a thread-per-
// connection server that reads its requests with fdopen()+fgets(), every
// other green thread stalls meanwhile, and a peer that is a green thread of
// the same carrier never gets to answer (a deadlock).
//
// For a FILE whose fd parks (a blocking socket, pipe or pollable device, not
// fds 0-2, see fd_table.h) the shim therefore makes sure libc never has to
// wait:
//  - before libc refills an empty read buffer (__uflow/__underflow) the
//    green thread parks until the fd is readable; the line and block loops of
//    fgets/getline/getdelim/fread run here, one refill at a time;
//  - output is added to the FILE's buffer here; what does not fit (and what
//    a line-buffered stream must send) is written with the green full-write,
//    and fflush/fclose write out the buffer the same way.
// The FILE is left exactly as libc's own code would leave it (glibc's libio
// layout, flags and buffer pointers, which programs' inline getc/putc rely
// on too), so libc's functions and these can be mixed freely. Wide-oriented
// streams, fds that do not park and calls outside green context go to libc.
#include <stdarg.h>
#include <stdio.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/glibc_abi.h"
#include "core/parking_lot.h"
#include "shim/cancel.h"
#include "shim/fd_table.h"
#include "shim/green_io.h"
#include "shim/state.h"

using namespace gh::shim;

namespace {

using gh::glibc::kIoInBackup;
using gh::glibc::kIoLineBuf;
using gh::glibc::kIoNoReads;
using gh::glibc::kIoNoWrites;
using gh::glibc::kIoPutting;
using gh::glibc::kIoUnbuffered;

// The fd of f and its entry when a blocking stdio call on f should park.
FdEntry* parks(FILE* f, int* fd) {
  ensure_real();
  if (!f || !green_ok()) return nullptr;
  if (f->_mode > 0) return nullptr;  // wide-oriented: libc's
  int n = f->_fileno;
  FdEntry* e = parking_fd(n);
  if (!e) return nullptr;
  *fd = n;
  return e;
}

// libc's FILE lock, as its own functions take it.
class FileLock {
 public:
  explicit FileLock(FILE* f) : f_(f), on_(!(f->_flags & _IO_USER_LOCK)) {
    if (on_) flockfile(f_);
  }
  ~FileLock() {
    if (on_) funlockfile(f_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  FILE* f_;
  bool on_;
};

// ---- flockfile: the FILE lock, waited for green ----
//
// Each green thread is the owner of the FILE locks it takes (its own thread
// pointer), and a holder may park with the lock held (a blocking write of
// its buffer to a pipe). glibc's lock waits with a futex system call, which
// would block the OS thread the holder needs to run on: so a green thread
// waits for a FILE lock by parking. Unlocks through funlockfile wake it; an
// unlock inside libc does not, so the wait looks again every millisecond.

GH_EXPORT void flockfile(FILE* f) {
  if (!may_park()) return real::flockfile(f);
  auto* lk = static_cast<gh::glibc::IoLock*>(static_cast<void*>(f->_lock));
  while (real::ftrylockfile(f) != 0) {
    uint32_t seen = static_cast<uint32_t>(__atomic_load_n(&lk->lock, __ATOMIC_ACQUIRE));
    if (seen == 0) continue;
    gh::futex_wait(&lk->lock, seen, gh::deadline_after(1'000'000), "flockfile");
  }
}

GH_EXPORT void funlockfile(FILE* f) {
  real::funlockfile(f);
  if (g_enabled && gh::Carrier::current())
    gh::futex_wake(&static_cast<gh::glibc::IoLock*>(static_cast<void*>(f->_lock))->lock, 1);
}

// ---- input ----

// Before libc refills f's read buffer: parks until the fd has input (or EOF
// or an error to report), so that libc's read returns at once. Returns 0 or
// -errno if the wait itself failed (SO_RCVTIMEO, a signal, the fd closed).
int await_input(FILE* f, int fd, FdEntry* e) {
  if (f->_IO_read_ptr < f->_IO_read_end) return 0;
  // At EOF (sticky), reading from the backup area, or not readable at all:
  // libc answers without reading.
  if (f->_flags & (_IO_EOF_SEEN | kIoInBackup | kIoNoReads)) return 0;
  if (nonblocking_now(fd, e)) return 0;
  return wait_ready(fd, e, POLLIN, fd_deadline(e, false));
}

// A wait that failed is, to the FILE, a read that failed. One that a
// pthread_cancel ended acts here, leaving the FILE as it is (natively the
// cancelled read never returned); the FILE lock is released as the stack
// unwinds (FileLock).
// Whether stdio calls on f are cancellation points (not with fopen's "c").
bool cancellable(FILE* f) { return !(f->_flags2 & gh::glibc::kIoFlags2NotCancel); }

int read_failed(FILE* f, int err) {
  if (err == EINTR && cancellable(f)) {
    if (gh::GreenThread* g = running_green_thread()) act_on_cancel(g);
  }
  f->_flags |= _IO_ERR_SEEN;
  errno = err;
  return EOF;
}

int green_uflow(FILE* f, int fd, FdEntry* e) {
  int w = await_input(f, fd, e);
  if (w < 0) return read_failed(f, -w);
  return real::__uflow(f);
}

int green_underflow(FILE* f, int fd, FdEntry* e) {
  int w = await_input(f, fd, e);
  if (w < 0) return read_failed(f, -w);
  return real::__underflow(f);
}

int green_getc(FILE* f, int fd, FdEntry* e) {
  if (f->_IO_read_ptr < f->_IO_read_end) return static_cast<unsigned char>(*f->_IO_read_ptr++);
  return green_uflow(f, fd, e);
}

// glibc's fgets: the line including '\n', at most n - 1 bytes; NULL when
// nothing was read or on an error other than EAGAIN.
char* green_fgets(char* buf, int n, FILE* f, int fd, FdEntry* e) {
  if (n <= 0) return nullptr;
  if (n == 1) {
    buf[0] = '\0';
    return buf;
  }
  int old_error = f->_flags & _IO_ERR_SEEN;
  f->_flags &= ~_IO_ERR_SEEN;
  size_t count = 0, max = static_cast<size_t>(n) - 1;
  while (count < max) {
    ssize_t avail = f->_IO_read_end - f->_IO_read_ptr;
    if (avail <= 0) {
      int c = green_uflow(f, fd, e);
      if (c == EOF) break;
      buf[count++] = static_cast<char>(c);
      if (c == '\n') break;
      continue;
    }
    size_t len =
        static_cast<size_t>(avail) < max - count ? static_cast<size_t>(avail) : max - count;
    auto* nl = static_cast<char*>(memchr(f->_IO_read_ptr, '\n', len));
    if (nl) len = static_cast<size_t>(nl - f->_IO_read_ptr) + 1;
    memcpy(buf + count, f->_IO_read_ptr, len);
    f->_IO_read_ptr += len;
    count += len;
    if (nl) break;
  }
  char* result;
  if (count == 0 || ((f->_flags & _IO_ERR_SEEN) && errno != EAGAIN)) {
    result = nullptr;
  } else {
    buf[count] = '\0';
    result = buf;
  }
  f->_flags |= old_error;
  return result;
}

// glibc's getdelim: what was read up to and including delim, -1 if nothing.
ssize_t green_getdelim(char** lineptr, size_t* n, int delim, FILE* f, int fd, FdEntry* e) {
  if (*lineptr == nullptr || *n == 0) {
    *n = 120;
    *lineptr = static_cast<char*>(malloc(*n));
    if (!*lineptr) {
      f->_flags |= _IO_ERR_SEEN;
      errno = ENOMEM;
      return -1;
    }
  }
  ssize_t len = f->_IO_read_end - f->_IO_read_ptr;
  if (len <= 0) {
    if (green_underflow(f, fd, e) == EOF) return -1;
    len = f->_IO_read_end - f->_IO_read_ptr;
  }
  size_t cur = 0;
  for (;;) {
    auto* t = static_cast<char*>(memchr(f->_IO_read_ptr, delim, static_cast<size_t>(len)));
    if (t) len = t - f->_IO_read_ptr + 1;
    size_t needed = cur + static_cast<size_t>(len) + 1;
    if (needed > *n) {
      if (needed < 2 * *n) needed = 2 * *n;
      auto* grown = static_cast<char*>(realloc(*lineptr, needed));
      if (!grown) {
        f->_flags |= _IO_ERR_SEEN;
        errno = ENOMEM;
        return -1;
      }
      *lineptr = grown;
      *n = needed;
    }
    memcpy(*lineptr + cur, f->_IO_read_ptr, static_cast<size_t>(len));
    f->_IO_read_ptr += len;
    cur += static_cast<size_t>(len);
    if (t) break;
    if (green_underflow(f, fd, e) == EOF) break;
    len = f->_IO_read_end - f->_IO_read_ptr;
  }
  (*lineptr)[cur] = '\0';
  return static_cast<ssize_t>(cur);
}

size_t green_fread(void* ptr, size_t size, size_t count, FILE* f, int fd, FdEntry* e) {
  size_t bytes = size * count;
  if (bytes == 0) return 0;
  char* p = static_cast<char*>(ptr);
  size_t want = bytes;
  while (want > 0) {
    ssize_t avail = f->_IO_read_end - f->_IO_read_ptr;
    if (avail > 0) {
      size_t k = static_cast<size_t>(avail) < want ? static_cast<size_t>(avail) : want;
      memcpy(p, f->_IO_read_ptr, k);
      f->_IO_read_ptr += k;
      p += k;
      want -= k;
      continue;
    }
    int c = green_uflow(f, fd, e);
    if (c == EOF) break;
    *p++ = static_cast<char>(c);
    want--;
  }
  return (bytes - want) / size;
}

// ---- output ----

// Writes out what f has buffered (parking while the fd is full) and leaves
// the FILE as libc's flush does: the buffer emptied even after an error.
// Returns 0, or EOF with the error flag set.
// A write out of a FILE's buffer is a cancellation point, as glibc's write
// is: a request pending acts before it, one that ends its wait acts after
// (FileLock is released as the stack unwinds).
ssize_t stdio_send(FILE* f, int fd, FdEntry* e, const char* data, size_t len) {
  CancelPoint cp(cancellable(f));
  ssize_t r = green_send(fd, e, data, len, 0);
  // Cut short (-EINTR, or part written) while a request is pending: the
  // write was the cancellation point.
  if (r == -EINTR || (r >= 0 && static_cast<size_t>(r) < len)) cp.done_any(r);
  return r;
}

int green_flush(FILE* f, int fd, FdEntry* e) {
  if (!(f->_flags & kIoPutting) || !f->_IO_buf_base) return 0;
  char* base = f->_IO_write_base;
  size_t len = static_cast<size_t>(f->_IO_write_ptr - base);
  if (len == 0) return 0;
  ssize_t r = stdio_send(f, fd, e, base, len);
  f->_IO_read_base = f->_IO_read_ptr = f->_IO_read_end = f->_IO_buf_base;
  f->_IO_write_base = f->_IO_write_ptr = f->_IO_buf_base;
  f->_IO_write_end = (f->_flags & (kIoLineBuf | kIoUnbuffered)) ? f->_IO_buf_base : f->_IO_buf_end;
  if (r < 0 || static_cast<size_t>(r) < len) {
    f->_flags |= _IO_ERR_SEEN;
    if (r < 0) errno = static_cast<int>(-r);
    return EOF;
  }
  return 0;
}

// Sends len bytes straight to the fd (f's buffer is empty). Returns 0 or EOF.
int green_direct(FILE* f, const char* data, size_t len, int fd, FdEntry* e) {
  if (len == 0) return 0;
  ssize_t r = stdio_send(f, fd, e, data, len);
  if (r < 0 || static_cast<size_t>(r) < len) {
    f->_flags |= _IO_ERR_SEEN;
    if (r < 0) errno = static_cast<int>(-r);
    return EOF;
  }
  return 0;
}

// Adds len bytes to f's output as libc would (buffered, line-buffered or
// unbuffered), writing what must go out with the green full-write. Returns
// 0 or EOF (error flag set).
int green_put(FILE* f, const char* data, size_t len, int fd, FdEntry* e) {
  if (len == 0) return 0;
  if (f->_flags & kIoNoWrites) {  // not open for writing: libc's answer
    f->_flags |= _IO_ERR_SEEN;
    errno = EBADF;
    return EOF;
  }
  if (!(f->_flags & kIoPutting) || !f->_IO_buf_base) {
    // Let libc allocate the buffer and switch to writing (dropping unread
    // input as it does); with nothing pending that writes nothing.
    if (real::__overflow(f, EOF) == EOF) return EOF;
  }
  if (f->_flags & kIoUnbuffered) {
    if (green_flush(f, fd, e) == EOF) return EOF;
    return green_direct(f, data, len, fd, e);
  }
  if (f->_flags & kIoLineBuf) {
    // Everything up to the last newline goes out now.
    const char* nl = static_cast<const char*>(memrchr(data, '\n', len));
    if (nl) {
      size_t head = static_cast<size_t>(nl - data) + 1;
      size_t room = static_cast<size_t>(f->_IO_buf_end - f->_IO_write_ptr);
      if (head <= room) {
        memcpy(f->_IO_write_ptr, data, head);
        f->_IO_write_ptr += head;
        if (green_flush(f, fd, e) == EOF) return EOF;
      } else {
        if (green_flush(f, fd, e) == EOF) return EOF;
        if (green_direct(f, data, head, fd, e) == EOF) return EOF;
      }
      data += head;
      len -= head;
      if (len == 0) return 0;
    }
  }
  size_t room = static_cast<size_t>(f->_IO_buf_end - f->_IO_write_ptr);
  if (len > room) {
    if (green_flush(f, fd, e) == EOF) return EOF;
    size_t size = static_cast<size_t>(f->_IO_buf_end - f->_IO_buf_base);
    if (len >= size) return green_direct(f, data, len, fd, e);
  }
  memcpy(f->_IO_write_ptr, data, len);
  f->_IO_write_ptr += len;
  return 0;
}

// Formats into a buffer (on the stack when it fits). Returns the length, or
// -1 with errno set; *out is to be freed when it is not `stack`.
int format(char* stack, size_t cap, char** out, const char* fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(stack, cap, fmt, ap);
  if (n < 0) {
    va_end(ap2);
    return -1;
  }
  *out = stack;
  if (static_cast<size_t>(n) >= cap) {
    char* big = static_cast<char*>(malloc(static_cast<size_t>(n) + 1));
    if (!big) {
      va_end(ap2);
      errno = ENOMEM;
      return -1;
    }
    vsnprintf(big, static_cast<size_t>(n) + 1, fmt, ap2);
    *out = big;
  }
  va_end(ap2);
  return n;
}

// format()'s text, freed also if a cancellation unwinds the write.
struct FormattedText {
  char* text;
  char* stack;
  ~FormattedText() {
    if (text != stack) free(text);
  }
};

int green_vfprintf(FILE* f, const char* fmt, va_list ap, int fd, FdEntry* e) {
  char stack[1024];
  char* text;
  int n = format(stack, sizeof stack, &text, fmt, ap);
  if (n < 0) {
    f->_flags |= _IO_ERR_SEEN;
    return -1;
  }
  FormattedText owned{text, stack};
  FileLock lock(f);
  return green_put(f, text, static_cast<size_t>(n), fd, e) == EOF ? -1 : n;
}

}  // namespace

namespace gh::shim {

// Called by fclose (hook_conn.cc) before libc closes f: libc's final flush
// would block the carrier.
void stdio_flush_before_close(FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return;
  FileLock lock(f);
  green_flush(f, fd, e);
}

}  // namespace gh::shim

// ---- the refill entry points programs' inline getc/putc reach ----

GH_EXPORT int __uflow(FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::__uflow(f);
  CancelPoint cp(cancellable(f));
  return green_uflow(f, fd, e);
}

GH_EXPORT int __underflow(FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::__underflow(f);
  CancelPoint cp(cancellable(f));
  return green_underflow(f, fd, e);
}

GH_EXPORT int __overflow(FILE* f, int ch) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::__overflow(f, ch);
  if (ch == EOF) return green_flush(f, fd, e);
  char c = static_cast<char>(ch);
  return green_put(f, &c, 1, fd, e) == EOF ? EOF : static_cast<unsigned char>(ch);
}

// ---- input ----

// The input functions are cancellation points, as glibc's (their read is):
// a parked refill is woken by pthread_cancel (read_failed acts).
#define GH_STDIO_GETC(name, locked)             \
  GH_EXPORT int name(FILE* f) {                 \
    int fd;                                     \
    FdEntry* e = parks(f, &fd);                 \
    if (!e) return real::name(f);               \
    CancelPoint cp(cancellable(f));             \
    if (!(locked)) return green_getc(f, fd, e); \
    FileLock lock(f);                           \
    return green_getc(f, fd, e);                \
  }
GH_STDIO_GETC(fgetc, true)
GH_STDIO_GETC(getc, true)
GH_STDIO_GETC(_IO_getc, true)
GH_STDIO_GETC(fgetc_unlocked, false)
GH_STDIO_GETC(getc_unlocked, false)
#undef GH_STDIO_GETC

GH_EXPORT char* fgets(char* buf, int n, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fgets(buf, n, f);
  CancelPoint cp(cancellable(f));
  if (n <= 1) return green_fgets(buf, n, f, fd, e);
  FileLock lock(f);
  return green_fgets(buf, n, f, fd, e);
}

GH_EXPORT char* fgets_unlocked(char* buf, int n, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fgets_unlocked(buf, n, f);
  CancelPoint cp(cancellable(f));
  return green_fgets(buf, n, f, fd, e);
}

extern "C" void __chk_fail(void) __attribute__((noreturn));

GH_EXPORT char* __fgets_chk(char* buf, size_t size, int n, FILE* f) {
  if (n > 0 && static_cast<size_t>(n) > size) __chk_fail();
  return fgets(buf, n, f);
}

GH_EXPORT char* __fgets_unlocked_chk(char* buf, size_t size, int n, FILE* f) {
  if (n > 0 && static_cast<size_t>(n) > size) __chk_fail();
  return fgets_unlocked(buf, n, f);
}

GH_EXPORT size_t fread(void* ptr, size_t size, size_t count, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fread(ptr, size, count, f);
  CancelPoint cp(cancellable(f));
  FileLock lock(f);
  return green_fread(ptr, size, count, f, fd, e);
}

GH_EXPORT size_t fread_unlocked(void* ptr, size_t size, size_t count, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fread_unlocked(ptr, size, count, f);
  CancelPoint cp(cancellable(f));
  return green_fread(ptr, size, count, f, fd, e);
}

GH_EXPORT size_t __fread_chk(void* ptr, size_t ptrlen, size_t size, size_t count, FILE* f) {
  size_t bytes;
  if (__builtin_mul_overflow(size, count, &bytes) || bytes > ptrlen) __chk_fail();
  return fread(ptr, size, count, f);
}

GH_EXPORT size_t __fread_unlocked_chk(void* ptr, size_t ptrlen, size_t size, size_t count,
                                      FILE* f) {
  size_t bytes;
  if (__builtin_mul_overflow(size, count, &bytes) || bytes > ptrlen) __chk_fail();
  return fread_unlocked(ptr, size, count, f);
}

GH_EXPORT ssize_t getdelim(char** lineptr, size_t* n, int delim, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::getdelim(lineptr, n, delim, f);
  CancelPoint cp(cancellable(f));
  if (!lineptr || !n) {
    errno = EINVAL;
    return -1;
  }
  FileLock lock(f);
  return green_getdelim(lineptr, n, delim, f, fd, e);
}

GH_EXPORT ssize_t __getdelim(char** lineptr, size_t* n, int delim, FILE* f) {
  return getdelim(lineptr, n, delim, f);
}

GH_EXPORT ssize_t getline(char** lineptr, size_t* n, FILE* f) {
  return getdelim(lineptr, n, '\n', f);
}

// ---- output ----

GH_EXPORT int fflush(FILE* f) {
  int fd;
  FdEntry* e = f ? parks(f, &fd) : nullptr;
  if (!e) {
    // glibc's flush writes what is buffered, and its write is a
    // cancellation point.
    if (f && f->_IO_write_ptr > f->_IO_write_base) {
      CancelPoint cp(cancellable(f));  // acts on a request pending
    }
    return real::fflush(f);
  }
  FileLock lock(f);
  if (green_flush(f, fd, e) == EOF) return EOF;
  return real::fflush(f);  // nothing left to write; the rest of libc's sync
}

GH_EXPORT int fflush_unlocked(FILE* f) {
  int fd;
  FdEntry* e = f ? parks(f, &fd) : nullptr;
  if (!e) {
    if (f && f->_IO_write_ptr > f->_IO_write_base) {
      CancelPoint cp(cancellable(f));  // as fflush
    }
    return real::fflush_unlocked(f);
  }
  if (green_flush(f, fd, e) == EOF) return EOF;
  return real::fflush_unlocked(f);
}

GH_EXPORT int fputs(const char* s, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fputs(s, f);
  size_t len = strlen(s);
  FileLock lock(f);
  return green_put(f, s, len, fd, e) == EOF ? EOF : 1;
}

GH_EXPORT int fputs_unlocked(const char* s, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fputs_unlocked(s, f);
  return green_put(f, s, strlen(s), fd, e) == EOF ? EOF : 1;
}

GH_EXPORT size_t fwrite(const void* ptr, size_t size, size_t count, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fwrite(ptr, size, count, f);
  size_t bytes = size * count;
  if (bytes == 0) return 0;
  FileLock lock(f);
  return green_put(f, static_cast<const char*>(ptr), bytes, fd, e) == EOF ? 0 : count;
}

GH_EXPORT size_t fwrite_unlocked(const void* ptr, size_t size, size_t count, FILE* f) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::fwrite_unlocked(ptr, size, count, f);
  size_t bytes = size * count;
  if (bytes == 0) return 0;
  return green_put(f, static_cast<const char*>(ptr), bytes, fd, e) == EOF ? 0 : count;
}

#define GH_STDIO_PUTC(name, locked)                                                    \
  GH_EXPORT int name(int ch, FILE* f) {                                                \
    int fd;                                                                            \
    FdEntry* e = parks(f, &fd);                                                        \
    if (!e) return real::name(ch, f);                                                  \
    char c = static_cast<char>(ch);                                                    \
    if (!(locked))                                                                     \
      return green_put(f, &c, 1, fd, e) == EOF ? EOF : static_cast<unsigned char>(ch); \
    FileLock lock(f);                                                                  \
    return green_put(f, &c, 1, fd, e) == EOF ? EOF : static_cast<unsigned char>(ch);   \
  }
GH_STDIO_PUTC(fputc, true)
GH_STDIO_PUTC(putc, true)
GH_STDIO_PUTC(_IO_putc, true)
GH_STDIO_PUTC(fputc_unlocked, false)
GH_STDIO_PUTC(putc_unlocked, false)
#undef GH_STDIO_PUTC

GH_EXPORT int vfprintf(FILE* f, const char* fmt, va_list ap) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::vfprintf(f, fmt, ap);
  return green_vfprintf(f, fmt, ap, fd, e);
}

GH_EXPORT int fprintf(FILE* f, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(f, fmt, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int __vfprintf_chk(FILE* f, int flag, const char* fmt, va_list ap) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real::__vfprintf_chk(f, flag, fmt, ap);
  return green_vfprintf(f, fmt, ap, fd, e);
}

GH_EXPORT int __fprintf_chk(FILE* f, int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vfprintf_chk(f, flag, fmt, ap);
  va_end(ap);
  return r;
}

// dprintf writes through a FILE of its own inside libc: format here and
// write with the interposed write(), which parks.
GH_EXPORT int vdprintf(int fd, const char* fmt, va_list ap) {
  if (!parking_fd(fd)) return real::vdprintf(fd, fmt, ap);
  char stack[1024];
  char* text;
  int n = format(stack, sizeof stack, &text, fmt, ap);
  if (n < 0) return -1;
  FormattedText owned{text, stack};
  ssize_t r = write(fd, text, static_cast<size_t>(n));
  return r < 0 ? -1 : n;
}

GH_EXPORT int dprintf(int fd, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf(fd, fmt, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int __vdprintf_chk(int fd, int flag, const char* fmt, va_list ap) {
  (void)flag;  // the %n checks of the fortified form are libc's; the text is the same
  return vdprintf(fd, fmt, ap);
}

GH_EXPORT int __dprintf_chk(int fd, int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vdprintf_chk(fd, flag, fmt, ap);
  va_end(ap);
  return r;
}

// ---- scanf ----
//
// libc's scanf engine refills the buffer itself whenever a conversion needs
// more input, so it cannot be made to wait in the ring between refills. On a
// parking FILE the call waits here until some input is there, then runs on
// the offload pool (its refills block a pool thread, not the carrier); the
// caller parks meanwhile.

namespace {

template <class Real>
int green_vfscanf(Real real_fn, FILE* f, const char* fmt, va_list ap) {
  int fd;
  FdEntry* e = parks(f, &fd);
  if (!e) return real_fn(f, fmt, ap);
  CancelPoint cp(cancellable(f));  // the wait for the first input (read_failed acts)
  {
    FileLock lock(f);
    int w = await_input(f, fd, e);
    if (w < 0) {
      read_failed(f, -w);
      return EOF;
    }
  }
  va_list copy;
  va_copy(copy, ap);
  int err = 0;
  ssize_t r = gh::offload_call([&]() -> ssize_t {
    int n = real_fn(f, fmt, copy);
    err = errno;
    return n;
  });
  va_end(copy);
  errno = err;
  return static_cast<int>(r);
}
}  // namespace

// <stdio.h> redirects fscanf/vfscanf to the __isoc99_ forms: the four
// symbols are defined under explicit assembler names.
extern "C" {
int gh_vfscanf(FILE*, const char*, va_list) __asm__("vfscanf");
int gh_isoc99_vfscanf(FILE*, const char*, va_list) __asm__("__isoc99_vfscanf");
int gh_fscanf(FILE*, const char*, ...) __asm__("fscanf");
int gh_isoc99_fscanf(FILE*, const char*, ...) __asm__("__isoc99_fscanf");
}

GH_EXPORT int gh_vfscanf(FILE* f, const char* fmt, va_list ap) {
  return green_vfscanf(real::vfscanf, f, fmt, ap);
}

GH_EXPORT int gh_isoc99_vfscanf(FILE* f, const char* fmt, va_list ap) {
  return green_vfscanf(real::__isoc99_vfscanf, f, fmt, ap);
}

GH_EXPORT int gh_fscanf(FILE* f, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = gh_vfscanf(f, fmt, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int gh_isoc99_fscanf(FILE* f, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = gh_isoc99_vfscanf(f, fmt, ap);
  va_end(ap);
  return r;
}

// ---- the standard streams' own functions ----
//
// printf, puts, putchar, getchar, scanf and their fortified and unlocked
// forms write stdout or read stdin inside libc without going through the
// stream functions above. Each is the stream form on stdout or stdin here,
// so that the standard streams park like any other (when they are pipes,
// sockets or ttys; a file or /dev/null never waits).

extern "C" {
int gh_vscanf(const char*, va_list) __asm__("vscanf");
int gh_isoc99_vscanf(const char*, va_list) __asm__("__isoc99_vscanf");
int gh_scanf(const char*, ...) __asm__("scanf");
int gh_isoc99_scanf(const char*, ...) __asm__("__isoc99_scanf");
}

GH_EXPORT int vprintf(const char* fmt, va_list ap) { return vfprintf(stdout, fmt, ap); }

GH_EXPORT int printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(stdout, fmt, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int __vprintf_chk(int flag, const char* fmt, va_list ap) {
  return __vfprintf_chk(stdout, flag, fmt, ap);
}

GH_EXPORT int __printf_chk(int flag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vfprintf_chk(stdout, flag, fmt, ap);
  va_end(ap);
  return r;
}

// The string and its newline under one hold of the lock, as glibc's puts;
// the same result (the bytes written, at most INT_MAX, or EOF).
GH_EXPORT int puts(const char* s) {
  size_t len = strlen(s);
  flockfile(stdout);
  int r = fputs_unlocked(s, stdout) == EOF || putc_unlocked('\n', stdout) == EOF ? EOF : 0;
  funlockfile(stdout);
  if (r == EOF) return EOF;
  return len + 1 > INT_MAX ? INT_MAX : static_cast<int>(len + 1);
}

GH_EXPORT int putchar(int c) { return putc(c, stdout); }
GH_EXPORT int putchar_unlocked(int c) { return putc_unlocked(c, stdout); }
GH_EXPORT int getchar(void) { return getc(stdin); }
GH_EXPORT int getchar_unlocked(void) { return getc_unlocked(stdin); }

GH_EXPORT int gh_vscanf(const char* fmt, va_list ap) { return gh_vfscanf(stdin, fmt, ap); }
GH_EXPORT int gh_isoc99_vscanf(const char* fmt, va_list ap) {
  return gh_isoc99_vfscanf(stdin, fmt, ap);
}

GH_EXPORT int gh_scanf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = gh_vfscanf(stdin, fmt, ap);
  va_end(ap);
  return r;
}

GH_EXPORT int gh_isoc99_scanf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = gh_isoc99_vfscanf(stdin, fmt, ap);
  va_end(ap);
  return r;
}
