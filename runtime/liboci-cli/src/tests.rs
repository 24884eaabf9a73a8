//! Parses the argv lines real callers use (containerd's shim, people at a shell).

use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::CommandFactory;

use crate::*;

/// Parses an argv given as exact words (for arguments that contain spaces).
fn parse_argv(words: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_args(std::iter::once("youki").chain(words.iter().copied()))
}

/// Parses a command line written as one string; words are split on whitespace.
fn parse(line: &str) -> Cli {
    let words: Vec<&str> = line.split_whitespace().collect();
    parse_argv(&words).unwrap_or_else(|err| panic!("{line:?} failed to parse:\n{err}"))
}

fn parse_err(line: &str) -> clap::Error {
    let words: Vec<&str> = line.split_whitespace().collect();
    match parse_argv(&words) {
        Ok(cli) => panic!("{line:?} parsed, but should fail: {cli:?}"),
        Err(err) => err,
    }
}

fn command(line: &str) -> Command {
    parse(line).command.expect("a command")
}

fn p(path: &str) -> PathBuf {
    PathBuf::from(path)
}

/// containerd's global prefix: `--root R --log B/log.json --log-format json`.
const SHIM: &str = "--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json";

fn shim(rest: &str) -> Cli {
    parse(&format!("{SHIM} {rest}"))
}

#[test]
fn clap_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn containerd_create_with_globals_first() {
    let cli = shim(
        "create --bundle /b --pid-file /b/init.pid --console-socket /tmp/s.sock \
        --no-pivot --no-new-keyring abc",
    );
    assert_eq!(cli.global.root, Some(p("/run/containerd/runc/k8s.io")));
    assert_eq!(cli.global.log, Some(p("/b/log.json")));
    assert_eq!(cli.global.log_format, LogFormat::Json);
    assert!(!cli.global.systemd_cgroup);
    let Some(Command::Create(create)) = cli.command else { panic!("not create: {cli:?}") };
    assert_eq!(
        create,
        Create {
            opts: CreateOpts {
                bundle: p("/b"),
                console_socket: Some(p("/tmp/s.sock")),
                pid_file: Some(p("/b/init.pid")),
                no_pivot: true,
                no_new_keyring: true,
                preserve_fds: 0,
                pidfd_socket: None,
            },
            container_id: "abc".into(),
        }
    );
}

#[test]
fn containerd_systemd_cgroup_flag() {
    let cli = shim("--systemd-cgroup start abc");
    assert!(cli.global.systemd_cgroup);
    assert_eq!(cli.command, Some(Command::Start(Start { container_id: "abc".into() })));
}

#[test]
fn containerd_exec_with_process_file() {
    let cli = shim(
        "exec --process /tmp/runc-process123 --console-socket /tmp/pty.sock --detach \
        --pid-file /b/exec.pid abc",
    );
    let Some(Command::Exec(exec)) = cli.command else { panic!("not exec") };
    assert_eq!(exec.process, Some(p("/tmp/runc-process123")));
    assert_eq!(exec.console_socket, Some(p("/tmp/pty.sock")));
    assert!(exec.detach);
    assert_eq!(exec.pid_file, Some(p("/b/exec.pid")));
    assert_eq!(exec.container_id, "abc");
    assert!(exec.command.is_empty());
}

#[test]
fn containerd_update_reads_stdin() {
    let Some(Command::Update(update)) = shim("update --resources - abc").command else { panic!("not update") };
    assert_eq!(update.resources, Some(p("-")));
    assert_eq!(update.container_id, "abc");
    assert_eq!(update.memory, None);
}

#[test]
fn containerd_kill_forms() {
    assert_eq!(shim("kill abc 15").command, Some(Command::Kill(Kill { all: false, container_id: "abc".into(), signal: "15".into() })));
    assert_eq!(shim("kill --all abc 9").command, Some(Command::Kill(Kill { all: true, container_id: "abc".into(), signal: "9".into() })));
}

