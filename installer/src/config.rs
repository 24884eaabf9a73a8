//! Text in, text out: the edit of one config file for install and for uninstall, for each
//! way a distribution lets us add a runtime (edit in place, a Go template, a drop-in file).
//! Pure: the caller reads and writes the files.

use std::path::Path;

use toml_edit::{value, Array, DocumentMut};

use crate::error::ConfigError;
use crate::handler::{self, Handlers};
use crate::schema::Schema;

/// First line of the installer's block in a template.
pub const BLOCK_BEGIN: &str = "# youki-installer: begin (managed block, removed by `youki-installer uninstall`)";
/// Last line of the installer's block in a template.
pub const BLOCK_END: &str = "# youki-installer: end";
/// What a fresh k3s/rke2 template holds besides our block: their generated config.
pub const K3S_BASE_TEMPLATE: &str = "{{ template \"base\" . }}\n";

/// A handler's state root under CRI-O, apart from runc's `/run/runc`: `/run/youki` for
/// `youki`, `/run/youki-wasm` for `youki-wasm`.
pub fn crio_root(name: &str) -> String {
    format!("/run/{name}")
}

/// How the runtime is added to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// The containerd config itself, edited with toml_edit. Used for every vanilla containerd:
    /// containerd 1.x replaces a whole plugin section with an imported one, so a drop-in
    /// holding only our handler would erase the CRI config there.
    InPlace,
    /// A k3s/rke2 Go template (`config.toml.tmpl`, `config-v3.toml.tmpl`): our handler is an
    /// appended block between markers; the template's own lines are never parsed as TOML.
    Template,
    /// A file of its own in a directory the distribution merges key by key (k0s
    /// `/etc/k0s/containerd.d`). Uninstall deletes it.
    DropIn,
    /// A CRI-O drop-in under `/etc/crio/crio.conf.d`. Uninstall deletes it.
    Crio,
}

fn parse(path: &Path, text: &str) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>()
        .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string().trim().replace('\n', " ") })
}

/// Parses a config file and names its schema; refuses what is not valid TOML.
pub fn parse_config(path: &Path, text: &str) -> Result<(DocumentMut, Schema), ConfigError> {
    let doc = parse(path, text)?;
    let schema = Schema::detect(&doc)?;
    Ok((doc, schema))
}

/// A template with its Go actions blanked out, for reading only.
fn mask_template(text: &str) -> String {
    text.lines().map(|l| if l.contains("{{") || l.contains("}}") { "" } else { l }).collect::<Vec<_>>().join("\n")
}

/// `text` without the installer's block (and the blank line put before it).
fn strip_block(text: &str) -> String {
    let Some(begin) = text.find(BLOCK_BEGIN) else {
        return text.to_string();
    };
    let end = text[begin..].find(BLOCK_END).map(|i| begin + i + BLOCK_END.len()).unwrap_or(text.len());
    let end = if text[end..].starts_with('\n') { end + 1 } else { end };
    let mut head = &text[..begin];
    if head.ends_with("\n\n") {
        head = &head[..head.len() - 1];
    }
    format!("{head}{}", &text[end..])
}

/// The config text after installing the wanted `handlers` (and taking out the retired ones).
/// `current` is the file's content (None when it does not exist); `context` is the
/// distribution's rendered or main config, used for the schema and the runc options when the
/// edited file is not itself the full config.
pub fn install(
    layout: &Layout,
    path: &Path,
    current: Option<&str>,
    context: Option<&str>,
    handlers: &Handlers,
) -> Result<String, ConfigError> {
    let context_doc = match context {
        Some(text) => Some(parse_config(path, text)?),
        None => None,
    };
    match layout {
        Layout::InPlace => {
            let text = current.unwrap_or("version = 2\n");
            let (mut doc, schema) = parse_config(path, text)?;
            for handler in handlers.wanted() {
                handler::upsert(&mut doc, schema, handler, None)?;
            }
            for retired in handlers.retired() {
                handler::remove_if_ours(&mut doc, schema, &retired)?;
            }
            Ok(doc.to_string())
        }
        Layout::Template => {
            let base = strip_block(current.unwrap_or(K3S_BASE_TEMPLATE));
            let (masked, masked_schema) = parse_config(path, &mask_template(&base))?;
            for handler in handlers.wanted() {
                if handler::remove(&mut masked.clone(), masked_schema, &handler.name)? {
                    return Err(ConfigError::TemplateConflict { path: path.to_path_buf(), name: handler.name.clone() });
                }
            }
            let (schema, source) = match (&context_doc, masked.get("version")) {
                (_, Some(_)) => (masked_schema, &masked),
                (Some((doc, schema)), None) => (*schema, doc),
                (None, None) => (Schema::V2, &masked),
            };
            let block = handler::standalone(schema, &handlers.wanted(), Some(source), false)?;
            let sep = if base.is_empty() || base.ends_with('\n') { "" } else { "\n" };
            Ok(format!("{base}{sep}\n{BLOCK_BEGIN}\n{block}{BLOCK_END}\n"))
        }
        Layout::DropIn => {
            let (schema, source) = match &context_doc {
                Some((doc, schema)) => (*schema, Some(doc)),
                None => (Schema::V2, None),
            };
            let body = handler::standalone(schema, &handlers.wanted(), source, true)?;
            Ok(format!("# Managed by youki-installer; `youki-installer uninstall` deletes this file.\n{body}"))
        }
        Layout::Crio => {
            let mut doc = DocumentMut::new();
            let mut crio = toml_edit::Table::new();
            crio.set_implicit(true);
            let mut runtime = toml_edit::Table::new();
            runtime.set_implicit(true);
            let mut runtimes = toml_edit::Table::new();
            runtimes.set_implicit(true);
            for handler in handlers.wanted() {
                let mut table = toml_edit::Table::new();
                table.insert("runtime_path", value(handler.binary.as_str()));
                table.insert("runtime_type", value("oci"));
                table.insert("runtime_root", value(crio_root(&handler.name)));
                let mut allowed = Array::new();
                // CRI-O's one allowlist covers pod and container annotations.
                for a in handler.pod_annotations.iter().chain(&handler.container_annotations) {
                    allowed.push(a.as_str());
                }
                table.insert("allowed_annotations", value(allowed));
                runtimes.insert(&handler.name, toml_edit::Item::Table(table));
            }
            runtime.insert("runtimes", toml_edit::Item::Table(runtimes));
            crio.insert("runtime", toml_edit::Item::Table(runtime));
            doc.insert("crio", toml_edit::Item::Table(crio));
            Ok(format!("# Managed by youki-installer; `youki-installer uninstall` deletes this file.\n{doc}"))
        }
    }
}

