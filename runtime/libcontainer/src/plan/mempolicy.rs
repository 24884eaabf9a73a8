//! `linux.memoryPolicy` (runtime-spec 1.3, config-linux.md "Memory policy"): the NUMA policy
//! of the container's process. `plan` checks mode, nodes and flags the way set_mempolicy(2)
//! would, with no syscall; `apply` makes the one call in init, and fork and execve pass the
//! policy on to the workload.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::syserror::SysError;

// The kernel's numbers (include/uapi/linux/mempolicy.h).
const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// The largest node number any kernel takes (MAX_NUMNODES with CONFIG_NODES_SHIFT = 10).
pub const MAX_NODE: u32 = 1023;

/// One set_mempolicy(2) call, decided up front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemPolicy {
    /// The mode with its flags ORed in, as the syscall takes it.
    pub mode: i32,
    /// The node mask, 64 nodes a word; empty for no nodes.
    pub mask: Vec<u64>,
    /// For messages: the mode's and nodes' names as the spec gave them.
    pub describe: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemPolicyError {
    #[error("invalid linux.memoryPolicy.nodes {nodes:?}: {why}")]
    Nodes { nodes: String, why: String },
    #[error("invalid linux.memoryPolicy: {mode} takes no nodes")]
    NodesForbidden { mode: String },
    #[error("invalid linux.memoryPolicy: {mode} needs at least one node")]
    NodesRequired { mode: String },
    #[error("invalid linux.memoryPolicy.flags: {why}")]
    Flags { why: String },
}

