//! The wasm executor on Wasmer (feature `wasm-wasmer`): runs a WebAssembly module with WASI
//! preview 1 through wasmer-wasix, in the container's init process itself, chosen by the same
//! rules as the wasmtime one (`wasm_request`). args[0] is the module's path (`.wasm` binary
//! or `.wat` text, relative to `process.cwd` when not absolute); the module sees
//! `process.args` and `process.env`, the container's root as `/` (fd 3) and its cwd as `.`
//! (fd 4), and the container's stdio or terminal. `proc_exit(N)` or the end of `_start` is
//! the container's exit code; a trap is reported on the container's stderr, exit code 134.
//!
//! Compiler: Singlepass, not Cranelift. wasmer-compiler-cranelift pins a Cranelift release
//! older than the one wasmtime 48 needs, and one Cargo.lock cannot hold both.
//!
//! Threads: `prepare` reads and compiles the module (a missing or broken module fails
//! `create`); the compiler's one worker thread ends with the compilation. wasmer-wasix runs
//! its stdio, timers and tasks on tokio, so `launch` builds a tokio runtime with one worker
//! (a current-thread runtime would drive them only inside `block_on`, while the module holds
//! this thread). It is built after `start`, when the seccomp filter is loaded, so every
//! thread it makes inherits the filter, and counts against the container's pids limit. A
//! read-only rootfs needs one adapter: see `ReadOnlyAware`.

use std::future::Future;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use wasmer::sys::Singlepass;
use wasmer::{Engine, ExternType, Module, RuntimeError, Store};
use wasmer_wasix::virtual_fs::host_fs::FileSystem as HostFs;
use wasmer_wasix::virtual_fs::{self as vfs, FileOpener, FileSystem, FsError, OpenOptionsConfig, VirtualFile};
use wasmer_wasix::wasmer_wasix_types::wasi::ExitCode;
use wasmer_wasix::{WasiEnv, WasiError, WasiRuntimeError};

use super::wasm_common::{env_pairs, flush_stdio, module_error, one_line, read_module, takes, Source, TRAP_EXIT_CODE};
use super::{Declined, Executor, ExecutorError, Handover, Launch, Workload};
use crate::syserror::errno_of;

/// The import modules a WASI command module may use; wasmer-wasix checks the functions.
const WASI_IMPORTS: [&str; 4] = ["wasi_snapshot_preview1", "wasi_unstable", "wasix_32v1", "wasix_64v1"];

/// Runs WebAssembly workloads on Wasmer (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct WasmerExecutor;

impl Executor for WasmerExecutor {
    fn name(&self) -> &str {
        "wasmer"
    }

    fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
        takes(w)
    }

    fn prepare(&self, w: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
        let (path, bytes) = match read_module(w)? {
            Source::Native(launch) => return Ok(launch),
            Source::Module(path, bytes) => (path, bytes),
        };
        let fail = |what: &str, detail: String| module_error(what, &path, &detail);
        let mut compiler = Singlepass::default();
        compiler.num_threads = NonZeroUsize::MIN;
        let engine = Engine::from(compiler);
        let module = Module::new(&engine, &bytes).map_err(|e| fail("compile", e.to_string()))?;
        check_command(&module).map_err(|why| fail("run", why))?;
        let args = w.args.iter().skip(1).cloned().collect();
        let env = env_pairs(w.env).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Ok(Box::new(Prepared { path, engine, module, args, env, cwd: w.cwd.to_path_buf() }))
    }
}

/// A WASI command module: exports `_start` and imports from WASI only. What it imports
/// within WASI is checked when it is instantiated, at `start`.
fn check_command(module: &Module) -> Result<(), String> {
    if !module.exports().any(|e| e.name() == "_start" && matches!(e.ty(), ExternType::Function(_))) {
        return Err("it exports no _start function (a WASI command module is needed)".into());
    }
    match module.imports().find(|i| !WASI_IMPORTS.contains(&i.module())) {
        Some(i) => Err(format!("it imports {:?}.{:?}, which WASI does not provide", i.module(), i.name())),
        None => Ok(()),
    }
}

