//! The one call youki-trace makes to the Kubernetes API: a POST of a JSON object, as one
//! HTTP/1.1 request per connection, over plain HTTP (`--kube-api http://...`, for tests) or
//! HTTPS with rustls (ring) and the service account's CA. The in-cluster config is the
//! pod's: KUBERNETES_SERVICE_HOST and _PORT, and the token and CA under
//! /var/run/secrets/kubernetes.io/serviceaccount. The token is read again for every call,
//! since projected tokens rotate. No client library: a status line and a small body are
//! all the recorder reads back.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;

/// The service account's files in a pod.
pub const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer that is read.
const MAX_ANSWER: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("in-cluster config: {0} is not set (not in a pod? use --kube-api URL)")]
    NoService(&'static str),
    #[error("api server url {url:?}: {why}")]
    Url { url: String, why: &'static str },
    #[error("read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA bundle {path:?}: {why}")]
    Ca { path: PathBuf, why: String },
    #[error("connect to the api server {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tls name {0:?} is not valid")]
    ServerName(String),
    #[error("tls session with {addr}")]
    Tls {
        addr: String,
        #[source]
        source: rustls::Error,
    },
    #[error("exchange with the api server {addr}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("api server {addr} answered something that is not HTTP: {first_line:?}")]
    NotHttp { addr: String, first_line: String },
}

/// What the API server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub code: u16,
    /// The body as JSON (Null when empty or not JSON).
    pub body: Value,
}

impl Answer {
    /// `403 Forbidden: events is forbidden: ...` from a Status body, for logs.
    pub fn describe(&self) -> String {
        let reason = self.body["reason"].as_str().unwrap_or("");
        let message = self.body["message"].as_str().unwrap_or("");
        format!("{} {reason}: {message}", self.code)
    }
}

/// Where the API server is and how to prove who we are.
#[derive(Clone)]
pub struct ApiServer {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    token_file: Option<PathBuf>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", if self.tls.is_some() { "https" } else { "http" }, self.authority())
    }
}

/// A rustls config that trusts the certificates of the PEM file `ca` only.
fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, KubeError> {
    let pem = std::fs::read(ca).map_err(|source| KubeError::Read { path: ca.to_path_buf(), source })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| KubeError::Ca { path: ca.to_path_buf(), why: e.to_string() })?;
        roots.add(cert).map_err(|e| KubeError::Ca { path: ca.to_path_buf(), why: e.to_string() })?;
    }
    if roots.is_empty() {
        return Err(KubeError::Ca { path: ca.to_path_buf(), why: "no certificate in it".into() });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| KubeError::Tls { addr: ca.display().to_string(), source })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl ApiServer {
    /// The pod's own API server, from the environment and the service account's files.
    pub fn in_cluster() -> Result<Self, KubeError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| KubeError::NoService("KUBERNETES_SERVICE_HOST"))?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").map_err(|_| KubeError::NoService("KUBERNETES_SERVICE_PORT"))?;
        let url = format!("https://{}:{port}", bracket(&host));
        let sa = Path::new(SERVICE_ACCOUNT);
        Self::from_url(&url, Some(sa.join("token")), Some(&sa.join("ca.crt")))
    }

    /// `http://HOST[:PORT]` or `https://HOST[:PORT]` (then `ca` is required); a bearer
    /// token from `token_file` when given.
    pub fn from_url(url: &str, token_file: Option<PathBuf>, ca: Option<&Path>) -> Result<Self, KubeError> {
        let bad = |why| KubeError::Url { url: url.to_string(), why };
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("must start with http:// or https://"));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("must be a scheme, a host and a port, with no path"));
        }
        let (host, port) = split_authority(authority).ok_or_else(|| bad("the port is not a number"))?;
        let port = port.unwrap_or(if tls { 443 } else { 80 });
        let tls = match (tls, ca) {
            (true, Some(ca)) => Some(tls_config(ca)?),
            (true, None) => return Err(bad("https needs a CA bundle")),
            (false, _) => None,
        };
        Ok(ApiServer { host, port, tls, token_file })
    }

    fn authority(&self) -> String {
        format!("{}:{}", bracket(&self.host), self.port)
    }

    /// POSTs `body` to `path` and returns the status and body of the answer.
    pub fn post(&self, path: &str, body: &Value) -> Result<Answer, KubeError> {
        let addr = self.authority();
        let token = match &self.token_file {
            Some(p) => {
                let t = std::fs::read_to_string(p).map_err(|source| KubeError::Read { path: p.clone(), source })?;
                Some(t.trim().to_string())
            }
            None => None,
        };
        let text = body.to_string();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: youki-trace\r\nAccept: application/json\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            text.len()
        );
        if let Some(t) = token {
            request.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&text);
        let stream = self.connect(&addr)?;
        let raw = match &self.tls {
            None => exchange(stream, request.as_bytes()),
            Some(config) => {
                let name = ServerName::try_from(self.host.clone()).map_err(|_| KubeError::ServerName(self.host.clone()))?;
                let conn =
                    rustls::ClientConnection::new(config.clone(), name).map_err(|source| KubeError::Tls { addr: addr.clone(), source })?;
                exchange(rustls::StreamOwned::new(conn, stream), request.as_bytes())
            }
        }
        .map_err(|source| KubeError::Io { addr: addr.clone(), source })?;
        parse_answer(&raw).ok_or_else(|| KubeError::NotHttp {
            addr,
            first_line: String::from_utf8_lossy(raw.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned(),
        })
    }

    fn connect(&self, addr: &str) -> Result<TcpStream, KubeError> {
        let cerr = |source| KubeError::Connect { addr: addr.to_string(), source };
        let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        for sa in (self.host.as_str(), self.port).to_socket_addrs().map_err(cerr)? {
            match TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(cerr)?;
                    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(cerr)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(cerr(last))
    }
}