#[test]
fn containerd_remaining_calls() {
    let id = || "abc".to_string();
    assert_eq!(shim("pause abc").command, Some(Command::Pause(Pause { container_id: id() })));
    assert_eq!(shim("resume abc").command, Some(Command::Resume(Resume { container_id: id() })));
    assert_eq!(
        shim("ps --format json abc").command,
        Some(Command::Ps(Ps { format: OutputFormat::Json, container_id: id(), ps_options: vec![] }))
    );
    assert_eq!(shim("delete abc").command, Some(Command::Delete(Delete { force: false, container_id: id() })));
    assert_eq!(shim("delete --force abc").command, Some(Command::Delete(Delete { force: true, container_id: id() })));
    assert_eq!(shim("state abc").command, Some(Command::State(State { container_id: id() })));
    assert_eq!(shim("features").command, Some(Command::Features(Features {})));
}

#[test]
fn kill_defaults_to_sigterm_and_keeps_signal_text() {
    assert_eq!(command("kill abc"), Command::Kill(Kill { all: false, container_id: "abc".into(), signal: "SIGTERM".into() }));
    assert_eq!(command("kill abc 9"), Command::Kill(Kill { all: false, container_id: "abc".into(), signal: "9".into() }));
    assert_eq!(command("kill --all abc KILL"), Command::Kill(Kill { all: true, container_id: "abc".into(), signal: "KILL".into() }));
    assert_eq!(command("kill -a abc SIGKILL"), Command::Kill(Kill { all: true, container_id: "abc".into(), signal: "SIGKILL".into() }));
}

#[test]
fn run_detached_and_kept() {
    let Command::Run(run) = command("run -d --keep abc") else { panic!("not run") };
    assert!(run.detach && run.keep && !run.no_subreaper);
    assert_eq!(run.opts.bundle, p("."));
    assert_eq!(run.opts.preserve_fds, 0);
    assert_eq!(run.container_id, "abc");

    let Command::Run(run) = command("run -b /b --preserve-fds 2 --no-subreaper --pid-file /p x") else { panic!("not run") };
    assert_eq!(run.opts.bundle, p("/b"));
    assert_eq!(run.opts.preserve_fds, 2);
    assert_eq!(run.opts.pid_file, Some(p("/p")));
    assert!(run.no_subreaper && !run.detach);
}

#[test]
fn exec_command_keeps_its_own_flags() {
    let cli = parse_argv(&["exec", "-t", "--user", "1000:1000", "abc", "sh", "-c", "echo hi"]);
    let Some(Command::Exec(exec)) = cli.unwrap().command else { panic!("not exec") };
    assert!(exec.tty);
    assert_eq!(exec.user.as_deref(), Some("1000:1000"));
    assert_eq!(exec.container_id, "abc");
    assert_eq!(exec.command, ["sh", "-c", "echo hi"]);
    assert!(exec.cap.is_empty(), "-c after the command must not be --cap");
}

