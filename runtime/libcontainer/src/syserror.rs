//! The error of one effectful setup step: what was done (with its path) and the errno.

use std::fmt::Display;

/// A failed syscall, with the operation described for a person.
#[derive(Debug, thiserror::Error)]
#[error("{op}")]
pub struct SysError {
    pub op: String,
    #[source]
    pub errno: nix::Error,
}

impl SysError {
    pub fn new(op: impl Into<String>, errno: nix::Error) -> Self {
        SysError { op: op.into(), errno }
    }

    pub fn io(op: impl Into<String>, e: std::io::Error) -> Self {
        SysError { op: op.into(), errno: errno_of(&e) }
    }
}

/// The errno behind an io::Error (EIO when it has none).
pub fn errno_of(e: &std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Adds the operation text to a nix result.
pub trait Context<T> {
    fn ctx<D: Display>(self, op: impl FnOnce() -> D) -> Result<T, SysError>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<D: Display>(self, op: impl FnOnce() -> D) -> Result<T, SysError> {
        self.map_err(|e| SysError::new(op().to_string(), e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<D: Display>(self, op: impl FnOnce() -> D) -> Result<T, SysError> {
        self.map_err(|e| SysError::io(op().to_string(), e))
    }
}