/// An IPv6 literal in brackets, for a URL or a Host header.
fn bracket(host: &str) -> String {
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `host:port`, `[v6]:port` or a bare host; None when the port is not a number.
fn split_authority(a: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((a.to_string(), None)),
    }
}

/// Writes the request and reads the answer: as long as Content-Length says, to the last
/// chunk, or else until the server closes.
fn exchange(mut s: impl Read + Write, request: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(request)?;
    s.flush()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while !complete(&raw) && (raw.len() as u64) < MAX_ANSWER {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A TLS peer that closes without close_notify, after an answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(raw)
}

/// The header lines of an answer, and where its body starts.
fn head(raw: &[u8]) -> Option<(&str, usize)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((std::str::from_utf8(&raw[..split]).ok()?, split + 4))
}

/// The value of header `name` in `head`.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// Whether `raw` holds a whole answer.
fn complete(raw: &[u8]) -> bool {
    let Some((head, start)) = head(raw) else { return false };
    let body = &raw[start..];
    if header(head, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return body.starts_with(b"0\r\n\r\n") || body.windows(7).any(|w| w == b"\r\n0\r\n\r\n");
    }
    match header(head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => body.len() >= len,
        None => false,
    }
}

/// The status code and JSON body of a raw HTTP/1.x answer, chunked or not.
fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let (head, start) = head(raw)?;
    let mut parts = head.split("\r\n").next()?.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    let chunked = header(head, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let rest = &raw[start..];
    let body = match header(head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        _ if chunked => dechunk(rest),
        Some(len) => rest[..len.min(rest.len())].to_vec(),
        None => rest.to_vec(),
    };
    Some(Answer { code, body: serde_json::from_slice(&body).unwrap_or(Value::Null) })
}

