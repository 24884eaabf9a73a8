//! What the wasm executors share whatever their engine: which workloads they take, the
//! native escape of `compat-smart`, WASI's env pairs, one-line messages and the exit code of
//! a trap.

use super::{wasm_request, Declined, Executor, ExecutorError, Launch, WasmRequest, Workload};
use crate::syserror::errno_of;

/// The exit code of a module that traps: 128 + SIGABRT, as if it had aborted.
pub const TRAP_EXIT_CODE: i32 = 134;

/// `can_handle` of every wasm executor: WebAssembly workloads only.
pub fn takes(w: &Workload) -> Result<(), Declined> {
    match wasm_request(w) {
        Some(_) => Ok(()),
        None => Err(Declined::new("not WebAssembly (no wasm annotation, args[0] does not end in .wasm or .wat)")),
    }
}

/// What a wasm executor's `prepare` starts from.
pub enum Source {
    /// A native program under `compat-smart`, prepared by the default executor.
    Native(Box<dyn Launch>),
    /// The module's path (args[0]) and its bytes.
    Module(String, Vec<u8>),
}

/// Reads the module args[0] names, or prepares the native program `compat-smart` allows.
pub fn read_module(w: &Workload) -> Result<Source, ExecutorError> {
    if smart_native(w) {
        return super::DefaultExecutor.prepare(w).map(Source::Native);
    }
    let path = w.program().to_string();
    let bytes = std::fs::read(&path).map_err(|e| ExecutorError::new(format!("read wasm module {path:?}")).errno(errno_of(&e)))?;
    Ok(Source::Module(path, bytes))
}

/// A step on module `path` failed: `compile wasm module "/app.wasm": DETAIL`, on one line.
pub fn module_error(what: &str, path: &str, detail: &str) -> ExecutorError {
    ExecutorError::new(format!("{what} wasm module {path:?}")).detail(one_line(detail))
}

/// `compat-smart` images may hold a native entrypoint: it runs as one when args[0] is not a
/// module (no `.wasm`/`.wat` name, no wasm magic). Read inside the container, at prepare.
fn smart_native(w: &Workload) -> bool {
    if wasm_request(w) != Some(WasmRequest::Variant("compat-smart".into())) {
        return false;
    }
    let program = w.program();
    if program.ends_with(".wasm") || program.ends_with(".wat") {
        return false;
    }
    let mut magic = [0u8; 4];
    let is_module =
        std::fs::File::open(program).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok() && &magic == b"\0asm";
    !is_module
}

/// `KEY=VALUE` entries as pairs (the plan has checked each has a `=`).
pub fn env_pairs(env: &[String]) -> Vec<(&str, &str)> {
    env.iter().filter_map(|e| e.split_once('=')).collect()
}

/// Compiler messages span several lines (a caret under the source); errors here are one line.
pub fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "|").collect::<Vec<_>>().join(" ")
}

/// Whatever the module wrote is out before the container's process exits.
pub fn flush_stdio() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    #[test]
    fn env_and_messages_are_shaped_for_wasi_and_one_line() {
        assert_eq!(env_pairs(&["A=1".into(), "B=x=y".into()]), [("A", "1"), ("B", "x=y")]);
        assert_eq!(one_line("expected `(`\n     --> <anon>:1:1\n      |\n    1 | x\n      | ^"), "expected `(` --> <anon>:1:1 1 | x | ^");
    }

    #[test]
    fn compat_smart_runs_natively_only_what_is_not_a_module() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("app");
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        let native = dir.path().join("tool");
        std::fs::write(&native, b"\x7fELF").unwrap();
        let smart: HashMap<String, String> = [("module.wasm.image/variant".to_string(), "compat-smart".to_string())].into();
        let none = HashMap::new();
        let smart_native_of = |path: &Path, annotations: &HashMap<String, String>| {
            let args = vec![path.to_string_lossy().into_owned()];
            smart_native(&Workload { args: &args, env: &[], cwd: Path::new("/"), annotations })
        };
        assert!(smart_native_of(&native, &smart));
        assert!(!smart_native_of(&module, &smart));
        assert!(!smart_native_of(Path::new("/nope.wasm"), &smart));
        assert!(!smart_native_of(&native, &none));
        let args = vec!["/bin/sh".to_string()];
        assert!(takes(&Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &none }).is_err());
        assert!(takes(&Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &smart }).is_ok());
    }
}