#[test]
fn exec_repeated_flags_and_double_dash() {
    let Command::Exec(exec) = command(
        "exec -e A=1 --env B=2 -g 10 --additional-gids 20 -c CAP_NET_ADMIN --cap \
        CAP_SYS_TIME --cwd /tmp --no-new-privs --apparmor prof --process-label lbl \
        --preserve-fds 1 --ignore-paused --cgroup memory:sub abc -- ls -l",
    ) else {
        panic!("not exec")
    };
    assert_eq!(exec.env, ["A=1", "B=2"]);
    assert_eq!(exec.additional_gids, [10, 20]);
    assert_eq!(exec.cap, ["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    assert_eq!(exec.cwd, Some(p("/tmp")));
    assert!(exec.no_new_privs && exec.ignore_paused);
    assert_eq!(exec.apparmor.as_deref(), Some("prof"));
    assert_eq!(exec.process_label.as_deref(), Some("lbl"));
    assert_eq!(exec.preserve_fds, 1);
    assert_eq!(exec.cgroup, ["memory:sub"]);
    assert_eq!(exec.command, ["ls", "-l"]);
}

#[test]
fn exec_needs_a_command_or_process_file() {
    assert_eq!(parse_err("exec abc").kind(), ErrorKind::MissingRequiredArgument);
}

#[test]
fn log_format_json_before_the_command() {
    let cli = parse("--log-format json list");
    assert_eq!(cli.global.log_format, LogFormat::Json);
    assert_eq!(cli.command, Some(Command::List(List { format: OutputFormat::Table, quiet: false })));
}

#[test]
fn global_flags_also_work_after_the_command() {
    let cli = parse("state --root /r --log-format json --debug abc");
    assert_eq!(cli.global.root, Some(p("/r")));
    assert_eq!(cli.global.log_format, LogFormat::Json);
    assert!(cli.global.debug);
}

#[test]
fn global_defaults() {
    let cli = parse("list");
    assert_eq!(
        cli.global,
        GlobalOpts {
            root: None,
            log: None,
            log_format: LogFormat::Text,
            log_level: None,
            debug: false,
            systemd_cgroup: false,
            rootless: Rootless::Auto,
            criu: p("criu"),
        }
    );
}

#[test]
fn global_values() {
    let cli = parse("--rootless true --log-level warn --criu /usr/sbin/criu list");
    assert_eq!(cli.global.rootless, Rootless::True);
    assert_eq!(cli.global.log_level, Some(LogLevel::Warn));
    assert_eq!(cli.global.criu, p("/usr/sbin/criu"));
    assert_eq!(parse("--rootless false list").global.rootless, Rootless::False);
    assert_eq!(parse_err("--rootless maybe list").kind(), ErrorKind::InvalidValue);
    assert_eq!(parse_err("--log-format xml list").kind(), ErrorKind::InvalidValue);
}

#[test]
fn spec_rootless_is_not_the_global_one() {
    let cli = parse("--rootless false spec --rootless -b /b");
    assert_eq!(cli.global.rootless, Rootless::False);
    assert_eq!(cli.command, Some(Command::Spec(Spec { bundle: p("/b"), rootless: true })));
}

#[test]
fn update_flags() {
    let Command::Update(update) = command(
        "update --memory 512m --memory-swap -1 --pids-limit -1 --cpu-quota -1 \
        --cpu-period 100000 --cpu-share 512 --cpuset-cpus 0-1 --blkio-weight 500 abc",
    ) else {
        panic!("not update")
    };
    assert_eq!(update.memory, Some(512 << 20));
    assert_eq!(update.memory_swap, Some(-1));
    assert_eq!(update.pids_limit, Some(-1));
    assert_eq!(update.cpu_quota, Some(-1));
    assert_eq!(update.cpu_period, Some(100_000));
    assert_eq!(update.cpu_share, Some(512));
    assert_eq!(update.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!(update.blkio_weight, Some(500));
    assert_eq!(update.resources, None);
    assert_eq!(parse_err("update --memory lots abc").kind(), ErrorKind::ValueValidation);
}

#[test]
fn short_update_resources() {
    let Command::Update(update) = command("update -r /tmp/res.json abc") else { panic!() };
    assert_eq!(update.resources, Some(p("/tmp/res.json")));
}

#[test]
fn ps_passes_hyphenated_options_through() {
    assert_eq!(
        command("ps abc -ef"),
        Command::Ps(Ps { format: OutputFormat::Table, container_id: "abc".into(), ps_options: vec!["-ef".into()] })
    );
    assert_eq!(command("ps -f json abc"), Command::Ps(Ps { format: OutputFormat::Json, container_id: "abc".into(), ps_options: vec![] }));
}

#[test]
fn list_flags() {
    assert_eq!(command("list -f json -q"), Command::List(List { format: OutputFormat::Json, quiet: true }));
}

#[test]
fn events_interval() {
    assert_eq!(
        command("events abc"),
        Command::Events(Events { stats: false, interval: Duration::from_secs(5), container_id: "abc".into() })
    );
    assert_eq!(
        command("events --stats --interval 500ms abc"),
        Command::Events(Events { stats: true, interval: Duration::from_millis(500), container_id: "abc".into() })
    );
}

#[test]
fn checkpoint_and_restore() {
    let Command::Checkpoint(cp) = command(
        "checkpoint --image-path /img --work-path /work --leave-running \
        --tcp-established --ext-unix-sk --shell-job --file-locks --manage-cgroups-mode \
        ignore --empty-ns network --pre-dump --parent-path ../prev abc",
    ) else {
        panic!("not checkpoint")
    };
    assert_eq!(cp.criu.image_path, Some(p("/img")));
    assert_eq!(cp.criu.work_path, Some(p("/work")));
    assert!(cp.leave_running && cp.pre_dump && !cp.link_remap);
    assert!(cp.criu.tcp_established && cp.criu.ext_unix_sk && cp.criu.shell_job && cp.criu.file_locks);
    assert_eq!(cp.criu.manage_cgroups_mode, ManageCgroupsMode::Ignore);
    assert_eq!(cp.criu.empty_ns, ["network"]);
    assert_eq!(cp.parent_path, Some(p("../prev")));

    let Command::Restore(rs) = command("restore -d -b /b --image-path /img --pid-file /p --lsm-profile selinux:x abc") else {
        panic!("not restore")
    };
    assert!(rs.detach);
    assert_eq!(rs.bundle, p("/b"));
    assert_eq!(rs.criu.image_path, Some(p("/img")));
    assert_eq!(rs.criu.manage_cgroups_mode, ManageCgroupsMode::Soft);
    assert_eq!(rs.lsm_profile.as_deref(), Some("selinux:x"));
    assert_eq!(rs.container_id, "abc");
}

#[test]
fn info_is_youki_only_extra() {
    assert_eq!(command("info"), Command::Info(Info {}));
}

#[test]
fn version_flag_is_ours_not_clap_s() {
    for flag in ["--version", "-v"] {
        let cli = parse(flag);
        assert!(cli.version);
        assert_eq!(cli.command, None);
    }
}

#[test]
fn unknown_flag_is_an_error_exiting_1() {
    let err = parse_err("create --bogus abc");
    assert_eq!(err.kind(), ErrorKind::UnknownArgument);
    assert_eq!(exit_code(&err), 1);
    assert_eq!(parse_err("--bogus list").kind(), ErrorKind::UnknownArgument);
}

#[test]
fn unknown_command_is_an_error_exiting_1() {
    let err = parse_err("frobnicate abc");
    assert_eq!(err.kind(), ErrorKind::InvalidSubcommand);
    assert_eq!(exit_code(&err), 1);
}

#[test]
fn missing_pieces_are_errors() {
    assert_eq!(parse_err("start").kind(), ErrorKind::MissingRequiredArgument);
    assert_eq!(parse_err("--debug").kind(), ErrorKind::MissingSubcommand);
    assert_eq!(exit_code(&parse_err("--debug")), 1);
}

#[test]
fn help_exits_0() {
    assert_eq!(exit_code(&parse_err("--help")), 0);
    assert_eq!(exit_code(&parse_err("create -h")), 0);
    assert_eq!(exit_code(&parse_err("")), 0);
}

#[test]
fn pidfd_socket_on_create_run_and_exec() {
    let Some(Command::Create(c)) = shim("create --bundle /b --pidfd-socket /tmp/p.sock abc").command else { panic!("not create") };
    assert_eq!(c.opts.pidfd_socket, Some(p("/tmp/p.sock")));
    let Some(Command::Run(r)) = shim("run -d --pidfd-socket /tmp/p.sock abc").command else { panic!("not run") };
    assert_eq!(r.opts.pidfd_socket, Some(p("/tmp/p.sock")));
    let Some(Command::Exec(e)) = shim("exec --pidfd-socket /tmp/e.sock abc true").command else { panic!("not exec") };
    assert_eq!(e.pidfd_socket, Some(p("/tmp/e.sock")));
    assert_eq!(e.command, ["true"]);
}

#[test]
fn exec_cgroup_repeats() {
    let Some(Command::Exec(e)) = shim("exec --cgroup memory:a --cgroup cpu,cpuacct:b abc true").command else { panic!("not exec") };
    assert_eq!(e.cgroup, ["memory:a", "cpu,cpuacct:b"]);
}
