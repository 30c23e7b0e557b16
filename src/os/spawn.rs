//! Child processes without std's `Command`: posix_spawnp(3) with the few settings the
//! tool's five programs need (the DNS restart, the load balancer's status command, the
//! hook, the detached `run`, the daemon's re-exec). `Command` and its machinery (its
//! environment map, its pipes, `ExitStatus`) were about 20 KB of the mipsel build.
//!
//! Every child starts with stdin and stderr on /dev/null (stdout too, unless piped),
//! with an empty signal mask and every signal at its default action: the daemon blocks
//! SIGHUP, SIGTERM and SIGINT into a signalfd, and std (1.96) lets a child inherit that
//! mask, so a restarted dnsmasq would not have heard SIGTERM. libc's posix_spawn reports
//! a failed exec as its own return value (musl through a close-on-exec pipe, glibc by
//! sharing the parent's memory until the exec): "No such file or directory (os error 2)"
//! as std said it. Every descriptor the tool opens is close-on-exec, so the child
//! inherits none of them.

use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::fmt;
use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::ptr;

extern "C" {
    /// The process's environment as libc keeps it: NUL-terminated `NAME=value` strings,
    /// the array ended by a null pointer. (The libc crate declares it for glibc only;
    /// musl defines the same symbol.) `mut`: libc's setenv reassigns it, and foreign code
    /// may not change a static Rust was told is immutable.
    static mut environ: *const *const c_char;
}

/// Which process group the child runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// This process's group and session.
    Inherit,
    /// A group of its own (its id is the child's pid), so that a kill of the group kills
    /// what the child started too.
    New,
    /// A session of its own (setsid), so that nothing waiting for this process's session
    /// waits for it.
    Session,
}

/// How to start a child: stdin and stderr on /dev/null, stdout too or on a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawn {
    /// Stdout on a pipe whose reading end is [`Child::stdout`].
    pub stdout_pipe: bool,
    pub group: Group,
}

/// A started child. It is not reaped when dropped (as std's `Child`): a child left
/// running is the caller's choice (the detached `run`).
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    /// The reading end of its stdout, with [`Spawn::stdout_pipe`] (close-on-exec).
    pub stdout: Option<File>,
    /// Its status once reaped: asked again, the same answer (the pid may be reused).
    reaped: Option<Status>,
}

/// How a child ended: its wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(c_int);

impl Status {
    /// A wait status as waitpid(2) fills it in (for the tests of its readers).
    pub fn from_raw(wait_status: c_int) -> Status {
        Status(wait_status)
    }

    /// The exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        libc::WIFEXITED(self.0).then(|| libc::WEXITSTATUS(self.0))
    }

    /// The signal that killed it, if one did.
    pub fn signal(self) -> Option<i32> {
        libc::WIFSIGNALED(self.0).then(|| libc::WTERMSIG(self.0))
    }

    /// It exited with status 0.
    pub fn success(self) -> bool {
        self.code() == Some(0)
    }
}

/// "exited with status 3", "killed by signal 9": what a log line says of a failure.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self.signal()) {
            (Some(code), _) => write!(f, "exited with status {code}"),
            (None, Some(signal)) => write!(f, "killed by signal {signal}"),
            (None, None) => write!(f, "ended with wait status {:#x}", self.0),
        }
    }
}

/// `argv` as NUL-terminated strings (an argument with a NUL inside is `InvalidInput`, an
/// empty `argv` too).
fn c_strings(argv: &[&OsStr]) -> io::Result<Vec<CString>> {
    if argv.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    }
    argv.iter().map(|a| Ok(CString::new(a.as_bytes())?)).collect()
}

/// The pointers of `strings`, ended by a null pointer: an `argv` or `envp` for libc.
fn pointers(strings: impl Iterator<Item = *const c_char>) -> Vec<*const c_char> {
    strings.chain([ptr::null()]).collect()
}

/// The name of a `NAME=value` string (all of it when it has no `=`).
fn name_of(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or(entry)
}

