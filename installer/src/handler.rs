//! The runtime handlers as containerd's CRI plugin sees them, and how they are written into a
//! parsed config: a copy of the runc handler with our binary, our state root and the
//! trace-context annotation allowlist. `youki` always; `youki-wasm` (the build with a wasm
//! executor) only where that binary is shipped.

use toml_edit::{value, Array, DocumentMut, Item, Table};

use crate::error::ConfigError;
use crate::schema::Schema;

/// The pod annotation that carries a W3C trace context (`traceparent`) from a pod to youki.
/// containerd passes a pod annotation to the runtime only when the handler lists it in
/// `pod_annotations`.
pub const TRACEPARENT_ANNOTATION: &str = "io.youki.traceparent";

/// Runtime-level keys of the runc handler that are never copied: we set our own.
const NOT_COPIED: &[&str] = &["runtime_type", "runtime_path", "runtime_engine", "runtime_root", "options"];
/// runc options that are never copied: they would point youki at runc's binary or state.
const OPTIONS_NOT_COPIED: &[&str] = &["BinaryName", "Root"];

/// What the installer registers with containerd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Handler name, used by a RuntimeClass `handler` field.
    pub name: String,
    /// Absolute path of the youki binary as the host sees it.
    pub binary: String,
    /// youki's own state root, so its state never mixes with runc's.
    pub root: String,
    /// Pod annotations containerd forwards to the runtime.
    pub pod_annotations: Vec<String>,
    /// Container annotations containerd forwards to the runtime (none: the key is left as
    /// runc has it).
    pub container_annotations: Vec<String>,
}

impl Default for Handler {
    fn default() -> Self {
        Handler {
            name: "youki".to_string(),
            binary: "/opt/youki/bin/youki".to_string(),
            root: "/run/containerd/youki".to_string(),
            pod_annotations: vec![TRACEPARENT_ANNOTATION.to_string()],
            container_annotations: Vec::new(),
        }
    }
}

/// The container annotation that selects the wasm executor (crun's, which youki reads too).
/// containerd passes a container annotation to the runtime only when the handler lists it in
/// `container_annotations` (1.6 drops the others).
pub const WASM_SELECT_ANNOTATION: &str = "run.oci.handler";

/// The handler of the wasm build: youki with a wasm executor, shipped as `youki-wasm`.
pub const WASM_HANDLER: &str = "youki-wasm";

impl Handler {
    /// The `youki-wasm` handler: the wasm build beside youki, with a state root of its own.
    pub fn wasm() -> Self {
        Handler {
            name: WASM_HANDLER.to_string(),
            binary: "/opt/youki/bin/youki-wasm".to_string(),
            root: "/run/containerd/youki-wasm".to_string(),
            pod_annotations: vec![TRACEPARENT_ANNOTATION.to_string()],
            container_annotations: vec![WASM_SELECT_ANNOTATION.to_string()],
        }
    }
}

/// The handlers the installer owns on a node: `youki`, and `youki-wasm` when the wasm build
/// is shipped. A node whose image stopped shipping it has `youki-wasm` retired: an install
/// takes that handler out, so no RuntimeClass reaches a binary that is no longer updated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handlers {
    pub youki: Handler,
    pub wasm: Option<Handler>,
}

impl Handlers {
    /// `youki`, plus `youki-wasm` when `wasm_shipped`.
    pub fn new(wasm_shipped: bool) -> Self {
        Handlers { youki: Handler::default(), wasm: wasm_shipped.then(Handler::wasm) }
    }

    /// The handlers to register, `youki` first.
    pub fn wanted(&self) -> Vec<&Handler> {
        std::iter::once(&self.youki).chain(self.wasm.as_ref()).collect()
    }

    /// Handlers the installer owns but does not register here: taken out on install when
    /// they are the installer's (see `remove_if_ours`).
    pub fn retired(&self) -> Vec<Handler> {
        if self.wasm.is_none() {
            vec![Handler::wasm()]
        } else {
            Vec::new()
        }
    }

