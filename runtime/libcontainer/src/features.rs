//! The `features` document (runtime-spec features.md): only what this build really does.

use serde_json::{json, Value};

/// Mount options `mount_options::parse` understands (data options pass through as well).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async", "atime", "bind", "dev", "diratime", "dirsync", "exec", "loud", "mand", "noatime", "nodev",
    "nodiratime", "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind",
    "ratime", "rdev", "rdiratime", "relatime", "remount", "rexec", "rnoatime", "rnodev",
    "rnodiratime", "rnoexec", "rnorelatime", "rnostrictatime", "rnosuid", "ro", "rprivate",
    "rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid", "runbindable", "rw",
    "shared", "silent", "slave", "strictatime", "suid", "sync", "tmpcopyup", "unbindable",
];

/// The annotation (in `annotations`, runtime-spec's place for implementation-specific
/// strings) that lists the executors compiled in, comma-separated, in the order they are
/// asked: runc's document has no field for them.
pub const EXECUTORS_ANNOTATION: &str = "io.github.youki.executors";

pub fn document(version: &str, commit: &str, executors: &[&str]) -> Value {
    let mut caps: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    caps.sort();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.youki.version": version,
            "io.github.youki.commit": commit,
            EXECUTORS_ANNOTATION: executors.join(",")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mount_option_parses_without_error() {
        for o in MOUNT_OPTIONS {
            let parsed = crate::mount_options::parse(&[o.to_string()]).unwrap();
            assert!(parsed.data.is_empty(), "{o} must be understood, not passed through");
        }
    }

    #[test]
    fn document_is_well_formed() {
        let d = document("0.1.0", "abc", &["wasmtime", "default"]);
        assert_eq!(d["annotations"][EXECUTORS_ANNOTATION], "wasmtime,default");
        assert_eq!(d["ociVersionMax"], "1.3.0");
        assert!(d["linux"]["capabilities"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
        let _: oci_spec::runtime::Features = serde_json::from_value(d).unwrap();
    }
}
