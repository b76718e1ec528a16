//! Relaying upstream bytes only when they hash to the digest that was asked for.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tollgate_attest::{Digest, DigestHasher};

use super::{BoxError, UpstreamError};
use crate::metrics::Metrics;

/// Passes chunks through while hashing them, always holding back the latest chunk: the last
/// bytes are released only once the whole body has hashed to `expected`. On a mismatch the
/// stream ends in an error, so the client never receives a complete body that is wrong.
pub struct VerifiedStream<S> {
    inner: S,
    hasher: Option<DigestHasher>,
    held: Option<Bytes>,
    expected: Digest,
    expected_len: Option<u64>,
    metrics: Arc<Metrics>,
    what: String,
    done: bool,
}

impl<S> std::fmt::Debug for VerifiedStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedStream")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl<S> VerifiedStream<S> {
    pub fn new(
        inner: S,
        expected: Digest,
        expected_len: Option<u64>,
        metrics: Arc<Metrics>,
        what: String,
    ) -> Self {
        let hasher = Some(DigestHasher::new(expected.algorithm()));
        VerifiedStream {
            inner,
            hasher,
            held: None,
            expected,
            expected_len,
            metrics,
            what,
            done: false,
        }
    }
}

impl<S> Stream for VerifiedStream<S>
where
    S: Stream<Item = Result<Bytes, UpstreamError>> + Unpin,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    tracing::warn!(blob = %this.what, error = %e, "upstream body failed mid-stream");
                    return Poll::Ready(Some(Err(Box::new(e))));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    if let Some(h) = this.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    if let Some(prev) = this.held.replace(chunk) {
                        this.metrics.bytes("out", prev.len() as u64);
                        return Poll::Ready(Some(Ok(prev)));
                    }
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let Some(h) = this.hasher.take() else {
                        return Poll::Ready(None);
                    };
                    let len = h.len();
                    let got = h.finish();
                    let len_ok = this.expected_len.is_none_or(|l| l == len);
                    if got != this.expected || !len_ok {
                        this.metrics.digest_mismatch("upstream");
                        tracing::error!(
                            blob = %this.what, expected = %this.expected, got = %got, bytes = len,
                            "upstream content does not match its digest; response aborted"
                        );
                        let msg = format!("upstream bytes hash to {got}, not {}", this.expected);
                        return Poll::Ready(Some(Err(msg.into())));
                    }
                    return match this.held.take() {
                        Some(last) => {
                            this.metrics.bytes("out", last.len() as u64);
                            Poll::Ready(Some(Ok(last)))
                        }
                        None => Poll::Ready(None),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, UpstreamError>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn releases_everything_when_the_digest_matches() {
        let m = Arc::new(Metrics::new());
        let d = Digest::sha256_of(b"hello world");
        let s = VerifiedStream::new(
            chunks(&[b"hello", b" ", b"world"]),
            d,
            Some(11),
            m,
            "t".into(),
        );
        let out: Vec<_> = s.collect().await;
        let bytes: Vec<u8> = out.into_iter().flat_map(|r| r.unwrap().to_vec()).collect();
        assert_eq!(bytes, b"hello world");
    }

    #[tokio::test]
    async fn withholds_the_last_chunk_on_mismatch() {
        let m = Arc::new(Metrics::new());
        let d = Digest::sha256_of(b"hello world");
        let s = VerifiedStream::new(
            chunks(&[b"hello", b" ", b"w0rld"]),
            d,
            None,
            Arc::clone(&m),
            "t".into(),
        );
        let out: Vec<_> = s.collect().await;
        let delivered: usize = out
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|b| b.len())
            .sum();
        assert_eq!(delivered, 6, "only the chunks before the last may go out");
        assert!(out.last().unwrap().is_err());
        assert!(
            m.encode()
                .contains("tollgate_digest_mismatches_total{kind=\"upstream\"} 1")
        );
    }
}