    /// The state roots of every owned handler (a retired one may still have containers).
    pub fn roots(&self) -> Vec<String> {
        vec![self.youki.root.clone(), self.wasm.clone().unwrap_or_else(Handler::wasm).root]
    }
}

/// Walks `path` from the root, creating missing tables as implicit (unprinted) ones.
fn table_at<'a>(doc: &'a mut DocumentMut, path: &[String]) -> Result<&'a mut Table, ConfigError> {
    let mut table = doc.as_table_mut();
    let mut walked = String::new();
    for key in path {
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(key);
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().ok_or_else(|| ConfigError::NotATable { field: walked.clone() })?;
    }
    Ok(table)
}

/// Looks a table up without creating anything.
fn find_table<'a>(doc: &'a DocumentMut, path: &[String]) -> Option<&'a Table> {
    let mut table = doc.as_table();
    for key in path {
        table = table.get(key)?.as_table()?;
    }
    Some(table)
}

/// The handler whose options youki copies: the CRI default runtime, else `runc`.
pub fn source_handler(doc: &DocumentMut, schema: Schema) -> Option<&Table> {
    let containerd: Vec<String> = schema.containerd_path().iter().map(|s| s.to_string()).collect();
    let default_name =
        find_table(doc, &containerd).and_then(|t| t.get("default_runtime_name")).and_then(|i| i.as_str()).unwrap_or("runc").to_string();
    find_table(doc, &schema.runtime_path(&default_name)).or_else(|| find_table(doc, &schema.runtime_path("runc")))
}

/// The source's list `key` (its values kept as written) extended with `wanted`.
fn merged_list(source: Option<&Table>, key: &str, wanted: &[String]) -> Array {
    let mut list = Array::new();
    if let Some(existing) = source.and_then(|src| src.get(key)).and_then(|i| i.as_array()) {
        for v in existing.iter() {
            list.push(v.clone().decorated("", ""));
        }
    }
    for w in wanted {
        if !list.iter().any(|v| v.as_str() == Some(w.as_str())) {
            list.push(w.as_str());
        }
    }
    list
}

/// Builds the handler's table from the runc handler `source` (if any).
fn build_table(handler: &Handler, source: Option<&Table>) -> Table {
    let mut table = Table::new();
    table.insert("runtime_type", value("io.containerd.runc.v2"));
    // Lists the handler extends; runc's other runtime-level keys are copied as they are.
    let extends_containers = !handler.container_annotations.is_empty();
    if let Some(src) = source {
        for (key, item) in src.iter() {
            if NOT_COPIED.contains(&key) || item.is_table() || key == "pod_annotations" {
                continue;
            }
            if key == "container_annotations" && extends_containers {
                continue;
            }
            table.insert(key, item.clone());
        }
    }
    table.insert("pod_annotations", value(merged_list(source, "pod_annotations", &handler.pod_annotations)));
    if extends_containers {
        table.insert("container_annotations", value(merged_list(source, "container_annotations", &handler.container_annotations)));
    }

    let mut options = Table::new();
    if let Some(src_opts) = source.and_then(|s| s.get("options")).and_then(|i| i.as_table()) {
        for (key, item) in src_opts.iter() {
            if !OPTIONS_NOT_COPIED.contains(&key) && !item.is_table() {
                options.insert(key, item.clone());
            }
        }
    }
    options.insert("BinaryName", value(handler.binary.as_str()));
    options.insert("Root", value(handler.root.as_str()));
    table.insert("options", Item::Table(options));
    table
}

