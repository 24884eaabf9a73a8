//! One small module per command; `dispatch` picks it and returns the exit code.

mod cgroups;
mod checkpoint;
mod create;
mod exec;
mod executors;
mod features;
mod info;
mod list;
mod spec;
mod state;

use std::path::PathBuf;

use anyhow::{bail, Result};
use libcontainer::lifecycle;
use liboci_cli::{Cli, Command, GlobalOpts};

pub fn dispatch(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    let Some(command) = cli.command else { bail!("no command given") };
    let root = root_dir(g);
    match command {
        Command::Create(c) => create::create(g, &root, c),
        Command::Run(r) => create::run(g, &root, r),
        Command::Start(s) => {
            lifecycle::start(&root, &s.container_id)?;
            Ok(0)
        }
        Command::State(s) => state::state(&root, &s.container_id),
        Command::Kill(k) if libcontainer::lifecycle::signal::is_zero(&k.signal) => {
            lifecycle::probe(&root, &k.container_id)?;
            Ok(0)
        }
        Command::Kill(k) => {
            let Some(sig) = libcontainer::lifecycle::signal::parse(&k.signal) else {
                return Err(libcontainer::ContainerError::BadSignal(k.signal).into());
            };
            lifecycle::kill(&root, &k.container_id, sig, k.all)?;
            Ok(0)
        }
        Command::Delete(d) => {
            lifecycle::delete(&root, &d.container_id, d.force)?;
            Ok(0)
        }
        Command::List(l) => list::list(&root, &l),
        Command::Spec(s) => spec::spec(&s),
        Command::Features(_) => features::features(),
        Command::Info(_) => info::info(),
        Command::Ps(p) => cgroups::ps(&root, &p),
        Command::Exec(e) => exec::exec(&root, e),
        Command::Update(u) => cgroups::update(&root, &u),
        Command::Pause(p) => cgroups::pause(&root, &p.container_id),
        Command::Resume(r) => cgroups::resume(&root, &r.container_id),
        Command::Events(e) => cgroups::events(&root, &e),
        Command::Checkpoint(c) => checkpoint::checkpoint(g, &root, c),
        Command::Restore(r) => checkpoint::restore(g, &root, r),
    }
}

/// The command's name, for the root span.
pub fn name(c: &Command) -> &'static str {
    match c {
        Command::Create(_) => "create",
        Command::Run(_) => "run",
        Command::Start(_) => "start",
        Command::State(_) => "state",
        Command::Kill(_) => "kill",
        Command::Delete(_) => "delete",
        Command::List(_) => "list",
        Command::Spec(_) => "spec",
        Command::Features(_) => "features",
        Command::Info(_) => "info",
        Command::Ps(_) => "ps",
        Command::Exec(_) => "exec",
        Command::Update(_) => "update",
        Command::Pause(_) => "pause",
        Command::Resume(_) => "resume",
        Command::Events(_) => "events",
        Command::Checkpoint(_) => "checkpoint",
        Command::Restore(_) => "restore",
    }
}

/// `--root`, else /run/youki for root, else $XDG_RUNTIME_DIR/youki.
fn root_dir(g: &GlobalOpts) -> PathBuf {
    if let Some(r) = &g.root {
        return r.clone();
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/youki");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) => PathBuf::from(d).join("youki"),
        None => PathBuf::from(format!("/tmp/youki-{}", nix::unistd::geteuid())),
    }
}
