//! The quick parse: the parser built with only the command argv names, not all eighteen.
//!
//! Building clap's whole tree (every command's arguments, and a copy of each global option
//! for each command) costs a youki process more than its own work on the short paths
//! (`state`, `start`, `exec`): allocations, and the heap pages they touch. Every call from a
//! shim names one command, so that command is all the tree needs.
//!
//! The quick tree is the full one minus the other commands, so a line it accepts, the full
//! tree reads the same way: same top-level options, and the same command at the same place.
//! Anything else (help, `--version`, an unknown or misspelled command, a bad flag) is left to
//! the full parse, whose messages and help list every command.

use std::ffi::OsString;

use clap::{Args, Command as ClapCommand, FromArgMatches};

use crate::{Cli, GlobalOpts};

/// Parses `args` (program name first) with the tree of one command: each word that is a
/// command's name is tried in turn (an earlier one may be an option's value, as in
/// `--root state state c1`). `None` when no such tree accepts the line: the caller then runs
/// the full parse.
pub(crate) fn parse(args: &[OsString]) -> Option<Cli> {
    args.iter().skip(1).filter_map(|a| a.to_str()).find_map(|name| {
        let mut tree = top_level().subcommand(command(name)?);
        let matches = tree.try_get_matches_from_mut(args).ok()?;
        Cli::from_arg_matches(&matches).ok().filter(|cli| cli.command.is_some())
    })
}

/// `Cli`'s own options, as its derive sets them up, without its commands.
fn top_level() -> ClapCommand {
    let top = ClapCommand::new("youki").disable_version_flag(true).arg_required_else_help(true);
    GlobalOpts::augment_args(top).arg(clap::Arg::new("version").short('v').long("version").action(clap::ArgAction::SetTrue))
}

/// The command called `name`, with its arguments; `None` for a name that is not one.
fn command(name: &str) -> Option<ClapCommand> {
    use crate::*;
    type Augment = fn(ClapCommand) -> ClapCommand;
    let (name, augment): (&'static str, Augment) = match name {
        "create" => ("create", Create::augment_args),
        "start" => ("start", Start::augment_args),
        "run" => ("run", Run::augment_args),
        "state" => ("state", State::augment_args),
        "kill" => ("kill", Kill::augment_args),
        "delete" => ("delete", Delete::augment_args),
        "list" => ("list", List::augment_args),
        "spec" => ("spec", Spec::augment_args),
        "features" => ("features", Features::augment_args),
        "ps" => ("ps", Ps::augment_args),
        "exec" => ("exec", Exec::augment_args),
        "update" => ("update", Update::augment_args),
        "pause" => ("pause", Pause::augment_args),
        "resume" => ("resume", Resume::augment_args),
        "events" => ("events", Events::augment_args),
        "checkpoint" => ("checkpoint", Checkpoint::augment_args),
        "restore" => ("restore", Restore::augment_args),
        "info" => ("info", Info::augment_args),
        _ => return None,
    };
    Some(augment(ClapCommand::new(name)))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Subcommand};

    use super::*;

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("youki").chain(line.split_whitespace()).map(OsString::from).collect()
    }

    #[test]
    fn every_command_of_the_full_tree_has_a_quick_one() {
        let full = Cli::command();
        let ids = |c: &ClapCommand| -> Vec<String> { c.get_arguments().map(|a| a.get_id().to_string()).collect() };
        assert_eq!(full.get_subcommands().count(), 18);
        for sub in full.get_subcommands() {
            let name = sub.get_name();
            assert!(crate::Command::has_subcommand(name));
            let quick = command(name).unwrap_or_else(|| panic!("no quick tree for {name}"));
            assert_eq!(quick.get_name(), name);
            // The same arguments as the full tree's command (before the global ones are
            // copied in, which the full tree does when it is built).
            assert_eq!(ids(&quick), ids(sub), "{name}");
        }
        assert!(command("help").is_none());
    }

    #[test]
    fn the_quick_parse_reads_each_line_as_the_full_one_does() {
        let shim = "--root /run/containerd/runc/k8s.io --log /b/log.json --log-format json";
        let lines = [
            format!("{shim} create --bundle /b --pid-file /b/init.pid --console-socket /s c1"),
            format!("{shim} start c1"),
            format!("{shim} state c1"),
            format!("{shim} delete --force c1"),
            format!("{shim} kill --all c1 9"),
            format!("{shim} exec --process /b/p.json --detach --pid-file /b/e.pid c1"),
            "exec -t --env A=1 -u 1000:1000 c1 sh -c --help".to_string(),
            "exec c1 ls --root /x".to_string(),
            "--debug list -f json -q".to_string(),
            "run --bundle /b --detach c1".to_string(),
            "--rootless true ps c1 -- -ef".to_string(),
            "update --memory 1g --cpu-quota 5000 c1".to_string(),
            "checkpoint --image-path /i --leave-running c1".to_string(),
            "events --stats --interval 2s c1".to_string(),
            "spec --rootless".to_string(),
            "--root create state create".to_string(),
            "state --root /r c1".to_string(),
            "--systemd-cgroup --criu /usr/sbin/criu restore --image-path /i -b /b c1".to_string(),
        ];
        for line in &lines {
            let args = argv(line);
            let full = Cli::try_parse_args(args.clone()).unwrap_or_else(|e| panic!("{line}: {e}"));
            let quick = parse(&args).unwrap_or_else(|| panic!("{line}: the quick parse refused it"));
            assert_eq!(quick, full, "{line}");
        }
    }

    #[test]
    fn lines_the_quick_tree_cannot_read_go_to_the_full_parse() {
        for line in
            ["", "--version", "--help", "state --help", "help", "help state", "stat c1", "state", "state c1 extra", "--root state", "--log"]
        {
            assert_eq!(parse(&argv(line)), None, "{line:?}");
        }
    }
}