/// This process's environment with `added` (NAME=value strings) in place of the
/// variables of the same names, a name added twice set once to its last value (as std's
/// `Command::env`): an `envp` whose pointers live as long as `added` (and `environ`,
/// which the tool never changes: it calls no setenv).
fn environment(added: &[CString]) -> Vec<*const c_char> {
    let mut kept = Vec::new();
    // SAFETY: environ is null or a null-terminated array of NUL-terminated strings, which
    // nothing changes while this reads it (the crate never sets a variable).
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let name = name_of(CStr::from_ptr(*entry).to_bytes());
            if !added.iter().any(|a| name_of(a.as_bytes()) == name) {
                kept.push(*entry);
            }
            entry = entry.add(1);
        }
    }
    let last = |i: usize| !added[i + 1..].iter().any(|b| name_of(b.as_bytes()) == name_of(added[i].as_bytes()));
    let added = added.iter().enumerate().filter(|&(i, _)| last(i)).map(|(_, a)| a.as_ptr());
    pointers(kept.into_iter().chain(added))
}

/// Returns from the enclosing function with `rc` when it is not 0 (the posix_spawn
/// functions return an errno instead of setting it).
macro_rules! or_return {
    ($rc:expr) => {{
        let rc = $rc;
        if rc != 0 {
            return rc;
        }
    }};
}

impl Child {
    /// Starts `argv[0]` (looked up in PATH when it has no `/`) with the arguments that
    /// follow, this process's environment with `env` added (a variable of the same name
    /// replaced), and the stdio and group `how` says.
    pub fn spawn(argv: &[&OsStr], env: &[(&str, String)], how: Spawn) -> io::Result<Child> {
        let args = c_strings(argv)?;
        let argp = pointers(args.iter().map(|a| a.as_ptr()));
        let added: Vec<CString> =
            env.iter().map(|(k, v)| CString::new(format!("{k}={v}"))).collect::<Result<_, _>>()?;
        let envp = environment(&added);
        let (stdout, write_end) = if how.stdout_pipe {
            let mut fds = [-1; 2];
            // SAFETY: pipe2 writes two descriptors into an array owned here.
            or_errno!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) });
            // SAFETY: both are fresh descriptors nothing else owns.
            unsafe { (Some(File::from_raw_fd(fds[0])), Some(File::from_raw_fd(fds[1]))) }
        } else {
            (None, None)
        };
        let write_fd = write_end.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        let mut pid: libc::pid_t = 0;
        // SAFETY: the file actions and attributes are plain data that their init functions
        // set up (all-zero is a valid start) and that are destroyed once, after the spawn,
        // whatever it returned; every pointer handed to libc outlives the call.
        let rc = unsafe {
            let mut actions: libc::posix_spawn_file_actions_t = mem::zeroed();
            let mut attr: libc::posix_spawnattr_t = mem::zeroed();
            let mut rc = libc::posix_spawn_file_actions_init(&mut actions);
            if rc == 0 {
                rc = libc::posix_spawnattr_init(&mut attr);
                if rc == 0 {
                    rc = spawn_with(&mut actions, &mut attr, write_fd, how.group, &mut pid, &argp, &envp);
                    libc::posix_spawnattr_destroy(&mut attr);
                }
                libc::posix_spawn_file_actions_destroy(&mut actions);
            }
            rc
        };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Child { pid, stdout, reaped: None })
    }

    /// Its process id (and, with [`Group::New`] or [`Group::Session`], its group's).
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Its status if it has been reaped (by [`Child::try_wait`] or [`Child::wait`]).
    pub fn reaped(&self) -> Option<Status> {
        self.reaped
    }

    /// Its status if it has ended (reaping it), `None` while it runs.
    pub fn try_wait(&mut self) -> io::Result<Option<Status>> {
        if self.reaped.is_none() {
            let mut status = 0;
            // SAFETY: waitpid on our own child, into an int owned here.
            if or_errno!(unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) }) != 0 {
                self.reaped = Some(Status(status));
            }
        }
        Ok(self.reaped)
    }

    /// Waits for it to end and reaps it.
    pub fn wait(&mut self) -> io::Result<Status> {
        if let Some(status) = self.reaped {
            return Ok(status);
        }
        let mut status = 0;
        // SAFETY: waitpid on our own child, into an int owned here.
        while unsafe { libc::waitpid(self.pid, &mut status, 0) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        self.reaped = Some(Status(status));
        Ok(Status(status))
    }

    /// SIGKILL to it, unless it is reaped already (its pid may then be another's).
    pub fn kill(&mut self) -> io::Result<()> {
        if self.reaped.is_none() {
            // SAFETY: kill has no memory effects; the pid is our unreaped child's.
            or_errno!(unsafe { libc::kill(self.pid, libc::SIGKILL) });
        }
        Ok(())
    }
}