/// The config text after removing the `handlers` (the retired ones only when they are the
/// installer's), or None when the file should be deleted. This is the fallback when no
/// backup can be restored byte for byte.
pub fn uninstall(layout: &Layout, path: &Path, current: &str, handlers: &Handlers) -> Result<Option<String>, ConfigError> {
    match layout {
        Layout::InPlace => {
            let (mut doc, schema) = parse_config(path, current)?;
            let mut removed = false;
            for wanted in handlers.wanted() {
                removed |= handler::remove(&mut doc, schema, &wanted.name)?;
            }
            for retired in handlers.retired() {
                removed |= handler::remove_if_ours(&mut doc, schema, &retired)?;
            }
            if removed {
                Ok(Some(doc.to_string()))
            } else {
                Ok(Some(current.to_string()))
            }
        }
        Layout::Template => {
            let stripped = strip_block(current);
            if stripped == K3S_BASE_TEMPLATE {
                Ok(None)
            } else {
                Ok(Some(stripped))
            }
        }
        Layout::DropIn | Layout::Crio => Ok(None),
    }
}

/// The `imports` of a containerd config, as written (paths may hold `*`).
pub fn imports(path: &Path, text: &str) -> Result<Vec<String>, ConfigError> {
    let doc = parse(path, text)?;
    match doc.get("imports") {
        None => Ok(Vec::new()),
        Some(item) => {
            let arr = item.as_array().ok_or_else(|| ConfigError::BadField { field: "imports".to_string() })?;
            Ok(arr.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        }
    }
}

/// Whether an imported file defines the CRI plugin section that holds the runtimes. In
/// containerd 1.x such a section replaces the main file's whole section, so a handler added
/// to the main file would be lost.
pub fn defines_cri_plugin(path: &Path, text: &str, schema: Schema) -> Result<bool, ConfigError> {
    let doc = parse(path, text)?;
    let plugin = &schema.containerd_path()[..2];
    Ok(doc.get(plugin[0]).and_then(|p| p.get(plugin[1])).is_some())
}

/// The installer's block in a template, markers included.
fn block(text: &str) -> Option<&str> {
    let begin = text.find(BLOCK_BEGIN)?;
    let end = text[begin..].find(BLOCK_END).map(|i| begin + i + BLOCK_END.len()).unwrap_or(text.len());
    Some(&text[begin..end])
}

/// Whether text the installer wrote has a header of the runtime table `name`.
fn names_table(text: &str, name: &str) -> bool {
    let key = toml_edit::Key::new(name).display_repr().to_string();
    let end = format!(".runtimes.{key}]");
    text.lines().map(str::trim).any(|l| l.starts_with('[') && l.ends_with(&end))
}

/// Whether `current` holds the handler `name`.
pub fn has_handler(layout: &Layout, path: &Path, current: &str, name: &str) -> Result<bool, ConfigError> {
    match layout {
        Layout::InPlace => {
            let (mut doc, schema) = parse_config(path, current)?;
            handler::remove(&mut doc, schema, name)
        }
        // The installer's own text: its block of a template, or its whole drop-in.
        Layout::Template => Ok(block(current).is_some_and(|b| names_table(b, name))),
        Layout::DropIn | Layout::Crio => Ok(names_table(current, name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_block_is_the_inverse_of_appending() {
        let base = "a = 1\n";
        let with = format!("{base}\n{BLOCK_BEGIN}\nx = 1\n{BLOCK_END}\n");
        assert_eq!(strip_block(&with), base);
    }

    #[test]
    fn corrupt_config_names_the_file() {
        let err = install(
            &Layout::InPlace,
            Path::new("/etc/containerd/config.toml"),
            Some("version = 2\n[plugins\n"),
            None,
            &Handlers::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("parse containerd config \"/etc/containerd/config.toml\""), "{err}");
    }
}
