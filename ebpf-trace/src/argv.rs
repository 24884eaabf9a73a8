//! Reads a youki command line as the kernel saw it at exec: the subcommand, the container
//! id (the last positional argument) and the `--bundle` path. Pure.

/// Global flags of youki that take a value (runc's spelling).
const GLOBAL_VALUE_FLAGS: &[&str] = &["--root", "--log", "--log-format", "--log-level", "--rootless", "--criu"];

/// Flags of `create` and `run` that take a value.
const CREATE_VALUE_FLAGS: &[&str] = &["--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds", "--pidfd-socket"];

/// What a youki command line says about the container it works on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// `create`, `run`, `start`, `delete`, ...
    pub subcommand: Option<String>,
    /// The last positional argument after the subcommand.
    pub container_id: Option<String>,
    /// `--bundle` as written (relative to the command's cwd), or None for the default ".".
    pub bundle: Option<String>,
}

impl Invocation {
    /// Whether this command creates a container (the only commands the recorder keeps).
    pub fn creates(&self) -> bool {
        matches!(self.subcommand.as_deref(), Some("create" | "run"))
    }
}

/// Reads `args` (argv[0] first). When the kernel copied only the head of a long argument
/// block (`whole` false), the last head argument may be cut and is ignored, and the id is
/// taken from `tail`, the arguments at the end of the block.
pub fn parse(args: &[String], whole: bool, tail: &[String]) -> Invocation {
    let usable = if whole { args } else { &args[..args.len().saturating_sub(1)] };
    let mut inv = Invocation::default();
    let mut positionals: Vec<&str> = Vec::new();
    let mut it = usable.iter().skip(1);
    let mut only_positionals = false;
    while let Some(a) = it.next() {
        let a = a.as_str();
        if only_positionals || !a.starts_with('-') || a == "-" {
            if inv.subcommand.is_none() {
                inv.subcommand = Some(a.to_string());
            } else {
                positionals.push(a);
            }
            continue;
        }
        if a == "--" {
            only_positionals = true;
            continue;
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (a, None),
        };
        let takes_value = GLOBAL_VALUE_FLAGS.contains(&flag) || CREATE_VALUE_FLAGS.contains(&flag);
        let value = match (takes_value, inline) {
            (true, Some(v)) => Some(v.to_string()),
            (true, None) => it.next().cloned(),
            (false, _) => None,
        };
        if matches!(flag, "--bundle" | "-b") {
            inv.bundle = value;
        } else if let Some(rest) = flag.strip_prefix("-b").filter(|r| !r.is_empty()) {
            inv.bundle = Some(rest.to_string()); // -bPATH
        }
    }
    inv.container_id = if whole { positionals.last().map(|s| s.to_string()) } else { tail.last().cloned() };
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn reads_id_and_bundle_of_a_shim_create() {
        let a = words(
            "youki --root /run/containerd/runc/k8s.io --log /x/log.json --log-format json \
             --systemd-cgroup create --bundle /b/abc --pid-file /b/abc/init.pid abc",
        );
        let inv = parse(&a, true, &[]);
        assert_eq!(inv.subcommand.as_deref(), Some("create"));
        assert_eq!(inv.container_id.as_deref(), Some("abc"));
        assert_eq!(inv.bundle.as_deref(), Some("/b/abc"));
        assert!(inv.creates());
    }

    #[test]
    fn reads_inline_values_and_the_default_bundle() {
        let inv = parse(&words("youki --root=/r run --pid-file=/p -d ctr"), true, &[]);
        assert_eq!(inv.subcommand.as_deref(), Some("run"));
        assert_eq!(inv.container_id.as_deref(), Some("ctr"));
        assert_eq!(inv.bundle, None);
        let inv = parse(&words("youki create -b /bb ctr"), true, &[]);
        assert_eq!(inv.bundle.as_deref(), Some("/bb"));
    }

    #[test]
    fn other_commands_are_not_creates() {
        let inv = parse(&words("youki delete --force ctr"), true, &[]);
        assert_eq!(inv.subcommand.as_deref(), Some("delete"));
        assert!(!inv.creates());
        assert!(!parse(&words("youki"), true, &[]).creates());
    }

    #[test]
    fn a_cut_head_takes_the_id_from_the_tail() {
        let head = words("youki --root /r create --bundle /very/long/bund");
        let tail = words("--pid-file /p/init.pid the-id");
        let inv = parse(&head, false, &tail);
        assert_eq!(inv.subcommand.as_deref(), Some("create"));
        assert_eq!(inv.container_id.as_deref(), Some("the-id"));
        // the cut last argument is never taken for the bundle
        assert_eq!(inv.bundle, None);
    }
}
