//! A loopback HTTP receiver for tests of what the hub sends out (webhook actions,
//! alert webhooks): it reads each request whole (head, then as many body bytes as
//! `Content-Length` says), answers it with the next scripted status, and hands it to the
//! test.

use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One request as received: the request line, headers by lower-case name, the body
/// (bytes: a Web Push body is encrypted).
#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value by its name in any case; empty if absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map_or("", String::as_str)
    }

    /// The body as text (JSON receivers).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Binds a free loopback port and serves it: the port, and the requests as they come.
/// Each is answered with the next of `statuses`, then 200.
pub async fn receiver(statuses: Vec<u16>) -> (u16, mpsc::UnboundedReceiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    (port, serve(listener, statuses))
}

/// Serves an already bound listener (a test that must choose the port first).
pub fn serve(listener: TcpListener, statuses: Vec<u16>) -> mpsc::UnboundedReceiver<Request> {
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        while let Ok((mut socket, _)) = listener.accept().await {
            let Some(request) = read_request(&mut socket).await else {
                continue;
            };
            let status = statuses.next().unwrap_or(200);
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
            if sender.send(request).is_err() {
                return;
            }
        }
    });
    received
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let n = socket.read(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buffer[..n]);
        let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.lines();
        let line = lines.next().unwrap_or_default().to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .and_then(|length| length.parse().ok())
            .unwrap_or(0);
        if bytes.len() >= end + 4 + length {
            return Some(Request {
                line,
                headers,
                body: bytes[end + 4..end + 4 + length].to_vec(),
            });
        }
    }
}
