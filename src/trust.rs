//! Files the tool trusts, and how it makes sure no other user can swap them.
//!
//! - Programs root runs (ON_CHANGE, DNS_RESTART_CMD): [`program_problem`] — the file and
//!   every directory above it owned by root and not writable by group or others, checked
//!   by `check` and again right before each run. What is checked is "only root can
//!   change this path", a property another user cannot take away afterwards, so the
//!   check right before exec leaves no window to exploit.
//! - Other files read (the peer key, config.boot): [`read_regular`] — opened
//!   O_NONBLOCK|O_NOFOLLOW (a FIFO cannot stall the tool, a symlink cannot redirect it),
//!   required to be a regular file, read with a bound.
//! - Sockets the tool talks to (the WireGuard UAPI socket): [`socket_problem`] (the file
//!   and its directory root's) and [`peer_uid`] (SO_PEERCRED: who answers).

use std::fmt::Display;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// What keeps a file or directory from being root's alone (see [`roots_alone`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRoots {
    /// Another owner: its uid.
    Owner(u32),
    /// Group or others may write it: its mode (permission bits).
    Writable(u32),
}

/// The one rule for what root trusts to tell it what to run or which routes to install
/// (the configuration, STATE_DIR, a program, the directories above them): owned by
/// `owner` (root; a test's scratch STATE_DIR, its own user) and writable by nobody else.
pub fn roots_alone(uid: u32, mode: u32, owner: u32) -> Result<(), NotRoots> {
    match (uid == owner, mode & 0o022 == 0) {
        (false, _) => Err(NotRoots::Owner(uid)),
        (true, false) => Err(NotRoots::Writable(mode & 0o7777)),
        (true, true) => Ok(()),
    }
}

/// Why `dir`, a directory above a file root trusts, would let another user swap what is
/// below it; `None` when it would not. `next` is the entry below it on the way.
///
/// A directory others may write is still safe when it is sticky (`/tmp`) and the entry
/// below it is root's: the sticky bit keeps others from renaming or removing that entry.
fn directory_problem(dir: &Path, next: Option<&fs::Metadata>) -> Option<String> {
    let m = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) => return problem("directory ", dir, &format_args!(": {e}")),
    };
    let sticky_over_roots = m.mode() & 0o1000 != 0 && next.is_some_and(|n| n.uid() == 0);
    match roots_alone(m.uid(), m.mode(), 0) {
        Err(NotRoots::Writable(_)) if sticky_over_roots => None,
        Err(why) => not_roots("directory ", dir, why),
        Ok(()) => None,
    }
}

/// The one shape of every message here: `path` (after `kind`, "directory " or nothing),
/// then what is wrong with it. (One formatting call for all of them: a `format!` at each
/// was ~0.5 KB of mipsel.)
fn problem(kind: &str, path: &Path, what: &dyn Display) -> Option<String> {
    Some(format!("{kind}{}{what}", path.display()))
}

/// Why `path` is not root's alone, in words.
fn not_roots(kind: &str, path: &Path, why: NotRoots) -> Option<String> {
    match why {
        NotRoots::Owner(uid) => problem(kind, path, &format_args!(" is owned by uid {uid}, not root")),
        NotRoots::Writable(mode) => {
            problem(kind, path, &format_args!(" is writable by group or others (mode {mode:o})"))
        }
    }
}

/// Every directory above `path`, nearest first, each with the metadata of the entry
/// below it.
fn walk_up(path: &Path, file: &fs::Metadata) -> Option<String> {
    let mut below = Some(file.clone());
    let mut at = path.parent();
    while let Some(dir) = at {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Some(why) = directory_problem(dir, below.as_ref()) {
            return Some(why);
        }
        below = fs::metadata(dir).ok();
        at = dir.parent();
    }
    None
}

