//! Every call into libc, each behind a small safe function: the one module of the crate
//! that may write `unsafe` (the crate roots deny it everywhere else), as netlink-sys
//! keeps its system calls in one file.
//!
//! Each function makes one call (or a tight group that only makes sense together, such
//! as the hook's double fork) and turns a failure into the `io::Error` of its errno.
//! Flags are the callers' own where they choose them, and added here where every caller
//! needs them (`O_NOFOLLOW | O_CLOEXEC` on STATE_DIR's files, `SOCK_CLOEXEC` on sockets).
//! Pointers never leave this module: arguments are slices, descriptors and plain numbers.
//! The thinnest wrappers are `#[inline(always)]`: at opt-level "z" each would otherwise
//! stay out of line, about 100 bytes apiece on mipsel, where the call used to be inline.
//!
//! Child processes are started here too (`spawn`: posix_spawnp instead of std's
//! `Command`, 26 KB less on mipsel). Not here: the netlink sockets (netlink-sys owns
//! them) and what std already does safely (`OpenOptions::custom_flags`).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

// The static release builds' stand-ins for the unwinder (the ARM targets unwind by
// another ABI, whose symbols are not these).
#[cfg(all(target_env = "musl", panic = "abort", not(target_arch = "arm")))]
mod no_unwinder;

/// The value of a call, or a return with the `io::Error` of its errno when it is
/// negative. A macro rather than a function returning `io::Result`: the caller then
/// knows the value is not negative (a descriptor is not -1), and opt-level "z" drops the
/// checks that knowledge makes dead, as it did when each call site tested it itself.
macro_rules! or_errno {
    ($rc:expr) => {{
        let rc = $rc;
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        rc
    }};
}

mod spawn;
pub use spawn::{exec, Child, Group, Spawn, Status};

/// A NUL-terminated copy of `p`; a path with a NUL inside is `InvalidInput`.
fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A descriptor by way of its owner (or a `BorrowedFd`), never a bare number: what the
/// wrappers take. Not `BorrowedFd` itself: at opt-level "z" std keeps `OwnedFd::as_fd`
/// out of line (with its assertion that the number is not -1), 12 bytes at each of
/// some twenty calls on mipsel.
pub trait Fd: AsRawFd + sealed::Sealed {}

mod sealed {
    /// Only the owners listed here are [`super::Fd`]s.
    pub trait Sealed {}
}

macro_rules! owners {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Fd for $t {}
    )*};
}
owners!(OwnedFd, BorrowedFd<'_>, File, UnixStream);

// ---- Identity and clocks -------------------------------------------------------------

/// The effective uid.
#[inline(always)]
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// CLOCK_BOOTTIME as (seconds, nanoseconds); `None` if the kernel has no such clock.
#[inline(always)]
pub fn boottime() -> Option<(i64, i64)> {
    // SAFETY: timespec is plain data; all-zero is a valid value.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    // SAFETY: clock_gettime writes one timespec owned here.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (rc == 0).then_some((ts.tv_sec as i64, ts.tv_nsec as i64))
}

/// The wall clock's Unix time, as time(2) reads it.
///
/// `time_t` is named as libc declares it for the target (its alias is deprecated on musl
/// targets only because it becomes 64-bit with musl 1.2, which changes nothing here: the
/// value goes straight back to localtime_r).
#[inline(always)]
#[allow(deprecated)]
pub fn time_now() -> libc::time_t {
    // SAFETY: time with a null pointer only returns the time.
    unsafe { libc::time(std::ptr::null_mut()) }
}

/// The local time of `t`, broken down (localtime_r, the thread-safe variant).
#[inline(always)]
#[allow(deprecated)]
pub fn localtime(t: libc::time_t) -> Option<libc::tm> {
    // SAFETY: tm is plain data; all-zero is a valid value.
    let mut tm: libc::tm = unsafe { mem::zeroed() };
    // SAFETY: localtime_r reads one time_t and writes one tm, both owned here.
    (!unsafe { libc::localtime_r(&t, &mut tm) }.is_null()).then_some(tm)
}

/// Fills up to `buf.len()` bytes from getrandom(2) without blocking (GRND_NONBLOCK);
/// the number written.
///
/// The system call, not libc's getrandom(): std declares that symbol weak (musl before
/// 1.1.20 lacks it), and a static link that merges our call into its weak reference
/// resolves it to address 0 — the x86_64 musl build crashed there.
#[inline(always)]
pub fn getrandom_nonblock(buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), libc::GRND_NONBLOCK) };
    Ok(or_errno!(n) as usize)
}

