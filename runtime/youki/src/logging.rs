//! Log lines as runc writes them: `--log-format json` gives one `{"level","msg","time"}` object
//! per line, text gives `time="..." level=... msg="..."`. Each line is one write(2).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use liboci_cli::{GlobalOpts, LogFormat, LogLevel};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

enum Sink {
    Stderr,
    File(Mutex<File>),
}

struct RuncStyle {
    json: bool,
    sink: Sink,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// Renders one log line (with its newline).
pub fn render(json: bool, level: &str, msg: &str, time: &str) -> String {
    if json {
        let mut s = serde_json::json!({"level": level, "msg": msg, "time": time}).to_string();
        s.push('\n');
        s
    } else {
        format!("time={time:?} level={level} msg={msg:?}\n")
    }
}

impl<S: Subscriber> Layer<S> for RuncStyle {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut m = Message::default();
        event.record(&mut m);
        let line = render(
            self.json,
            level_name(event.metadata().level()),
            &m.0,
            &libcontainer::rfc3339::format_secs(std::time::SystemTime::now()),
        );
        match &self.sink {
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Sink::File(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
        }
    }
}

/// Where errors go besides the log: `--log` also means a plain line on stderr.
pub struct Logging {
    pub log_flag: bool,
}

/// Sets up the global subscriber from the global flags.
pub fn init(g: &GlobalOpts) -> anyhow::Result<Logging> {
    let level = match (g.log_level, g.debug) {
        (Some(LogLevel::Debug), _) => LevelFilter::DEBUG,
        (Some(LogLevel::Info), _) => LevelFilter::INFO,
        (Some(LogLevel::Warn), _) => LevelFilter::WARN,
        (Some(LogLevel::Error), _) => LevelFilter::ERROR,
        (None, true) => LevelFilter::DEBUG,
        (None, false) if cfg!(debug_assertions) => LevelFilter::DEBUG,
        (None, false) => LevelFilter::ERROR,
    };
    let sink = match &g.log {
        Some(path) if path != Path::new("/dev/stderr") => Sink::File(Mutex::new(open_log(path)?)),
        _ => Sink::Stderr,
    };
    let layer = RuncStyle { json: g.log_format == LogFormat::Json, sink }.with_filter(level);
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    Ok(Logging { log_flag: g.log.is_some() })
}

/// An error line on stderr in the `--log-format` asked for, when there is no log to use.
pub fn to_stderr(g: &GlobalOpts, msg: &str) {
    let line = render(g.log_format == LogFormat::Json, "error", msg, &libcontainer::rfc3339::format_secs(std::time::SystemTime::now()));
    let _ = std::io::stderr().write_all(line.as_bytes());
}

fn open_log(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context as _;
    OpenOptions::new().create(true).append(true).open(path).with_context(|| format!("open log file {path:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_matches_runc() {
        let line = render(true, "error", "container \"x\" does not exist", "2026-01-01T00:00:00Z");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert_eq!(v["time"], "2026-01-01T00:00:00Z");
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
    }

    #[test]
    fn text_line_matches_runc() {
        assert_eq!(
            render(false, "warning", "a \"b\"", "2026-01-01T00:00:00Z"),
            "time=\"2026-01-01T00:00:00Z\" level=warning msg=\"a \\\"b\\\"\"\n"
        );
    }
}
