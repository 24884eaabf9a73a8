//! One record from the kernel side, decoded from the ring buffer's bytes.
//! The byte layout mirrors `struct event` in `bpf/trace.bpf.c`.

/// Size of `struct event` in bytes.
pub const EVENT_SIZE: usize = 424;
const STR_LEN: usize = 128;
const SHORT_LEN: usize = 48;
/// Width of one argv slot inside `s1` for execve.
pub const ARGV_SLOT: usize = 32;
/// Bytes that follow an exec record (the head of its argument block) or a write to fd 2
/// (its payload): `BIG_LEN` in C.
pub const BIG_LEN: usize = 1024;

/// What the kernel saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A finished syscall, enter and exit paired.
    Syscall,
    /// A fork or clone of a traced process (`aux0` child, `aux1` parent tid).
    Fork,
    /// A successful exec (`s0` filename).
    Exec,
    /// A thread exited (`aux0` 1 when the whole process is gone).
    Exit,
    /// The comm name changed (`s0` old, `s1` new).
    Rename,
    /// A signal was generated (`aux0` sig, `aux1` target, `aux2` result, `s0` target comm).
    Signal,
    /// exit or exit_group, which never return (`args[0]` status).
    NoReturn,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("short event record: {0} bytes, expected {EVENT_SIZE}")]
    Short(usize),
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
}

/// A decoded event; strings keep their raw bytes up to the first NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub ts_ns: u64,
    pub dur_ns: u64,
    pub nr: i64,
    pub ret: i64,
    pub args: [u64; 6],
    pub kind: Kind,
    pub pid: u32,
    pub tid: u32,
    pub aux: [i32; 3],
    pub comm: String,
    pub s0: Vec<u8>,
    pub s1: Vec<u8>,
    pub s2: Vec<u8>,
    /// Exec records only: the head of the new image's argument block (`args[0]` bytes).
    pub head: Vec<u8>,
}

impl Event {
    /// An empty event of `kind`, for building recorded streams in tests and tools.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(kind: Kind, ts_ns: u64, pid: u32, comm: &str) -> Self {
        Event {
            ts_ns,
            dur_ns: 0,
            nr: -1,
            ret: 0,
            args: [0; 6],
            kind,
            pid,
            tid: pid,
            aux: [0; 3],
            comm: comm.to_string(),
            s0: Vec::new(),
            s1: Vec::new(),
            s2: Vec::new(),
            head: Vec::new(),
        }
    }

    /// The errno of a failed syscall, if it failed.
    pub fn errno(&self) -> Option<i64> {
        (self.kind == Kind::Syscall && (-4095..0).contains(&self.ret)).then_some(-self.ret)
    }

    /// `s0` as text (lossy), for paths and names.
    pub fn s0_text(&self) -> String {
        String::from_utf8_lossy(&self.s0).into_owned()
    }

    /// `s1` as text (lossy).
    pub fn s1_text(&self) -> String {
        String::from_utf8_lossy(&self.s1).into_owned()
    }

    /// `s2` as text (lossy), up to the first NUL.
    pub fn s2_text(&self) -> String {
        String::from_utf8_lossy(until_nul(&self.s2)).into_owned()
    }

    /// The payload prefix of a read or write (`aux0` bytes of `s0`).
    pub fn payload(&self) -> &[u8] {
        let n = usize::try_from(self.aux[0]).unwrap_or(0).min(self.s0.len());
        &self.s0[..n]
    }

    /// The arguments seen at exec: the whole block when its head holds it all, else from
    /// the tail of the block, whose first argument is then cut.
    pub fn exec_args(&self) -> (bool, Vec<String>) {
        if let Some(all) = self.whole_args() {
            return (false, all);
        }
        let n = usize::try_from(self.aux[1]).unwrap_or(0).min(self.s1.len());
        let cut = i64::from(self.aux[2]) > n as i64;
        let block = self.s1[..n].strip_suffix(&[0]).unwrap_or(&self.s1[..n]);
        let args = block.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        (cut, if n == 0 { Vec::new() } else { args })
    }

    /// Every argument of an exec, when the head copied the whole block.
    pub fn whole_args(&self) -> Option<Vec<String>> {
        let total = usize::try_from(self.aux[2]).ok()?;
        if self.head.is_empty() || self.head.len() < total {
            return None;
        }
        Some(split_args(&self.head))
    }

    /// The leading arguments of an exec; the last one may be cut when the block was longer
    /// than the head.
    pub fn head_args(&self) -> Vec<String> {
        split_args(&self.head)
    }

    /// The argv slots captured for execve.
    pub fn argv(&self) -> Vec<String> {
        let count = usize::try_from(self.aux[1]).unwrap_or(0);
        self.s1.chunks(ARGV_SLOT).take(count).map(|c| String::from_utf8_lossy(until_nul(c)).into_owned()).collect()
    }
}

