//! The BPF program loaded for linux.seccomp, and its load through seccomp(2).
//!
//! libseccomp compiles the profile; in front of its program goes a short stub that answers
//! ENOSYS for every syscall numbered above the highest one the profile names (per
//! architecture), as runc does. A profile written before a syscall existed (Docker's 2017
//! allowlist knows no statx, rseq, clone3, close_range or faccessat2) would otherwise refuse
//! it with its default action: EPERM, which C libraries and the runtime do not treat as
//! "not there", or a kill. ENOSYS makes them fall back to the older call, which the profile
//! does judge. A profile whose default action is SCMP_ACT_ALLOW gets no stub.
//!
//! The load is seccomp(2) itself rather than libseccomp's, so that every flag the
//! runtime-spec names (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV too, which libseccomp 2.5
//! lacks) reaches the kernel, and SECCOMP_FILTER_FLAG_NEW_LISTENER hands back the notify fd.

use std::os::fd::{FromRawFd, OwnedFd};

use crate::syserror::SysError;

/// AUDIT_ARCH_X86_64: also the token of x32, told apart by `X32_SYSCALL_BIT` in the number.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

/// The highest syscall number the profile names on one architecture (the kernel's number,
/// with `X32_SYSCALL_BIT` for x32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchMax {
    pub audit_arch: u32,
    /// x32 shares the x86_64 token: its numbers carry `X32_SYSCALL_BIT`.
    pub x32: bool,
    pub max: u32,
}

/// A jump target in the stub, resolved once the stub's length is known.
#[derive(Clone, Copy)]
enum To {
    Next,
    X32,
    Enosys,
    Main,
    Here,
}

/// The ENOSYS stub for these architectures; empty when there is nothing to answer.
/// Layout: `ld arch`, one block per architecture token, `ret ERRNO(ENOSYS)`; the program
/// that follows it (libseccomp's) is where every other syscall goes.
pub fn enosys_stub(arches: &[ArchMax]) -> Vec<libc::sock_filter> {
    let mut tokens: Vec<u32> = arches.iter().map(|a| a.audit_arch).collect();
    tokens.sort_unstable();
    tokens.dedup();
    if tokens.is_empty() {
        return Vec::new();
    }
    // (code, k, jt, jf) with symbolic targets; `Here` means "the next instruction".
    let mut code: Vec<(u16, u32, To, To)> = vec![(ld_abs(), OFFSET_ARCH, To::Here, To::Here)];
    let mut blocks = Vec::new(); // (start index, is last)
    for (i, token) in tokens.iter().enumerate() {
        blocks.push(code.len());
        let native = arches.iter().find(|a| a.audit_arch == *token && !a.x32).map(|a| a.max);
        let x32 = arches.iter().find(|a| a.audit_arch == *token && a.x32).map(|a| a.max);
        let next = if i + 1 == tokens.len() { To::Main } else { To::Next };
        code.push((jeq(), *token, To::Here, next));
        code.push((ld_abs(), OFFSET_NR, To::Here, To::Here));
        if *token == AUDIT_ARCH_X86_64 {
            // x32 numbers carry the bit: above every x86_64 number.
            code.push((jge(), X32_SYSCALL_BIT, if x32.is_some() { To::X32 } else { To::Main }, To::Here));
        }
        match native {
            Some(max) => code.push((jgt(), max, To::Enosys, To::Main)),
            None => code.push((jeq(), 0, To::Main, To::Main)),
        }
        if let (AUDIT_ARCH_X86_64, Some(max)) = (*token, x32) {
            code.push((jgt(), max, To::Enosys, To::Main));
        }
    }
    let enosys = code.len();
    let main = enosys + 1;
    let mut out = Vec::with_capacity(main);
    for (at, (c, k, jt, jf)) in code.iter().enumerate() {
        let resolve = |to: To| -> u8 {
            let target = match to {
                To::Here => at + 1,
                To::Next => blocks.iter().copied().find(|b| *b > at).unwrap_or(main),
                // The x32 compare is the block's last instruction.
                To::X32 => blocks.iter().copied().find(|b| *b > at).unwrap_or(enosys) - 1,
                To::Enosys => enosys,
                To::Main => main,
            };
            (target - at - 1) as u8
        };
        let (jt, jf) = if *c == ld_abs() { (0, 0) } else { (resolve(*jt), resolve(*jf)) };
        out.push(libc::sock_filter { code: *c, jt, jf, k: *k });
    }
    out.push(libc::sock_filter { code: ret(), jt: 0, jf: 0, k: SECCOMP_RET_ERRNO | libc::ENOSYS as u32 });
    out
}

