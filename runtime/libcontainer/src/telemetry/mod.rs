//! OpenTelemetry spans for every lifecycle stage, off unless OTEL_EXPORTER_OTLP_*ENDPOINT,
//! TRACEPARENT (or OTEL_TRACES_EXPORTER=console) is set. One root span per command; child
//! spans are recorded here by the parent, and init's stages arrive as its `Timeline` and are
//! turned into spans afterwards, so no exporter ever runs in a child. Export happens once,
//! at the end of the command (`finish`), on every exit path, with a timeout of at most 2 s.

pub mod config;
pub mod context;
pub mod failure;
pub mod http;
pub mod otlp;

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use config::{Config, Exporter};
use context::{random, SpanContext};
use otlp::{kv, Value};

use crate::create::timeline::{now_ns, Timeline};

/// The annotation a shim or kubelet can use to hand us a trace context through the spec.
pub const TRACEPARENT_ANNOTATION: &str = "io.youki.traceparent";

struct SpanRecord {
    id: [u8; 8],
    parent: [u8; 8],
    name: String,
    start: u64,
    end: u64,
    attrs: Vec<otlp::KeyValue>,
    error: Option<String>,
}

/// An event on the root span.
struct SpanEvent {
    time: u64,
    name: String,
    attrs: Vec<otlp::KeyValue>,
}

struct Recorder {
    cfg: Config,
    root: SpanContext,
    parent: Option<SpanContext>,
    name: String,
    start: u64,
    attrs: Vec<otlp::KeyValue>,
    links: Vec<SpanContext>,
    spans: Vec<SpanRecord>,
    events: Vec<SpanEvent>,
}

static RECORDER: Mutex<Option<Recorder>> = Mutex::new(None);

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

fn with<T>(f: impl FnOnce(&mut Recorder) -> T) -> Option<T> {
    let mut g = RECORDER.lock().ok()?;
    g.as_mut().map(f)
}

/// Starts the root span of `command` when the environment asks for telemetry.
pub fn init(command: &str) {
    if !cfg!(feature = "otel") {
        return;
    }
    let Some(cfg) = config::from_env(|k| std::env::var(k).ok()) else { return };
    start(cfg, command);
}

fn start(cfg: Config, command: &str) {
    let parent = cfg.parent;
    let trace_id = parent.map(|p| p.trace_id).unwrap_or_else(random::<16>);
    if !cfg.sampler.sample(&trace_id, parent.as_ref()) {
        return;
    }
    let root = SpanContext { trace_id, span_id: random::<8>(), sampled: true };
    let rec = Recorder {
        cfg,
        root,
        parent,
        name: format!("youki {command}"),
        start: unix_ns(),
        attrs: vec![kv("youki.version", Value::String(env!("CARGO_PKG_VERSION").into()))],
        links: Vec::new(),
        spans: Vec::new(),
        events: Vec::new(),
    };
    if let Ok(mut g) = RECORDER.lock() {
        *g = Some(rec);
    }
}

pub fn enabled() -> bool {
    RECORDER.lock().map(|g| g.is_some()).unwrap_or(false)
}

/// The context to hand on (hooks' TRACEPARENT, the state file), when tracing.
pub fn traceparent() -> Option<String> {
    with(|r| r.root.traceparent())
}

/// Takes a parent from the spec's annotation when the environment gave none. The root span
/// keeps its id; it moves into the annotated trace.
pub fn adopt_parent(traceparent: &str) {
    with(|r| {
        if r.parent.is_none() {
            if let Some(p) = SpanContext::parse(traceparent) {
                r.parent = Some(p);
                r.root.trace_id = p.trace_id;
            }
        }
    });
}

/// Links the root span to the `create` of the container it works on, whose context the
/// state file keeps (`ContainerState::trace_context`). start, kill, delete and exec each stay
/// a trace of their own (a container may live for days, longer than any trace should), and
/// the link leads from each of them to the create; the caller's TRACEPARENT, when given,
/// stays their parent.
pub fn link_create(create_context: Option<&str>) {
    if let Some(c) = create_context.and_then(SpanContext::parse) {
        with(|r| r.links.push(c));
    }
}

