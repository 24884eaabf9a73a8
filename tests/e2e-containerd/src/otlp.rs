//! A test OTLP/HTTP receiver on a loopback port: accepts `POST /v1/traces` with protobuf
//! bodies, decodes them with the `opentelemetry-proto` types, and keeps every span as a
//! flat `SpanView` for the span-tree checks. One thread, one connection at a time (the
//! runtime sends one request per connection and closes it).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost14::Message;

/// One received span, ids in hex, times in unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanView {
    pub trace: String,
    pub id: String,
    pub parent: String,
    pub name: String,
    pub start: u64,
    pub end: u64,
    pub attrs: BTreeMap<String, String>,
    /// (trace, span) of each link.
    pub links: Vec<(String, String)>,
    pub error: Option<String>,
    pub service: String,
    /// (name, attributes) of each event on the span.
    pub events: Vec<(String, BTreeMap<String, String>)>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn text(v: &Option<Value>) -> String {
    match v {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// Every span of one export request.
pub fn flatten(req: &ExportTraceServiceRequest) -> Vec<SpanView> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .map(|a| text(&a.value.as_ref().and_then(|v| v.value.clone())))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(SpanView {
                    trace: hex(&s.trace_id),
                    id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name.clone(),
                    start: s.start_time_unix_nano,
                    end: s.end_time_unix_nano,
                    attrs: s.attributes.iter().map(|a| (a.key.clone(), text(&a.value.as_ref().and_then(|v| v.value.clone())))).collect(),
                    links: s.links.iter().map(|l| (hex(&l.trace_id), hex(&l.span_id))).collect(),
                    error: s.status.as_ref().filter(|st| st.code == 2).map(|st| st.message.clone()),
                    service: service.clone(),
                    events: s
                        .events
                        .iter()
                        .map(|e| {
                            let attrs = e.attributes.iter().map(|a| (a.key.clone(), text(&a.value.as_ref().and_then(|v| v.value.clone()))));
                            (e.name.clone(), attrs.collect())
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

pub struct Receiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<SpanView>>>,
    requests: Arc<Mutex<usize>>,
}

impl Receiver {
    pub fn start(addr: SocketAddr) -> Result<Receiver> {
        let listener = TcpListener::bind(addr).with_context(|| format!("OTLP receiver: bind {addr}"))?;
        let addr = listener.local_addr()?;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(0));
        let (s, r) = (spans.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Ok(batch) = serve(conn) {
                    *r.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                    s.lock().unwrap_or_else(|e| e.into_inner()).extend(batch);
                }
            }
        });
        Ok(Receiver { addr, spans, requests })
    }

    pub fn spans(&self) -> Vec<SpanView> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn requests(&self) -> usize {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One HTTP/1.1 request: reads the head and a Content-Length body, answers 200.
fn serve(conn: TcpStream) -> Result<Vec<SpanView>> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("POST /v1/traces ") {
        let mut w = conn;
        w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        bail!("unexpected request {line:?}");
    }
    let (mut len, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse()?,
            "content-type" => content_type = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let mut w = conn;
    if content_type != "application/x-protobuf" {
        w.write_all(b"HTTP/1.1 415 Unsupported Media Type\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        bail!("content type {content_type:?}");
    }
    let req = ExportTraceServiceRequest::decode(body.as_slice()).context("decode ExportTraceServiceRequest")?;
    w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(flatten(&req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue { key: k.into(), value: Some(AnyValue { value: Some(Value::StringValue(v.into())) }), ..Default::default() }
    }

    fn request() -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![1; 8],
            parent_span_id: vec![2; 8],
            name: "youki create".into(),
            start_time_unix_nano: 5,
            end_time_unix_nano: 9,
            attributes: vec![kv("container.id", "c1")],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource { attributes: vec![kv("service.name", "youki")], ..Default::default() }),
                scope_spans: vec![ScopeSpans { spans: vec![span], ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn flattens_ids_attributes_and_service() {
        let v = flatten(&request());
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].trace, "ab".repeat(16));
        assert_eq!(v[0].parent, "0202020202020202");
        assert_eq!(v[0].attrs["container.id"], "c1");
        assert_eq!(v[0].service, "youki");
    }

    /// A real HTTP POST over loopback, as the runtime's exporter sends it.
    #[test]
    fn receives_a_posted_export() {
        let r = Receiver::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let body = request().encode_to_vec();
        let mut s = TcpStream::connect(r.addr).unwrap();
        write!(s, "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
        s.write_all(&body).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        for _ in 0..50 {
            if r.requests() == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(r.spans()[0].name, "youki create");
    }
}
