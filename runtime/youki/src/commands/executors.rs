//! The executors this build runs containers with, in the order they are asked: the wasm ones
//! first when compiled in (they take only wasm workloads; with both engines built, wasmtime
//! runs every wasm workload and wasmer none), then the default execve.

use libcontainer::executor::{Composed, DefaultExecutor, Executor};

pub fn all() -> Composed {
    let list: Vec<Box<dyn Executor>> = vec![
        #[cfg(feature = "wasm-wasmtime")]
        Box::new(libcontainer::executor::WasmtimeExecutor),
        #[cfg(feature = "wasm-wasmer")]
        Box::new(libcontainer::executor::WasmerExecutor),
        Box::new(DefaultExecutor),
    ];
    Composed::new(list)
}
