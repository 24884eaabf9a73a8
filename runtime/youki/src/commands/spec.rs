//! `spec`: writes a starter config.json into the bundle.

use anyhow::{bail, Context, Result};
use liboci_cli::Spec;

pub fn spec(s: &Spec) -> Result<i32> {
    let path = s.bundle.join("config.json");
    if path.exists() {
        bail!("{path:?} already exists: remove it first");
    }
    let doc = if s.rootless {
        libcontainer::plan::spec_default::rootless_spec(nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw())
    } else {
        libcontainer::plan::spec_default::default_spec()
    };
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    std::fs::write(&path, text).with_context(|| format!("write {path:?}"))?;
    Ok(0)
}
