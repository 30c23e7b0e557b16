//! The unwinder's entry points that std names, defined here so that the static release
//! builds link no unwinder (`libunwind.a`, brought by zig) and nothing it pulls in
//! (musl's printf, its `.eh_frame`): 56 KB of the mipsel binary (988 KB before).
//!
//! With `panic = "abort"` nothing unwinds. std still names two groups of symbols: the
//! default panic hook's backtrace (`_Unwind_Backtrace`, `_Unwind_GetIP`), and the
//! personality routine of unwinding panics, which is compiled in but never called (the
//! rest below). A panic prints the same message and aborts the same way: the backtrace
//! the hook would print under RUST_BACKTRACE was already empty, since no function of
//! ours or std's has an unwind table (`force-unwind-tables=no`, .cargo/config.toml).
//!
//! Should a later std or zig name another symbol of the same object files, the link
//! fails with "duplicate symbol" naming it: add it here, or drop this module.

use std::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`: the walk is over before its first frame.
const END_OF_STACK: c_int = 5;

#[no_mangle]
extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

#[no_mangle]
extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
    0
}

// The personality routine's: never called, since no frame is ever unwound.

#[no_mangle]
extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before_insn: *mut c_int) -> usize {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: c_int, _value: usize) {
    std::process::abort()
}

#[no_mangle]
extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {
    std::process::abort()
}
