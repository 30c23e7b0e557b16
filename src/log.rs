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

/// Where messages go.
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
        let stamp = timestamp("%Y-%m-%d %H:%M:%S");
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
            if let Ok(mut f) = OpenOptions::new().append(true).create(true).mode(0o640).open(path) {
                let _ = writeln!(f, "{stamp} {tag}{msg}");
            }
        }
        if self.syslog {
            // facility daemon (3); severity info 6, warning 4, error 3.
            let severity = match level {
                Level::Info => 6,
                Level::Warning => 4,
                Level::Error => 3,
            };
            let line = format!(
                "<{}>{} wg-failsafe[{}]: {tag}{msg}",
                3 * 8 + severity,
                timestamp("%b %e %H:%M:%S"),
                std::process::id()
            );
            if let Ok(sock) = UnixDatagram::unbound() {
                let _ = sock.send_to(line.as_bytes(), "/dev/log");
            }
        }
    }
}

/// The local time in `strftime` format. Wall-clock time is right here: it is for humans.
pub fn timestamp(format: &str) -> String {
    let mut buf = [0u8; 64];
    let Ok(fmt) = std::ffi::CString::new(format) else { return String::new() };
    // SAFETY: time/localtime_r/strftime with buffers owned here; localtime_r is the
    // thread-safe variant and strftime never writes more than buf.len() bytes.
    let len = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm)
    };
    String::from_utf8_lossy(&buf[..len]).into_owned()
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
    fn timestamp_has_the_requested_shape() {
        let t = timestamp("%Y-%m-%d");
        assert_eq!(t.len(), 10);
        assert_eq!(t.as_bytes()[4], b'-');
    }
}