/// Fills in the file actions and attributes, then spawns: 0 or the errno of what failed
/// (the exec's own, as posix_spawnp reports it).
///
/// # Safety
/// `actions` and `attr` are initialised; `argp` and `envp` are null-terminated arrays of
/// NUL-terminated strings; `stdout` is an open descriptor.
unsafe fn spawn_with(
    actions: &mut libc::posix_spawn_file_actions_t,
    attr: &mut libc::posix_spawnattr_t,
    stdout: Option<c_int>,
    group: Group,
    pid: &mut libc::pid_t,
    argp: &[*const c_char],
    envp: &[*const c_char],
) -> c_int {
    const DEV_NULL: &CStr = c"/dev/null";
    // SAFETY (for the block): the caller's contract; the sets are plain data owned here,
    // set up by sigemptyset and sigfillset; libc copies the path and the sets.
    unsafe {
        or_return!(libc::posix_spawn_file_actions_addopen(actions, 0, DEV_NULL.as_ptr(), libc::O_RDONLY, 0));
        match stdout {
            Some(fd) => or_return!(libc::posix_spawn_file_actions_adddup2(actions, fd, 1)),
            None => {
                or_return!(libc::posix_spawn_file_actions_addopen(actions, 1, DEV_NULL.as_ptr(), libc::O_WRONLY, 0))
            }
        }
        or_return!(libc::posix_spawn_file_actions_addopen(actions, 2, DEV_NULL.as_ptr(), libc::O_WRONLY, 0));
        let mut none: libc::sigset_t = mem::zeroed();
        let mut all: libc::sigset_t = mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigfillset(&mut all);
        or_return!(libc::posix_spawnattr_setsigmask(attr, &none));
        or_return!(libc::posix_spawnattr_setsigdefault(attr, &all));
        let mut flags = libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF;
        match group {
            Group::Inherit => {}
            // Group 0: the child's own pid.
            Group::New => flags |= libc::POSIX_SPAWN_SETPGROUP,
            Group::Session => flags |= libc::POSIX_SPAWN_SETSID as c_int,
        }
        or_return!(libc::posix_spawnattr_setflags(attr, flags as libc::c_short));
        libc::posix_spawnp(pid, argp[0], actions, attr, argp.as_ptr().cast(), envp.as_ptr().cast())
    }
}

