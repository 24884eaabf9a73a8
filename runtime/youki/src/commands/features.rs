//! `features`: what this build supports, as JSON.

use anyhow::Result;

pub fn features() -> Result<i32> {
    let executors = super::executors::all();
    let doc = libcontainer::features::document(crate::VERSION, crate::COMMIT, &executors.names());
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
