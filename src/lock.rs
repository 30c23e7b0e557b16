//! The single-instance lock: flock(2) on LOCK_FILE. The kernel drops the lock when the
//! holder exits or dies, so there is no stale-lock cleanup to get wrong.
//!
//! flock needs only a descriptor, and any user who can open the file for reading can
//! take it and keep it: a lock file others can open (any group or other permission bit)
//! or that has another name (more than one link) is replaced by a fresh 0600 one before
//! it is locked, so another user's lock on the old one holds up nothing.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::os::{self, LockKind};

/// Holds the lock until dropped. Owns the descriptor, so not `Clone`.
pub struct Lock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another instance held it for the whole timeout.
    Busy,
    Io(io::Error),
}

/// Opens (creating it 0600) the lock file, replacing one that others can open or that
/// has another name.
fn open_private(path: &Path) -> Result<File, LockError> {
    for _ in 0..3 {
        let (file, meta) = open(path)?;
        if meta.mode() & 0o077 == 0 && meta.nlink() == 1 {
            return Ok(file);
        }
        // Remove the name only while it still names this very file, then start again.
        if std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == (meta.dev(), meta.ino())) {
            std::fs::remove_file(path).map_err(LockError::Io)?;
        }
    }
    Err(LockError::Io(io::Error::other("others can open it, and it could not be replaced by a private one")))
}

/// The lock file opened (created 0600 when missing), with its metadata as it was checked.
fn open(path: &Path) -> Result<(File, std::fs::Metadata), LockError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(LockError::Io)?;
    // A lock file someone else made (in a directory others can write) could be held
    // by them forever: only a regular file of this user's is a lock.
    let meta = file.metadata().map_err(LockError::Io)?;
    if !meta.is_file() || meta.uid() != os::geteuid() {
        return Err(LockError::Io(io::Error::other(format!(
            "is not a regular file of uid {} (owner {}); remove it",
            os::geteuid(),
            meta.uid()
        ))));
    }
    Ok((file, meta))
}

impl Lock {
    /// Takes the lock, waiting up to `timeout` for another instance to finish.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Lock, LockError> {
        let file = open_private(path)?;
        // Deadline from the monotonic clock: the wall clock of a router without an RTC
        // jumps when NTP first syncs.
        let deadline = Instant::now() + timeout;
        loop {
            let Err(err) = os::try_flock(&file, LockKind::Exclusive) else { return Ok(Lock { _file: file }) };
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) && err.kind() != io::ErrorKind::Interrupted {
                return Err(LockError::Io(err));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LockError::Busy);
            }
            sleep(left.min(Duration::from_millis(100)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let path = std::env::temp_dir().join(format!("wgfs-lock-{}", std::process::id()));
        let first = Lock::acquire(&path, Duration::ZERO).expect("free lock");
        let started = Instant::now();
        assert!(matches!(Lock::acquire(&path, Duration::from_millis(250)), Err(LockError::Busy)));
        assert!(started.elapsed() >= Duration::from_millis(250));
        drop(first);
        assert!(Lock::acquire(&path, Duration::ZERO).is_ok(), "released on drop");
        std::fs::remove_file(&path).ok();
        // A directory (or anything but a regular file) under the name is no lock.
        std::fs::create_dir_all(&path).expect("mkdir");
        assert!(matches!(Lock::acquire(&path, Duration::ZERO), Err(LockError::Io(_))));
        std::fs::remove_dir(&path).ok();
    }

    #[test]
    fn a_lock_file_others_can_open_is_replaced_and_their_lock_holds_up_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("wgfs-lock-open-{}", std::process::id()));
        std::fs::write(&path, "").expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        // Another user's reader holding a flock on it (a separate open file description).
        let theirs = File::open(&path).expect("open");
        os::try_flock(&theirs, LockKind::Shared).expect("their shared lock");
        let ours = Lock::acquire(&path, Duration::ZERO).expect("not held up by their lock");
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!((meta.mode() & 0o777, meta.nlink()), (0o600, 1));
        drop(ours);
        // A second name for the file: replaced too.
        let other = path.with_extension("other");
        std::fs::hard_link(&path, &other).expect("link");
        let lock = Lock::acquire(&path, Duration::ZERO).expect("replaced");
        assert_eq!(std::fs::metadata(&path).expect("stat").nlink(), 1);
        drop(lock);
        std::fs::remove_file(&other).ok();
        std::fs::remove_file(&path).ok();
    }
}
