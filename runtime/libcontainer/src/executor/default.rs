//! The default executor: resolves args[0] the way execvp would and execs it through the
//! sealed trampoline (see `dmz`). It takes every workload except WebAssembly ones, so a wasm
//! workload on a build without a wasm executor is refused at `create`, never run as ELF.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{wasm_request, Declined, Executor, ExecutorError, Handover, Launch, Workload};
use crate::create::dmz;

/// Execs `args[0]` (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultExecutor;

impl Executor for DefaultExecutor {
    fn name(&self) -> &str {
        "default"
    }

    fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
        match wasm_request(w) {
            Some(why) => Err(Declined(format!("{why} asks for WebAssembly, which needs a youki built with --features wasm-wasmtime"))),
            None => Ok(()),
        }
    }

    fn execs(&self, _: &Workload) -> bool {
        true
    }

    fn prepare(&self, w: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
        let exe = find_executable(w.program(), &env_path(w.env))?;
        let argv = w.args.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;
        let envp = w.env.iter().map(|e| c_string(e)).collect::<Result<Vec<_>, _>>()?;
        let trampoline = dmz::prepare().map_err(|e| ExecutorError::new(e.op).errno(e.errno))?;
        Ok(Box::new(Execve { exe, argv, envp, trampoline }))
    }
}

/// The program, its argv and envp, and the trampoline that execs it.
struct Execve {
    exe: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    trampoline: dmz::Trampoline,
}

impl Launch for Execve {
    fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError> {
        // The runtime's fds are close-on-exec: execve itself ends the handover.
        let e = dmz::exec(&self.trampoline, &self.exe, &self.argv, &self.envp);
        drop(handover);
        Err(ExecutorError::new(format!("execve {:?}", self.exe)).errno(e))
    }
}

fn c_string(s: &str) -> Result<CString, ExecutorError> {
    CString::new(s.as_bytes()).map_err(|_| ExecutorError::new(format!("argument or env entry {s:?}")).detail("contains a NUL byte"))
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_path(env: &[String]) -> String {
    env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string()
}

/// Resolves args[0] the way execvp would, so a missing program fails `create`, not `start`.
fn find_executable(arg0: &str, path: &str) -> Result<CString, ExecutorError> {
    let fail = |detail: &str| ExecutorError::new(format!("find executable {arg0:?}")).detail(detail);
    let candidates: Vec<PathBuf> = if arg0.contains('/') {
        vec![PathBuf::from(arg0)]
    } else {
        path.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(arg0)).collect()
    };
    let mut last = None;
    for c in &candidates {
        let executable = if crate::process::seccomp::may_call("access") {
            nix::unistd::access(c, nix::unistd::AccessFlags::X_OK).or_else(|e| executable_by_mode(c, e))
        } else {
            executable_by_mode(c, nix::Error::EPERM)
        };
        match executable {
            Ok(()) if !c.is_dir() => {
                return CString::new(c.as_os_str().as_bytes()).map_err(|_| fail("contains a NUL byte"));
            }
            Ok(()) => last = Some(nix::Error::EACCES),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(errno) if arg0.contains('/') => Err(fail("cannot be executed").errno(errno)),
        _ if arg0.contains('/') => Err(fail("cannot be executed")),
        _ => Err(fail("not found in $PATH")),
    }
}

/// access(2) never answers EPERM or ENOSYS for X_OK: a seccomp filter did, or may (without
/// noNewPrivileges the lookup runs under the container's profile). Then the file's mode
/// decides, as Go's LookPath (runc's) does: a file with any execute bit.
fn executable_by_mode(path: &Path, refused: nix::Error) -> nix::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !matches!(refused, nix::Error::EPERM | nix::Error::ENOSYS) {
        return Err(refused);
    }
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(nix::Error::EACCES),
        Err(e) => Err(crate::syserror::errno_of(&e)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn finds_programs_like_execvp_and_names_the_missing_one() {
        assert_eq!(find_executable("sh", "/nonexistent:/bin").unwrap().to_str().unwrap(), "/bin/sh");
        assert_eq!(
            find_executable("/bin/does-not-exist", DEFAULT_PATH).unwrap_err().to_string(),
            r#"exec: find executable "/bin/does-not-exist": cannot be executed: no such file or directory"#
        );
        assert_eq!(
            find_executable("does-not-exist", "/bin").unwrap_err().to_string(),
            r#"exec: find executable "does-not-exist": not found in $PATH"#
        );
        assert_eq!(env_path(&["PATH=/a".into(), "X=1".into(), "PATH=/b".into()]), "/b");
    }

    #[test]
    fn declines_webassembly_and_says_what_is_missing() {
        let args = vec!["/app.wasm".to_string()];
        let annotations = HashMap::new();
        let w = Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &annotations };
        assert_eq!(
            DefaultExecutor.can_handle(&w).unwrap_err().to_string(),
            r#"args[0] ends in ".wasm" asks for WebAssembly, which needs a youki built with --features wasm-wasmtime"#
        );
        let args = vec!["/bin/sh".to_string()];
        assert!(DefaultExecutor.can_handle(&Workload { args: &args, ..w }).is_ok());
    }
}