fn ld_abs() -> u16 {
    (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16
}
fn jeq() -> u16 {
    (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16
}
fn jgt() -> u16 {
    (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16
}
fn jge() -> u16 {
    (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16
}
fn ret() -> u16 {
    (libc::BPF_RET | libc::BPF_K) as u16
}

/// Reads a program exported by libseccomp (`seccomp_export_bpf`: raw `sock_filter`s).
pub fn from_bytes(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect()
}

/// Loads `program` with `flags` (SECCOMP_FILTER_FLAG_*). With NEW_LISTENER, returns the
/// notify fd (close-on-exec, from the kernel).
pub fn load(program: &[libc::sock_filter], flags: libc::c_ulong) -> Result<Option<OwnedFd>, SysError> {
    let prog = libc::sock_fprog { len: program.len() as u16, filter: program.as_ptr() as *mut libc::sock_filter };
    // SAFETY: a valid sock_fprog whose filter outlives the call; the kernel copies it.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog as *const libc::sock_fprog) };
    if rc < 0 {
        return Err(SysError::new(format!("load the seccomp filter (flags {flags:#x})"), nix::Error::last()));
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the kernel returns a new fd that nothing else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Runs a classic BPF program on (arch, nr) as the kernel would: enough of the
    /// instruction set for the stub and libseccomp's programs (loads, K jumps, returns).
    pub fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let class = (i.code as u32) & 0x07;
            match class {
                c if c == libc::BPF_LD => {
                    acc = match i.k {
                        OFFSET_NR => nr,
                        OFFSET_ARCH => arch,
                        _ => 0, // instruction pointer and arguments: zero here
                    };
                    pc += 1;
                }
                c if c == libc::BPF_JMP => {
                    let op = (i.code as u32) & 0xf0;
                    let taken = match op {
                        o if o == libc::BPF_JA => {
                            pc += 1 + i.k as usize;
                            continue;
                        }
                        o if o == libc::BPF_JEQ => acc == i.k,
                        o if o == libc::BPF_JGT => acc > i.k,
                        o if o == libc::BPF_JGE => acc >= i.k,
                        o if o == libc::BPF_JSET => acc & i.k != 0,
                        _ => panic!("unexpected jump {:#x}", i.code),
                    };
                    pc += 1 + if taken { i.jt } else { i.jf } as usize;
                }
                c if c == libc::BPF_RET => return i.k,
                c if c == libc::BPF_ALU || c == libc::BPF_MISC || c == libc::BPF_ST || c == libc::BPF_LDX => pc += 1,
                _ => panic!("unexpected instruction {:#x}", i.code),
            }
        }
    }

    const ALLOW: u32 = 0x7fff_0000;
    const ENOSYS: u32 = SECCOMP_RET_ERRNO | 38;

    fn with_main(stub: Vec<libc::sock_filter>) -> Vec<libc::sock_filter> {
        let mut p = stub;
        p.push(libc::sock_filter { code: ret(), jt: 0, jf: 0, k: ALLOW });
        p
    }

    #[test]
    fn syscalls_above_the_highest_named_get_enosys_per_architecture() {
        let p = with_main(enosys_stub(&[
            ArchMax { audit_arch: AUDIT_ARCH_X86_64, x32: false, max: 328 },
            ArchMax { audit_arch: AUDIT_ARCH_I386, x32: false, max: 380 },
            ArchMax { audit_arch: AUDIT_ARCH_X86_64, x32: true, max: X32_SYSCALL_BIT | 547 },
        ]));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0), ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 328), ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 435), ENOSYS, "clone3");
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 436), ENOSYS, "close_range");
        assert_eq!(run(&p, AUDIT_ARCH_I386, 380), ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_I386, 435), ENOSYS);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1), ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 548), ENOSYS);
        assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 1000), ALLOW, "other architectures go to the main program");
    }

    #[test]
    fn x32_numbers_are_left_to_the_main_program_when_the_profile_has_no_x32() {
        let p = with_main(enosys_stub(&[ArchMax { audit_arch: AUDIT_ARCH_X86_64, x32: false, max: 100 }]));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1), ALLOW);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 101), ENOSYS);
        assert!(enosys_stub(&[]).is_empty());
    }

    #[test]
    fn exported_programs_read_back() {
        let raw = [0x20u8, 0, 0, 0, 4, 0, 0, 0, 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f];
        let p = from_bytes(&raw);
        assert_eq!(p.len(), 2);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 1), ALLOW);
    }
}
