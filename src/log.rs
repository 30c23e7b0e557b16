//! Logging of state changes and errors: appended to LOG_FILE (rotated to `LOG_FILE.1`
//! past LOG_MAX_KB, since `/var/log` is RAM on these routers) and sent to syslog with the
//! `wg-failsafe` tag. A healthy tick logs nothing. With `-v`, messages are also echoed to
//! stderr for the person at the terminal.
//!
//! Syslog is a datagram to `/dev/log` in the classic `<PRI>TIMESTAMP TAG[PID]: MSG`
//! form that rsyslog and busybox syslogd both read: a dozen lines where a crate would
//! pull in a date library.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// How bad a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// Where messages go. Holds no descriptor (a file is opened per message).
#[derive(Clone)]
pub struct Logger {
    file: Option<PathBuf>,
    max_bytes: u64,
    syslog: bool,
    echo: bool,
}

impl Logger {
    /// A logger that writes LOG_FILE and syslog (`persist`), and echoes to stderr (`echo`).
    pub fn new(file: PathBuf, max_kb: u64, persist: bool, echo: bool) -> Logger {
        Logger { file: persist.then_some(file), max_bytes: max_kb * 1024, syslog: persist, echo }
    }

    /// A logger that only sends to syslog (for errors found before LOG_FILE is known).
    /// This logger without rotation: for a process that logs without the lock (the
    /// hook's watcher), which must not rename LOG_FILE under the tool.
    pub fn append_only(&self) -> Logger {
        Logger { max_bytes: u64::MAX, ..self.clone() }
    }

    pub fn syslog_only() -> Logger {
        Logger { file: None, max_bytes: 0, syslog: true, echo: false }
    }

    /// Whether messages are also echoed to stderr (`-v`).
    pub fn echoes(&self) -> bool {
        self.echo
    }

    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg);
    }

    pub fn warn(&self, msg: &str) {
        self.log(Level::Warning, msg);
    }

    pub fn error(&self, msg: &str) {
        self.log(Level::Error, msg);
    }

    /// Logging must never stop the failover, so failures to log are ignored.
    pub fn log(&self, level: Level, msg: &str) {
        let now = local_now();
        let stamp = now.as_ref().map(iso_stamp).unwrap_or_default();
        let tag = match level {
            Level::Info => "",
            Level::Warning => "warning: ",
            Level::Error => "error: ",
        };
        if self.echo {
            eprintln!("wg-failsafe: {tag}{msg}");
        }
        if let Some(path) = &self.file {
            if fs::metadata(path).map(|m| m.len() >= self.max_bytes).unwrap_or(false) {
                let mut old = path.clone().into_os_string();
                old.push(".1");
                let _ = fs::rename(path, old);
            }
            if let Some(mut f) = open_log(path) {
                let _ = writeln!(f, "{stamp} {tag}{msg}");
            }
        }
        if self.syslog {
            let stamp = now.as_ref().map(syslog_stamp).unwrap_or_default();
            let line = syslog_line(level, &stamp, std::process::id(), msg);
            if let Ok(sock) = UnixDatagram::unbound() {
                let _ = sock.send_to(line.as_bytes(), "/dev/log");
            }
        }
    }
}

/// LOG_FILE opened for appending, without following a symlink, and only if it is a
/// regular file of root's with one name: a hard link planted in a directory others can
/// write would otherwise have root append to whatever it points at.
fn open_log(path: &std::path::Path) -> Option<fs::File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        // O_NONBLOCK: a FIFO planted under the name must not stall the tool (it is
        // refused below; on a regular file the flag changes nothing).
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    crate::trust::appendable(&f.metadata().ok()?).then_some(f)
}

/// The local time, broken down. Wall-clock time is right here: it is for humans.
///
/// Formatted in Rust rather than with strftime: musl's number formatting saves
/// floating-point registers, which traps on FPU-less MIPS (the Octeon model of qemu, and
/// the kernel's FPU emulation on a real router) for every log line.
fn local_now() -> Option<libc::tm> {
    crate::os::localtime(crate::os::time_now())
}

/// `2026-11-25 17:45:09`, local time, of a Unix time (for `status`).
pub fn stamp_of(unix_s: u64) -> String {
    let t = unix_s.try_into().unwrap_or(0);
    crate::os::localtime(t).as_ref().map(iso_stamp).unwrap_or_else(|| unix_s.to_string())
}

