//! `youki`: argument handling, logging setup and exit codes; the work is in libcontainer.

mod commands;
mod logging;

use liboci_cli::Cli;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("YOUKI_COMMIT");

fn main() {
    let cli = match Cli::try_parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            std::process::exit(liboci_cli::exit_code(&err));
        }
    };
    if cli.version {
        println!("youki version {VERSION}\ncommit: {COMMIT}\nspec: {}", libcontainer::state::OCI_VERSION);
        return;
    }
    let logging = match logging::init(&cli.global) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("youki: {e:#}");
            std::process::exit(1);
        }
    };
    if let Some(name) = cli.command.as_ref().map(commands::name) {
        libcontainer::telemetry::init(name);
    }
    let code = match commands::dispatch(cli) {
        Ok(code) => {
            libcontainer::telemetry::finish(None);
            code
        }
        Err(e) => {
            let msg = format!("{e:#}");
            tracing::error!("{msg}");
            if logging.to_file || tracing::level_filters::LevelFilter::current() < tracing::Level::ERROR {
                eprintln!("youki: {msg}");
            }
            libcontainer::telemetry::finish(Some(&msg));
            1
        }
    };
    std::process::exit(code);
}
