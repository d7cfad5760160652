# SPDX-License-Identifier: MIT
"""gdb helper for programs running under greenhouse: their green threads.

gdb sees the carriers (OS threads), not the green threads parked on them.
In gdb, attached to a live process or looking at a core file:

    (gdb) source /usr/share/greenhouse/gdb/greenhouse.py
    (gdb) info green-threads          every green thread: id, name, state, wait
    (gdb) green-bt ID                 the backtrace of a parked green thread

It reads the descriptor the shim exports for debuggers (`greenhouse_debug`
in libgreenhouse.so: where the threads are, and the layout of what is read),
so it works without the shim's debug information. A parked thread's
backtrace starts from the registers its context switch saved; gdb's own
unwinder does the rest (with the program's debug information if it has it).
"""

import gdb
import gdb.unwinder

STATES = {0: "runnable", 1: "running", 2: "parked", 3: "exited"}


def _u64(addr):
    return int(gdb.parse_and_eval("*(unsigned long long *)%d" % addr))


def _u32(addr):
    return int(gdb.parse_and_eval("*(unsigned int *)%d" % addr))


def _i32(addr):
    return int(gdb.parse_and_eval("*(int *)%d" % addr))


def _u8(addr):
    return int(gdb.parse_and_eval("*(unsigned char *)%d" % addr))


def _cstr(addr, limit):
    """The NUL-terminated string at addr (at most limit bytes), read in
    small pieces so that one near the end of a mapping does not fail."""
    if addr == 0:
        return ""
    out = b""
    inf = gdb.selected_inferior()
    while len(out) < limit:
        try:
            piece = inf.read_memory(addr + len(out), min(16, limit - len(out))).tobytes()
        except gdb.MemoryError:
            try:
                piece = inf.read_memory(addr + len(out), 1).tobytes()
            except gdb.MemoryError:
                break
        if b"\0" in piece:
            out += piece.split(b"\0", 1)[0]
            break
        out += piece
    return out.decode("utf-8", "replace")


class _Layout:
    """greenhouse_debug, read from the inferior."""

    def __init__(self):
        try:
            base = int(gdb.parse_and_eval("(unsigned long long)&greenhouse_debug"))
        except gdb.error:
            raise gdb.GdbError("greenhouse_debug not found: is the program running under "
                               "greenhouse (libgreenhouse.so loaded)?")
        fields = ["version", "size", "g_id", "g_name", "g_name_len", "g_state", "g_sp",
                  "g_wait_what", "g_wait_fd", "g_wait_object", "st_next", "st_g"]
        for i, f in enumerate(fields):
            setattr(self, f, _u32(base + 4 * i))
        if self.version != 1:
            raise gdb.GdbError("greenhouse_debug version %d: this helper reads version 1"
                               % self.version)
        off = 4 * len(fields)
        self.live = _u64(base + off)
        self.main_root = _u64(base + off + 8)
        self.tid_base = _i32(base + off + 16)
        # The mask came with a larger object (same version).
        self.tid_mask = _i32(base + off + 20) if self.size >= off + 24 else 0xFFFFFFFF


class GreenThread:
    def __init__(self, layout, addr, tid):
        self.addr = addr
        self.id = tid
        self.name = _cstr(addr + layout.g_name, layout.g_name_len)
        self.state = STATES.get(_u8(addr + layout.g_state), "?")
        self.sp = _u64(addr + layout.g_sp)
        self.what = _cstr(_u64(addr + layout.g_wait_what), 64)
        self.fd = _i32(addr + layout.g_wait_fd)
        self.object = _u64(addr + layout.g_wait_object)

    def wait_text(self):
        if self.state != "parked" or not self.what:
            return ""
        text = self.what
        if self.fd >= 0:
            text += " fd %d" % self.fd
        if self.object:
            text += " 0x%x" % self.object
        return text


