// SPDX-License-Identifier: MIT
// greenhouse.h from Rust through plain `extern "C"` declarations, linked
// with libgreenhouse (docs/api.md, "Other languages"): a pipeline of two
// green threads made with gh_spawn over unbuffered channels, and a select
// with a timeout. Prints "ok" lines; exits 1 on a mismatch.
use std::os::raw::{c_int, c_void};

#[repr(C)]
struct SelectCase {
    chan: *mut c_void,
    op: c_int,
    value: *mut c_void,
    status: c_int,
}

#[link(name = "greenhouse")]
extern "C" {
    fn gh_enabled() -> c_int;
    fn gh_spawn(t: *mut u64, f: extern "C" fn(*mut c_void) -> *mut c_void, arg: *mut c_void,
                opts: *const c_void) -> c_int;
    fn gh_join(t: u64, result: *mut *mut c_void) -> c_int;
    fn gh_chan_new(elem: usize, cap: usize) -> *mut c_void;
    fn gh_chan_send(c: *mut c_void, v: *const c_void, timeout: i64) -> c_int;
    fn gh_chan_recv(c: *mut c_void, v: *mut c_void, timeout: i64) -> c_int;
    fn gh_chan_close(c: *mut c_void) -> c_int;
    fn gh_chan_free(c: *mut c_void);
    fn gh_select(cases: *mut SelectCase, n: usize, timeout: i64) -> c_int;
}

struct Chans {
    numbers: *mut c_void,
    doubled: *mut c_void,
}

extern "C" fn generate(arg: *mut c_void) -> *mut c_void {
    let c = unsafe { &*(arg as *const Chans) };
    for i in 1..=1000u64 {
        unsafe { gh_chan_send(c.numbers, &i as *const u64 as *const c_void, -1) };
    }
    unsafe { gh_chan_close(c.numbers) };
    std::ptr::null_mut()
}

extern "C" fn double(arg: *mut c_void) -> *mut c_void {
    let c = unsafe { &*(arg as *const Chans) };
    let mut v: u64 = 0;
    while unsafe { gh_chan_recv(c.numbers, &mut v as *mut u64 as *mut c_void, -1) } == 0 {
        let d = v * 2;
        unsafe { gh_chan_send(c.doubled, &d as *const u64 as *const c_void, -1) };
    }
    unsafe { gh_chan_close(c.doubled) };
    std::ptr::null_mut()
}

fn main() {
    unsafe {
        let chans = Chans { numbers: gh_chan_new(8, 0), doubled: gh_chan_new(8, 0) };
        let arg = &chans as *const Chans as *mut c_void;
        let (mut t1, mut t2) = (0u64, 0u64);
        assert_eq!(gh_spawn(&mut t1, generate, arg, std::ptr::null()), 0);
        assert_eq!(gh_spawn(&mut t2, double, arg, std::ptr::null()), 0);
        let mut sum = 0u64;
        let mut v = 0u64;
        while gh_chan_recv(chans.doubled, &mut v as *mut u64 as *mut c_void, -1) == 0 {
            sum += v;
        }
        gh_join(t1, std::ptr::null_mut());
        gh_join(t2, std::ptr::null_mut());
        let mut cases = [SelectCase { chan: chans.numbers, op: 0,
                                      value: &mut v as *mut u64 as *mut c_void, status: 0 }];
        // numbers is closed: the case is ready, with EPIPE (32)
        let r = gh_select(cases.as_mut_ptr(), 1, 1_000_000);
        let ok = gh_enabled() == 1 && sum == 1000 * 1001 && r == 0 && cases[0].status == 32;
        println!("green threads on: {}", if gh_enabled() == 1 { "ok" } else { "FAILED" });
        println!("1000 numbers doubled through two channels: {}",
                 if sum == 1000 * 1001 { "ok" } else { "FAILED" });
        println!("select on a closed channel: {}",
                 if r == 0 && cases[0].status == 32 { "ok" } else { "FAILED" });
        gh_chan_free(chans.numbers);
        gh_chan_free(chans.doubled);
        std::process::exit(if ok { 0 } else { 1 });
    }
}
