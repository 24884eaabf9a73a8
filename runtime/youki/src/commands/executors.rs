//! The executors this build runs containers with, in the order they are asked: wasm first
//! when compiled in (it takes only wasm workloads), then the default execve.

use libcontainer::executor::{Composed, DefaultExecutor, Executor};

pub fn all() -> Composed {
    let list: Vec<Box<dyn Executor>> = vec![
        #[cfg(feature = "wasm-wasmtime")]
        Box::new(libcontainer::executor::WasmtimeExecutor),
        Box::new(DefaultExecutor),
    ];
    Composed::new(list)
}