/// Namespaces and exit status of the process behind an exec, exit or rename record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NsInfo {
    /// The pid as seen inside the process's own pid namespace.
    pub ns_pid: u32,
    pub pid_ns: u32,
    pub mnt_ns: u32,
    pub net_ns: u32,
    pub uts_ns: u32,
    pub ipc_ns: u32,
    pub cgroup_ns: u32,
    /// The kernel's exit status word (as wait(2) sees it) on exit records.
    pub exit_code: u32,
    /// The user namespace of the process's credentials.
    pub user_ns: u32,
}

impl Event {
    /// The namespace facts the kernel side records for exec, exit and rename.
    pub fn ns(&self) -> Option<NsInfo> {
        if !matches!(self.kind, Kind::Exec | Kind::Exit | Kind::Rename) || self.s2.len() < 36 {
            return None;
        }
        let w = |i: usize| u32_at(&self.s2, i * 4);
        Some(NsInfo {
            ns_pid: w(0),
            pid_ns: w(1),
            mnt_ns: w(2),
            net_ns: w(3),
            uts_ns: w(4),
            ipc_ns: w(5),
            cgroup_ns: w(6),
            exit_code: w(7),
            user_ns: w(8),
        })
    }
}

fn split_args(block: &[u8]) -> Vec<String> {
    if block.is_empty() {
        return Vec::new();
    }
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    block.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

/// Decodes one ring buffer record.
pub fn parse(b: &[u8]) -> Result<Event, EventError> {
    if b.len() < EVENT_SIZE {
        return Err(EventError::Short(b.len()));
    }
    let kind = match u32_at(b, 80) {
        1 => Kind::Syscall,
        2 => Kind::Fork,
        3 => Kind::Exec,
        4 => Kind::Exit,
        5 => Kind::Rename,
        6 => Kind::Signal,
        7 => Kind::NoReturn,
        k => return Err(EventError::UnknownKind(k)),
    };
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = u64_at(b, 32 + i * 8);
    }
    let s0 = &b[120..120 + STR_LEN];
    let s1 = &b[248..248 + STR_LEN];
    let s2 = &b[376..376 + SHORT_LEN];
    let aux = [u32_at(b, 92) as i32, u32_at(b, 96) as i32, u32_at(b, 100) as i32];
    let s0 = if kind == Kind::Syscall && is_payload(u64_at(b, 16) as i64) { s0.to_vec() } else { until_nul(s0).to_vec() };
    // execve keeps fixed-width argv slots in s1, exec the raw tail of the argument block.
    let s1 = if aux[1] > 0 && matches!(kind, Kind::Syscall | Kind::Exec) { s1.to_vec() } else { until_nul(s1).to_vec() };
    let big = b.len() >= EVENT_SIZE + BIG_LEN;
    let head = if kind == Kind::Exec && big {
        let n = usize::try_from(args[0]).unwrap_or(0).min(BIG_LEN);
        b[EVENT_SIZE..EVENT_SIZE + n].to_vec()
    } else {
        Vec::new()
    };
    // A write to fd 2 carries its payload after the record.
    let s0 = if kind == Kind::Syscall && big {
        let n = usize::try_from(aux[0]).unwrap_or(0).min(BIG_LEN);
        b[EVENT_SIZE..EVENT_SIZE + n].to_vec()
    } else {
        s0
    };
    Ok(Event {
        ts_ns: u64_at(b, 0),
        dur_ns: u64_at(b, 8),
        nr: u64_at(b, 16) as i64,
        ret: u64_at(b, 24) as i64,
        args,
        kind,
        pid: u32_at(b, 84),
        tid: u32_at(b, 88),
        aux,
        comm: String::from_utf8_lossy(until_nul(&b[104..120])).into_owned(),
        s0,
        s1,
        s2: s2.to_vec(),
        head,
    })
}

