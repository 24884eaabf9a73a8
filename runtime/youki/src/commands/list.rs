//! `list`: runc's table, ids only with `-q`, or JSON.

use std::path::Path;

use anyhow::Result;
use libcontainer::create::state::OciState;
use liboci_cli::{List, OutputFormat};

pub fn list(root: &Path, l: &List) -> Result<i32> {
    let states = libcontainer::lifecycle::list(root)?;
    let out = if l.quiet {
        states.iter().map(|s| format!("{}\n", s.id)).collect()
    } else {
        match l.format {
            OutputFormat::Json => render_json(&states)?,
            OutputFormat::Table => render_table(&states),
        }
    };
    print!("{out}");
    Ok(0)
}

fn render_json(states: &[OciState]) -> Result<String> {
    // runc prints `null` for an empty list; keep that for scripts that compare.
    if states.is_empty() {
        return Ok("null\n".into());
    }
    Ok(format!("{}\n", serde_json::to_string(states)?))
}

/// Columns padded like Go's tabwriter with minwidth 12 and padding 3, as runc uses.
pub fn render_table(states: &[OciState]) -> String {
    let mut rows = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
    for s in states {
        rows.push(vec![
            s.id.clone(),
            s.pid.to_string(),
            s.status.clone(),
            s.bundle.display().to_string(),
            s.created.clone().unwrap_or_default(),
            s.owner.clone().unwrap_or_default(),
        ]);
    }
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols).map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap_or(0).max(12)).collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_is_runc_header() {
        assert_eq!(render_table(&[]), "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n");
        assert_eq!(render_json(&[]).unwrap(), "null\n");
    }
}
