//! The fact behind a failed command, for its span's `exception` event: the stage, the
//! operation and the errno, as far as the error chain knows them. Pure: it reads errors.
//!
//! youki-trace's recorder says the same fact from the kernel's side (`stage youki:process:
//! access("/app") = -1 ENOENT`); here it comes from the runtime's own error, so a trace
//! backend shows it on the failed create without the recorder.

use std::error::Error;

use crate::create::channel::ChildError;
use crate::error::ContainerError;
use crate::syserror::SysError;

/// What failed, from the first link of the chain that knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fact {
    /// The stage of init that failed (`mounts`, `exec`), when init reported it.
    pub stage: Option<String>,
    /// What was being done, with its path (`mount "proc" on "/proc"`).
    pub operation: Option<String>,
    /// The errno, when a syscall failed.
    pub errno: Option<i32>,
}

impl Fact {
    /// Reads the chain from the outermost error inwards.
    pub fn of<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> Fact {
        let mut fact = Fact::default();
        for e in chain {
            if let Some(c) = e.downcast_ref::<ChildError>().or_else(|| match e.downcast_ref::<ContainerError>() {
                Some(ContainerError::Init(c)) => Some(c),
                _ => None,
            }) {
                // init's own report is the most precise there is.
                return Fact { stage: Some(c.stage.clone()), operation: Some(c.op.clone()), errno: c.errno };
            }
            let found = if let Some(s) = e.downcast_ref::<SysError>() {
                Some((Some(s.op.clone()), s.errno as i32))
            } else if let Some(ContainerError::Sys { op, source }) = e.downcast_ref::<ContainerError>() {
                Some((Some(op.clone()), *source as i32))
            } else if let Some(n) = e.downcast_ref::<nix::errno::Errno>() {
                Some((None, *n as i32))
            } else {
                e.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error).map(|n| (None, n))
            };
            if let Some((op, errno)) = found {
                fact.operation = fact.operation.or(op);
                fact.errno = Some(errno);
                if fact.operation.is_some() {
                    break;
                }
            }
        }
        fact
    }

    /// The errno's name, `ENOENT`.
    pub fn errno_name(&self) -> Option<String> {
        self.errno.map(|n| format!("{:?}", nix::errno::Errno::from_raw(n)))
    }

    /// One line in the recorder's shape: `stage exec: find executable "/app" = -1 ENOENT`.
    pub fn line(&self) -> Option<String> {
        let op = self.operation.as_deref()?;
        let mut t = match &self.stage {
            Some(s) => format!("stage {s}: {op}"),
            None => op.to_string(),
        };
        if let Some(name) = self.errno_name() {
            t.push_str(&format!(" = -1 {name}"));
        }
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outer error with a message and a source, as a caller's context adds.
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Outer(&'static str, #[source] Box<dyn Error + 'static>);

    fn chain<'a>(e: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
        std::iter::successors(Some(e), |e: &&'a (dyn Error + 'static)| (*e).source()).collect()
    }

    #[test]
    fn init_s_report_gives_stage_operation_and_errno() {
        let c = ChildError { stage: "exec".into(), op: r#"find executable "/app""#.into(), errno: Some(2), detail: None };
        let e = Outer("create container \"c1\"", Box::new(ContainerError::Init(c)));
        let f = Fact::of(chain(&e));
        assert_eq!(f.stage.as_deref(), Some("exec"));
        assert_eq!(f.errno_name().as_deref(), Some("ENOENT"));
        assert_eq!(f.line().as_deref(), Some(r#"stage exec: find executable "/app" = -1 ENOENT"#));
    }

    #[test]
    fn a_parent_side_syscall_gives_its_operation_and_errno() {
        let e = ContainerError::Sys { op: r#"write "/sys/fs/cgroup/cpuset/x/cpuset.cpus""#.into(), source: nix::Error::ERANGE };
        let f = Fact::of(chain(&e));
        assert_eq!(f.stage, None);
        assert_eq!(f.line().as_deref(), Some(r#"write "/sys/fs/cgroup/cpuset/x/cpuset.cpus" = -1 ERANGE"#));
        let s = Outer("apply the cgroup", Box::new(SysError::new("mkdir \"/sys/fs/cgroup/x\"", nix::Error::EACCES)));
        assert_eq!(Fact::of(chain(&s)).line().as_deref(), Some(r#"mkdir "/sys/fs/cgroup/x" = -1 EACCES"#));
    }

    #[test]
    fn a_bare_io_error_gives_the_errno_and_no_line() {
        let e = Outer("write the state file", Box::new(std::io::Error::from_raw_os_error(28)));
        let f = Fact::of(chain(&e));
        assert_eq!(f.errno_name().as_deref(), Some("ENOSPC"));
        assert_eq!(f.operation, None);
        assert_eq!(f.line(), None);
    }

    #[test]
    fn an_error_without_errno_gives_nothing() {
        let e = Outer("invalid mount destination \"proc\": must be absolute", Box::new(std::fmt::Error));
        assert_eq!(Fact::of(chain(&e)), Fact::default());
    }
}
