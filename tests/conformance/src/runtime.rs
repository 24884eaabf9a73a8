//! Invokes the runtime under test: every call gets the private `--root`, a timeout, and its
//! stdout/stderr captured in files (a container may keep them open long after the call).

use anyhow::{bail, Context, Result};
use std::fs::{self, File};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The default limit for one runtime call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// The runtime binary under test and its private state directory.
#[derive(Debug)]
pub struct Runtime {
    pub path: PathBuf,
    pub root: PathBuf,
    /// `--version` mentions runc.
    pub is_runc: bool,
    /// Which list of expected failures applies (cases report XFAIL on failure), from `--version`.
    pub peer: Option<Peer>,
    pub version: String,
    /// Global flags passed before the subcommand on every call (`--systemd-cgroup`).
    pub global_args: Vec<String>,
}

/// Options of one runtime call beyond its arguments.
#[derive(Default)]
pub struct Call {
    pub timeout: Option<Duration>,
    /// Passes `--log FILE` (a global flag) and returns the file's text in `Output::log`.
    pub log: bool,
    /// Becomes fd 3 of the runtime process (for `--preserve-fds`).
    pub fd3: Option<OwnedFd>,
}

/// What one runtime call did.
#[derive(Debug, Clone)]
pub struct Output {
    pub cmdline: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub log: String,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// Where stdout went: a created container's process keeps writing here.
    pub stdout_path: PathBuf,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A one-line account for failure messages: command, exit and the end of stderr.
    pub fn describe(&self) -> String {
        let status = if self.timed_out {
            format!("timed out after {:.1}s", self.elapsed.as_secs_f64())
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit {}", self.code.unwrap_or(-1))
        };
        let messages = format!("{}{}", self.stderr, self.log);
        let err = tail(&messages, 400);
        format!("`{}` {status}; stderr: {err:?}", self.cmdline)
    }

    /// Fails with `describe()` unless the call exited 0.
    pub fn ok(self, what: &str) -> Result<Output> {
        if !self.success() {
            bail!("{what} failed: {}", self.describe());
        }
        Ok(self)
    }

    /// Stderr and the log file together: where a runtime may explain an error.
    pub fn messages(&self) -> String {
        format!("{}\n{}", self.stderr, self.log)
    }
}

fn tail(s: &str, max: usize) -> &str {
    let s = s.trim();
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// A peer runtime with its own list of expected failures (`Case::runc_xfail` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// runc before 1.2: Debian bookworm's 1.1.5.
    Runc11,
    /// runc 1.2 and later: today's 1.3.6 (scripts/peers.sh).
    Runc13,
}