/// A compiled module and what its WASI environment is made of, waiting for `start`.
struct Prepared {
    path: String,
    engine: Engine,
    module: Module,
    /// args[1..]: wasix puts the program name (args[0]) first itself.
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Launch for Prepared {
    fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError> {
        let fail = |what: &str, detail: String| module_error(what, &self.path, &detail);
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| ExecutorError::new(format!("start tokio for wasm module {:?}", self.path)).errno(errno_of(&e)))?;
        let entered = tokio.enter();
        let host = HostFs::new(tokio.handle().clone(), "/").map_err(|e| fail("open / for", e.to_string()))?;
        let root: Arc<dyn FileSystem + Send + Sync> = Arc::new(ReadOnlyAware(host));
        // "." first: it is fd 4, right after wasix's own root fd 3; "/" then backs fd 3.
        let builder = WasiEnv::builder(self.path.as_str())
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .engine(self.engine.clone())
            .fs(root)
            .map_dir(".", &self.cwd)
            .and_then(|b| b.preopen_dir("/"))
            .map_err(|e| fail("set up WASI for", e.to_string()))?
            .current_dir(&self.cwd);
        let mut store = Store::new(self.engine.clone());
        handover.begin();
        let (instance, wasi) = match builder.instantiate(self.module.clone(), &mut store) {
            Ok(made) => made,
            Err(e) => return Ok(ended_early(&self.path, e)),
        };
        let outcome = instance.exports.get_function("_start").map_err(|e| fail("run", e.to_string()))?.call(&mut store, &[]);
        let code = match outcome {
            Ok(_) => 0,
            Err(e) => match e.downcast_ref::<WasiError>() {
                Some(WasiError::Exit(code)) => code.raw(),
                _ => {
                    report_trap(&self.path, &e);
                    TRAP_EXIT_CODE
                }
            },
        };
        // Closes the module's files and flushes its stdio, which tokio writes.
        wasi.on_exit(&mut store, Some(ExitCode::from(code)));
        flush_stdio();
        drop(entered);
        // Not a blocking wait: a read of stdin may still be pending on a tokio thread.
        tokio.shutdown_background();
        Ok(code)
    }
}

/// The container's root as the module sees it. wasix opens every file read-write first and
/// falls back to the mode asked for only on EACCES; on a read-only rootfs or mount the first
/// open fails with EROFS, which it would report as EIO. Here EROFS reads as EACCES.
#[derive(Debug)]
struct ReadOnlyAware(HostFs);

impl FileOpener for ReadOnlyAware {
    fn open(&self, path: &Path, conf: &OpenOptionsConfig) -> vfs::Result<Box<dyn VirtualFile + Send + Sync + 'static>> {
        match FileOpener::open(&self.0, path, conf) {
            Err(FsError::UnknownError) if conf.write && read_only(path) => Err(FsError::PermissionDenied),
            other => other,
        }
    }
}

/// Whether `path` (host and container paths are one here) is on a read-only mount.
fn read_only(path: &Path) -> bool {
    nix::sys::statvfs::statvfs(path).is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

impl FileSystem for ReadOnlyAware {
    fn readlink(&self, path: &Path) -> vfs::Result<PathBuf> {
        self.0.readlink(path)
    }
    fn read_dir(&self, path: &Path) -> vfs::Result<vfs::ReadDir> {
        self.0.read_dir(path)
    }
    fn create_dir(&self, path: &Path) -> vfs::Result<()> {
        self.0.create_dir(path)
    }
    fn remove_dir(&self, path: &Path) -> vfs::Result<()> {
        self.0.remove_dir(path)
    }
    fn rename<'a>(&'a self, from: &'a Path, to: &'a Path) -> Pin<Box<dyn Future<Output = vfs::Result<()>> + Send + 'a>> {
        self.0.rename(from, to)
    }
    fn metadata(&self, path: &Path) -> vfs::Result<vfs::Metadata> {
        self.0.metadata(path)
    }
    fn symlink_metadata(&self, path: &Path) -> vfs::Result<vfs::Metadata> {
        self.0.symlink_metadata(path)
    }
    fn remove_file(&self, path: &Path) -> vfs::Result<()> {
        self.0.remove_file(path)
    }
    fn new_open_options(&self) -> vfs::OpenOptions<'_> {
        vfs::OpenOptions::new(self)
    }
}

/// Instantiation failed after `start`: an exit or a trap in the module's start function, or
/// an import WASI lacks. The container's stderr says which; the exit code follows.
fn ended_early(path: &str, e: WasiRuntimeError) -> i32 {
    if let Some(code) = e.as_exit_code() {
        return code.raw();
    }
    match e {
        WasiRuntimeError::Runtime(trap) => report_trap(path, &trap),
        other => eprintln!("youki: wasm module {path:?}: {}", one_line(&other.to_string())),
    }
    flush_stdio();
    TRAP_EXIT_CODE
}

/// The workload failed, not the runtime: its stderr says why, as a native program's would.
/// The trap first, then the module's backtrace (wasmer prints one frame a line).
fn report_trap(path: &str, e: &RuntimeError) {
    match e.clone().to_trap() {
        Some(_) => eprintln!("youki: wasm module {path:?}: wasm trap: {}", e.message()),
        None => eprintln!("youki: wasm module {path:?}: {}", one_line(&e.message())),
    }
    for frame in e.to_string().lines().skip(1) {
        eprintln!("{frame}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(wat: &str) -> Module {
        Module::new(&Engine::from(Singlepass::default()), wat).unwrap()
    }

    #[test]
    fn only_wasi_command_modules_pass() {
        let start = r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))) (func (export "_start")))"#;
        assert_eq!(check_command(&module(start)), Ok(()));
        assert_eq!(
            check_command(&module("(module (func (export \"main\")))")).unwrap_err(),
            "it exports no _start function (a WASI command module is needed)"
        );
        assert_eq!(
            check_command(&module(r#"(module (import "env" "f" (func)) (func (export "_start")))"#)).unwrap_err(),
            r#"it imports "env"."f", which WASI does not provide"#
        );
    }
}
