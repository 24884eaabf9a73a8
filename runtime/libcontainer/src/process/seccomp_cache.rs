//! Compiled seccomp programs kept in the state root, so that a profile is compiled by
//! libseccomp once and read back by every later `create` and `exec` that loads it.
//!
//! libseccomp takes about 11 ms of CPU to compile a Docker-like allow-list of 340 names on
//! three architectures; reading an entry back takes a few syscalls. The parent resolves the
//! program before anything is made (a profile libseccomp refuses leaves nothing behind), and
//! init or exec's child inherits it across clone.
//!
//! Trust. Entries live in `<root>/.cache/seccomp` (the root is 0700; its state files already
//! name the hooks the runtime runs as root). An entry is used only when it is a regular file
//! of the runtime's own uid that no one else may write, its checksum holds, and every byte of
//! its key matches the key of the filter asked for: the profile as JSON, libseccomp's version
//! and API level, the kernel, the native architecture, and a digest of the code that builds
//! the program. So a hash collision, a torn write or a stale entry costs a compile, never a
//! wrong filter. Entries are written to a temp file and renamed in, without fsync (a lost
//! entry costs a compile too), and the directory is emptied when it holds `MAX_ENTRIES`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::process::seccomp::{self, Filter, Profile, SeccompError};

/// Where the entries go, below the state root.
pub const DIR: &str = ".cache/seccomp";
const MAGIC: &[u8; 8] = b"YKSCMP01";
const HEADER: usize = 8 + 4 + 4 + 8 + 8;
const MAX_ENTRIES: usize = 64;
const MAX_FILE: u64 = 4 << 20;

/// A digest of the code that turns a profile into a program: a change to it (the ENOSYS stub,
/// the mapping of actions) makes every older entry a miss even without a version bump.
const CODE_DIGEST: u64 = {
    let h = fnv(FNV_OFFSET, include_bytes!("seccomp.rs"));
    let h = fnv(h, include_bytes!("seccomp_bpf.rs"));
    fnv(h, include_bytes!("seccomp_cache.rs"))
};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: names entries and checks their bytes (not a defence: the key is compared
/// whole).
const fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// The program for `profile`: from the cache under `root` when an entry matches, else
/// compiled and stored there. When the cache cannot be read or written it is compiled as
/// before; only a compile error fails.
pub fn compile(root: &Path, profile: &Profile) -> Result<Filter, SeccompError> {
    let key = key(profile);
    let path = root.join(DIR).join(format!("{:016x}.bpf", fnv(FNV_OFFSET, &key)));
    if let Some(filter) = lookup(&path, &key) {
        return Ok(filter);
    }
    let filter = seccomp::build(profile)?;
    if let Err(e) = store(root, &path, &key, &filter) {
        tracing::debug!("seccomp cache: not stored at {path:?}: {e}");
    }
    Ok(filter)
}

/// Everything the compiled program depends on.
fn key(profile: &Profile) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 << 10);
    let lib = libseccomp::ScmpVersion::current().map(|v| v.to_string()).unwrap_or_default();
    let uts = nix::sys::utsname::uname().ok();
    let (release, version) = uts.as_ref().map(|u| (u.release().to_string_lossy(), u.version().to_string_lossy())).unwrap_or_default();
    let _ = writeln!(
        k,
        "code {CODE_DIGEST:016x} crate {} libseccomp {lib} api {} kernel {release} {version} arch {:?}",
        env!("CARGO_PKG_VERSION"),
        libseccomp::get_api(),
        libseccomp::ScmpArch::native(),
    );
    // oci-spec's seccomp types hold no maps: the JSON of a profile is always the same bytes.
    let _ = serde_json::to_writer(&mut k, profile);
    k
}

/// The entry at `path` if it is trustworthy and made for `key`.
fn lookup(path: &Path, key: &[u8]) -> Option<Filter> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o022 != 0 || meta.len() > MAX_FILE {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut &file, &mut bytes).ok()?;
    decode(&bytes, key)
}

/// An entry's bytes: magic, key length, instruction count, load flags, checksum (all
/// little-endian), the key, the instructions (8 bytes each, as the kernel takes them).
fn encode(key: &[u8], filter: &Filter) -> Vec<u8> {
    let program = filter.program_bytes();
    let mut out = Vec::with_capacity(HEADER + key.len() + program.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(&((program.len() / 8) as u32).to_le_bytes());
    let flags: u64 = filter.flags();
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&fnv(fnv(FNV_OFFSET, key), &program).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&program);
    out
}

