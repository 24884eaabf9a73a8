//! A fake Kubernetes API server, in process, over plain HTTP on 127.0.0.1: no API server can
//! run on this machine (no kubelet or apiserver in any reachable registry), so the tests point
//! the installer's kube client at this instead, through a KUBECONFIG. It serves the three
//! node calls the installer makes (get, merge patch of labels, list with a label selector),
//! keeps every node's labels in memory, logs each request, and can be told to refuse.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    /// "METHOD PATH BODY" of every request, in order.
    log: Vec<String>,
    /// Answer every PATCH with this HTTP code and Status reason and message.
    refuse_patch: Option<(u16, String, String)>,
    /// Events created, as posted.
    events: Vec<Value>,
}

pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code});
    (code, body)
}

fn node_json(name: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    fn answer(&mut self, method: &str, target: &str, body: &str) -> (u16, Value) {
        self.log.push(format!("{method} {target} {body}").trim_end().to_string());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if method == "POST" && path.starts_with("/api/v1/namespaces/") && path.ends_with("/events") {
            let event: Value = match serde_json::from_str(body) {
                Ok(v) => v,
                Err(e) => return status(400, "BadRequest", &format!("fake: {e}")),
            };
            self.events.push(event.clone());
            return (201, event);
        }
        let Some(rest) = path.strip_prefix("/api/v1/nodes") else {
            return status(404, "NotFound", &format!("fake: no route {path}"));
        };
        let name = rest.trim_start_matches('/');
        match (method, name) {
            ("GET", "") => {
                let selector = query.split('&').find_map(|kv| kv.strip_prefix("labelSelector=")).map(percent_decode);
                let items: Vec<Value> = self
                    .nodes
                    .iter()
                    .filter(|(_, l)| selector.as_ref().is_none_or(|k| l.contains_key(k)))
                    .map(|(n, l)| node_json(n, l))
                    .collect();
                (200, json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": items}))
            }
            ("GET", n) => match self.nodes.get(n) {
                Some(l) => (200, node_json(n, l)),
                None => status(404, "NotFound", &format!("nodes {n:?} not found")),
            },
            ("PATCH", n) => {
                if let Some((code, reason, message)) = &self.refuse_patch {
                    return status(*code, reason, message);
                }
                let Some(labels) = self.nodes.get_mut(n) else {
                    return status(404, "NotFound", &format!("nodes {n:?} not found"));
                };
                let patch: Value = match serde_json::from_str(body) {
                    Ok(v) => v,
                    Err(e) => return status(400, "BadRequest", &format!("fake: {e}")),
                };
                if let Some(set) = patch["metadata"]["labels"].as_object() {
                    for (k, v) in set {
                        match v.as_str() {
                            Some(v) => labels.insert(k.clone(), v.to_string()),
                            None => labels.remove(k),
                        };
                    }
                }
                (200, node_json(n, labels))
            }
            _ => status(405, "MethodNotAllowed", &format!("fake: {method} {path}")),
        }
    }
}

/// Reads one request; None when the client closed the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String, String, String)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut len, mut content_type) = (0usize, String::new());
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "content-type" => content_type = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, target, content_type, String::from_utf8_lossy(&body).into_owned()))
}

fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let Ok(write) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut write = write;
    while let Some((method, target, content_type, body)) = read_request(&mut reader) {
        let (code, value) = if method == "PATCH" && content_type != "application/merge-patch+json" {
            status(415, "UnsupportedMediaType", &format!("fake: patch as {content_type:?}"))
        } else {
            state.lock().unwrap_or_else(|e| e.into_inner()).answer(&method, &target, &body)
        };
        let text = value.to_string();
        let head = format!("HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", text.len());
        // One write: a head and a body in two would wait on the client's delayed ACK.
        if write.write_all(format!("{head}{text}").as_bytes()).is_err() {
            return;
        }
    }
}

impl FakeApiServer {
    /// Starts serving on an ephemeral port; the nodes named exist with no labels.
    pub fn start(nodes: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake API server");
        let addr = listener.local_addr().expect("address");
        let mut st = State::default();
        for n in nodes {
            st.nodes.insert(n.to_string(), BTreeMap::new());
        }
        let state = Arc::new(Mutex::new(st));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = shared.clone();
                std::thread::spawn(move || serve(stream, s));
            }
        });
        FakeApiServer { addr, state }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn label(&self, node: &str, key: &str) -> Option<String> {
        self.with(|s| s.nodes.get(node).and_then(|l| l.get(key).cloned()))
    }

    pub fn add_node(&self, node: &str) {
        self.with(|s| {
            s.nodes.entry(node.to_string()).or_default();
        });
    }

    /// The events created so far.
    #[allow(dead_code)]
    pub fn events(&self) -> Vec<Value> {
        self.with(|s| s.events.clone())
    }

    pub fn log(&self) -> Vec<String> {
        self.with(|s| s.log.clone())
    }

    pub fn refuse_patches(&self, code: u16, reason: &str, message: &str) {
        self.with(|s| s.refuse_patch = Some((code, reason.to_string(), message.to_string())));
    }

    /// A kubeconfig in `dir` that points at this server.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        write_kubeconfig(dir, &format!("http://{}", self.addr))
    }
}

/// A kubeconfig in `dir` whose only cluster is `server`, with a bearer token.
pub fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             users:\n- name: fake\n  user:\n    token: fake-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}
