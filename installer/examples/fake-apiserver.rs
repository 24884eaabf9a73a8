//! The tests' fake Kubernetes API server (tests/support/apiserver.rs) as a process, for
//! installer/tests/containerd.sh, which runs `youki-installer run` next to a real containerd
//! and has no API server either. Serves node `node-a`, writes DIR/kubeconfig, and appends
//! every request it answers to DIR/requests, one line each, until killed.
//!
//!   fake-apiserver DIR

#[allow(dead_code)] // the tests use the rest
#[path = "../tests/support/apiserver.rs"]
mod apiserver;

use std::io::Write;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: fake-apiserver DIR");
        std::process::exit(2);
    };
    let server = apiserver::FakeApiServer::start(&["node-a"]);
    server.kubeconfig(&dir);
    let mut written = 0;
    loop {
        let log = server.log();
        if log.len() > written {
            let mut f = match std::fs::OpenOptions::new().create(true).append(true).open(dir.join("requests")) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("fake-apiserver: open {}: {e}", dir.join("requests").display());
                    std::process::exit(1);
                }
            };
            for line in &log[written..] {
                let _ = writeln!(f, "{line}");
            }
            written = log.len();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
