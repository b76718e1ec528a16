//! Console sessions and CSRF protection.
//!
//! Signing in with an API token creates a session: a random 256-bit id (from the thread's
//! CSPRNG, as API tokens are made) goes to the browser in the `tollgate_session` cookie; the
//! server keeps only the id's SHA-256, with the SHA-256 of the token (never the token), its
//! times and a random CSRF token. Every request looks the session up by the hash of the
//! presented id — an exact-match lookup on a hash, so there is nothing to time — and resolves
//! the token hash again through [`crate::auth::Auth`], so a revoked token's sessions stop at
//! once. Sessions end after [`IDLE`] without use or [`MAX_AGE`] after sign-in, whichever
//! comes first.
//!
//! State-changing forms carry the session's CSRF token in a hidden field; it is compared in
//! constant time. POSTs must also not come from another site (`Origin`, `Sec-Fetch-Site`).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderMap;
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "tollgate_session";
/// A session unused this long is over.
pub const IDLE: i64 = 8 * 3_600_000;
/// A session this old is over, however busy.
pub const MAX_AGE: i64 = 12 * 3_600_000;
/// At most this many live sessions are kept; the least recently used go first.
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 (hex) of the API token signed in with.
    pub token_hash: String,
    /// The token's name at sign-in (shown; the principal is resolved again per request).
    pub name: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    /// The CSRF token forms of this session carry (base64url of 32 random bytes).
    pub csrf: String,
}

/// The live sessions, by SHA-256 of their id.
#[derive(Debug)]
pub struct Sessions {
    inner: Mutex<HashMap<[u8; 32], Session>>,
    max: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_limit(MAX_SESSIONS)
    }
}

