//! `wat2wasm IN.wat OUT.wasm`: the wasm executor's tests write their modules as text and
//! turn some into binaries with this, since no wasm compiler target is installed here.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: wat2wasm IN.wat OUT.wasm");
        return ExitCode::from(2);
    };
    match wat::parse_file(input) {
        Ok(bytes) => match std::fs::write(output, bytes) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("wat2wasm: write {output:?}: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("wat2wasm: {input:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every fixture is valid text; a typo shows here, not as a puzzling container failure.
    #[test]
    fn every_fixture_parses_to_a_module_with_start() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("modules");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wat") {
                let bytes = wat::parse_file(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                assert_eq!(&bytes[..4], b"\0asm", "{path:?}");
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(text.contains("(export \"_start\")"), "{path:?} has no _start");
                seen += 1;
            }
        }
        assert!(seen >= 5, "only {seen} fixtures in {dir:?}");
    }
}