// ---- Files and directories ------------------------------------------------------------

/// Owner and mode of a file, as fstat reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub mode: u32,
}

/// Opens the directory `p` (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC): a symlink
/// is ELOOP, anything but a directory ENOTDIR.
pub fn open_dir(p: &Path) -> io::Result<OwnedFd> {
    let c = cpath(p)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: open with a NUL-terminated path.
    let fd = or_errno!(unsafe { libc::open(c.as_ptr(), flags) });
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens `name` in `dir` with `flags | O_NOFOLLOW | O_CLOEXEC` (`mode` when it creates).
pub fn open_at(dir: &impl Fd, name: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
    let c = CString::new(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with a NUL-terminated name on a descriptor the caller keeps open.
    let fd = or_errno!(unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint) });
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Whether `name` exists in `dir` (fstatat, without following a symlink).
#[inline(always)]
pub fn exists_at(dir: &impl Fd, name: &str) -> bool {
    let Ok(c) = CString::new(name) else { return false };
    // SAFETY: stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: fstatat into a stat owned here, with a NUL-terminated name.
    unsafe { libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 }
}

/// Owner and mode of the open file `fd`.
#[inline(always)]
pub fn fstat_owner(fd: &impl Fd) -> io::Result<Owner> {
    // SAFETY: stat is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { mem::zeroed() };
    // SAFETY: fstat into a stat owned here.
    or_errno!(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) });
    Ok(Owner { uid: st.st_uid, mode: st.st_mode })
}

/// mkdir(2) of `p` with `mode` (EEXIST is the caller's to judge).
pub fn mkdir(p: &Path, mode: libc::mode_t) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: mkdir with a NUL-terminated path.
    or_errno!(unsafe { libc::mkdir(c.as_ptr(), mode) });
    Ok(())
}

/// Renames `from` to `to`, both in `dir`.
pub fn rename_at(dir: &impl Fd, from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (CString::new(from)?, CString::new(to)?);
    // SAFETY: renameat within one directory descriptor, NUL-terminated names.
    or_errno!(unsafe { libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr()) });
    Ok(())
}

/// Removes the file `name` from `dir` (ENOENT is the caller's to judge).
pub fn unlink_at(dir: &impl Fd, name: &str) -> io::Result<()> {
    let c = CString::new(name)?;
    // SAFETY: unlinkat with a NUL-terminated name.
    or_errno!(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), 0) });
    Ok(())
}

/// fsync(2): what `File::sync_all` does, for a directory's descriptor.
#[inline(always)]
pub fn fsync(fd: &impl Fd) -> io::Result<()> {
    // SAFETY: fsync on a descriptor the caller keeps open.
    or_errno!(unsafe { libc::fsync(fd.as_raw_fd()) });
    Ok(())
}

/// Which `flock` to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// flock(2) without waiting (LOCK_NB): EWOULDBLOCK when another open file holds it.
#[inline(always)]
pub fn try_flock(fd: &impl Fd, kind: LockKind) -> io::Result<()> {
    let op = match kind {
        LockKind::Shared => libc::LOCK_SH,
        LockKind::Exclusive => libc::LOCK_EX,
    };
    // SAFETY: flock on a descriptor the caller keeps open.
    or_errno!(unsafe { libc::flock(fd.as_raw_fd(), op | libc::LOCK_NB) });
    Ok(())
}