/// Pure: the filter in `bytes` when they are a whole entry made for `key`.
fn decode(bytes: &[u8], key: &[u8]) -> Option<Filter> {
    let word = |at: usize| -> Option<u32> { Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?)) };
    let long = |at: usize| -> Option<u64> { Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?)) };
    if bytes.get(..8)? != MAGIC {
        return None;
    }
    let (key_len, count, flags, sum) = (word(8)? as usize, word(12)? as usize, long(16)?, long(24)?);
    if bytes.len() != HEADER + key_len + count * 8 || count == 0 || count > u16::MAX as usize {
        return None;
    }
    let (stored_key, program) = bytes[HEADER..].split_at(key_len);
    if stored_key != key || fnv(fnv(FNV_OFFSET, stored_key), program) != sum {
        return None;
    }
    Some(Filter::from_parts(crate::process::seccomp_bpf::from_bytes(program), flags as libc::c_ulong))
}

/// Writes the entry (temp file and rename), making the directory (0700) when needed.
fn store(root: &Path, path: &Path, key: &[u8], filter: &Filter) -> std::io::Result<()> {
    let dir: PathBuf = root.join(DIR);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    if std::fs::read_dir(&dir)?.count() >= MAX_ENTRIES {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(&tmp)?;
        f.write_all(&encode(key, filter))?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn profile(v: serde_json::Value) -> Profile {
        Profile::from(serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(v).unwrap())
    }

    fn allow_list() -> Profile {
        profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}))
    }

    fn entries(root: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(root.join(DIR)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    }

    #[test]
    fn a_second_compile_reads_the_entry_back() {
        let root = tempfile::tempdir().unwrap();
        let first = compile(root.path(), &allow_list()).unwrap();
        let stored = entries(root.path());
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(std::fs::metadata(&stored[0]).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(root.path().join(DIR)).unwrap().permissions().mode() & 0o777, 0o700);
        // Mark the stored program: the next compile must return it, not a fresh one.
        let key = key(&allow_list());
        let mut marked = first.clone();
        marked.mark_for_test();
        std::fs::write(&stored[0], encode(&key, &marked)).unwrap();
        let again = compile(root.path(), &allow_list()).unwrap();
        assert_eq!(again, marked);
        assert_ne!(again, first);
        assert_eq!(seccomp::build(&allow_list()).unwrap(), first);
    }

    #[test]
    fn another_profile_or_a_damaged_entry_is_compiled_afresh() {
        let root = tempfile::tempdir().unwrap();
        let fresh = seccomp::build(&allow_list()).unwrap();
        let key = key(&allow_list());
        let path = |k: &[u8]| root.path().join(DIR).join(format!("{:016x}.bpf", fnv(FNV_OFFSET, k)));
        std::fs::create_dir_all(root.path().join(DIR)).unwrap();
        let mut marked = fresh.clone();
        marked.mark_for_test();
        // The entry of another key under this key's name (a collision): not used.
        std::fs::write(path(&key), encode(b"another key", &marked)).unwrap();
        assert_eq!(compile(root.path(), &allow_list()).unwrap(), fresh);
        // A torn entry, or one with a wrong checksum: not used.
        let whole = encode(&key, &marked);
        for bad in [whole[..whole.len() - 8].to_vec(), {
            let mut b = whole.clone();
            *b.last_mut().unwrap() ^= 1;
            b
        }] {
            assert!(decode(&bad, &key).is_none());
        }
        assert_eq!(decode(&whole, &key), Some(marked.clone()));
        // An entry others may write: not used.
        std::fs::write(path(&key), &whole).unwrap();
        std::fs::set_permissions(path(&key), std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(compile(root.path(), &allow_list()).unwrap(), fresh);
        // A different profile has a different key.
        let other =
            profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}));
        assert_ne!(super::key(&other), key);
    }

    #[test]
    fn a_root_the_cache_cannot_use_still_compiles() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let filter = compile(file.path(), &allow_list()).unwrap();
        assert_eq!(filter, seccomp::build(&allow_list()).unwrap());
        // A profile libseccomp refuses fails whatever the cache holds.
        let bad = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        let root = tempfile::tempdir().unwrap();
        assert!(compile(root.path(), &bad).is_err());
        assert!(entries(root.path()).is_empty());
    }

    #[test]
    fn a_full_directory_is_emptied_before_a_new_entry() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(DIR)).unwrap();
        for i in 0..MAX_ENTRIES {
            std::fs::write(root.path().join(DIR).join(format!("{i}.bpf")), b"x").unwrap();
        }
        compile(root.path(), &allow_list()).unwrap();
        assert_eq!(entries(root.path()).len(), 1);
    }
}