def green_threads():
    lay = _Layout()
    out = []
    main = _u64(lay.main_root)  # std::atomic<GreenThread*>
    if main:
        out.append(GreenThread(lay, main, int(gdb.selected_inferior().pid) or 0))
    st = _u64(lay.live)
    seen = 0
    while st and seen < 1000000:
        g = _u64(st + lay.st_g)
        if g:
            out.append(GreenThread(lay, g, lay.tid_base + (_u64(g + lay.g_id) & lay.tid_mask)))
        st = _u64(st + lay.st_next)
        seen += 1
    return out


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class GreenUnwinder(gdb.unwinder.Unwinder):
    """While `target` is set: the innermost frame of the selected OS thread
    unwinds into the green thread's saved context (the frame of
    gh_context_switch: r15 at sp+8 .. rbp at sp+0x30, the return address at
    sp+0x38, the caller's stack pointer sp+0x40)."""

    def __init__(self):
        super().__init__("greenhouse")
        self.target = None

    def __call__(self, pending_frame):
        if self.target is None or pending_frame.level() != 0:
            return None
        sp = self.target
        regs = {
            "r15": _u64(sp + 0x08), "r14": _u64(sp + 0x10), "r13": _u64(sp + 0x18),
            "r12": _u64(sp + 0x20), "rbx": _u64(sp + 0x28), "rbp": _u64(sp + 0x30),
            "rip": _u64(sp + 0x38), "rsp": sp + 0x40,
        }
        # The OS thread's innermost frame (its pc) gets a stack address just
        # inside the green thread's saved frame: gdb ends a backtrace whose
        # caller lies inner to (below) its callee ("previous frame inner to
        # this frame"), and the green stack may lie anywhere relative to the
        # stack the OS thread is on now (below it when the carrier's idle
        # context was mapped first).
        info = pending_frame.create_unwind_info(
            _FrameId(gdb.Value(sp), pending_frame.read_register("rip")))
        arch = pending_frame.architecture()
        ptr = arch.integer_type(64, False) if hasattr(arch, "integer_type") else \
            gdb.lookup_type("unsigned long")
        for name, value in regs.items():
            info.add_saved_register(name, gdb.Value(value).cast(ptr))
        return info


_unwinder = GreenUnwinder()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


class InfoGreenThreads(gdb.Command):
    """List the green threads: info green-threads"""

    def __init__(self):
        super().__init__("info green-threads", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        threads = green_threads()
        gdb.write("%-11s %-16s %-9s %s\n" % ("ID", "NAME", "STATE", "WAITING ON"))
        for t in threads:
            gdb.write("%-11d %-16s %-9s %s\n" % (t.id, t.name, t.state, t.wait_text()))
        gdb.write("%d green threads\n" % len(threads))


class GreenBt(gdb.Command):
    """Backtrace of a parked green thread: green-bt ID"""

    def __init__(self):
        super().__init__("green-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            want = int(arg.split()[0], 0)
        except (IndexError, ValueError):
            raise gdb.GdbError("usage: green-bt ID (see info green-threads)")
        match = [t for t in green_threads() if t.id == want]
        if not match:
            raise gdb.GdbError("no green thread %d" % want)
        t = match[0]
        if t.state != "parked" or not t.sp:
            raise gdb.GdbError("green thread %d is %s: its stack is the carrier's now "
                               "(see `thread apply all bt`)" % (want, t.state))
        _unwinder.target = t.sp
        gdb.invalidate_cached_frames()
        try:
            text = gdb.execute("bt", to_string=True)
        finally:
            _unwinder.target = None
            gdb.invalidate_cached_frames()
        # Frame #0 is the OS thread's own; the green thread's start at #1.
        lines = text.splitlines()
        gdb.write("green thread %d (%s), %s %s:\n" % (t.id, t.name, t.state, t.wait_text()))
        for line in lines[1:]:
            gdb.write(line + "\n")


InfoGreenThreads()
GreenBt()