/// How far the local clock is east of UTC at `unix_s`, in seconds (0 when unknown).
pub fn utc_offset_s(unix_s: u64) -> i64 {
    let t = unix_s.try_into().unwrap_or(0);
    // c_long: 64 bits here, 32 on the MIPS and ARM targets.
    #[allow(clippy::useless_conversion)]
    crate::os::localtime(t).map_or(0, |tm| i64::from(tm.tm_gmtoff))
}

/// One RFC 3164 datagram: `<PRI>TIMESTAMP wg-failsafe[PID]: MSG`, facility daemon.
pub fn syslog_line(level: Level, stamp: &str, pid: u32, msg: &str) -> String {
    // facility daemon (3) times 8, plus severity: info 6, warning 4, error 3.
    let (severity, tag) = match level {
        Level::Info => (6, ""),
        Level::Warning => (4, "warning: "),
        Level::Error => (3, "error: "),
    };
    format!("<{}>{stamp} wg-failsafe[{pid}]: {tag}{msg}", 3 * 8 + severity)
}

/// `2026-11-25 17:45:09`, for LOG_FILE.
pub fn iso_stamp(tm: &libc::tm) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// `Nov 25 17:45:09` (day padded with a space), the RFC 3164 timestamp syslog reads.
pub fn syslog_stamp(tm: &libc::tm) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
    format!("{month} {:>2} {:02}:{:02}:{:02}", tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_rotates_past_the_limit() {
        let dir = std::env::temp_dir().join(format!("wgfs-log-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("test.log");
        let log = Logger { file: Some(path.clone()), max_bytes: 200, syslog: false, echo: false };
        log.info("failsafe ACTIVATED in 42 ms");
        let text = fs::read_to_string(&path).expect("log written");
        assert!(text.ends_with(" failsafe ACTIVATED in 42 ms\n"), "{text}");
        for _ in 0..10 {
            log.error("something went wrong, at length, again and again");
        }
        let rotated = fs::read_to_string(dir.join("test.log.1")).expect("rotated file");
        assert!(rotated.contains("error: something went wrong"));
        assert!(fs::metadata(&path).expect("current log").len() < 300);
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_symlink_or_hard_link_is_not_written_through() {
        let dir = std::env::temp_dir().join(format!("wgfs-log-links-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let target = dir.join("precious");
        fs::write(&target, "keep\n").expect("write");
        let log = |name: &str| Logger { file: Some(dir.join(name)), max_bytes: 1 << 20, syslog: false, echo: false };
        std::os::unix::fs::symlink(&target, dir.join("sym.log")).expect("symlink");
        fs::hard_link(&target, dir.join("hard.log")).expect("hard link");
        log("sym.log").error("through a symlink");
        log("hard.log").error("through a hard link");
        assert_eq!(fs::read_to_string(&target).expect("read"), "keep\n");
        // A FIFO in its place is refused at once (without O_NONBLOCK the open would wait
        // for a reader forever, holding the tool's lock).
        crate::os::mkfifo(&dir.join("fifo.log")).expect("mkfifo");
        let started = std::time::Instant::now();
        log("fifo.log").error("into a FIFO");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        log("plain.log").info("fine");
        assert!(fs::read_to_string(dir.join("plain.log")).expect("written").ends_with(" fine\n"));
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn timestamps_have_the_usual_shapes() {
        let mut tm = crate::os::localtime(0).expect("the epoch, broken down");
        (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) = (126, 10, 5, 7, 4, 9);
        assert_eq!(iso_stamp(&tm), "2026-11-05 07:04:09");
        assert_eq!(syslog_stamp(&tm), "Nov  5 07:04:09");
        tm.tm_mday = 25;
        assert_eq!(syslog_stamp(&tm), "Nov 25 07:04:09");
        assert!(local_now().is_some());
    }

    #[test]
    fn syslog_datagrams() {
        assert_eq!(
            syslog_line(Level::Error, "Nov 25 07:04:09", 42, "tunnel wg0 is down"),
            "<27>Nov 25 07:04:09 wg-failsafe[42]: error: tunnel wg0 is down"
        );
        assert_eq!(syslog_line(Level::Info, "Nov  5 07:04:09", 1, "x"), "<30>Nov  5 07:04:09 wg-failsafe[1]: x");
    }
}
