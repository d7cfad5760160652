# SPDX-License-Identifier: MIT
"""greenhouse.h from Python through ctypes, run under the launcher
(docs/api.md, "Other languages"): four green threads made with gh_spawn run
a Python callback each that sends 100 values into an unbuffered channel;
the main thread receives all 400. Prints "ok" lines; exits 1 on a mismatch."""
import ctypes
import sys

gh = ctypes.CDLL("libgreenhouse.so.0")  # the preloaded one: one runtime
gh.gh_chan_new.restype = ctypes.c_void_p
gh.gh_chan_new.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
for f in (gh.gh_chan_send, gh.gh_chan_recv):
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
gh.gh_chan_close.argtypes = [ctypes.c_void_p]
gh.gh_chan_free.argtypes = [ctypes.c_void_p]
START = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
gh.gh_spawn.argtypes = [ctypes.POINTER(ctypes.c_ulong), START, ctypes.c_void_p, ctypes.c_void_p]
gh.gh_join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]

ch = gh.gh_chan_new(8, 0)


def producer(arg):
    k = arg or 0  # ctypes passes a NULL void* as None
    for i in range(100):
        v = ctypes.c_int64(k * 1000 + i)
        gh.gh_chan_send(ch, ctypes.byref(v), -1)
    return None


cb = START(producer)
threads = []
for k in range(4):
    t = ctypes.c_ulong()
    if gh.gh_spawn(ctypes.byref(t), cb, k, None) != 0:
        sys.exit("gh_spawn failed")
    threads.append(t)
total = 0
v = ctypes.c_int64()
for _ in range(400):
    if gh.gh_chan_recv(ch, ctypes.byref(v), -1) != 0:
        sys.exit("gh_chan_recv failed")
    total += v.value
for t in threads:
    gh.gh_join(t, None)
gh.gh_chan_close(ch)
gh.gh_chan_free(ch)
want = 100 * 1000 * (0 + 1 + 2 + 3) + 4 * sum(range(100))
print("green threads on:", "ok" if gh.gh_enabled() == 1 else "FAILED")
print("400 values from 4 green threads:", "ok" if total == want else f"FAILED ({total})")
sys.exit(0 if gh.gh_enabled() == 1 and total == want else 1)
