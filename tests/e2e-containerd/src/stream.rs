//! An interactive exec through the streaming server whose URL `Exec` returns: a websocket
//! speaking `v4.channel.k8s.io`, the protocol kubectl used before SPDY's replacement. Each
//! binary message starts with its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the final
//! status (JSON), 4 terminal resize (JSON). The framing and the status are pure functions.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const STATUS: u8 = 3;
pub const RESIZE: u8 = 4;
const PROTOCOL: &str = "v4.channel.k8s.io";

pub fn frame(channel: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.push(channel);
    out.extend_from_slice(payload);
    out
}

pub fn resize(width: u16, height: u16) -> Vec<u8> {
    frame(RESIZE, format!("{{\"Width\":{width},\"Height\":{height}}}").as_bytes())
}

/// The exit code in a v4 status message: 0 for Success, the ExitCode cause otherwise.
pub fn exit_code(status: &[u8]) -> Result<i32> {
    let v: serde_json::Value = serde_json::from_slice(status).context("status is not JSON")?;
    match v["status"].as_str() {
        Some("Success") => Ok(0),
        Some("Failure") if v["reason"] == "NonZeroExitCode" => {
            let causes = v["details"]["causes"].as_array().cloned().unwrap_or_default();
            let code = causes
                .iter()
                .find(|c| c["reason"] == "ExitCode")
                .and_then(|c| c["message"].as_str())
                .ok_or_else(|| anyhow!("no ExitCode cause in {v}"))?;
            code.parse().with_context(|| format!("exit code {code:?}"))
        }
        _ => bail!("exec failed: {v}"),
    }
}

/// What one interactive session produced.
#[derive(Debug, Default)]
pub struct Session {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: Option<i32>,
}

impl Session {
    fn take(&mut self, msg: &[u8]) -> Result<()> {
        let Some((&ch, payload)) = msg.split_first() else { return Ok(()) };
        match ch {
            STDOUT => self.stdout.extend_from_slice(payload),
            STDERR => self.stderr.extend_from_slice(payload),
            STATUS if !payload.is_empty() => self.exit_code = Some(exit_code(payload)?),
            _ => {}
        }
        Ok(())
    }
}

/// Connects to `url`, sets the terminal size, types `input` after a short pause (so the
/// resize lands first), and collects everything until the server closes.
pub async fn run(url: &str, (width, height): (u16, u16), input: &str, limit: Duration) -> Result<Session> {
    let ws_url = url.replacen("http://", "ws://", 1);
    let mut req = ws_url.as_str().into_client_request().with_context(|| format!("bad streaming URL {url:?}"))?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    req.headers_mut().insert("Origin", HeaderValue::from_static("http://127.0.0.1"));
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.with_context(|| format!("websocket to {url}"))?;
    let chosen = resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    if chosen != PROTOCOL {
        bail!("streaming server chose protocol {chosen:?}, not {PROTOCOL}");
    }
    ws.send(Message::Binary(resize(width, height).into())).await?;
    let mut session = Session::default();
    let typed = tokio::time::sleep(Duration::from_millis(300));
    tokio::pin!(typed);
    let mut sent = false;
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut typed, if !sent => {
                ws.send(Message::Binary(frame(STDIN, input.as_bytes()).into())).await?;
                sent = true;
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(b))) => session.take(&b)?,
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // The server may drop the connection right after the status message.
                    if session.exit_code.is_some() { break }
                    return Err(e).context("websocket read");
                }
            },
            _ = &mut deadline => bail!("interactive exec did not finish within {limit:?}; output so far: {:?}", String::from_utf8_lossy(&session.stdout)),
        }
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_start_with_their_channel() {
        assert_eq!(frame(STDIN, b"ls\n"), b"\0ls\n");
        assert_eq!(resize(80, 24), b"\x04{\"Width\":80,\"Height\":24}");
    }

    #[test]
    fn status_messages_give_the_exit_code() {
        assert_eq!(exit_code(br#"{"metadata":{},"status":"Success"}"#).unwrap(), 0);
        let failed = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: 7","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}"#;
        assert_eq!(exit_code(failed).unwrap(), 7);
        assert!(exit_code(br#"{"status":"Failure","message":"container not found"}"#)
            .unwrap_err()
            .to_string()
            .contains("container not found"));
    }

    #[test]
    fn session_sorts_channels() {
        let mut s = Session::default();
        s.take(b"\x01hello ").unwrap();
        s.take(b"\x02oops").unwrap();
        s.take(b"\x01world").unwrap();
        s.take(b"\x03").unwrap();
        assert_eq!(s.exit_code, None);
        s.take(&frame(STATUS, br#"{"status":"Success"}"#)).unwrap();
        assert_eq!((s.stdout.as_slice(), s.stderr.as_slice(), s.exit_code), (&b"hello world"[..], &b"oops"[..], Some(0)));
    }
}