/// Copies the layout (header indentation and key indentation) of `like` onto `table`.
/// Comments of the source are not copied, only its blank lines and indentation.
fn copy_layout(table: &mut Table, like: &Table) {
    if let Some(prefix) = like.decor().prefix().and_then(|p| p.as_str()) {
        table.decor_mut().set_prefix(whitespace_only(prefix));
    }
    for (_, item) in table.iter_mut() {
        if let Some(v) = item.as_value_mut() {
            let suffix = v.decor().suffix().and_then(|s| s.as_str()).unwrap_or("");
            if suffix.contains('#') {
                v.decor_mut().set_suffix("");
            }
        }
    }
    let indent = like
        .iter()
        .next()
        .and_then(|(k, _)| like.key(k))
        .and_then(|k| k.leaf_decor().prefix())
        .and_then(|p| p.as_str())
        .map(str::to_string);
    if let Some(indent) = indent {
        let keys: Vec<String> = table.iter().filter(|(_, i)| !i.is_table()).map(|(k, _)| k.to_string()).collect();
        for k in keys {
            if let Some(mut key) = table.key_mut(&k) {
                key.leaf_decor_mut().set_prefix(indent.as_str());
            }
        }
    }
}

/// The blank lines and the last line's indentation of a decor prefix, without comments.
fn whitespace_only(prefix: &str) -> String {
    prefix.split('\n').filter(|l| l.trim().is_empty()).collect::<Vec<_>>().join("\n")
}

/// Adds `handler` to a parsed config, or rewrites it when present. Pure: no I/O.
/// `source_doc` is the document whose runc handler is copied (usually `doc` itself).
pub fn upsert(doc: &mut DocumentMut, schema: Schema, handler: &Handler, source_doc: Option<&DocumentMut>) -> Result<(), ConfigError> {
    let source = match source_doc {
        Some(src) => source_handler(src, schema).cloned(),
        None => source_handler(doc, schema).cloned(),
    };
    let mut table = build_table(handler, source.as_ref());
    if let Some(src) = &source {
        copy_layout(&mut table, src);
        if let (Some(opts), Some(src_opts)) =
            (table.get_mut("options").and_then(|i| i.as_table_mut()), src.get("options").and_then(|i| i.as_table()))
        {
            copy_layout(opts, src_opts);
        }
    }
    let path = schema.runtime_path(&handler.name);
    let (parent_path, name) = path.split_at(path.len() - 1);
    let parent = table_at(doc, parent_path)?;
    if let Some(old) = parent.get(&name[0]) {
        let old = old.as_table().ok_or_else(|| ConfigError::NotATable { field: path.join(".") })?;
        *table.decor_mut() = old.decor().clone();
        if let Some(pos) = old.position() {
            table.set_position(pos);
        }
        let old_opts = old.get("options").and_then(|i| i.as_table());
        if let (Some(opts), Some(old_opts)) = (table.get_mut("options").and_then(|i| i.as_table_mut()), old_opts) {
            *opts.decor_mut() = old_opts.decor().clone();
            if let Some(pos) = old_opts.position() {
                opts.set_position(pos);
            }
        }
    }
    parent.insert(&name[0], Item::Table(table));
    Ok(())
}

/// Removes `handler` only when its `BinaryName` is the installer's binary: a handler of the
/// same name written by hand for another binary (docs/operator/containerd.md shows one for
/// youki-wasm) is the operator's and stays. Returns whether it was removed. Pure: no I/O.
pub fn remove_if_ours(doc: &mut DocumentMut, schema: Schema, handler: &Handler) -> Result<bool, ConfigError> {
    let mut options = schema.runtime_path(&handler.name);
    options.push("options".to_string());
    let binary = find_table(doc, &options).and_then(|t| t.get("BinaryName")).and_then(|i| i.as_str());
    if binary != Some(handler.binary.as_str()) {
        return Ok(false);
    }
    remove(doc, schema, &handler.name)
}

/// Removes the handler `name`; returns whether it was there. Pure: no I/O.
pub fn remove(doc: &mut DocumentMut, schema: Schema, name: &str) -> Result<bool, ConfigError> {
    let path = schema.runtime_path(name);
    let (parent_path, leaf) = path.split_at(path.len() - 1);
    let mut table = doc.as_table_mut();
    for key in parent_path {
        match table.get_mut(key) {
            None => return Ok(false),
            Some(item) => {
                table = item.as_table_mut().ok_or_else(|| ConfigError::NotATable { field: key.clone() })?;
            }
        }
    }
    Ok(table.remove(&leaf[0]).is_some())
}

