//! `create` and `run`.

use std::path::Path;

use anyhow::Result;
use libcontainer::create::{Console, CreateOptions};
use libcontainer::executor::Executor;
use libcontainer::lifecycle::run::RunOptions;
use liboci_cli::{Create, CreateOpts, GlobalOpts, Rootless, Run};

fn options<'a>(
    g: &GlobalOpts,
    root: &'a Path,
    o: &'a CreateOpts,
    id: &'a str,
    foreground: bool,
    executor: &'a dyn Executor,
) -> CreateOptions<'a> {
    CreateOptions {
        root,
        id,
        bundle: &o.bundle,
        console: match &o.console_socket {
            Some(p) => Console::Socket(p.clone()),
            None if foreground => Console::Proxy,
            None => Console::None,
        },
        pid_file: o.pid_file.as_deref(),
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: o.preserve_fds as i32,
        systemd_cgroup: g.systemd_cgroup,
        rootless: match g.rootless {
            Rootless::True => true,
            Rootless::False => false,
            Rootless::Auto => !nix::unistd::geteuid().is_root(),
        },
        executor,
        pidfd_socket: o.pidfd_socket.as_deref(),
    }
}

pub fn create(g: &GlobalOpts, root: &Path, c: Create) -> Result<i32> {
    let executor = super::executors::all();
    libcontainer::create::create(options(g, root, &c.opts, &c.container_id, false, &executor))?;
    Ok(0)
}

pub fn run(g: &GlobalOpts, root: &Path, r: Run) -> Result<i32> {
    let o = RunOptions { detach: r.detach, keep: r.keep, no_subreaper: r.no_subreaper };
    let executor = super::executors::all();
    Ok(libcontainer::lifecycle::run::run(options(g, root, &r.opts, &r.container_id, !r.detach, &executor), o)?)
}
