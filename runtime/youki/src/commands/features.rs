//! `features`: what this build supports, as JSON.

use anyhow::Result;

pub fn features() -> Result<i32> {
    let doc = libcontainer::features::document(crate::VERSION, crate::COMMIT);
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(0)
}
