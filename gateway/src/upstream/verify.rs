//! Relaying upstream bytes only when they hash to the digest that was asked for.
//!
//! Hashing runs on its own thread, fed through a short bounded queue, so a pull uses one core
//! to relay and another to hash instead of doing both in turn; the latest chunk is always held
//! back until the whole body has hashed to the expected digest, so the client never receives a
//! complete body that is wrong.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tollgate_attest::{Digest, DigestHasher};

use super::{BoxError, UpstreamError};
use crate::metrics::Metrics;

/// Chunks in flight to the hashing thread: enough to keep it busy, little memory.
const HASH_QUEUE: usize = 8;

struct State<S> {
    inner: S,
    to_hasher: Option<mpsc::Sender<Bytes>>,
    hashed: Option<oneshot::Receiver<DigestHasher>>,
    held: Option<Bytes>,
    expected: Digest,
    expected_len: Option<u64>,
    metrics: Arc<Metrics>,
    what: String,
    done: bool,
}

fn mismatch<S>(st: &State<S>, got: &Digest, len: u64) -> BoxError {
    st.metrics.digest_mismatch("upstream");
    tracing::error!(
        blob = %st.what, expected = %st.expected, got = %got, bytes = len,
        "upstream content does not match its digest; response aborted"
    );
    format!("upstream bytes hash to {got}, not {}", st.expected).into()
}

/// Wraps `inner` (the upstream body) into the stream relayed to the client.
pub fn verified_stream<S>(
    inner: S,
    expected: Digest,
    expected_len: Option<u64>,
    metrics: Arc<Metrics>,
    what: String,
) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, UpstreamError>> + Send + Unpin + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(HASH_QUEUE);
    let (done_tx, done_rx) = oneshot::channel();
    let algorithm = expected.algorithm();
    // Ends when the sender is dropped: at the end of the body, or when the client goes away.
    tokio::task::spawn_blocking(move || {
        let mut h = DigestHasher::new(algorithm);
        while let Some(chunk) = rx.blocking_recv() {
            h.update(&chunk);
        }
        let _ = done_tx.send(h);
    });
    let state = State {
        inner,
        to_hasher: Some(tx),
        hashed: Some(done_rx),
        held: None,
        expected,
        expected_len,
        metrics,
        what,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    let sent = match &st.to_hasher {
                        Some(tx) => tx.send(chunk.clone()).await.is_ok(),
                        None => false,
                    };
                    if !sent {
                        st.done = true;
                        return Some((Err("hashing stopped".into()), st));
                    }
                    if let Some(prev) = st.held.replace(chunk) {
                        st.metrics.bytes("out", prev.len() as u64);
                        return Some((Ok(prev), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    tracing::warn!(blob = %st.what, error = %e, "upstream body failed mid-stream");
                    return Some((Err(Box::new(e) as BoxError), st));
                }
                None => {
                    st.done = true;
                    st.to_hasher = None;
                    let hasher = match st.hashed.take() {
                        Some(rx) => rx.await.ok(),
                        None => None,
                    };
                    let Some(hasher) = hasher else {
                        return Some((Err("hashing failed".into()), st));
                    };
                    let len = hasher.len();
                    let got = hasher.finish();
                    if got != st.expected || st.expected_len.is_some_and(|l| l != len) {
                        let e = mismatch(&st, &got, len);
                        return Some((Err(e), st));
                    }
                    let last = st.held.take()?;
                    st.metrics.bytes("out", last.len() as u64);
                    return Some((Ok(last), st));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, UpstreamError>> + Unpin + Send + 'static {
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
        let s = verified_stream(
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
        let s = verified_stream(
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

    #[tokio::test]
    async fn a_short_body_is_a_mismatch() {
        let m = Arc::new(Metrics::new());
        let d = Digest::sha256_of(b"hello");
        let s = verified_stream(chunks(&[b"hello"]), d, Some(6), m, "t".into());
        let out: Vec<_> = s.collect().await;
        assert!(
            out.iter().all(|r| r.is_err()),
            "a body of the wrong length must not be released"
        );
    }
}