/// Syscalls whose `s0` holds binary payload bytes rather than a string.
pub fn is_payload(nr: i64) -> bool {
    matches!(nr, 0 | 1 | 44 | 45 | 170 | 171)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: u32) -> Vec<u8> {
        let mut b = vec![0u8; EVENT_SIZE];
        b[0..8].copy_from_slice(&1000u64.to_ne_bytes());
        b[16..24].copy_from_slice(&59i64.to_ne_bytes());
        b[24..32].copy_from_slice(&(-2i64).to_ne_bytes());
        b[80..84].copy_from_slice(&kind.to_ne_bytes());
        b[84..88].copy_from_slice(&42u32.to_ne_bytes());
        b[96..100].copy_from_slice(&2u32.to_ne_bytes());
        b[104..117].copy_from_slice(b"youki:process");
        b[120..125].copy_from_slice(b"/nope");
        b[248..250].copy_from_slice(b"ls");
        b[280..282].copy_from_slice(b"-l");
        b
    }

    #[test]
    fn decodes_a_failed_execve() {
        let e = parse(&raw(1)).unwrap();
        assert_eq!(e.kind, Kind::Syscall);
        assert_eq!(e.pid, 42);
        assert_eq!(e.comm, "youki:process");
        assert_eq!(e.s0_text(), "/nope");
        assert_eq!(e.argv(), vec!["ls", "-l"]);
        assert_eq!(e.errno(), Some(2));
    }

    #[test]
    fn splits_the_exec_argument_tail() {
        let mut e = Event::new(Kind::Exec, 0, 1, "youki");
        e.s1 = b"t=json\0create\0--bundle\0/b\0ctr-1\0".to_vec();
        e.aux = [0, e.s1.len() as i32, 300];
        let (cut, args) = e.exec_args();
        assert!(cut);
        assert_eq!(args, ["t=json", "create", "--bundle", "/b", "ctr-1"]);
    }

    #[test]
    fn prefers_the_whole_block_from_the_head_of_an_exec() {
        let block = b"youki\0--root\0/r\0create\0--bundle\0/b\0ctr-1\0";
        let mut b = raw(3);
        b[40..48].copy_from_slice(&0u64.to_ne_bytes());
        b[32..40].copy_from_slice(&(block.len() as u64).to_ne_bytes());
        b[100..104].copy_from_slice(&(block.len() as u32).to_ne_bytes());
        b.resize(EVENT_SIZE + BIG_LEN, 0);
        b[EVENT_SIZE..EVENT_SIZE + block.len()].copy_from_slice(block);
        let e = parse(&b).unwrap();
        assert_eq!(e.kind, Kind::Exec);
        let (cut, args) = e.exec_args();
        assert!(!cut);
        assert_eq!(args, ["youki", "--root", "/r", "create", "--bundle", "/b", "ctr-1"]);
        // a block longer than the head: the head is cut, the tail still ends with the id
        let mut e2 = e.clone();
        e2.aux[2] = 5000;
        assert_eq!(e2.whole_args(), None);
        assert_eq!(e2.head_args()[3], "create");
    }

    #[test]
    fn a_write_to_stderr_carries_its_whole_line_after_the_record() {
        let line = format!("{} (os error 28)\n", "x".repeat(300));
        let mut b = raw(1);
        b[16..24].copy_from_slice(&1i64.to_ne_bytes());
        b[24..32].copy_from_slice(&(line.len() as i64).to_ne_bytes());
        b[32..40].copy_from_slice(&2u64.to_ne_bytes());
        b[92..96].copy_from_slice(&(line.len() as u32).to_ne_bytes());
        b.resize(EVENT_SIZE + BIG_LEN, 0);
        b[EVENT_SIZE..EVENT_SIZE + line.len()].copy_from_slice(line.as_bytes());
        let e = parse(&b).unwrap();
        assert_eq!(e.payload(), line.as_bytes());
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        assert_eq!(parse(&[0u8; 10]), Err(EventError::Short(10)));
        assert_eq!(parse(&raw(99)), Err(EventError::UnknownKind(99)));
    }
}