/// Why root must not run the program at `path`; `None` when the program is a regular
/// executable file that only root can change or replace: the file and every directory
/// above it (as written, and after symlinks are resolved) owned by root and not writable
/// by group or others. The message names the file or directory that fails.
pub fn program_problem(path: &Path) -> Option<String> {
    if !path.is_absolute() {
        return problem("", path, &" is not an absolute path");
    }
    let real: PathBuf = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) => return problem("", path, &format_args!(": {e}")),
    };
    let m = match fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return problem("", &real, &format_args!(": {e}")),
    };
    if !m.is_file() {
        return problem("", &real, &" is not a regular file");
    }
    if m.mode() & 0o111 == 0 {
        return problem("", &real, &" is not executable");
    }
    if let Err(why) = roots_alone(m.uid(), m.mode(), 0) {
        return not_roots("", &real, why);
    }
    // The real file's directories, then the ones of the name as written (a symlink on
    // the way lives in one of those, and whoever can write there can re-point it).
    if let Some(why) = walk_up(&real, &m) {
        return Some(why);
    }
    if real != path {
        let link = fs::symlink_metadata(path).unwrap_or(m);
        return walk_up(path, &link);
    }
    None
}

/// Reads the regular file at `path`, opened O_NONBLOCK|O_NOFOLLOW, up to `max_bytes`
/// (more is an error, not a truncation). A FIFO, a device, a directory or a symlink is
/// refused at once, never waited on.
pub fn read_regular(path: &Path, max_bytes: u64) -> io::Result<String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other("is a symbolic link (not followed)"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        let kind = if meta.file_type().is_fifo() { "a FIFO" } else { "not a regular file" };
        return Err(io::Error::other(format!("is {kind}, skipped")));
    }
    if meta.len() > max_bytes {
        return Err(io::Error::other(format!("is {} bytes, more than the {max_bytes} read", meta.len())));
    }
    let mut text = String::new();
    file.take(max_bytes + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max_bytes {
        return Err(io::Error::other(format!("grew past the {max_bytes} bytes read")));
    }
    Ok(text)
}

/// Why the socket file at `path` (and the directory holding it) is not root's alone;
/// `None` when it is.
pub fn socket_problem(path: &Path) -> Option<String> {
    let m = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return problem("", path, &format_args!(": {e}")),
    };
    if !m.file_type().is_socket() {
        return problem("", path, &" is not a socket");
    }
    if m.uid() != 0 {
        return not_roots("", path, NotRoots::Owner(m.uid()));
    }
    path.parent().and_then(|dir| directory_problem(dir, Some(&m)))
}

/// The uid of the process at the other end of a connected unix socket (SO_PEERCRED).
pub fn peer_uid(sock: &UnixStream) -> io::Result<u32> {
    crate::os::peer_uid(sock)
}

/// Whether root may append to the file `meta` describes (LOG_FILE, HISTORY_FILE): a
/// regular file of its own with one name — a hard link planted in a directory others can
/// write would otherwise have root append to whatever it points at.
pub fn appendable(meta: &fs::Metadata) -> bool {
    meta.is_file() && meta.nlink() == 1 && meta.uid() == crate::os::geteuid()
}

