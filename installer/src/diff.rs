//! Unified diffs for `--dry-run`.

/// A unified diff of `old` to `new`, labelled with the file's host path.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(&format!("a{path}"), &format!("b{path}")).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_added_lines() {
        let d = super::unified("/etc/x", "a\n", "a\nb\n");
        assert!(d.starts_with("--- a/etc/x\n+++ b/etc/x\n"), "{d}");
        assert!(d.contains("\n+b\n"), "{d}");
    }
}