/// The data of a chunked body, as far as it is whole.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol]).ok().and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else { break };
        let start = eol + 2;
        let Some(chunk) = b.get(start..start + size) else { break };
        out.extend_from_slice(chunk);
        b = b.get(start + size + 2..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_plain_and_chunked_answers() {
        let plain = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{\"a\":\"b\"}\n";
        assert_eq!(parse_answer(plain), Some(Answer { code: 201, body: json!({"a": "b"}) }));
        let chunked =
            b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"rea\r\n10\r\nson\":\"Forbidden\"\r\n1\r\n}\r\n0\r\n\r\n";
        let a = parse_answer(chunked).unwrap();
        assert_eq!(a.body, json!({"reason": "Forbidden"}));
        assert_eq!(a.describe(), "403 Forbidden: ");
        assert_eq!(parse_answer(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        // A server that keeps the connection open: the answer ends where its length says.
        assert!(complete(plain));
        assert!(!complete(&plain[..plain.len() - 1]));
        assert!(complete(chunked));
        assert!(!complete(&chunked[..chunked.len() - 2]));
        assert!(complete(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n\r\n{}"));
        assert_eq!(parse_answer(b"HTTP/1.1 500 X\r\n\r\nnot json").map(|a| (a.code, a.body)), Some((500, Value::Null)));
    }

    #[test]
    fn parses_api_server_urls() {
        let s = ApiServer::from_url("http://127.0.0.1:6443/", None, None).unwrap();
        assert_eq!(format!("{s:?}"), "http://127.0.0.1:6443");
        let s = ApiServer::from_url("http://[fd00::1]", None, None).unwrap();
        assert_eq!(format!("{s:?}"), "http://[fd00::1]:80");
        let err = |u: &str| ApiServer::from_url(u, None, None).unwrap_err().to_string();
        assert_eq!(err("ftp://x"), r#"api server url "ftp://x": must start with http:// or https://"#);
        assert_eq!(err("http://x:port"), r#"api server url "http://x:port": the port is not a number"#);
        assert_eq!(err("http://x/api"), r#"api server url "http://x/api": must be a scheme, a host and a port, with no path"#);
        assert_eq!(err("https://x"), r#"api server url "https://x": https needs a CA bundle"#);
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let p = std::env::temp_dir().join(format!("youki-trace-ca-{}.pem", std::process::id()));
        std::fs::write(&p, "not a certificate\n").unwrap();
        let e = ApiServer::from_url("https://10.0.0.1", None, Some(&p)).unwrap_err().to_string();
        assert!(e.ends_with("no certificate in it"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn posts_with_the_bearer_token_and_reads_the_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\"x\":1}") {
                let n = s.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 409 Conflict\r\nContent-Length: 22\r\n\r\n{\"reason\":\"Conflict\"}\n").unwrap();
            // The connection stays open (returned), as a keep-alive server's would.
            (String::from_utf8(got).unwrap(), s)
        });
        let token = std::env::temp_dir().join(format!("youki-trace-token-{}", std::process::id()));
        std::fs::write(&token, "secret-token\n").unwrap();
        let api = ApiServer::from_url(&format!("http://{addr}"), Some(token.clone()), None).unwrap();
        let a = api.post("/api/v1/namespaces/ns/events", &json!({"x": 1})).unwrap();
        assert_eq!(a.code, 409);
        let (request, _open) = server.join().unwrap();
        assert!(request.starts_with("POST /api/v1/namespaces/ns/events HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("\r\nAuthorization: Bearer secret-token\r\n"), "{request}");
        assert!(request.contains("\r\nContent-Type: application/json\r\n"), "{request}");
        std::fs::remove_file(&token).unwrap();
    }

    /// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI
    /// in `dir`; None when openssl is missing.
    fn test_pki(dir: &Path) -> Option<()> {
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("openssl").args(args).current_dir(dir).output().ok()?.status.success();
            ok.then_some(())
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=test-ca",
        ])?;
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=apiserver",
        ])?;
        std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").ok()?;
        run(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "1",
            "-extfile",
            "ext",
        ])
    }

    #[test]
    fn posts_over_tls_to_a_server_the_ca_vouches_for_and_refuses_another() {
        use rustls::pki_types::PrivateKeyDer;
        let dir = std::env::temp_dir().join(format!("youki-trace-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if test_pki(&dir).is_none() {
            eprintln!("skipped: no openssl to make certificates");
            return;
        }
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("srv.crt")).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("srv.key")).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let server = Arc::new(server);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                let (tcp, _) = listener.accept().unwrap();
                let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(server.clone()).unwrap(), tcp);
                let mut buf = [0u8; 4096];
                let mut req = Vec::new();
                while !String::from_utf8_lossy(&req).ends_with("}") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                if !req.is_empty() {
                    let _ = tls.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
                    let _ = tls.flush();
                    got.push(String::from_utf8_lossy(&req).into_owned());
                }
            }
            got
        });
        let url = format!("https://{addr}");
        let api = ApiServer::from_url(&url, None, Some(&dir.join("ca.crt"))).unwrap();
        assert_eq!(api.post("/api/v1/namespaces/ns/events", &json!({"x": 1})).unwrap().code, 201);
        // Trusting only the server's own leaf as a CA bundle is not trusting its issuer.
        let other = ApiServer::from_url(&url, None, Some(&dir.join("srv.crt"))).unwrap();
        let e = other.post("/api/v1/namespaces/ns/events", &json!({"x": 1})).unwrap_err();
        assert!(format!("{:#}", anyhow::Error::from(e)).contains("exchange with the api server"), "refused");
        let got = handle.join().unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("POST /api/v1/namespaces/ns/events HTTP/1.1\r\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
