//! Fuzz target: arbitrary bytes as config.json, through the parser and the pure planner that
//! `create` runs before its first syscall. Errors are fine; a panic or a hang is a finding.

use std::path::Path;

fn main() {
    let host = libcontainer::plan::host::HostFacts::read_all().expect("read the host facts");
    let bundle = Path::new("/fuzz-bundle");
    let config = bundle.join("config.json");
    afl::fuzz!(|data: &[u8]| {
        if let Ok((spec, extras)) = libcontainer::create::parse_config(data, &config) {
            let _ = libcontainer::create::plan_config(&spec, &extras, bundle, &host);
        }
    });
}
