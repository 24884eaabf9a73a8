//! Which containerd config schema a file uses, and where the CRI runtimes live in each one.
//!
//! containerd 1.x files have no `version` key (schema 1), 1.x/1.7 files say `version = 2`, and
//! containerd 2.0 to 2.2 files say `version = 3`. The runtimes table moved between them.
//!
//! containerd 2.3 writes `version = 4`. Its layout is refused, not guessed: the containerd
//! source at hand here stops at version 3, and only third-party reports (kata-deploy,
//! gardener) say that the CRI runtimes table kept its version 3 path. A handler written at a
//! wrong path is ignored by containerd without a word, so version 4 gets a refusal that names
//! it until the path is confirmed from containerd itself.

use toml_edit::{DocumentMut, Item};

use crate::error::ConfigError;

/// A containerd config schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// No `version` key (or `version = 1`): containerd 1.x before schema 2.
    V1,
    /// `version = 2`: containerd 1.3 to 1.7 (and 2.x, which migrates it on load).
    V2,
    /// `version = 3`: containerd 2.x.
    V3,
}

impl Schema {
    /// Reads the root `version` key; an absent key means schema 1.
    pub fn detect(doc: &DocumentMut) -> Result<Self, ConfigError> {
        match doc.get("version") {
            None => Ok(Schema::V1),
            Some(Item::Value(v)) => match v.as_integer() {
                Some(1) => Ok(Schema::V1),
                Some(2) => Ok(Schema::V2),
                Some(3) => Ok(Schema::V3),
                Some(4) => Err(ConfigError::UnconfirmedVersion { version: 4, release: "containerd 2.3" }),
                _ => Err(ConfigError::UnsupportedVersion(v.to_string().trim().to_string())),
            },
            Some(other) => Err(ConfigError::UnsupportedVersion(other.to_string().trim().to_string())),
        }
    }

    /// The version number written in a fresh file of this schema (none for schema 1).
    pub fn version_number(self) -> Option<i64> {
        match self {
            Schema::V1 => None,
            Schema::V2 => Some(2),
            Schema::V3 => Some(3),
        }
    }

    /// Table path of the CRI plugin's `containerd` table, which holds
    /// `default_runtime_name` and `runtimes`.
    pub fn containerd_path(self) -> &'static [&'static str] {
        match self {
            Schema::V1 => &["plugins", "cri", "containerd"],
            Schema::V2 => &["plugins", "io.containerd.grpc.v1.cri", "containerd"],
            Schema::V3 => &["plugins", "io.containerd.cri.v1.runtime", "containerd"],
        }
    }

    /// Table path of the runtime handler `name`.
    pub fn runtime_path(self, name: &str) -> Vec<String> {
        let mut path: Vec<String> = self.containerd_path().iter().map(|s| s.to_string()).collect();
        path.push("runtimes".to_string());
        path.push(name.to_string());
        path
    }

    /// The runtime handler's table header as it is written in a file, e.g.
    /// `plugins."io.containerd.grpc.v1.cri".containerd.runtimes.youki`.
    pub fn runtime_header(self, name: &str) -> String {
        self.runtime_path(name).iter().map(|k| toml_edit::Key::new(k.as_str()).display_repr().to_string()).collect::<Vec<_>>().join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(text: &str) -> Result<Schema, ConfigError> {
        Schema::detect(&text.parse::<DocumentMut>().expect("valid toml"))
    }

    #[test]
    fn detects_each_version() {
        assert_eq!(schema("").ok(), Some(Schema::V1));
        assert_eq!(schema("version = 2\n").ok(), Some(Schema::V2));
        assert_eq!(schema("version = 3\n").ok(), Some(Schema::V3));
    }

    #[test]
    fn refuses_unknown_version() {
        assert_eq!(schema("version = 9\n").unwrap_err().to_string(), "unsupported containerd config version 9 (expected 2, 3 or none)");
    }

    #[test]
    fn refuses_version_4_naming_it_and_containerd_2_3() {
        let err = schema("version = 4\n").unwrap_err().to_string();
        assert!(err.starts_with("unsupported containerd config version 4 (containerd 2.3): "), "{err}");
        assert!(err.contains("refuses version 4 until its CRI runtimes table is confirmed"), "{err}");
    }

    #[test]
    fn quotes_dotted_plugin_names_in_headers() {
        assert_eq!(Schema::V2.runtime_header("youki"), r#"plugins."io.containerd.grpc.v1.cri".containerd.runtimes.youki"#);
        assert_eq!(Schema::V1.runtime_header("youki"), "plugins.cri.containerd.runtimes.youki");
    }
}
