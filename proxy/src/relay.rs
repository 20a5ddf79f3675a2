//! A byte relay between two TCP sockets that holds no buffer while both are idle.
//!
//! Each wake-up reads into a buffer on the thread's stack and writes it straight on; only what
//! the destination cannot take at once is copied to the heap, and reading stops until it is
//! written (so the kernel's socket buffers apply backpressure). An idle tunnel is two sockets
//! and a task, a few hundred bytes, where `copy_bidirectional` keeps 16 KiB per tunnel.

use std::io::{self, ErrorKind};
use std::net::Shutdown;

use bytes::{Buf, Bytes};
use tokio::net::TcpStream;

use crate::activity::ActivityCell;

/// Bytes moved per read.
const CHUNK: usize = 16 * 1024;

/// Copies both ways until both directions have ended (each end is passed on as a half-close)
/// or one fails. `a_pre`/`b_pre` are bytes already read from `a`/`b` (the upgrade's leftovers),
/// sent on first. Every read counts as activity.
pub(crate) async fn relay(
    a: &TcpStream,
    a_pre: Bytes,
    b: &TcpStream,
    b_pre: Bytes,
    cell: &ActivityCell,
) -> io::Result<()> {
    tokio::try_join!(pump(a, b, a_pre, cell), pump(b, a, b_pre, cell))?;
    Ok(())
}

/// One direction, `src` → `dst`.
async fn pump(
    src: &TcpStream,
    dst: &TcpStream,
    mut pending: Bytes,
    cell: &ActivityCell,
) -> io::Result<()> {
    loop {
        while !pending.is_empty() {
            dst.writable().await?;
            match dst.try_write(&pending) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => pending.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        // An emptied `Bytes` still owns its allocation (for the upgrade's leftovers, hyper's
        // whole read buffer): let it go before waiting.
        pending = Bytes::new();
        src.readable().await?;
        match forward(src, dst, cell)? {
            Step::Sent => {}
            Step::Rest(rest) => pending = rest,
            Step::Eof => {
                // Pass the half-close on; the other direction keeps going.
                match socket2::SockRef::from(dst).shutdown(Shutdown::Write) {
                    Err(e) if e.kind() != ErrorKind::NotConnected => return Err(e),
                    _ => return Ok(()),
                }
            }
        }
    }
}

enum Step {
    /// Everything read (possibly nothing: a spurious wake-up) was written.
    Sent,
    /// What `dst` could not take yet.
    Rest(Bytes),
    Eof,
}

/// One read and as much of its write as the destination takes now. Not async, so the stack
/// buffer never becomes part of the task.
fn forward(src: &TcpStream, dst: &TcpStream, cell: &ActivityCell) -> io::Result<Step> {
    let mut buf = [0u8; CHUNK];
    let n = match src.try_read(&mut buf) {
        Ok(0) => return Ok(Step::Eof),
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Step::Sent),
        Err(e) => return Err(e),
    };
    cell.touch();
    let mut off = 0;
    while off < n {
        match dst.try_write(&buf[off..n]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(w) => off += w,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Ok(Step::Rest(Bytes::copy_from_slice(&buf[off..n])))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Step::Sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A connected pair: (the end the relay holds, the end the test drives), with small fixed
    /// socket buffers so that backpressure shows within megabytes.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        let (s, c) = (s.expect("accept").0, c.expect("connect"));
        for sock in [&s, &c] {
            let r = socket2::SockRef::from(sock);
            r.set_send_buffer_size(64 * 1024).expect("sndbuf");
            r.set_recv_buffer_size(64 * 1024).expect("rcvbuf");
        }
        (s, c)
    }

    #[tokio::test]
    async fn relays_both_ways_with_leftovers_backpressure_and_half_close() {
        let (a, mut a_peer) = pair().await;
        let (b, mut b_peer) = pair().await;
        let cell = ActivityCell::new_now();
        let _ = cell.take();
        let relaying = tokio::spawn(async move {
            relay(
                &a,
                Bytes::from_static(b"A0"),
                &b,
                Bytes::from_static(b"B0"),
                &cell,
            )
            .await
        });
        // Leftovers first, then live data, in both directions.
        let mut got = [0u8; 2];
        b_peer.read_exact(&mut got).await.expect("a's leftover");
        assert_eq!(&got, b"A0");
        a_peer.read_exact(&mut got).await.expect("b's leftover");
        assert_eq!(&got, b"B0");
        // 8 MiB one way while nobody reads: the relay must stall, not buffer it all.
        let big: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
        let expect = big.clone();
        let writer = tokio::spawn(async move {
            a_peer.write_all(&big).await.expect("write");
            a_peer.shutdown().await.expect("half-close");
            a_peer
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !writer.is_finished(),
            "the relay absorbed 8 MiB nobody read"
        );
        let mut received = Vec::new();
        b_peer
            .read_to_end(&mut received)
            .await
            .expect("read to EOF");
        assert!(received == expect, "bytes lost or reordered");
        // a's half-close reached b; b can still answer, then close.
        let mut a_peer = writer.await.expect("writer");
        b_peer.write_all(b"bye").await.expect("answer");
        b_peer.shutdown().await.expect("close");
        let mut tail = Vec::new();
        a_peer.read_to_end(&mut tail).await.expect("read");
        assert_eq!(tail, b"bye");
        relaying.await.expect("task").expect("relay ends cleanly");
    }

    #[tokio::test]
    async fn a_reset_ends_the_relay_with_an_error() {
        let (a, a_peer) = pair().await;
        let (b, _b_peer) = pair().await;
        let cell = ActivityCell::new_now();
        socket2::SockRef::from(&a_peer)
            .set_linger(Some(std::time::Duration::ZERO))
            .expect("linger");
        drop(a_peer); // RST
        let res = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            relay(&a, Bytes::new(), &b, Bytes::new(), &cell),
        )
        .await
        .expect("the relay ended");
        assert!(
            res.is_err(),
            "a reset is an error, not a clean end: {res:?}"
        );
    }
}
