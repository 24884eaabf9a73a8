//! Whether a workload asks for WebAssembly, and why: the annotations that CRI shims and
//! image tools set, or args[0] naming a module. Pure, so `create` can refuse a wasm
//! workload before anything is made when no wasm executor is compiled in.

use super::Workload;

/// The annotation crun and containerd shims use to pick a handler.
pub const HANDLER_ANNOTATION: &str = "run.oci.handler";
/// The annotation wasm OCI images carry (compat: the image's entrypoint is a module).
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";

/// What marks a workload as WebAssembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WasmRequest {
    /// `run.oci.handler: wasm`
    Handler,
    /// `module.wasm.image/variant: compat` or `compat-smart`
    Variant(String),
    /// args[0] ends in `.wasm` or `.wat`
    Extension(String),
}

impl std::fmt::Display for WasmRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WasmRequest::Handler => write!(f, "annotation {HANDLER_ANNOTATION}=wasm"),
            WasmRequest::Variant(v) => write!(f, "annotation {VARIANT_ANNOTATION}={v}"),
            WasmRequest::Extension(ext) => write!(f, "args[0] ends in {ext:?}"),
        }
    }
}

/// The first reason, in the order above, that makes `w` a WebAssembly workload.
pub fn wasm_request(w: &Workload) -> Option<WasmRequest> {
    if w.annotations.get(HANDLER_ANNOTATION).is_some_and(|v| v == "wasm") {
        return Some(WasmRequest::Handler);
    }
    if let Some(v) = w.annotations.get(VARIANT_ANNOTATION).filter(|v| *v == "compat" || *v == "compat-smart") {
        return Some(WasmRequest::Variant(v.clone()));
    }
    let program = w.program();
    [".wasm", ".wat"].into_iter().find(|ext| program.ends_with(ext)).map(|ext| WasmRequest::Extension(ext.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn request(program: &str, annotations: &[(&str, &str)]) -> Option<String> {
        let args = vec![program.to_string()];
        let annotations: HashMap<String, String> = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        wasm_request(&Workload { args: &args, env: &[], cwd: Path::new("/"), annotations: &annotations }).map(|r| r.to_string())
    }

    #[test]
    fn annotations_and_extensions_ask_for_wasm() {
        assert_eq!(request("/app", &[("run.oci.handler", "wasm")]).as_deref(), Some("annotation run.oci.handler=wasm"));
        assert_eq!(
            request("/app", &[("module.wasm.image/variant", "compat")]).as_deref(),
            Some("annotation module.wasm.image/variant=compat")
        );
        assert_eq!(
            request("/app", &[("module.wasm.image/variant", "compat-smart")]).as_deref(),
            Some("annotation module.wasm.image/variant=compat-smart")
        );
        assert_eq!(request("/hello.wasm", &[]).as_deref(), Some(r#"args[0] ends in ".wasm""#));
        assert_eq!(request("hello.wat", &[]).as_deref(), Some(r#"args[0] ends in ".wat""#));
    }

    #[test]
    fn other_workloads_do_not() {
        assert_eq!(request("/bin/sh", &[]), None);
        assert_eq!(request("/bin/sh", &[("run.oci.handler", "runc")]), None);
        assert_eq!(request("/bin/sh", &[("module.wasm.image/variant", "oci")]), None);
        assert_eq!(request("/bin/wasm", &[]), None);
        assert_eq!(request("/x.wasm.sh", &[]), None);
    }
}