/// Replaces this process by `argv[0]` (a path: PATH is not searched) with the arguments
/// that follow and the same environment; returns only on failure, with its error.
///
/// The signal mask is kept: the daemon's SIGHUP, SIGTERM and SIGINT stay blocked through
/// the exec, so one that comes meanwhile waits, pending, for the new daemon's signalfd
/// instead of killing the process at its default action.
pub fn exec(argv: &[&OsStr]) -> io::Error {
    let args = match c_strings(argv) {
        Ok(args) => args,
        Err(e) => return e,
    };
    let argp = pointers(args.iter().map(|a| a.as_ptr()));
    // SAFETY: execv with a NUL-terminated path and a null-terminated argv that outlive
    // the call; it returns only on failure.
    unsafe { libc::execv(argp[0], argp.as_ptr()) };
    io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    const QUIET: Spawn = Spawn { stdout_pipe: false, group: Group::Inherit };
    const PIPED: Spawn = Spawn { stdout_pipe: true, group: Group::Inherit };

    fn spawn(argv: &[&str], env: &[(&str, String)], how: Spawn) -> io::Result<Child> {
        let argv: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
        Child::spawn(&argv, env, how)
    }

    /// What `sh -c script` prints, and how it ended.
    fn output(script: &str, env: &[(&str, String)]) -> (String, Status) {
        let mut child = spawn(&["sh", "-c", script], env, PIPED).expect("sh");
        let mut out = String::new();
        // To its end: the parent's copy of the pipe's writing end is closed, or this waits.
        child.stdout.take().expect("piped").read_to_string(&mut out).expect("read");
        (out, child.wait().expect("wait"))
    }

    /// The environment `env` (run directly: a shell would keep one of each name it
    /// imports, hiding a name passed twice), each `NAME=value` in the order passed.
    fn environment_of(env: &[(&str, String)]) -> Vec<String> {
        let mut child = spawn(&["env", "-0"], env, PIPED).expect("env");
        let mut out = String::new();
        child.stdout.take().expect("piped").read_to_string(&mut out).expect("read");
        assert!(child.wait().expect("wait").success());
        out.split_terminator('\0').map(str::to_string).collect()
    }

    /// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session...
    fn stat(pid: u32) -> Vec<i64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let after = &text[text.rfind(')').expect("a name") + 2..];
        after.split(' ').skip(1).take(3).map(|f| f.parse().expect("a number")).collect()
    }

    #[test]
    fn a_childs_end_is_told_in_words() {
        assert!(spawn(&["true"], &[], QUIET).expect("true").wait().expect("wait").success());
        let failed = spawn(&["false"], &[], QUIET).expect("false").wait().expect("wait");
        assert_eq!((failed.code(), failed.signal(), failed.success()), (Some(1), None, false));
        assert_eq!(failed.to_string(), "exited with status 1");
        let (_, killed) = output("kill -9 $$", &[]);
        assert_eq!((killed.code(), killed.signal()), (None, Some(9)));
        assert_eq!(killed.to_string(), "killed by signal 9");
        assert_eq!(Status::from_raw(3 << 8).to_string(), "exited with status 3");
        assert_eq!(Status::from_raw(15).to_string(), "killed by signal 15");
    }

    #[test]
    fn a_program_that_cannot_start_is_an_error_naming_why() {
        let missing = spawn(&["/nonexistent/wgfs-program"], &[], QUIET).expect_err("missing");
        assert_eq!(missing.to_string(), "No such file or directory (os error 2)");
        let not_in_path = spawn(&["wgfs-no-such-program"], &[], QUIET).expect_err("not in PATH");
        assert_eq!(not_in_path.kind(), io::ErrorKind::NotFound);
        let dir = std::env::temp_dir().join(format!("wgfs-spawn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let (plain, junk) = (dir.join("plain"), dir.join("junk"));
        std::fs::write(&plain, "#!/bin/sh\n").expect("write");
        std::fs::write(&junk, "\x7fELF, not really").expect("write");
        std::fs::set_permissions(&junk, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let (plain, junk) = (plain.to_str().expect("UTF-8"), junk.to_str().expect("UTF-8"));
        let not_executable = spawn(&[plain], &[], QUIET).expect_err("not executable");
        assert_eq!(not_executable.raw_os_error(), Some(libc::EACCES), "{not_executable}");
        let not_a_program = spawn(&[junk], &[], QUIET).expect_err("not a program");
        assert_eq!(not_a_program.raw_os_error(), Some(libc::ENOEXEC), "{not_a_program}");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(spawn(&[], &[], QUIET).expect_err("empty").kind(), io::ErrorKind::InvalidInput);
        assert_eq!(spawn(&["a\0b"], &[], QUIET).expect_err("a NUL").kind(), io::ErrorKind::InvalidInput);
        assert_eq!(exec(&[OsStr::new("/nonexistent/wgfs-program")]).kind(), io::ErrorKind::NotFound);
        assert_eq!(exec(&[]).kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_running_child_is_killed_and_reaped_once() {
        let mut child = spawn(&["sleep", "10"], &[], QUIET).expect("sleep");
        assert_eq!(child.try_wait().expect("try_wait"), None, "still running");
        child.kill().expect("kill");
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(child.try_wait().expect("asked again"), Some(status), "the same answer");
        child.kill().expect("reaped: nothing sent, no error");
        let mut quick = spawn(&["true"], &[], QUIET).expect("true");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while quick.try_wait().expect("try_wait").is_none() {
            assert!(std::time::Instant::now() < deadline, "true never ended");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(quick.wait().expect("reaped already").success());
    }

    #[test]
    fn stdout_is_piped_and_stdin_and_stderr_are_dev_null() {
        let (out, status) = output("echo to-stderr >&2; cat; echo out; readlink /proc/self/fd/0 /proc/self/fd/2", &[]);
        assert!(status.success());
        assert_eq!(out, "out\n/dev/null\n/dev/null\n");
        let mut quiet = spawn(&["sh", "-c", "readlink /proc/self/fd/1 > /proc/self/fd/2"], &[], QUIET).expect("sh");
        assert!(quiet.stdout.is_none());
        assert!(quiet.wait().expect("wait").success(), "stdout is writable (/dev/null)");
    }

    #[test]
    fn the_environment_is_ours_with_the_added_names_replaced() {
        let ours = std::env::var("PATH").expect("the tests run with a PATH");
        let env = [("PATH", format!("/replaced:{ours}")), ("WGFS_ADDED", "a b\nc".to_string())];
        let mut theirs = environment_of(&env);
        theirs.sort_unstable();
        let mut expected: Vec<String> = std::env::vars_os()
            .filter(|(k, _)| k != "PATH")
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .chain([format!("PATH=/replaced:{ours}"), "WGFS_ADDED=a b\nc".to_string()])
            .collect();
        expected.sort_unstable();
        assert_eq!(theirs, expected, "ours, PATH replaced (once), WGFS_ADDED added");
    }

    #[test]
    fn a_name_added_twice_is_set_once_to_its_last_value() {
        let env = [("WGFS_TWICE", "first".to_string()), ("WGFS_TWICE", "second".to_string())];
        let all = environment_of(&env);
        let twice: Vec<&String> = all.iter().filter(|v| v.starts_with("WGFS_TWICE=")).collect();
        assert_eq!(twice, ["WGFS_TWICE=second"], "as std's Command::env: the last value, once");
    }

    #[test]
    fn a_child_starts_with_no_signal_blocked_or_ignored() {
        // SAFETY: sigset operations on sets owned here; pthread_sigmask on this test's
        // own thread, put back before it ends.
        let old = unsafe {
            let mut set: libc::sigset_t = mem::zeroed();
            let mut old: libc::sigset_t = mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            old
        };
        let ours = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        let (theirs, _) = output("grep -E '^Sig(Blk|Ign)' /proc/self/status", &[]);
        // SAFETY: puts back the mask saved above, on the same thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
        assert!(ours.contains("SigBlk:\t0000000000004001"), "the test blocks SIGHUP and SIGTERM: {ours}");
        assert!(!ours.contains("SigIgn:\t0000000000000000"), "Rust ignores SIGPIPE: {ours}");
        let mask = |name: &str| {
            let line = theirs.lines().find_map(|l| l.strip_prefix(name)).expect("the line");
            u64::from_str_radix(line.trim(), 16).expect("hex")
        };
        assert_eq!(mask("SigBlk:"), 0, "{theirs}");
        // Signals 32 to 34 are libc's own (thread cancellation, set*id): its posix_spawn
        // ignores them in the child, as it did under std.
        assert_eq!(mask("SigIgn:") & !0x3_8000_0000, 0, "{theirs}");
    }

    #[test]
    fn a_child_runs_in_our_group_its_own_or_a_session_of_its_own() {
        let ours = stat(std::process::id());
        for group in [Group::Inherit, Group::New, Group::Session] {
            let mut child = spawn(&["sleep", "10"], &[], Spawn { stdout_pipe: false, group }).expect("sleep");
            let pid = i64::from(child.pid());
            let theirs = stat(child.pid());
            child.kill().expect("kill");
            child.wait().expect("wait");
            let expected = match group {
                Group::Inherit => [ours[1], ours[2]],
                Group::New => [pid, ours[2]],
                Group::Session => [pid, pid],
            };
            assert_eq!([theirs[1], theirs[2]], expected, "{group:?}: process group and session");
            assert_eq!(theirs[0], i64::from(std::process::id()), "{group:?}: our child");
        }
    }
}
