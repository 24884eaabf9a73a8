//! `state`: the OCI state document, indented as runc prints it.

use std::path::Path;

use anyhow::Result;

pub fn state(root: &Path, id: &str) -> Result<i32> {
    let st = libcontainer::lifecycle::state(root, id)?;
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(0)
}
