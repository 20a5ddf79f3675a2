//! Minimal websocket (RFC 6455) pieces for tests: an echo backend and a
//! client over raw TCP. Only what the tests need: unfragmented frames,
//! masking from the client, close echo. The proxy never parses frames,
//! so the handshake's accept key is not checked by either side.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::backend::{spawn_backend, Backend};

pub const TEXT: u8 = 1;
pub const BINARY: u8 = 2;
pub const CLOSE: u8 = 8;

/// Read an HTTP head (up to the blank line) byte by byte.
pub async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> Option<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let b = s.read_u8().await.ok()?;
        head.push(b);
        if head.len() > 64 * 1024 {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

pub async fn write_frame<S: AsyncWrite + Unpin>(
    s: &mut S,
    opcode: u8,
    payload: &[u8],
    masked: bool,
) -> std::io::Result<()> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    s.write_all(&f).await
}

/// Read one frame: `(opcode, unmasked payload)`, or None on EOF/error.
pub async fn read_frame<S: AsyncRead + Unpin>(s: &mut S) -> Option<(u8, Vec<u8>)> {
    let b0 = s.read_u8().await.ok()?;
    let b1 = s.read_u8().await.ok()?;
    let len = match b1 & 0x7f {
        126 => u64::from(s.read_u16().await.ok()?),
        127 => s.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let key = if b1 & 0x80 != 0 {
        let mut k = [0u8; 4];
        s.read_exact(&mut k).await.ok()?;
        Some(k)
    } else {
        None
    };
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut payload).await.ok()?;
    if let Some(k) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    Some((b0 & 0x0f, payload))
}

/// Websocket echo server: echoes data frames, answers close with close.
pub async fn ws_echo() -> Backend {
    spawn_backend(|mut s, guard| async move {
        let _guard = guard;
        let Some(head) = read_head(&mut s).await else {
            return;
        };
        if !head.to_ascii_lowercase().contains("upgrade: websocket") {
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
            return;
        }
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Connection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n";
        if s.write_all(ok.as_bytes()).await.is_err() {
            return;
        }
        while let Some((op, payload)) = read_frame(&mut s).await {
            let _ = write_frame(&mut s, op, &payload, false).await;
            if op == CLOSE {
                break;
            }
        }
    })
    .await
}

pub struct WsClient {
    pub stream: TcpStream,
    /// The handshake response head.
    pub head: String,
}

impl WsClient {
    /// Handshake through the proxy; `head` holds whatever status came back.
    pub async fn connect(addr: SocketAddr, path: &str) -> WsClient {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: proxy.test\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(req.as_bytes())
            .await
            .expect("write handshake");
        let head = super::bounded("ws handshake", read_head(&mut stream))
            .await
            .unwrap_or_default();
        WsClient { stream, head }
    }

    pub fn upgraded(&self) -> bool {
        self.head.starts_with("HTTP/1.1 101")
    }

    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        write_frame(&mut self.stream, opcode, payload, true)
            .await
            .expect("send frame");
    }

    /// Next frame, or None if the connection closed (bounded wait).
    pub async fn recv(&mut self) -> Option<(u8, Vec<u8>)> {
        super::bounded("ws frame", read_frame(&mut self.stream)).await
    }

    /// Send a text frame and expect it echoed.
    pub async fn echo(&mut self, msg: &[u8]) {
        self.send(BINARY, msg).await;
        let (op, got) = self.recv().await.expect("echo frame");
        assert_eq!(op, BINARY);
        assert!(
            got == msg,
            "echo payload differs ({} vs {} bytes)",
            got.len(),
            msg.len()
        );
    }

    /// Clean close handshake, then wait for EOF.
    pub async fn close(mut self) {
        self.send(CLOSE, &[0x03, 0xe8]).await;
        while let Some((op, _)) = self.recv().await {
            if op == CLOSE {
                break;
            }
        }
        let _ = super::client::read_to_close(&mut self.stream).await;
    }
}
