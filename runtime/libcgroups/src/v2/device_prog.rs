//! The BPF_PROG_TYPE_CGROUP_DEVICE program for a [`DeviceAccess`], as raw instructions.
//!
//! The kernel calls the program with a `struct bpf_cgroup_dev_ctx { u32 access_type;
//! u32 major; u32 minor; }`, where `access_type` is `access << 16 | kind`. It returns 1 to
//! allow and 0 to deny. The program has one block per exception, in list order:
//!
//! ```text
//!   r2 = ctx->access_type; r3 = r2 & 0xffff (kind); r2 >>= 16 (access)
//!   r4 = ctx->major; r5 = ctx->minor
//!   block i: if r3 != kind goto next; if r4 != major goto next (unless a wildcard);
//!            if r5 != minor goto next (unless a wildcard);
//!            default deny:  r6 = r2 & ~access; if r6 != 0 goto next   (all bits covered)
//!            default allow: r6 = r2 & access;  if r6 == 0 goto next   (any bit shared)
//!            r0 = !default; exit
//!   r0 = default; exit
//! ```
//!
//! which decides exactly as [`DeviceAccess::allows`] does.

use crate::device_rules::DeviceAccess;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const LDX_MEM_W: u8 = 0x61;
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const EXIT: u8 = 0x95;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

/// The instructions of the program that enforces `access`.
pub fn program(access: &DeviceAccess) -> Vec<Insn> {
    let mut out = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU64_MOV_X, 3, 2, 0, 0),
        insn(ALU64_AND_K, 3, 0, 0, 0xffff),
        insn(ALU64_RSH_K, 2, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    let verdict_on_match = i32::from(!access.default_allow);
    for ex in &access.exceptions {
        // Each test jumps to the end of its block; the offsets are filled in afterwards.
        let mut block = vec![insn(JMP_JNE_K, 3, 0, 0, ex.kind as i32)];
        if let Some(major) = ex.major {
            block.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = ex.minor {
            block.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(ALU64_MOV_X, 6, 2, 0, 0));
        if access.default_allow {
            block.push(insn(ALU64_AND_K, 6, 0, 0, i32::from(ex.access)));
            block.push(insn(JMP_JEQ_K, 6, 0, 0, 0));
        } else {
            block.push(insn(ALU64_AND_K, 6, 0, 0, i32::from(!ex.access & 0x7)));
            block.push(insn(JMP_JNE_K, 6, 0, 0, 0));
        }
        block.push(insn(ALU64_MOV_K, 0, 0, 0, verdict_on_match));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JMP_JNE_K || ins.code == JMP_JEQ_K {
                // A jump lands at pc + 1 + off; the next block starts at index `len`.
                ins.off = (len - i - 1) as i16;
            }
        }
        out.extend(block);
    }
    out.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(access.default_allow)));
    out.push(insn(EXIT, 0, 0, 0, 0));
    out
}

#[cfg(test)]
mod tests {
    //! The program is checked by running it in a small interpreter of the few instructions
    //! it uses, against `DeviceAccess::allows` over every request of interest. The real
    //! kernel runs it in the integration tests.

    use super::*;
    use crate::device_rules::{Kind, Request, MKNOD, READ, WRITE};

    fn run(prog: &[Insn], req: Request) -> u64 {
        let ctx = [((req.access as u32) << 16) | req.kind as u32, req.major, req.minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1);
                    r[dst] = ctx[(i.off / 4) as usize] as u64;
                }
                ALU64_MOV_X => r[dst] = r[src],
                ALU64_MOV_K => r[dst] = imm,
                ALU64_AND_K => r[dst] &= imm,
                ALU64_RSH_K => r[dst] >>= imm,
                JMP_JNE_K if r[dst] != imm => pc += i.off as usize,
                JMP_JEQ_K if r[dst] == imm => pc += i.off as usize,
                JMP_JNE_K | JMP_JEQ_K => {}
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn requests() -> Vec<Request> {
        let mut out = Vec::new();
        for kind in [Kind::Char, Kind::Block] {
            for (major, minor) in [(1, 3), (1, 5), (5, 0), (136, 0), (136, 9), (8, 0), (8, 16)] {
                for access in [READ, WRITE, READ | WRITE, MKNOD] {
                    out.push(Request { kind, major, minor, access });
                }
            }
        }
        out
    }

    #[test]
    fn the_program_decides_as_the_v1_semantics() {
        let lists = [
            r#"[]"#,
            r#"[{"allow":false,"access":"rwm"}]"#,
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":true,"type":"c","major":136,"access":"rw"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
            r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"b","major":8,"access":"w"},
                {"allow":false,"type":"c","major":5,"minor":0,"access":"rwm"}]"#,
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","access":"r"},{"allow":true,"type":"c","major":1,"access":"m"}]"#,
        ];
        for json in lists {
            let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
            let access = DeviceAccess::from_rules(&rules).unwrap();
            let prog = program(&access);
            for req in requests() {
                assert_eq!(run(&prog, req) == 1, access.allows(req), "{json} {req:?}");
            }
        }
    }

    #[test]
    fn wildcards_leave_out_their_test() {
        let access = DeviceAccess { default_allow: false, exceptions: vec![] };
        assert_eq!(program(&access).len(), 8);
        let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_str(r#"[{"allow":false},{"allow":true,"type":"c","major":136,"access":"rwm"}]"#).unwrap();
        // kind and major tests, the access test (3), the verdict (2).
        assert_eq!(program(&DeviceAccess::from_rules(&rules).unwrap()).len(), 8 + 7);
    }
}
