//! `youki`: argument handling, logging setup and exit codes; the work is in libcontainer.

// The entry point is `entry::main`, without std's start-up (see there). The unit tests have
// std's harness as their main, so nothing calls `run` there: its callees would all be dead.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code))]

mod commands;
#[cfg(not(test))]
mod entry;
mod logging;
mod output;

use liboci_cli::Cli;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("YOUKI_COMMIT");

/// Runs the command line; never returns (every end goes through `std::process::exit`).
fn run() -> ! {
    output::end_quietly_on_broken_pipe();
    let cli = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            std::process::exit(liboci_cli::exit_code(&err));
        }
    };
    if cli.version {
        println!("youki version {VERSION}\ncommit: {COMMIT}\nspec: {}", libcontainer::create::state::OCI_VERSION);
        std::process::exit(0);
    }
    let logging = match logging::init(&cli.global) {
        Ok(l) => l,
        Err(e) => {
            // No log to write to: the line goes to stderr, in the asked format, as runc does.
            logging::to_stderr(&cli.global, &format!("{e:#}"));
            std::process::exit(1);
        }
    };
    if let Some(name) = cli.command.as_ref().map(commands::name) {
        libcontainer::telemetry::init(name);
    }
    // runc exits 255 when `exec` itself fails (and with the process's status otherwise).
    let failed = if matches!(cli.command, Some(liboci_cli::Command::Exec(_))) { 255 } else { 1 };
    let code = match commands::dispatch(cli) {
        Ok(code) => {
            libcontainer::telemetry::finish(None);
            code
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!("{msg}");
            if logging.log_flag {
                // runc's rule: with --log (any path, /dev/stderr too) the bare message also
                // goes to stderr; without it, the log line on stderr is all.
                eprintln!("{msg}");
            }
            libcontainer::telemetry::failed(e.chain(), &msg);
            libcontainer::telemetry::finish(Some(&msg));
            failed
        }
    };
    std::process::exit(code);
}