impl Peer {
    /// Reads `--version` output: `runc version 1.3.6+ds1` is runc 1.3. A runc whose version
    /// cannot be read gets the runc 1.1 list, as every runc did before versions were told apart.
    pub fn from_version(text: &str) -> Option<Peer> {
        let text = text.to_lowercase();
        if !text.contains("runc") {
            return None;
        }
        let number = text.split_once("runc version").map(|(_, rest)| rest.trim_start()).unwrap_or_default();
        let mut parts = number.split(|c: char| !c.is_ascii_digit());
        let major = parts.next().and_then(|p| p.parse::<u32>().ok());
        let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
        Some(match (major, minor) {
            (Some(major), Some(minor)) if (major, minor) >= (1, 2) => Peer::Runc13,
            _ => Peer::Runc11,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Peer::Runc11 => "runc 1.1",
            Peer::Runc13 => "runc 1.3",
        }
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

impl Runtime {
    /// Probes `PATH --version` and remembers whether it is runc.
    pub fn probe(path: PathBuf, root: PathBuf, global_args: Vec<String>) -> Result<Runtime> {
        let out = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} --version", path.display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let is_runc = version.to_lowercase().contains("runc");
        Ok(Runtime { path, root, is_runc, peer: Peer::from_version(&version), version, global_args })
    }

    /// `PROGRAM --root ROOT GLOBAL_ARGS...`: the start of every call, ready for a subcommand.
    /// `program` is the runtime itself or a copy of it.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--root").arg(&self.root).args(&self.global_args);
        cmd
    }

    /// Runs `RUNTIME --root ROOT GLOBAL_ARGS [--log F] ARGS...` with stdio captured under `dir`.
    pub fn call(&self, dir: &Path, args: &[&str], call: Call) -> Result<Output> {
        let n = CALLS.fetch_add(1, Ordering::Relaxed);
        let out_path = dir.join(format!("call-{n}.out"));
        let err_path = dir.join(format!("call-{n}.err"));
        let log_path = dir.join(format!("call-{n}.log"));
        let mut cmd = self.command(&self.path);
        if call.log {
            cmd.arg("--log").arg(&log_path);
        }
        cmd.args(args);
        let cmdline =
            format!("{} {}{}", self.path.display(), self.global_args.iter().map(|a| format!("{a} ")).collect::<String>(), args.join(" "));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?)
            .stderr(File::create(&err_path).with_context(|| format!("creating {}", err_path.display()))?)
            .process_group(0);
        let fd3 = call.fd3;
        if let Some(fd) = &fd3 {
            let raw = fd.as_raw_fd();
            // SAFETY: only async-signal-safe calls between fork and exec; `fd3` outlives spawn.
            unsafe {
                cmd.pre_exec(move || {
                    if raw == 3 {
                        let flags = libc::fcntl(3, libc::F_GETFD);
                        libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    } else if libc::dup2(raw, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut out = self.spawn_and_wait(cmd, &cmdline, call.timeout)?;
        drop(fd3);
        out.stdout = read_lossy(&out_path)?;
        out.stderr = read_lossy(&err_path)?;
        if call.log {
            out.log = read_lossy(&log_path).unwrap_or_default();
        }
        out.stdout_path = out_path;
        Ok(out)
    }

    fn spawn_and_wait(&self, mut cmd: Command, cmdline: &str, timeout: Option<Duration>) -> Result<Output> {
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("spawning `{cmdline}`"))?;
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let limit = timeout.unwrap_or(DEFAULT_TIMEOUT);
        let (status, timed_out) = match rx.recv_timeout(limit) {
            Ok(status) => (status, false),
            Err(_) => {
                // The runtime runs in its own process group: end it and whatever it started there.
                // SAFETY: kill(2) with a negative pid signals that process group only.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let status = rx.recv().context("waiting for the killed runtime")?;
                (status, true)
            }
        };
        let status = status.with_context(|| format!("waiting for `{cmdline}`"))?;
        Ok(Output {
            cmdline: cmdline.to_string(),
            code: status.code(),
            signal: status.signal(),
            stdout: String::new(),
            stderr: String::new(),
            log: String::new(),
            elapsed: started.elapsed(),
            timed_out,
            stdout_path: PathBuf::new(),
        })
    }
}

/// Reads a file that a container may still be writing to, as text.
pub fn read_lossy(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_told_apart_by_version() {
        let v = |s: &str| Peer::from_version(s);
        assert_eq!(v("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev"), Some(Peer::Runc11));
        assert_eq!(v("runc version 1.3.6+ds1\ncommit: 1.3.6+ds1-1\nspec: 1.2.1"), Some(Peer::Runc13));
        assert_eq!(v("runc version 1.4.0"), Some(Peer::Runc13));
        assert_eq!(v("runc version 1.2.0-rc.1"), Some(Peer::Runc13));
        assert_eq!(v("runc (unknown)"), Some(Peer::Runc11));
        assert_eq!(v("youki version 0.5.0\ncommit: abc"), None);
        assert_eq!(v("crun version 1.28"), None);
    }

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("  short  ", 10), "short");
        assert_eq!(tail("abcdéf", 3), "éf");
    }
}
