//! The `features` document (runtime-spec features.md): only what this build really does.

use serde_json::{json, Value};

/// Mount options `mount_options::parse` understands (data options pass through as well).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "private",
    "rbind",
    "ratime",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// The annotation (in `annotations`, runtime-spec's place for implementation-specific
/// strings) that lists the executors compiled in, comma-separated, in the order they are
/// asked: runc's document has no field for them.
pub const EXECUTORS_ANNOTATION: &str = "io.github.youki.executors";

/// Seccomp architectures that config.json parses and libseccomp builds filters for.
pub const SECCOMP_ARCHS: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Seccomp filter flags config.json parses and `seccomp::build` sets (through libseccomp).
pub const SECCOMP_FLAGS: &[&str] = &["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"];

/// The flags of `SECCOMP_FLAGS` this kernel and libseccomp support, by libseccomp's API level
/// (seccomp_api_get(3): 2 adds TSYNC, 3 LOG, 4 SPEC_ALLOW).
pub fn supported_seccomp_flags(api_level: u32) -> Vec<&'static str> {
    let need = |flag: &str| match flag {
        "SECCOMP_FILTER_FLAG_TSYNC" => 2,
        "SECCOMP_FILTER_FLAG_LOG" => 3,
        _ => 4,
    };
    SECCOMP_FLAGS.iter().copied().filter(|f| api_level >= need(f)).collect()
}

/// config.json annotations that change what the runtime does: they pick a wasm executor
/// (`executor::wasm_request`), so they count only in a build with one.
pub const UNSAFE_ANNOTATIONS: &[&str] = &["run.oci.handler", "module.wasm.image/variant"];

pub fn document(version: &str, commit: &str, executors: &[&str]) -> Value {
    let mut caps: Vec<String> = caps::all().into_iter().map(|c| c.to_string()).collect();
    caps.sort();
    let libseccomp = libseccomp::ScmpVersion::current().map(|v| v.to_string()).unwrap_or_default();
    let unsafe_annotations: &[&str] = if executors.iter().any(|e| *e != "default") { UNSAFE_ANNOTATIONS } else { &[] };
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::create::state::OCI_VERSION,
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
                "archs": SECCOMP_ARCHS,
                "knownFlags": SECCOMP_FLAGS,
                "supportedFlags": supported_seccomp_flags(libseccomp::get_api())
            },
            // Applied when the host has them (lsm), refused with a clear error when not.
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            // intel_rdt: closID, the schemata fields and enableMonitoring (a MON group).
            "intelRdt": {"enabled": true, "schemata": true, "monitoring": true},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            // features-linux.md: true when the runtime reads uidMappings/gidMappings, whatever
            // this host's kernel can do (`idmap`).
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true}
        },
        "annotations": {
            "io.github.youki.version": version,
            "io.github.youki.commit": commit,
            "io.github.seccomp.libseccomp.version": libseccomp,
            EXECUTORS_ANNOTATION: executors.join(",")
        },
        "potentiallyUnsafeConfigAnnotations": unsafe_annotations
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mount_option_parses_without_error() {
        for o in MOUNT_OPTIONS {
            let parsed = crate::plan::mount_options::parse(&[o.to_string()]).unwrap();
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

    /// Every property features.md and features-linux.md (runtime-spec 1.3) define, and no other.
    #[test]
    fn document_has_every_key_of_features_md() {
        let d = document("0.1.0", "abc", &["default"]);
        let want = [
            "ociVersionMin",
            "ociVersionMax",
            "hooks",
            "mountOptions",
            "linux",
            "annotations",
            "potentiallyUnsafeConfigAnnotations",
            "linux.namespaces",
            "linux.capabilities",
            "linux.cgroup",
            "linux.seccomp",
            "linux.apparmor",
            "linux.selinux",
            "linux.intelRdt",
            "linux.memoryPolicy",
            "linux.mountExtensions",
            "linux.netDevices",
            "linux.cgroup.v1",
            "linux.cgroup.v2",
            "linux.cgroup.systemd",
            "linux.cgroup.systemdUser",
            "linux.cgroup.rdma",
            "linux.seccomp.enabled",
            "linux.seccomp.actions",
            "linux.seccomp.operators",
            "linux.seccomp.archs",
            "linux.seccomp.knownFlags",
            "linux.seccomp.supportedFlags",
            "linux.apparmor.enabled",
            "linux.selinux.enabled",
            "linux.intelRdt.enabled",
            "linux.intelRdt.schemata",
            "linux.intelRdt.monitoring",
            "linux.memoryPolicy.modes",
            "linux.memoryPolicy.flags",
            "linux.mountExtensions.idmap",
            "linux.mountExtensions.idmap.enabled",
            "linux.netDevices.enabled",
        ];
        for key in want {
            let mut v = &d;
            for part in key.split('.') {
                v = v.get(part).unwrap_or_else(|| panic!("features lacks {key}"));
            }
            assert!(!v.is_null(), "{key} is null");
        }
        // Nothing beyond the spec (features.md: no properties the version does not define).
        let mut keys: Vec<String> = Vec::new();
        fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
            if let Value::Object(m) = v {
                for (k, v) in m {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    if path != "annotations" {
                        walk(&path, v, out);
                    }
                    out.push(path);
                }
            }
        }
        walk("", &d, &mut keys);
        for k in keys {
            assert!(want.contains(&k.as_str()), "features has {k}, which runtime-spec 1.3 does not define");
        }
        assert_eq!(d["annotations"]["io.github.seccomp.libseccomp.version"].as_str().map(|v| v.split('.').count()), Some(3));
    }

    #[test]
    fn listed_seccomp_names_are_understood() {
        for arch in SECCOMP_ARCHS {
            let parsed: oci_spec::runtime::Arch = serde_json::from_value(json!(arch)).unwrap();
            let _ = parsed;
            assert!(arch.parse::<libseccomp::ScmpArch>().is_ok(), "{arch}");
        }
        for flag in SECCOMP_FLAGS {
            let _: oci_spec::runtime::LinuxSeccompFilterFlag = serde_json::from_value(json!(flag)).unwrap();
        }
    }

    #[test]
    fn supported_seccomp_flags_follow_the_api_level() {
        assert_eq!(supported_seccomp_flags(1), Vec::<&str>::new());
        assert_eq!(supported_seccomp_flags(3), vec!["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]);
        assert_eq!(supported_seccomp_flags(7), SECCOMP_FLAGS.to_vec());
    }

    #[test]
    fn listed_memory_policy_names_parse() {
        let d = document("0.1.0", "abc", &["default"]);
        for mode in d["linux"]["memoryPolicy"]["modes"].as_array().unwrap() {
            let _: oci_spec::runtime::MemoryPolicyModeType = serde_json::from_value(mode.clone()).unwrap();
        }
        for flag in d["linux"]["memoryPolicy"]["flags"].as_array().unwrap() {
            let _: oci_spec::runtime::MemoryPolicyFlagType = serde_json::from_value(flag.clone()).unwrap();
        }
    }
}