pub fn attr(key: &str, value: impl Into<String>) {
    let v = value.into();
    with(|r| r.attrs.push(kv(key, Value::String(v))));
}

pub fn attr_int(key: &str, value: i64) {
    with(|r| r.attrs.push(kv(key, Value::Int(value))));
}

/// The Kubernetes attributes from the annotations CRI runtimes put on the spec.
pub fn k8s_attrs(annotations: &std::collections::HashMap<String, String>) {
    for (attr_key, keys) in [
        ("k8s.pod.name", ["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
        ("k8s.namespace.name", ["io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"]),
        ("k8s.pod.uid", ["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]),
        ("k8s.container.name", ["io.kubernetes.cri.container-name", "io.kubernetes.container.name"]),
    ] {
        if let Some(v) = keys.iter().find_map(|k| annotations.get(*k)) {
            attr(attr_key, v.clone());
        }
    }
}

/// Runs `f` as a child span of the root.
pub fn span<T, E: std::fmt::Display>(name: &str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if !enabled() {
        return f();
    }
    let start = unix_ns();
    let out = f();
    let end = unix_ns();
    let error = out.as_ref().err().map(|e| e.to_string());
    record(name, start, end, Vec::new(), error);
    out
}

/// Records a finished child span of the root.
pub fn record_span(name: &str, start_unix: u64, end_unix: u64, attrs: &[(&str, String)], error: Option<String>) {
    let attrs = attrs.iter().map(|(k, v)| kv(k, Value::String(v.clone()))).collect();
    record(name, start_unix, end_unix, attrs, error);
}

fn record(name: &str, start: u64, end: u64, attrs: Vec<otlp::KeyValue>, error: Option<String>) {
    with(|r| {
        let parent = r.root.span_id;
        r.spans.push(SpanRecord { id: random::<8>(), parent, name: name.to_string(), start, end, attrs, error });
    });
}

/// The child's stages, from monotonic to wall-clock time.
pub fn record_timeline(t: &Timeline) {
    if !enabled() {
        return;
    }
    let offset = unix_ns() as i128 - now_ns() as i128;
    let wall = |m: u64| (m as i128 + offset).max(0) as u64;
    for s in &t.stages {
        record(&format!("init {}", s.name), wall(s.start_ns), wall(s.end_ns), Vec::new(), None);
    }
}

/// Puts what failed on the root span, as an `exception` event (OpenTelemetry's name for an
/// error event): the message, and the stage, operation and errno when the error `chain`
/// (outermost first) knows them. The same fact youki-trace's recorder reports from the
/// kernel's side, here from the runtime's own error.
pub fn failed<'a>(chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>, message: &str) {
    if !enabled() {
        return;
    }
    let fact = failure::Fact::of(chain);
    let mut attrs = vec![kv("exception.message", Value::String(message.to_string()))];
    if let Some(line) = fact.line() {
        attrs.push(kv("youki.failure", Value::String(line)));
    }
    if let Some(stage) = &fact.stage {
        attrs.push(kv("youki.stage", Value::String(stage.clone())));
    }
    if let Some(op) = &fact.operation {
        attrs.push(kv("youki.operation", Value::String(op.clone())));
    }
    if let (Some(name), Some(code)) = (fact.errno_name(), fact.errno) {
        attrs.push(kv("youki.errno", Value::String(name)));
        attrs.push(kv("youki.errno.code", Value::Int(i64::from(code))));
    }
    let time = unix_ns();
    with(|r| r.events.push(SpanEvent { time, name: "exception".into(), attrs }));
}

/// Ends the root span and exports everything; `error` marks the command as failed.
pub fn finish(error: Option<&str>) {
    let Some(rec) = RECORDER.lock().ok().and_then(|mut g| g.take()) else { return };
    let end = unix_ns();
    let request = build(&rec, end, error);
    match &rec.cfg.exporter {
        Exporter::Console => print_console(&rec, end, error),
        Exporter::Otlp { url, headers, timeout } => {
            let body = prost::Message::encode_to_vec(&request);
            if let Err(e) = http::post(url, "application/x-protobuf", headers, &body, *timeout) {
                tracing::warn!("exporting spans: {}", crate::error_chain::chain(&e));
            }
        }
    }
}

fn status(error: Option<&str>) -> Option<otlp::Status> {
    error.map(|m| otlp::Status { message: m.to_string(), code: 2 })
}

fn build(rec: &Recorder, end: u64, error: Option<&str>) -> otlp::ExportTraceServiceRequest {
    let trace = rec.root.trace_id.to_vec();
    let mut spans = vec![otlp::Span {
        trace_id: trace.clone(),
        span_id: rec.root.span_id.to_vec(),
        trace_state: rec.cfg.tracestate.clone(),
        parent_span_id: rec.parent.map(|p| p.span_id.to_vec()).unwrap_or_default(),
        name: rec.name.clone(),
        kind: 1,
        start_time_unix_nano: rec.start,
        end_time_unix_nano: end,
        attributes: rec.attrs.clone(),
        events: rec
            .events
            .iter()
            .map(|e| otlp::Event { time_unix_nano: e.time, name: e.name.clone(), attributes: e.attrs.clone() })
            .collect(),
        links: rec.links.iter().map(|l| otlp::Link { trace_id: l.trace_id.to_vec(), span_id: l.span_id.to_vec() }).collect(),
        status: status(error),
    }];
    for s in &rec.spans {
        spans.push(otlp::Span {
            trace_id: trace.clone(),
            span_id: s.id.to_vec(),
            trace_state: String::new(),
            parent_span_id: s.parent.to_vec(),
            name: s.name.clone(),
            kind: 1,
            start_time_unix_nano: s.start,
            end_time_unix_nano: s.end,
            attributes: s.attrs.clone(),
            events: Vec::new(),
            links: Vec::new(),
            status: status(s.error.as_deref()),
        });
    }
    let mut resource = vec![kv("service.name", Value::String(rec.cfg.service_name.clone()))];
    resource.extend(rec.cfg.resource.iter().filter(|(k, _)| k != "service.name").map(|(k, v)| kv(k, Value::String(v.clone()))));
    otlp::ExportTraceServiceRequest {
        resource_spans: vec![otlp::ResourceSpans {
            resource: Some(otlp::Resource { attributes: resource }),
            scope_spans: vec![otlp::ScopeSpans {
                scope: Some(otlp::InstrumentationScope { name: "youki".into(), version: env!("CARGO_PKG_VERSION").into() }),
                spans,
            }],
        }],
    }
}

fn print_console(rec: &Recorder, end: u64, error: Option<&str>) {
    let ms = |a: u64, b: u64| Duration::from_nanos(b.saturating_sub(a)).as_secs_f64() * 1000.0;
    let mut out = format!(
        "span {} {:.3} ms trace {}{}\n",
        rec.name,
        ms(rec.start, end),
        rec.root.traceparent(),
        error.map(|e| format!(" ERROR {e}")).unwrap_or_default()
    );
    for e in &rec.events {
        let text = |k: &str| {
            e.attrs.iter().find(|a| a.key == k).and_then(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::String(s)) => Some(s.clone()),
                _ => None,
            })
        };
        let what = text("youki.failure").or_else(|| text("exception.message")).unwrap_or_default();
        out.push_str(&format!("  +{:8.3} ms  event {}: {what}\n", ms(rec.start, e.time), e.name));
    }
    for s in &rec.spans {
        out.push_str(&format!(
            "  +{:8.3} ms {:8.3} ms  {}{}\n",
            ms(rec.start, s.start),
            ms(s.start, s.end),
            s.name,
            s.error.as_ref().map(|e| format!(" ERROR {e}")).unwrap_or_default()
        ));
    }
    eprint!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// The recorder is process-global: tests that use it take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn spans_encode_and_decode_with_parent_and_error() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let cfg = config::from_env(|k| match k {
            "TRACEPARENT" => Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            _ => None,
        })
        .unwrap();
        start(cfg, "create");
        attr("container.id", "c1");
        let _ = span("plan", || Err::<(), _>("invalid config.json"));
        let child = crate::create::channel::ChildError {
            stage: "exec".into(),
            op: r#"find executable "/app""#.into(),
            errno: Some(2),
            detail: None,
        };
        let err = crate::error::ContainerError::Init(child);
        failed([&err as &(dyn std::error::Error + 'static)], &err.to_string());
        let mut t = Timeline::default();
        t.stage("mounts", || ());
        record_timeline(&t);
        let rec = RECORDER.lock().unwrap().take().unwrap();
        let req = build(&rec, unix_ns(), Some("boom"));
        let bytes = req.encode_to_vec();
        let back = otlp::ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
        let spans = &back.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].name, "youki create");
        assert_eq!(hexs(&spans[0].parent_span_id), "00f067aa0ba902b7");
        assert_eq!(hexs(&spans[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(spans[0].status.as_ref().unwrap().code, 2);
        let ev = &spans[0].events[0];
        assert_eq!(ev.name, "exception");
        let attr = |k: &str| ev.attributes.iter().find(|a| a.key == k).and_then(|a| a.value.clone()).and_then(|v| v.value);
        assert_eq!(attr("youki.failure"), Some(Value::String(r#"stage exec: find executable "/app" = -1 ENOENT"#.into())));
        assert_eq!(attr("youki.errno"), Some(Value::String("ENOENT".into())));
        assert_eq!(attr("youki.errno.code"), Some(Value::Int(2)));
        assert_eq!(attr("youki.stage"), Some(Value::String("exec".into())));
        assert!(matches!(attr("exception.message"), Some(Value::String(m)) if m.contains("no such file or directory")));
        assert!(spans[1].events.is_empty());
        assert_eq!(spans[1].name, "plan");
        assert_eq!(spans[1].status.as_ref().unwrap().message, "invalid config.json");
        assert_eq!(spans[1].parent_span_id, spans[0].span_id);
        assert_eq!(spans[2].name, "init mounts");
        assert!(spans[2].start_time_unix_nano > 1_600_000_000_000_000_000);
    }

    #[test]
    fn a_later_command_links_to_the_create_and_keeps_its_own_trace() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let create = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let cfg = config::from_env(|k| (k == "OTEL_TRACES_EXPORTER").then(|| "console".into())).unwrap();
        start(cfg, "kill");
        attr("container.id", "c1");
        link_create(Some(create));
        link_create(None);
        link_create(Some("not a traceparent"));
        let rec = RECORDER.lock().unwrap().take().unwrap();
        let root = build(&rec, unix_ns(), None).resource_spans[0].scope_spans[0].spans[0].clone();
        assert_eq!(root.links.len(), 1);
        assert_eq!(hexs(&root.links[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hexs(&root.links[0].span_id), "00f067aa0ba902b7");
        assert_ne!(hexs(&root.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(root.parent_span_id.is_empty());
    }

    /// A real OTLP/HTTP round trip against a receiver on loopback.
    #[test]
    fn export_reaches_an_http_receiver() {
        use std::io::{BufRead, BufReader, Read, Write};
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0usize;
            let mut content_type = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if let Some(v) = l.strip_prefix("content-type:") {
                    content_type = v.trim().to_string();
                }
            }
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            let mut w = conn;
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
            (request_line, content_type, otlp::ExportTraceServiceRequest::decode(body.as_slice()).unwrap())
        });
        let cfg = config::from_env(|k| (k == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| url.clone())).unwrap();
        start(cfg, "delete");
        let _ = span("wait for exit", || Ok::<(), String>(()));
        finish(None);
        let (line, content_type, req) = server.join().unwrap();
        assert!(line.starts_with("POST /v1/traces HTTP/1.1"), "{line}");
        assert_eq!(content_type, "application/x-protobuf");
        let names: Vec<String> = req.resource_spans[0].scope_spans[0].spans.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names, ["youki delete", "wait for exit"]);
    }

    /// A collector that accepts and never answers costs at most the 2 s timeout.
    #[test]
    fn a_silent_collector_costs_at_most_the_timeout() {
        let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let cfg = config::from_env(|k| (k == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").then(|| url.clone())).unwrap();
        start(cfg, "create");
        let t = std::time::Instant::now();
        finish(Some("failed"));
        assert!(t.elapsed() < Duration::from_millis(2500), "{:?}", t.elapsed());
        drop(listener);
    }

    fn hexs(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
