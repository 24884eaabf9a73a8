//! Checkpoint and restore through criu: the commands are `checkpoint` and `restore`, their
//! pure half is `criu_plan`. This module runs the criu binary for a `CriuPlan`, and holds
//! its errors: a failed run names the operation, criu's exit status, the log file it left in
//! the work directory and the lines of that log that say why.

pub mod checkpoint;
pub mod criu_plan;
pub mod restore;

use std::fs;
use std::path::{Path, PathBuf};

use crate::create::state::StateError;
use crate::criu::criu_plan::{CriuPlan, PlanError};

#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {program:?} for {action}")]
    Spawn {
        action: &'static str,
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("criu {action} of container {id:?} failed ({status}); its log {log:?} ends with:\n{tail}")]
    Failed { action: &'static str, id: String, status: String, log: PathBuf, tail: String },
    #[error("restore: image directory {0:?} does not exist")]
    NoImages(PathBuf),
    #[error("restore: image directory {0:?} holds no checkpoint (no inventory.img)")]
    EmptyImages(PathBuf),
    #[error("restore: criu wrote no pid to {path:?}")]
    NoPid { path: PathBuf },
    #[error(transparent)]
    State(#[from] StateError),
}

pub fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> CriuError + 'a {
    move |source| CriuError::Io { op, path: path.to_path_buf(), source }
}

/// The log file of a plan's run.
pub fn log_path(plan: &CriuPlan) -> PathBuf {
    plan.work.join(plan.action.log_name())
}

/// Makes the image and work directories (checkpoint only; restore needs them to exist).
pub fn make_dirs(plan: &CriuPlan) -> Result<(), CriuError> {
    for d in [&plan.images, &plan.work] {
        fs::create_dir_all(d).map_err(io("create directory", d))?;
    }
    Ok(())
}

/// The error of a criu run that exited with `status`.
pub fn failed(plan: &CriuPlan, id: &str, status: String) -> CriuError {
    let log = log_path(plan);
    let text = fs::read_to_string(&log).unwrap_or_default();
    let tail = log_tail(&text, 6);
    CriuError::Failed {
        action: plan.action.command(),
        id: id.to_string(),
        status,
        log,
        tail: if tail.is_empty() { "(the log is empty or missing)".to_string() } else { tail },
    }
}

/// The lines that explain a failure: criu's `Error` lines (the last `max`), else the last
/// `max` lines.
pub fn log_tail(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&str> = lines.iter().copied().filter(|l| l.contains("Error (") || l.contains("Error:")).collect();
    let pick = if errors.is_empty() { &lines } else { &errors };
    let from = pick.len().saturating_sub(max);
    pick[from..].iter().map(|l| format!("  {}", l.trim_end())).collect::<Vec<_>>().join("\n")
}

/// Runs a dump or pre-dump and waits for it.
pub fn run_dump(plan: &CriuPlan, id: &str) -> Result<(), CriuError> {
    let program = plan.program.clone();
    tracing::debug!(args = ?plan.args(), "running criu");
    let status = std::process::Command::new(&program)
        .args(plan.args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|source| CriuError::Spawn { action: plan.action.command(), program: program.clone(), source })?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(plan, id, status.to_string()))
    }
}

/// Whether a restore plan's images are there: the directory exists and criu's inventory.
pub fn check_images(images: &Path) -> Result<(), CriuError> {
    if !images.is_dir() {
        return Err(CriuError::NoImages(images.to_path_buf()));
    }
    if !images.join("inventory.img").is_file() {
        return Err(CriuError::EmptyImages(images.to_path_buf()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_prefers_error_lines() {
        let log = "(00.01) a\n(00.02) Error (criu/vdso.c:613): vdso: Failed\n(00.03) b\n(00.04) Error (criu/crtools.c:260): Could not init\n(00.05) c\n";
        assert_eq!(
            log_tail(log, 6),
            "  (00.02) Error (criu/vdso.c:613): vdso: Failed\n  (00.04) Error (criu/crtools.c:260): Could not init"
        );
        assert_eq!(log_tail("x\ny\nz\n", 2), "  y\n  z");
        assert_eq!(log_tail("", 3), "");
    }

    #[test]
    fn images_must_hold_an_inventory() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(check_images(&d.path().join("none")), Err(CriuError::NoImages(_))));
        assert_eq!(
            check_images(d.path()).unwrap_err().to_string(),
            format!("restore: image directory {:?} holds no checkpoint (no inventory.img)", d.path())
        );
        fs::write(d.path().join("inventory.img"), b"x").unwrap();
        assert!(check_images(d.path()).is_ok());
    }
}
