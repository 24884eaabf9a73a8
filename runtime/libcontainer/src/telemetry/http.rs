//! A small HTTP/1.1 client for the one request OTLP needs: POST a body, read the status.
//! Plain http only; a short timeout so an unreachable collector costs at most that.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("unsupported endpoint {0:?}: only http:// is supported")]
    Scheme(String),
    #[error("endpoint {0:?}: bad address")]
    Address(String),
    #[error("endpoint {url:?}")]
    Io {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("endpoint {url:?} answered {status}")]
    Status { url: String, status: String },
}

/// (host:port, path) of an http URL.
pub fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| HttpError::Scheme(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::Address(url.to_string()));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') { authority.to_string() } else { format!("{authority}:80") };
    Ok((authority, path.to_string()))
}

pub fn post(url: &str, content_type: &str, headers: &[(String, String)], body: &[u8], timeout: Duration) -> Result<(), HttpError> {
    let (authority, path) = split_url(url)?;
    let io = |source| HttpError::Io { url: url.to_string(), source };
    let addr = authority.to_socket_addrs().map_err(io)?.next().ok_or_else(|| HttpError::Address(url.to_string()))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(io)?;
    s.write_all(body).map_err(io)?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).map_err(io)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("").to_string();
    if status.starts_with('2') {
        Ok(())
    } else {
        Err(HttpError::Status { url: url.to_string(), status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(split_url("http://localhost:4318/v1/traces").unwrap(), ("localhost:4318".into(), "/v1/traces".into()));
        assert_eq!(split_url("http://collector").unwrap(), ("collector:80".into(), "/".into()));
        assert_eq!(split_url("https://x").unwrap_err().to_string(), r#"unsupported endpoint "https://x": only http:// is supported"#);
    }
}
