//! Which `ociVersion` values of config.json this runtime takes: every 1.x.y, pre-releases and
//! build metadata included (containerd 2.2 writes 1.3.0), none of 0.x or 2 and above.

/// Ok when `version` is a 1.x.y (the runtime-spec version itself is `state::OCI_VERSION`).
pub fn check(version: &str) -> Result<(), VersionError> {
    // SemVer 2.0: MAJOR.MINOR.PATCH, then an optional -pre-release and +build.
    let core = version.split(['-', '+']).next().unwrap_or("");
    let rest = &version[core.len()..];
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'));
    if parts.len() != 3 || !parts.iter().all(numeric) {
        return Err(VersionError::Syntax);
    }
    if rest.starts_with('-') || rest.starts_with('+') {
        let suffix = &rest[1..];
        let ok = suffix.split(['.', '+']).all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !ok {
            return Err(VersionError::Syntax);
        }
    }
    if parts[0] != "1" {
        return Err(VersionError::Major);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionError {
    /// Not SemVer 2.0 (config.md "Specification version" requires it).
    Syntax,
    /// A SemVer, but not of major version 1.
    Major,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_1_x_is_taken() {
        for v in ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0", "1.3.0-rc.1", "1.4.0", "1.10.3", "1.3.0+build.5", "1.3.0-rc.1+g1234"] {
            assert_eq!(check(v), Ok(()), "{v}");
        }
    }

    #[test]
    fn other_majors_and_garbage_are_refused() {
        for v in ["0.9.0", "2.0.0", "2.0.0-rc.1", "10.0.0"] {
            assert_eq!(check(v), Err(VersionError::Major), "{v}");
        }
        for v in ["", "1", "1.3", "1.3.0.0", "v1.3.0", "1.x.0", "01.3.0", "1.3.0-", "1.3.0-rc..1", "1.3.0 "] {
            assert_eq!(check(v), Err(VersionError::Syntax), "{v:?}");
        }
    }
}