/// Makes reads of `fd` return EAGAIN instead of waiting (O_NONBLOCK added to its flags;
/// a failure leaves it as it was, to be waited on).
#[inline(always)]
pub fn set_nonblocking(fd: &impl Fd) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl F_GETFL/F_SETFL on a descriptor the caller keeps open.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
}

/// read(2) into `buf`: what `Read::read` does, for a descriptor no `File` owns.
#[inline(always)]
pub fn read(fd: &impl Fd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read writes at most buf.len() bytes into buf.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    Ok(or_errno!(n) as usize)
}

/// Waits up to `timeout_ms` for one of `fds` (poll(2)); the number ready.
#[inline(always)]
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: poll on pollfds owned by the caller, for their number (a negative fd is skipped).
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    Ok(or_errno!(n) as usize)
}

/// One pollfd asking for input on `fd` (-1: none, skipped by poll).
#[inline(always)]
pub fn pollin(fd: RawFd) -> libc::pollfd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}

/// mkfifo(2), for the tests that plant a FIFO where a file is expected.
#[cfg(test)]
pub fn mkfifo(p: &Path) -> io::Result<()> {
    let c = cpath(p)?;
    // SAFETY: mkfifo with a NUL-terminated path.
    or_errno!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) });
    Ok(())
}

// ---- Processes and signals ------------------------------------------------------------

/// Kills the process group `pgid` (SIGKILL to its negative id). The caller holds the
/// unreaped leader, so the id cannot have been reused. 0 (which would be this process's
/// own group) is refused.
#[inline(always)]
pub fn kill_group(pgid: u32) {
    if pgid == 0 {
        return;
    }
    // SAFETY: kill has no memory effects; a failure (the group is gone) is fine.
    unsafe { libc::kill(-(pgid as libc::pid_t), libc::SIGKILL) };
}

/// Whether the child `pid` has ended, without reaping it (waitid WNOWAIT): its zombie
/// keeps the pid, and the group it leads, from being reused.
pub fn has_exited(pid: u32) -> bool {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: waitid on our own child into a siginfo_t owned here; si_pid reads the
    // field waitid filled in (0 when the child still runs).
    unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) == 0 && info.si_pid() != 0 }
}

/// Puts SIGCHLD back to its default action. A parent may hand it down ignored through
/// exec, and then the kernel reaps every child at once: waitpid and waitid find none, so
/// the hook's watcher would wait for HOOK_TIMEOUT_S and kill a group whose id may be
/// another's by then, and a DNS restart that worked would read "No child processes".
#[inline(always)]
pub fn default_sigchld() {
    // SAFETY: signal() with SIG_DFL installs no handler and touches no memory.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
}