/// Checks a spec's memory policy; every rule the kernel would apply to the arguments alone.
pub fn plan(p: &LinuxMemoryPolicy) -> Result<MemPolicy, MemPolicyError> {
    let mode_name = p.mode().to_string();
    let nodes_text = p.nodes().clone().unwrap_or_default();
    let nodes = parse_nodes(&nodes_text)?;
    let flags = p.flags().clone().unwrap_or_default();
    let has = |f: MemoryPolicyFlagType| flags.contains(&f);
    let static_or_relative = has(MemoryPolicyFlagType::MpolFStaticNodes) || has(MemoryPolicyFlagType::MpolFRelativeNodes);

    let mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => MPOL_DEFAULT,
        MemoryPolicyModeType::MpolPreferred => MPOL_PREFERRED,
        MemoryPolicyModeType::MpolBind => MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolLocal => MPOL_LOCAL,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    match mode {
        MPOL_DEFAULT | MPOL_LOCAL if !nodes.is_empty() => return Err(MemPolicyError::NodesForbidden { mode: mode_name }),
        // MPOL_PREFERRED with no nodes is the local policy; the other modes need a node.
        MPOL_BIND | MPOL_INTERLEAVE | MPOL_WEIGHTED_INTERLEAVE | MPOL_PREFERRED_MANY if nodes.is_empty() => {
            return Err(MemPolicyError::NodesRequired { mode: mode_name })
        }
        _ => {}
    }

    let mut bits = 0;
    for f in &flags {
        bits |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    let flag_error = |why: &str| Err(MemPolicyError::Flags { why: why.to_string() });
    if has(MemoryPolicyFlagType::MpolFStaticNodes) && has(MemoryPolicyFlagType::MpolFRelativeNodes) {
        return flag_error("MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other");
    }
    if has(MemoryPolicyFlagType::MpolFNumaBalancing) && mode != MPOL_BIND && mode != MPOL_PREFERRED_MANY {
        return flag_error(&format!("MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not {mode_name}"));
    }
    // MPOL_DEFAULT drops its flags (the kernel takes and ignores them); the local policies
    // have no nodes for these flags to be about.
    if static_or_relative && (mode == MPOL_LOCAL || (mode == MPOL_PREFERRED && nodes.is_empty())) {
        return flag_error(&format!("MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, and {mode_name} has none"));
    }

    let mut mask = Vec::new();
    for n in nodes {
        let word = (n / 64) as usize;
        if mask.len() <= word {
            mask.resize(word + 1, 0);
        }
        mask[word] |= 1u64 << (n % 64);
    }
    let describe = if nodes_text.is_empty() { mode_name } else { format!("{mode_name} nodes {nodes_text:?}") };
    Ok(MemPolicy { mode: mode | bits, mask, describe })
}

/// Parses a node list like `0-3,7` (config-linux.md): numbers and ranges, comma separated.
/// The empty string is no nodes.
pub fn parse_nodes(text: &str) -> Result<Vec<u32>, MemPolicyError> {
    let bad = |why: String| MemPolicyError::Nodes { nodes: text.to_string(), why };
    let mut out: Vec<u32> = Vec::new();
    if text.is_empty() {
        return Ok(out);
    }
    let number = |s: &str| -> Result<u32, MemPolicyError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("{s:?} is not a node number")));
        }
        let n: u32 = s.parse().map_err(|_| bad(format!("node {s} is above {MAX_NODE}")))?;
        if n > MAX_NODE {
            return Err(bad(format!("node {n} is above {MAX_NODE}")));
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(bad(format!("range {part:?} runs backwards")));
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Sets the calling thread's policy; children and the executed program inherit it.
pub fn apply(p: &MemPolicy) -> Result<(), SysError> {
    let (ptr, maxnode) = if p.mask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits.
        (p.mask.as_ptr(), p.mask.len() as libc::c_ulong * 64 + 1)
    };
    // SAFETY: the mask holds maxnode - 1 bits and outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_set_mempolicy, p.mode as libc::c_long, ptr, maxnode) };
    if rc != 0 {
        return Err(SysError::new(format!("set_mempolicy {}", p.describe), nix::Error::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Result<MemPolicy, String> {
        // Unknown modes and flags never get here: parsing config.json refuses them, naming the field.
        let p: LinuxMemoryPolicy = serde_json::from_value(v).map_err(|e| e.to_string())?;
        plan(&p).map_err(|e| e.to_string())
    }

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_nodes("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_nodes("5,1,1-2").unwrap(), vec![1, 2, 5]);
        assert_eq!(parse_nodes("1023").unwrap(), vec![1023]);
        for (bad, why) in [
            ("0-", r#""" is not a node number"#),
            ("a", r#""a" is not a node number"#),
            ("0,,1", r#""" is not a node number"#),
            (" 0", r#"" 0" is not a node number"#),
            ("-1", r#""" is not a node number"#),
            ("3-1", r#"range "3-1" runs backwards"#),
            ("1024", "node 1024 is above 1023"),
            ("99999999999", "node 99999999999 is above 1023"),
        ] {
            assert_eq!(parse_nodes(bad).unwrap_err().to_string(), format!("invalid linux.memoryPolicy.nodes {bad:?}: {why}"));
        }
    }

    #[test]
    fn modes_and_their_nodes() {
        let bind = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0-1,64"})).unwrap();
        assert_eq!(bind.mode, MPOL_BIND);
        assert_eq!(bind.mask, vec![0b11, 1]);
        assert_eq!(policy(serde_json::json!({"mode": "MPOL_LOCAL"})).unwrap().mode, MPOL_LOCAL);
        assert_eq!(policy(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": ""})).unwrap().mask, Vec::<u64>::new());
        assert_eq!(policy(serde_json::json!({"mode": "MPOL_PREFERRED"})).unwrap().mode, MPOL_PREFERRED);
        assert_eq!(policy(serde_json::json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"})).unwrap().mode, 6);
        assert_eq!(policy(serde_json::json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"})).unwrap().mode, 5);
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_LOCAL", "nodes": "0"})).unwrap_err(),
            "invalid linux.memoryPolicy: MPOL_LOCAL takes no nodes"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "1"})).unwrap_err(),
            "invalid linux.memoryPolicy: MPOL_DEFAULT takes no nodes"
        );
        for mode in ["MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY"] {
            assert_eq!(
                policy(serde_json::json!({"mode": mode})).unwrap_err(),
                format!("invalid linux.memoryPolicy: {mode} needs at least one node")
            );
        }
        assert!(policy(serde_json::json!({"mode": "MPOL_NOPE"})).is_err());
    }

    #[test]
    fn flags_the_kernel_refuses() {
        let p = policy(serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]})).unwrap();
        assert_eq!(p.mode, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES);
        let p = policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES"]}))
            .unwrap();
        assert_eq!(p.mode, MPOL_BIND | MPOL_F_NUMA_BALANCING | MPOL_F_RELATIVE_NODES);
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}))
                .unwrap_err(),
            "invalid linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]})).unwrap_err(),
            "invalid linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not MPOL_INTERLEAVE"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]})).unwrap_err(),
            "invalid linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, and MPOL_PREFERRED has none"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_LOCAL", "flags": ["MPOL_F_RELATIVE_NODES"]})).unwrap_err(),
            "invalid linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, and MPOL_LOCAL has none"
        );
        assert_eq!(
            policy(serde_json::json!({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_NUMA_BALANCING"]})).unwrap_err(),
            "invalid linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY, not MPOL_DEFAULT"
        );
        assert!(policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_BOGUS"]})).is_err());
    }

    #[test]
    fn apply_sets_this_threads_policy() {
        // In a thread of its own, so the test runner's other threads keep the default.
        std::thread::spawn(|| {
            apply(&policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0"})).unwrap()).unwrap();
            let mut mode: libc::c_int = -1;
            let mut mask = [0u64; 16];
            // SAFETY: mode and a 1024-bit mask, both live for the call.
            let rc = unsafe { libc::syscall(libc::SYS_get_mempolicy, &mut mode as *mut _, mask.as_mut_ptr(), 1025u64, 0u64, 0u64) };
            assert_eq!(rc, 0);
            assert_eq!((mode, mask[0]), (MPOL_BIND, 1));
            // The combinations plan lets through, the kernel takes.
            for v in [
                serde_json::json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_STATIC_NODES"]}),
                serde_json::json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
                serde_json::json!({"mode": "MPOL_PREFERRED"}),
                serde_json::json!({"mode": "MPOL_LOCAL"}),
                serde_json::json!({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_STATIC_NODES"]}),
                serde_json::json!({"mode": "MPOL_DEFAULT"}),
            ] {
                apply(&policy(v.clone()).unwrap()).unwrap_or_else(|e| panic!("{v}: {e}: {}", e.errno));
            }
            // And what plan refuses, the kernel refuses too (EINVAL), asked directly.
            let node0 = vec![1u64];
            for (mode, mask) in [
                (MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, node0.clone()),
                (MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, node0.clone()),
                (MPOL_DEFAULT | MPOL_F_NUMA_BALANCING, vec![]),
                (MPOL_PREFERRED | MPOL_F_STATIC_NODES, vec![]),
                (MPOL_LOCAL | MPOL_F_RELATIVE_NODES, vec![]),
                (MPOL_LOCAL, node0.clone()),
                (MPOL_DEFAULT, node0.clone()),
                (MPOL_BIND, vec![]),
                (MPOL_INTERLEAVE, vec![]),
                (MPOL_WEIGHTED_INTERLEAVE, vec![]),
                (MPOL_PREFERRED_MANY, vec![]),
            ] {
                let raw = MemPolicy { mode, mask, describe: String::new() };
                assert_eq!(apply(&raw).map_err(|e| e.errno), Err(nix::Error::EINVAL), "{mode:#x}");
            }
            let e = apply(&policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "1000"})).unwrap()).unwrap_err();
            assert_eq!(e.to_string(), r#"set_mempolicy MPOL_BIND nodes "1000""#);
            assert_eq!(e.errno, nix::Error::EINVAL);
        })
        .join()
        .unwrap();
    }
}
