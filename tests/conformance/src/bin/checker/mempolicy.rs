//! The checker's NUMA memory policy, from get_mempolicy(2): `{"mode": M, "flags": F, "nodes": [...]}`,
//! where mode is the MPOL_* number and flags the MPOL_F_* bits the kernel reports with it.

use crate::json::Json;

/// The mode flags get_mempolicy ORs into the mode (MPOL_F_STATIC_NODES, _RELATIVE_NODES,
/// _NUMA_BALANCING).
const MODE_FLAGS: i32 = (1 << 15) | (1 << 14) | (1 << 13);

pub fn facts() -> Vec<(String, Json)> {
    let mut mode: libc::c_int = 0;
    let mut mask = [0u64; 16];
    // SAFETY: mode and a 1024-node mask (maxnode counts one more), both live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            (mask.len() * 64 + 1) as libc::c_ulong,
            0usize,
            0usize,
        )
    };
    let value = if rc != 0 {
        Json::Null
    } else {
        let nodes = (0..mask.len() * 64).filter(|n| mask[n / 64] & (1u64 << (n % 64)) != 0);
        Json::Obj(vec![
            ("mode".into(), Json::num(mode & !MODE_FLAGS)),
            ("flags".into(), Json::num(mode & MODE_FLAGS)),
            ("nodes".into(), Json::Arr(nodes.map(Json::num).collect())),
        ])
    };
    vec![("mempolicy".into(), value)]
}