/// Reaps every child that has ended (waitpid -1, WNOHANG), without looking at them.
#[inline(always)]
pub fn reap_children() {
    // SAFETY: waitpid with WNOHANG and no status pointer.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

/// Runs `body` in a grandchild that nothing waits for: fork, the middle child takes a
/// session of its own (setsid), forks the grandchild and exits; this process reaps the
/// middle one and returns. The grandchild closes every descriptor but stdio, points stdio
/// at /dev/null, runs `body` and exits 0 without running this process's destructors.
/// `Err` when the first fork fails; `middle_failed` runs in the middle child when the
/// second does (then it exits 1).
///
/// Only for a single-threaded process (the tool is one; hence crate-private): the
/// children run `body` and `middle_failed`, which may allocate, and an allocator lock
/// held by another thread at the fork would never be released in them.
pub(crate) fn run_detached(body: impl FnOnce(), middle_failed: impl FnOnce(io::Error)) -> io::Result<()> {
    // SAFETY: the process is single-threaded; each branch below either returns to the
    // caller (the parent) or ends in _exit.
    let middle = or_errno!(unsafe { libc::fork() });
    if middle > 0 {
        let mut status = 0;
        // SAFETY: waits for the child just forked, which exits at once.
        while unsafe { libc::waitpid(middle, &mut status, 0) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
        return Ok(());
    }
    // The middle process: a session of its own, then the watcher, then gone.
    // SAFETY: setsid, fork and _exit in a fresh single-threaded child.
    unsafe {
        libc::setsid();
        match libc::fork() {
            0 => {}
            -1 => {
                middle_failed(io::Error::last_os_error());
                libc::_exit(1);
            }
            _ => libc::_exit(0),
        }
    }
    detach_descriptors();
    body();
    // SAFETY: ends the watcher without running the parent's destructors a second time.
    unsafe { libc::_exit(0) }
}

/// The descriptor limit (for when /proc is not mounted).
fn max_descriptors() -> i32 {
    // SAFETY: rlimit is plain data; all-zero is a valid value.
    let mut lim: libc::rlimit = unsafe { mem::zeroed() };
    // SAFETY: getrlimit into an rlimit owned here.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        i32::try_from(lim.rlim_cur).unwrap_or(65_536).min(65_536)
    } else {
        1024
    }
}

/// Closes every descriptor the tool had open (the lock, netlink and probe sockets, the
/// terminal or cron's pipe) and puts stdio on /dev/null: the detached grandchild's first
/// step.
fn detach_descriptors() {
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_else(|_| (0..max_descriptors()).collect());
    for fd in open.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: the watcher owns nothing it will use again (every owner of these
        // descriptors is in the parent); EBADF (the directory's own descriptor, closed
        // already) is harmless.
        unsafe { libc::close(fd) };
    }
    const DEV_NULL: &CStr = c"/dev/null";
    // SAFETY: open and dup2 onto the standard descriptors.
    unsafe {
        let null = libc::open(DEV_NULL.as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// Blocks `signals` for this (single) thread and returns a signalfd that reads them
/// (non-blocking, close-on-exec). [`Child::spawn`] starts children with an empty mask.
pub fn block_into_signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { mem::zeroed() };
    // SAFETY: sigset operations on a set owned here; sigprocmask on this (single) thread;
    // signalfd returns a new descriptor or -1.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        or_errno!(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()));
        let fd = or_errno!(libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC));
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

// ---- Sockets --------------------------------------------------------------------------

/// A new socket, close-on-exec.
#[inline(always)]
pub fn socket(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket() returns a new descriptor or -1.
    let fd = or_errno!(unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) });
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt with `value`'s bytes as the option (an int, a device name).
#[inline(always)]
pub fn set_option_bytes(sock: &impl Fd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: setsockopt reads value.len() bytes from a slice that outlives the call.
    let rc = unsafe {
        libc::setsockopt(sock.as_raw_fd(), level, name, value.as_ptr().cast(), value.len() as libc::socklen_t)
    };
    or_errno!(rc);
    Ok(())
}

/// setsockopt with one int (u32 bit sets travel as their bytes, the same).
#[inline(always)]
pub fn set_int_option(sock: &impl Fd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_option_bytes(sock, level, name, &value.to_ne_bytes())
}

/// Attaches the classic BPF `program` (SO_ATTACH_FILTER); the kernel copies it.
pub fn attach_filter(sock: &impl Fd, program: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr().cast_mut() };
    // SAFETY: the sock_fprog and the program it points at outlive the call; the kernel
    // only reads them.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    or_errno!(rc);
    Ok(())
}

/// A packet socket's address: link `ifindex`, `protocol` (host order), the link-layer
/// address when one is given (a point-to-point link has none).
pub fn sockaddr_ll(ifindex: u32, protocol: u16, lladdr: Option<&[u8]>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut a: libc::sockaddr_ll = unsafe { mem::zeroed() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = protocol.to_be();
    a.sll_ifindex = ifindex as i32;
    if let Some(mac) = lladdr {
        let n = mac.len().min(a.sll_addr.len());
        a.sll_addr[..n].copy_from_slice(&mac[..n]);
        a.sll_halen = n as u8;
    }
    a
}

/// Binds a packet socket to `addr`.
pub fn bind_packet(sock: &impl Fd, addr: &libc::sockaddr_ll) -> io::Result<()> {
    // SAFETY: bind with a sockaddr_ll that outlives the call, of its size.
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (addr as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    or_errno!(rc);
    Ok(())
}

/// Where a datagram goes: an IPv4 address (a raw socket: port 0), or a link's address
/// (a packet socket, see [`sockaddr_ll`]).
pub enum Dest {
    Ipv4(Ipv4Addr),
    Link(libc::sockaddr_ll),
}

/// Sends `buf` to `dest` (sendto, no flags).
#[inline(always)]
pub fn send_to(sock: &impl Fd, buf: &[u8], dest: &Dest) -> io::Result<usize> {
    // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
    let mut v4: libc::sockaddr_in = unsafe { mem::zeroed() };
    let (addr, len) = match dest {
        Dest::Ipv4(ip) => {
            v4.sin_family = libc::AF_INET as libc::sa_family_t;
            v4.sin_addr.s_addr = u32::from(*ip).to_be();
            ((&v4 as *const libc::sockaddr_in).cast::<libc::sockaddr>(), mem::size_of::<libc::sockaddr_in>())
        }
        Dest::Link(ll) => ((ll as *const libc::sockaddr_ll).cast(), mem::size_of::<libc::sockaddr_ll>()),
    };
    // SAFETY: sendto with a buffer and an address of the length given, both outliving
    // the call.
    let n = unsafe { libc::sendto(sock.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0, addr, len as libc::socklen_t) };
    Ok(or_errno!(n) as usize)
}

/// Reads one packet into `buf` without waiting (recvmsg, MSG_DONTWAIT) and hands
/// `note_drops` the drop counter the kernel attaches (SO_RXQ_OVFL). `None` when nothing
/// is waiting or the read fails.
pub fn recv_noting_drops(sock: &impl Fd, buf: &mut [u8], mut note_drops: impl FnMut(u32)) -> Option<usize> {
    // u64s, for the alignment a cmsghdr needs.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: recvmsg into a buffer and control area owned here, never past their lengths.
    let len = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    let len = usize::try_from(len).ok()?;
    // SAFETY: the CMSG_* walk stays inside msg_control/msg_controllen, which recvmsg set.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET
                && (*c).cmsg_type == libc::SO_RXQ_OVFL
                && (*c).cmsg_len as usize >= libc::CMSG_LEN(4) as usize
            {
                note_drops(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Some(len)
}

/// A packet socket's drops since the last call (PACKET_STATISTICS, which resets them).
#[inline(always)]
pub fn packet_drops(sock: &impl Fd) -> Option<u32> {
    // SAFETY: tpacket_stats is plain data; all-zero is a valid value.
    let mut st: libc::tpacket_stats = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: getsockopt into a struct of the length given; reading resets the counts.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(st.tp_drops)
}

/// A socket's drop counter as SO_MEMINFO reads it (Linux 4.6+); `None` on older kernels.
#[inline(always)]
pub fn socket_drops(sock: &impl Fd) -> Option<u32> {
    let mut info = [0u32; 16];
    let mut len = mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: getsockopt into an array of the length given.
    let rc = unsafe {
        libc::getsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MEMINFO, info.as_mut_ptr().cast(), &mut len)
    };
    let at = libc::SK_MEMINFO_DROPS as usize;
    (rc == 0 && (len as usize) > at * 4).then_some(info[at])
}

/// The uid of the process at the other end of a connected unix socket (SO_PEERCRED).
#[inline(always)]
pub fn peer_uid(sock: &impl Fd) -> io::Result<u32> {
    // SAFETY: ucred is plain data; all-zero is a valid value.
    let mut cred: libc::ucred = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a ucred of the length given.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    or_errno!(rc);
    Ok(cred.uid)
}

/// For the root-only tests: a network namespace of the calling thread's own, with `lo` up.
#[cfg(test)]
pub fn unshare_net_with_loopback() -> io::Result<()> {
    // SAFETY: unshare affects only the calling thread (a test's own, which ends with it).
    or_errno!(unsafe { libc::unshare(libc::CLONE_NEWNET) });
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: ifreq is plain data; the ioctls read and write one ifreq owned here.
    unsafe {
        let mut req: libc::ifreq = mem::zeroed();
        req.ifr_name[..2].copy_from_slice(&[b'l' as libc::c_char, b'o' as libc::c_char]);
        or_errno!(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req));
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        or_errno!(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &mut req));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("wgfs-os-{name}-{}", std::process::id()));
        std::fs::remove_dir_all(&d).ok();
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    #[test]
    fn files_are_reached_through_the_directory_and_never_through_a_symlink() {
        let d = scratch("files");
        std::os::unix::fs::symlink(&d, d.join("link")).expect("symlink");
        // O_DIRECTORY with O_NOFOLLOW: Linux says ENOTDIR of a symlink, before ELOOP.
        let link = open_dir(&d.join("link")).expect_err("a symlink").raw_os_error();
        assert!(matches!(link, Some(libc::ENOTDIR | libc::ELOOP)), "{link:?}");
        std::fs::write(d.join("file"), "x").expect("write");
        assert_eq!(open_dir(&d.join("file")).expect_err("a file").raw_os_error(), Some(libc::ENOTDIR));
        let dir = open_dir(&d).expect("the directory");
        let new = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        drop(open_at(&dir, "a", new, 0o600).expect("created"));
        assert_eq!(open_at(&dir, "a", new, 0o600).expect_err("O_EXCL").kind(), io::ErrorKind::AlreadyExists);
        std::os::unix::fs::symlink(d.join("a"), d.join("to-a")).expect("symlink");
        let followed = open_at(&dir, "to-a", libc::O_RDONLY, 0).expect_err("O_NOFOLLOW");
        assert_eq!(followed.raw_os_error(), Some(libc::ELOOP));
        assert!(exists_at(&dir, "to-a") && !exists_at(&dir, "b"), "fstatat sees the link itself");
        rename_at(&dir, "a", "b").expect("renamed");
        fsync(&dir).expect("fsync");
        assert!(exists_at(&dir, "b") && !exists_at(&dir, "a"));
        unlink_at(&dir, "b").expect("removed");
        assert_eq!(unlink_at(&dir, "b").expect_err("gone").kind(), io::ErrorKind::NotFound);
        let owner = fstat_owner(&dir).expect("fstat");
        assert_eq!(owner.uid, geteuid());
        assert_eq!(owner.mode & libc::S_IFMT, libc::S_IFDIR);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_second_open_file_cannot_take_a_held_flock() {
        let d = scratch("flock");
        let dir = open_dir(&d).expect("the directory");
        let first = open_at(&dir, "lock", libc::O_RDWR | libc::O_CREAT, 0o600).expect("open");
        let second = open_at(&dir, "lock", libc::O_RDONLY, 0).expect("open");
        try_flock(&first, LockKind::Exclusive).expect("free");
        let held = try_flock(&second, LockKind::Shared).expect_err("held");
        assert_eq!(held.raw_os_error(), Some(libc::EWOULDBLOCK));
        drop(first);
        try_flock(&second, LockKind::Shared).expect("released with its file");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn clocks_and_a_child_looked_at_without_reaping_it() {
        assert!(boottime().is_some_and(|(s, ns)| s > 0 && (0..1_000_000_000).contains(&ns)));
        let epoch = localtime(0).expect("the epoch, broken down");
        assert!(epoch.tm_year == 70 || epoch.tm_year == 69, "1970 (or 1969 west of UTC)");
        let how = Spawn { stdout_pipe: false, group: Group::Inherit };
        let mut child = Child::spawn(&[std::ffi::OsStr::new("true")], &[], how).expect("true");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !has_exited(child.pid()) {
            assert!(std::time::Instant::now() < deadline, "true never ended");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(child.wait().expect("still reapable: WNOWAIT").success());
        let mut fds = [pollin(-1)];
        assert_eq!(poll(&mut fds, 1).expect("poll"), 0, "a negative descriptor is skipped");
    }
}