/// Whether others may read the file `meta` describes (a configuration naming secrets).
pub fn readable_by_others(meta: &fs::Metadata) -> bool {
    meta.mode() & 0o004 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_alone_is_its_owners_and_writable_by_nobody_else() {
        assert_eq!(roots_alone(0, 0o100600, 0), Ok(()));
        assert_eq!(roots_alone(0, 0o40755, 0), Ok(()));
        assert_eq!(roots_alone(1000, 0o100600, 0), Err(NotRoots::Owner(1000)));
        // Another owner is said before a writable mode.
        assert_eq!(roots_alone(1000, 0o100666, 0), Err(NotRoots::Owner(1000)));
        assert_eq!(roots_alone(0, 0o100620, 0), Err(NotRoots::Writable(0o620)));
        assert_eq!(roots_alone(0, 0o41777, 0), Err(NotRoots::Writable(0o1777)));
        // A scratch STATE_DIR of the tests' own user.
        assert_eq!(roots_alone(1000, 0o40700, 1000), Ok(()));
    }
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("wgfs-trust-{name}-{}", std::process::id()));
        fs::remove_dir_all(&d).ok();
        fs::create_dir_all(&d).expect("mkdir");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        d
    }

    #[test]
    fn a_fifo_a_symlink_and_a_big_file_are_refused_at_once() {
        let d = scratch("read");
        let fifo = d.join("fifo");
        crate::os::mkfifo(&fifo).expect("mkfifo");
        let started = std::time::Instant::now();
        let e = read_regular(&fifo, 4096).expect_err("a FIFO");
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "waited on the FIFO");
        let file = d.join("key");
        fs::write(&file, "k\n").expect("write");
        assert_eq!(read_regular(&file, 4096).expect("a regular file"), "k\n");
        std::os::unix::fs::symlink(&file, d.join("link")).expect("symlink");
        assert!(read_regular(&d.join("link"), 4096).expect_err("a symlink").to_string().contains("symbolic link"));
        fs::write(&file, vec![b'x'; 5000]).expect("write");
        assert!(read_regular(&file, 4096).expect_err("too big").to_string().contains("5000 bytes"));
        assert!(read_regular(&d, 4096).is_err(), "a directory");
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn a_sockets_owner_and_its_peers_uid_are_read() {
        let d = scratch("sock");
        let path = d.join("wg0.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let client = std::os::unix::net::UnixStream::connect(&path).expect("connect");
        let me = crate::os::geteuid();
        assert_eq!(peer_uid(&client).expect("SO_PEERCRED"), me);
        let expected = (me != 0).then(|| format!("{} is owned by uid {me}, not root", path.display()));
        assert_eq!(socket_problem(&path), expected);
        assert!(socket_problem(&d).is_some_and(|m| m.contains("is not a socket")));
        drop((listener, client));
        fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn system_programs_are_trusted() {
        assert_eq!(program_problem(Path::new("/bin/true")), None, "merged /usr: /bin is a symlink of root's");
        assert!(program_problem(Path::new("true")).is_some_and(|m| m.contains("not an absolute path")));
        assert!(program_problem(Path::new("/nonexistent/x")).is_some());
        assert!(program_problem(Path::new("/etc/passwd")).is_some_and(|m| m.contains("not executable")));
    }

    #[test]
    #[ignore = "needs root: the files must be root's (make test runs it)"]
    fn the_directory_that_lets_others_swap_a_program_is_named() {
        let d = scratch("prog");
        let prog = d.join("hook");
        fs::write(&prog, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(program_problem(&prog), None, "root's file in root's 0755 directory under sticky /tmp");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).expect("chmod");
        let why = program_problem(&prog).expect("refused");
        assert!(why.contains(&format!("directory {} is writable by group or others (mode 777)", d.display())), "{why}");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).expect("chmod");
        assert_eq!(program_problem(&prog), None, "sticky, and the file is root's");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::chown(&d, Some(65534), None).expect("chown");
        let why = program_problem(&prog).expect("refused");
        assert!(why.contains("is owned by uid 65534, not root"), "{why}");
        std::os::unix::fs::chown(&d, Some(0), None).expect("chown");
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o775)).expect("chmod");
        assert!(program_problem(&prog).is_some_and(|m| m.contains("writable by group or others (mode 775)")));
        // A link in a directory others can write, to a trusted program.
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).expect("chmod");
        let open = d.join("open");
        fs::create_dir(&open).expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).expect("chmod");
        std::os::unix::fs::symlink(&prog, open.join("link")).expect("symlink");
        let why = program_problem(&open.join("link")).expect("refused");
        assert!(why.contains(&format!("directory {} is writable", open.display())), "{why}");
        fs::remove_dir_all(&d).ok();
    }
}
