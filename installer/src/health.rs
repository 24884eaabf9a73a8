//! The DaemonSet pod's /healthz (always 200) and /readyz (200 once ready) over plain HTTP,
//! robust against slow or hostile clients: each connection has its own thread (at most
//! `MAX_CONNECTIONS` at once; beyond that a connection is answered 503 and closed), a read
//! and write timeout, and a request line of at most `MAX_LINE` bytes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// Longest request line read (the rest of the request is never read).
pub const MAX_LINE: usize = 4096;
/// How long a client may take to send its request line, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// What a request line gets: status line and body.
pub fn answer(line: Option<&str>, ready: bool) -> (&'static str, &'static str) {
    let Some(line) = line else {
        return ("431 Request Header Fields Too Large", "request line too long");
    };
    match line.split_whitespace().nth(1) {
        Some("/healthz") => ("200 OK", "ok"),
        Some("/readyz") if ready => ("200 OK", "ready"),
        Some("/readyz") => ("503 Service Unavailable", "not ready"),
        _ => ("404 Not Found", "not found"),
    }
}

/// Reads up to the first newline within `MAX_LINE` bytes and `IO_TIMEOUT` overall.
/// Ok(None): the line is too long. Err: timeout, error or a closed connection.
fn read_line(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let start = Instant::now();
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let left = IO_TIMEOUT.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            if end > MAX_LINE {
                return Ok(None);
            }
            buf.truncate(end);
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        if buf.len() > MAX_LINE {
            return Ok(None);
        }
    }
}

fn respond(stream: &mut TcpStream, code: &str, body: &str) {
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = write!(stream, "HTTP/1.1 {code}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let _ = stream.flush();
}

fn handle(mut stream: TcpStream, ready: &AtomicBool) {
    if let Ok(line) = read_line(&mut stream) {
        let (code, body) = answer(line.as_deref(), ready.load(Ordering::SeqCst));
        respond(&mut stream, code, body);
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Serves on `listener` from a background thread.
pub fn serve(listener: TcpListener, ready: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::SeqCst);
                let mut s = stream;
                respond(&mut s, "503 Service Unavailable", "busy");
                continue;
            }
            let (ready, done) = (ready.clone(), active.clone());
            let spawned = std::thread::Builder::new().name("health".into()).spawn(move || {
                handle(stream, &ready);
                done.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn routes() {
        assert_eq!(answer(Some("GET /healthz HTTP/1.1"), false).0, "200 OK");
        assert_eq!(answer(Some("GET /readyz HTTP/1.1"), false).0, "503 Service Unavailable");
        assert_eq!(answer(Some("GET /readyz HTTP/1.1"), true).0, "200 OK");
        assert_eq!(answer(Some("GET / HTTP/1.1"), true).0, "404 Not Found");
        assert!(answer(None, true).0.starts_with("431"));
    }
}
