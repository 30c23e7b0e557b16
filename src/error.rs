//! The one error type commands return, and the exit code each kind maps to (chosen in
//! one place, `main`).

use std::fmt;

use crate::config::ConfigError;

#[derive(Debug)]
pub enum Error {
    /// Bad command line: exit 2, nothing changed.
    Usage(String),
    /// Bad configuration: exit 2, nothing changed.
    Config(ConfigError),
    /// A file or directory the tool would have to trust is not root's alone: exit 2,
    /// nothing read from it, nothing changed.
    Untrusted(String),
    /// Another instance held the lock for LOCK_TIMEOUT: exit 75.
    Busy(String),
    /// The desired state could not be reached: exit 1.
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Untrusted(_) => 2,
            Error::Busy(_) => 75,
            Error::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Busy(m) | Error::Failed(m) | Error::Untrusted(m) => f.write_str(m),
            Error::Config(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// Adds what was being done to any displayable error, making it an [`Error::Failed`].
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, Error>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, Error> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(failed(&what, e)),
        }
    }
}

/// [`Context::context`]'s error, made (and the error it wraps dropped) once per error
/// type, not at every call.
#[inline(never)]
fn failed<E: fmt::Display>(what: &dyn fmt::Display, e: E) -> Error {
    Error::Failed(format!("{what}: {e}"))
}