fn random_b64() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn id_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new() -> Self {
        Sessions::default()
    }

    /// At most `max` live sessions.
    pub fn with_limit(max: usize) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            max: max.max(1),
        }
    }

    /// Starts a session for the token with hash `token_hash`; returns the id for the cookie.
    pub fn create(&self, token_hash: &str, name: &str, now_ms: i64) -> String {
        let id = random_b64();
        let session = Session {
            token_hash: token_hash.to_string(),
            name: name.to_string(),
            created_ms: now_ms,
            last_seen_ms: now_ms,
            csrf: random_b64(),
        };
        if let Ok(mut m) = self.inner.lock() {
            m.retain(|_, s| live(s, now_ms));
            if m.len() >= self.max
                && let Some(oldest) = m
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen_ms)
                    .map(|(k, _)| *k)
            {
                m.remove(&oldest);
            }
            m.insert(id_hash(&id), session);
        }
        id
    }

    /// The live session with this id, its last use moved to `now_ms`; expired ones are
    /// dropped.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let key = id_hash(id);
        let mut m = self.inner.lock().ok()?;
        let s = m.get_mut(&key)?;
        if !live(s, now_ms) {
            m.remove(&key);
            return None;
        }
        s.last_seen_ms = now_ms;
        Some(s.clone())
    }

    /// Ends the session with this id (sign-out).
    pub fn remove(&self, id: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(&id_hash(id));
        }
    }

    /// Ends every session of a token (its token was found revoked).
    pub fn remove_token(&self, token_hash: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.retain(|_, s| s.token_hash != token_hash);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn live(s: &Session, now_ms: i64) -> bool {
    now_ms - s.last_seen_ms < IDLE && now_ms - s.created_ms < MAX_AGE
}

/// Whether the form's CSRF token is the session's, compared in constant time.
pub fn csrf_ok(session: &Session, presented: Option<&str>) -> bool {
    match presented {
        Some(p) if !p.is_empty() => bool::from(p.as_bytes().ct_eq(session.csrf.as_bytes())),
        _ => false,
    }
}

/// The session id the request's cookies carry.
pub fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value for a new session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a state-changing request may come from where it says it does: a browser's
/// `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the user), and an `Origin`
/// must name this host. Requests without either header (non-browser clients) still need the
/// session cookie and the CSRF token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        match site.to_str() {
            Ok("same-origin" | "none") => {}
            _ => return false,
        }
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let Some(host) = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
        else {
            return false;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        return authority.is_some_and(|a| a.eq_ignore_ascii_case(host));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn ids_are_random_and_only_their_hash_is_kept() {
        let s = Sessions::new();
        let a = s.create("aa", "alice", 0);
        let b = s.create("aa", "alice", 0);
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        let m = s.inner.lock().unwrap();
        assert!(m.contains_key(&id_hash(&a)));
        // Nothing stored holds the id itself.
        for (k, v) in m.iter() {
            assert_ne!(&k[..], a.as_bytes());
            assert!(!v.csrf.contains(&a) && !v.token_hash.contains(&a));
        }
    }

    #[test]
    fn sessions_expire_when_idle_or_old() {
        let s = Sessions::new();
        let id = s.create("h", "bob", 0);
        assert!(s.get(&id, IDLE / 2).is_some());
        // Used at IDLE/2: the idle clock restarted from there.
        assert!(s.get(&id, IDLE / 2 + IDLE - 1).is_some());
        let id = s.create("h", "bob", 0);
        let mut t = 0;
        while t + IDLE / 2 < MAX_AGE {
            t += IDLE / 2;
            assert!(s.get(&id, t).is_some(), "busy session alive at {t}");
        }
        assert!(s.get(&id, MAX_AGE).is_none(), "no session outlives MAX_AGE");
        let id = s.create("h", "bob", 0);
        assert!(s.get(&id, IDLE).is_none(), "idle session over");
        assert!(s.get("not-a-session", 0).is_none());
    }

    #[test]
    fn sign_out_and_revocation_end_sessions() {
        let s = Sessions::new();
        let a = s.create("h1", "a", 0);
        let b = s.create("h2", "b", 0);
        s.remove(&a);
        assert!(s.get(&a, 1).is_none());
        assert!(s.get(&b, 1).is_some());
        s.remove_token("h2");
        assert!(s.get(&b, 1).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn csrf_token_must_match_exactly() {
        let s = Sessions::new();
        let id = s.create("h", "a", 0);
        let sess = s.get(&id, 0).unwrap();
        assert!(csrf_ok(&sess, Some(&sess.csrf)));
        assert!(!csrf_ok(&sess, None));
        assert!(!csrf_ok(&sess, Some("")));
        assert!(!csrf_ok(&sess, Some(&sess.csrf[1..])));
        let other = s.get(&s.create("h", "a", 0), 0).unwrap();
        assert_ne!(other.csrf, sess.csrf);
        assert!(!csrf_ok(&sess, Some(&other.csrf)));
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_scoped() {
        let c = set_cookie("abc", false);
        assert_eq!(
            c,
            "tollgate_session=abc; Path=/ui; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("x=1; tollgate_session=abc ; y=2"),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some("abc"));
        assert_eq!(cookie_id(&HeaderMap::new()), None);
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(same_origin(&h(&[])));
        assert!(same_origin(&h(&[
            ("host", "tg:5000"),
            ("origin", "http://tg:5000"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&h(&[("sec-fetch-site", "same-site")])));
        assert!(!same_origin(&h(&[
            ("host", "tg:5000"),
            ("origin", "http://evil:5000")
        ])));
        assert!(!same_origin(&h(&[("host", "tg:5000"), ("origin", "null")])));
        assert!(!same_origin(&h(&[("origin", "http://tg:5000")])));
    }

    #[test]
    fn the_oldest_session_goes_when_full() {
        let s = Sessions::with_limit(3);
        let first = s.create("h", "a", 0);
        let second = s.create("h", "a", 1);
        let third = s.create("h", "a", 2);
        // The first is used again: the second is now the least recently used.
        assert!(s.get(&first, 3).is_some());
        let fourth = s.create("h", "a", 4);
        assert_eq!(s.len(), 3);
        assert!(s.get(&second, 5).is_none());
        for id in [&first, &third, &fourth] {
            assert!(s.get(id, 5).is_some());
        }
    }
}
