//! Turns the error of a setup step into the `ChildError` that travels to the parent, with the
//! stage it happened in.

use crate::create::channel::{ChannelError, ChildError};
use crate::hooks::HookError;
use crate::namespaces;
use crate::syserror::SysError;

pub(crate) trait Stage<T> {
    fn stage(self, name: &str) -> Result<T, ChildError>;
}

impl<T> Stage<T> for Result<T, SysError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| ChildError { stage: name.to_string(), op: e.op, errno: Some(e.errno as i32), detail: None })
    }
}

impl<T> Stage<T> for Result<T, HookError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| {
            let detail = std::error::Error::source(&e).map(|s| s.to_string());
            ChildError { stage: name.to_string(), op: e.to_string(), errno: None, detail }
        })
    }
}

impl<T> Stage<T> for Result<T, ChannelError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| ChildError { stage: name.to_string(), op: e.to_string(), errno: None, detail: None })
    }
}

impl<T> Stage<T> for Result<T, namespaces::NamespaceError> {
    fn stage(self, name: &str) -> Result<T, ChildError> {
        self.map_err(|e| {
            let errno = match &e {
                namespaces::NamespaceError::Open { source, .. } => source.raw_os_error(),
                namespaces::NamespaceError::Offsets(e) => Some(e.source as i32),
                namespaces::NamespaceError::Join { source, .. }
                | namespaces::NamespaceError::JoinProcess { source, .. }
                | namespaces::NamespaceError::Unshare { source, .. }
                | namespaces::NamespaceError::Return { source, .. } => Some(*source as i32),
            };
            ChildError { stage: name.to_string(), op: e.to_string(), errno, detail: None }
        })
    }
}
