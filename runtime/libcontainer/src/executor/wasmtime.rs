//! The wasm executor (feature `wasm-wasmtime`): runs a WebAssembly module with WASI
//! preview 1 on wasmtime, in the container's init process itself. args[0] is the module's
//! path (`.wasm` binary or `.wat` text, relative to `process.cwd` when not absolute); the
//! module sees `process.args` and `process.env`, the container's root as `/` and its cwd as
//! `.`, and the container's stdio or terminal. `proc_exit(N)` or the end of `_start` is the
//! container's exit code; a trap is reported on the container's stderr, exit code 134.
//! Under `module.wasm.image/variant: compat-smart`, an args[0] that is not a module is
//! handed to the default executor and exec'd natively.

use wasmtime::{Config, Engine, InstancePre, Linker, Module, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use super::wasm_common::{env_pairs, flush_stdio, module_error, one_line, read_module, takes, Source, TRAP_EXIT_CODE};
use super::{Declined, Executor, ExecutorError, Handover, Launch, Workload};

/// Runs WebAssembly workloads (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct WasmtimeExecutor;

impl Executor for WasmtimeExecutor {
    fn name(&self) -> &str {
        "wasmtime"
    }

    fn can_handle(&self, w: &Workload) -> Result<(), Declined> {
        takes(w)
    }

    fn prepare(&self, w: &Workload) -> Result<Box<dyn Launch>, ExecutorError> {
        let (path, bytes) = match read_module(w)? {
            Source::Native(launch) => return Ok(launch),
            Source::Module(path, bytes) => (path, bytes),
        };
        let fail = |what: &str, e: &dyn std::fmt::Display| module_error(what, &path, &e.to_string());
        let engine = Engine::new(&Config::new()).map_err(|e| fail("start wasmtime for", &format!("{e:#}")))?;
        let module = Module::new(&engine, &bytes).map_err(|e| fail("compile", &format!("{e:#}")))?;
        if !matches!(module.get_export("_start"), Some(wasmtime::ExternType::Func(_))) {
            return Err(fail("run", &"it exports no _start function (a WASI command module is needed)"));
        }
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx).map_err(|e| fail("link", &format!("{e:#}")))?;
        let instance = linker.instantiate_pre(&module).map_err(|e| fail("link", &format!("{e:#}")))?;

        let mut wasi = WasiCtxBuilder::new();
        // No async runtime round trip for file operations: this thread may block.
        wasi.allow_blocking_current_thread(true).inherit_stdio().args(w.args).envs(&env_pairs(w.env));
        wasi.preopened_dir("/", "/", FsPerms::ReadWrite).map_err(|e| fail("open / for", &format!("{e:#}")))?;
        wasi.preopened_dir(".", ".", FsPerms::ReadWrite).map_err(|e| fail("open the cwd for", &format!("{e:#}")))?;
        let ctx = wasi.build_p1();
        Ok(Box::new(Prepared { path, engine, instance, ctx }))
    }
}

/// A compiled and linked module with its WASI context, waiting for `start`.
struct Prepared {
    path: String,
    engine: Engine,
    instance: InstancePre<WasiP1Ctx>,
    ctx: WasiP1Ctx,
}

impl Launch for Prepared {
    fn launch(self: Box<Self>, handover: Handover) -> Result<i32, ExecutorError> {
        let mut store = Store::new(&self.engine, self.ctx);
        handover.begin();
        let outcome = self
            .instance
            .instantiate(&mut store)
            .and_then(|instance| instance.get_typed_func::<(), ()>(&mut store, "_start"))
            .and_then(|start| start.call(&mut store, ()));
        let code = match outcome {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => exit.0,
                None => {
                    report_trap(&self.path, &e);
                    TRAP_EXIT_CODE
                }
            },
        };
        flush_stdio();
        Ok(code)
    }
}

/// The workload failed, not the runtime: its stderr says why, as a native program's would.
/// The trap first, then the module's backtrace.
fn report_trap(path: &str, e: &wasmtime::Error) {
    let what = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => one_line(&format!("{e:#}")),
    };
    eprintln!("youki: wasm module {path:?}: {what}");
    if let Some(trace) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        eprintln!("{trace}");
    }
}