/// Renders a standalone file holding only the handlers, for drop-in directories and for
/// the installer's block in a template.
pub fn standalone(
    schema: Schema,
    handlers: &[&Handler],
    source_doc: Option<&DocumentMut>,
    with_version: bool,
) -> Result<String, ConfigError> {
    let mut doc = DocumentMut::new();
    if with_version {
        if let Some(v) = schema.version_number() {
            doc.insert("version", value(v));
        }
    }
    let mut source = source_doc.and_then(|d| source_handler(d, schema)).cloned();
    // In a file of its own the handler's layout is ours: drop the source's indentation.
    if let Some(src) = source.as_mut() {
        src.decor_mut().clear();
    }
    for handler in handlers {
        let mut table = build_table(handler, source.as_ref());
        for (_, item) in table.iter_mut() {
            if let Some(v) = item.as_value_mut() {
                v.decor_mut().set_prefix(" ");
                v.decor_mut().set_suffix("");
            }
        }
        if let Some(opts) = table.get_mut("options").and_then(|i| i.as_table_mut()) {
            for (_, item) in opts.iter_mut() {
                if let Some(v) = item.as_value_mut() {
                    v.decor_mut().set_prefix(" ");
                    v.decor_mut().set_suffix("");
                }
            }
        }
        let path = schema.runtime_path(&handler.name);
        let (parent_path, name) = path.split_at(path.len() - 1);
        table_at(&mut doc, parent_path)?.insert(&name[0], Item::Table(table));
    }
    let mut text = doc.to_string();
    // Key prefixes copied from an indented source file are normalised too.
    text = text.lines().map(|l| l.trim_start()).collect::<Vec<_>>().join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_WITH_CONTAINER_ANNOTATIONS: &str = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  container_annotations = ["io.example.keep"]
"#;

    fn installed(handler: &Handler) -> DocumentMut {
        let mut doc: DocumentMut = V2_WITH_CONTAINER_ANNOTATIONS.parse().expect("toml");
        upsert(&mut doc, Schema::V2, handler, None).expect("upsert");
        doc
    }

    fn container_annotations(doc: &DocumentMut, name: &str) -> Vec<String> {
        let path = Schema::V2.runtime_path(name);
        let table = find_table(doc, &path).expect("handler table");
        let list = table.get("container_annotations").and_then(|i| i.as_array()).expect("container_annotations");
        list.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
    }

    #[test]
    fn only_the_installers_own_handler_is_removed_by_binary() {
        let hand_made = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.youki-wasm]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.youki-wasm.options]
    BinaryName = "/usr/local/bin/youki-wasm"
"#;
        let mut doc: DocumentMut = hand_made.parse().expect("toml");
        assert!(!remove_if_ours(&mut doc, Schema::V2, &Handler::wasm()).expect("remove"));
        assert_eq!(doc.to_string(), hand_made);
        let mut doc: DocumentMut = V2_WITH_CONTAINER_ANNOTATIONS.parse().expect("toml");
        upsert(&mut doc, Schema::V2, &Handler::wasm(), None).expect("upsert");
        assert!(remove_if_ours(&mut doc, Schema::V2, &Handler::wasm()).expect("remove"));
        assert_eq!(doc.to_string(), V2_WITH_CONTAINER_ANNOTATIONS);
    }

    #[test]
    fn the_wasm_handler_extends_runcs_container_annotations_and_youki_copies_them() {
        let doc = installed(&Handler::wasm());
        assert_eq!(container_annotations(&doc, WASM_HANDLER), ["io.example.keep", "run.oci.handler"]);
        let doc = installed(&Handler::default());
        assert_eq!(container_annotations(&doc, "youki"), ["io.example.keep"]);
    }
}
