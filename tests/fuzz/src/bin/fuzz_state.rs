//! Fuzz target: arbitrary bytes as a container's state.json, through the decoder every
//! command but `create` starts with, and the status it derives. Errors are fine; a panic is
//! a finding.

fn main() {
    let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).expect("a temp dir");
    let file = dir.path().join(libcontainer::create::state::STATE_FILE);
    afl::fuzz!(|data: &[u8]| {
        if std::fs::write(&file, data).is_ok() {
            if let Ok(st) = libcontainer::create::state::load(dir.path()) {
                let _ = st.to_oci(st.live_status(dir.path()));
            }
        }
    });
}
