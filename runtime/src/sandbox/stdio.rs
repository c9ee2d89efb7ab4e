//! Guest stdout/stderr: captured into a bounded buffer that ends up in the log, never the host's own stdio.
//!
//! wasmtime-wasi's `MemoryOutputPipe` traps the guest once its capacity is reached; a chatty plugin must
//! never fail for its output, so past the cap this buffer keeps counting bytes and drops them instead.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of guest output kept per attempt; the rest is counted and dropped.
pub const CAPTURE_LIMIT: usize = 16 << 10;

/// A bounded capture of a guest's stdout and stderr, shared by both streams.
#[derive(Clone, Default)]
pub struct CapturedOutput {
    // A std mutex: sections are a bounded copy, with no await inside.
    inner: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

impl CapturedOutput {
    fn append(&self, bytes: &[u8]) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = CAPTURE_LIMIT.saturating_sub(c.kept.len());
        let keep = bytes.len().min(room);
        c.kept.extend_from_slice(&bytes[..keep]);
        c.dropped += bytes.len() - keep;
    }

    /// The kept text (lossy UTF-8) and how many bytes were dropped past the cap.
    pub fn take(&self) -> (String, usize) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&c.kept).into_owned();
        c.kept.clear();
        (text, std::mem::take(&mut c.dropped))
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let mut out = CapturedOutput::default();
        out.write(Bytes::from(vec![b'a'; CAPTURE_LIMIT - 1])).unwrap();
        out.write(Bytes::from_static(b"xyz")).unwrap();
        let (text, dropped) = out.take();
        assert_eq!(text.len(), CAPTURE_LIMIT);
        assert!(text.ends_with('x'));
        assert_eq!(dropped, 2);
    }
}
