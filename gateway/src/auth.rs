//! API tokens and roles. Tokens are 256-bit random secrets shown once; the store keeps only
//! their SHA-256. A request presents one as an HTTP Basic password (any user name) or as a
//! Bearer token, which every registry client supports.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, header};
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;
use tollgate_policies::{Action, ReasonCode, RepoName, RoleGrant};
use tollgate_store::{Store, TokenRecord};

use crate::error::{ApiError, ErrorCode};

/// How long a looked-up token is trusted without asking the store again. Revocations through
/// this process take effect at once; the bound covers changes made by another process.
const CACHE_TTL: Duration = Duration::from_secs(10);
/// How often a token's last use is written to the store.
const LAST_USED_EVERY_MS: i64 = 60_000;
const TOKEN_PREFIX: &str = "tg_";

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub grants: Vec<RoleGrant>,
}

impl Principal {
    pub fn may(&self, action: Action, repo: &RepoName) -> bool {
        self.grants.iter().any(|g| g.allows(action, repo))
    }

    pub fn is_admin(&self) -> bool {
        self.grants.iter().any(RoleGrant::is_global_admin)
    }
}

/// A new random token: `tg_` and 43 characters of base64url (256 bits).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn new_token_record(name: &str, roles: Vec<RoleGrant>, now_ms: i64) -> (String, TokenRecord) {
    let token = generate_token();
    let rec = TokenRecord {
        name: name.to_string(),
        hash: hash_token(&token),
        roles,
        created_at_ms: now_ms,
        revoked: false,
        last_used_ms: None,
    };
    (token, rec)
}

/// A token name: what appears in records and logs as the actor.
pub fn valid_token_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

#[derive(Debug)]
pub struct Auth {
    store: Arc<dyn Store>,
    anonymous_pull: bool,
    cache: RwLock<HashMap<String, (Arc<Principal>, Instant)>>,
    /// Token name → (last use, last use written to the store), in ms.
    last_used: std::sync::Mutex<HashMap<String, (i64, i64)>>,
}

/// The secret a request presents, if any.
pub fn presented_secret(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return Some(password.to_string());
    }
    None
}

impl Auth {
    pub fn new(store: Arc<dyn Store>, anonymous_pull: bool) -> Self {
        Auth {
            store,
            anonymous_pull,
            cache: RwLock::new(HashMap::new()),
            last_used: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The principal behind the request's credentials: `Ok(None)` when none are presented,
    /// 401 when they are wrong or revoked.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<Principal>>, ApiError> {
        let Some(secret) = presented_secret(headers) else {
            return Ok(None);
        };
        self.authenticate_hash(&hash_token(&secret)).map(Some)
    }

    /// The principal behind a token's SHA-256 (lowercase hex), by the same rules as
    /// [`Auth::authenticate`]: 401 when unknown or revoked. The web console keeps only the
    /// hash in its sessions and resolves it again on every request.
    pub fn authenticate_hash(&self, hash: &str) -> Result<Arc<Principal>, ApiError> {
        let hash = hash.to_string();
        if let Ok(cache) = self.cache.read()
            && let Some((p, at)) = cache.get(&hash)
            && at.elapsed() < CACHE_TTL
        {
            self.used(&p.name);
            return Ok(Arc::clone(p));
        }
        let rec = self.store.token_by_hash(&hash)?;
        let Some(rec) =
            rec.filter(|r| !r.revoked && bool::from(r.hash.as_bytes().ct_eq(hash.as_bytes())))
        else {
            return Err(unauthorized("the presented token is unknown or revoked"));
        };
        let p = Arc::new(Principal {
            name: rec.name,
            grants: rec.roles,
        });
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(hash, (Arc::clone(&p), Instant::now()));
        }
        self.used(&p.name);
        Ok(p)
    }

    /// Notes a token's use; the store learns of it at most once a minute per token, so access
    /// reviews can say when a token was last used without a write per request.
    fn used(&self, name: &str) {
        let now = crate::app::now_ms();
        let persist = match self.last_used.lock() {
            Ok(mut m) => {
                let e = m.entry(name.to_string()).or_insert((0, 0));
                e.0 = now;
                if now - e.1 >= LAST_USED_EVERY_MS {
                    e.1 = now;
                    true
                } else {
                    false
                }
            }
            Err(_) => false,
        };
        if persist && let Err(e) = self.store.touch_token(name, now) {
            tracing::warn!(token = name, error = %e, "could not record token use");
        }
    }

    /// When `name` was last presented, as far as this process knows.
    pub fn last_used(&self, name: &str) -> Option<i64> {
        self.last_used.lock().ok()?.get(name).map(|(t, _)| *t)
    }

    /// Forgets cached principals, after a revocation.
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }

    /// Requires a principal allowed to do `action` on `repo` (anonymous pulls when enabled).
    pub fn authorize(
        &self,
        p: Option<&Principal>,
        action: Action,
        repo: &RepoName,
    ) -> Result<(), ApiError> {
        match p {
            None if self.anonymous_pull && action == Action::Pull => Ok(()),
            None => Err(unauthorized("authentication required")),
            Some(p) if p.may(action, repo) => Ok(()),
            Some(p) => Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!(
                    "token {:?} has no role allowing {} on {repo}",
                    p.name,
                    action_name(action)
                ),
            )),
        }
    }

    /// Requires a global admin.
    pub fn require_admin(&self, p: Option<&Principal>) -> Result<(), ApiError> {
        match p {
            None => Err(unauthorized("authentication required")),
            Some(p) if p.is_admin() => Ok(()),
            Some(p) => Err(ApiError::denied(
                ReasonCode::RoleMissing,
                format!("token {:?} is not an admin", p.name),
            )),
        }
    }

    /// Requires any valid principal.
    pub fn require_principal<'a>(
        &self,
        p: Option<&'a Principal>,
    ) -> Result<&'a Principal, ApiError> {
        p.ok_or_else(|| unauthorized("authentication required"))
    }
}

pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Pull => "pull",
        Action::Push => "push",
        Action::Delete => "delete",
        Action::Promote => "promote",
        Action::Approve(_) => "approve",
        Action::BreakGlass => "break glass",
        Action::Audit => "read the audit log",
        Action::Verify => "record verification results",
    }
}

/// 401 with a challenge that registry clients answer: the Bearer token flow against
/// `/v2/token` (which accepts the API token as a Basic password), or Basic directly.
pub fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

/// Adds the challenge to a 401, pointing the realm at this gateway as the client reached it.
pub fn add_challenge(resp: &mut axum::response::Response, host: Option<&str>) {
    let realm = match host {
        Some(h)
            if h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)) =>
        {
            format!("http://{h}/v2/token")
        }
        _ => "/v2/token".to_string(),
    };
    let value = format!("Bearer realm=\"{realm}\",service=\"tollgate\"");
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_store::MemoryStore;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (t1, rec) = new_token_record("ci", vec!["pusher:dev/*".parse().unwrap()], 0);
        let (t2, _) = new_token_record("ci", vec![], 0);
        assert_ne!(t1, t2);
        assert!(t1.starts_with("tg_") && t1.len() == 46);
        assert!(!rec.hash.contains(&t1));
        assert_eq!(rec.hash, hash_token(&t1));
    }

    #[test]
    fn basic_and_bearer_and_revocation() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (token, rec) = new_token_record("ci", vec!["pusher:dev/*".parse().unwrap()], 0);
        store.create_token(&rec).unwrap();
        let auth = Auth::new(Arc::clone(&store), false);
        let basic = format!("Basic {}", STANDARD.encode(format!("anyone:{token}")));
        let p = auth.authenticate(&headers(&basic)).unwrap().unwrap();
        assert_eq!(p.name, "ci");
        let p = auth
            .authenticate(&headers(&format!("Bearer {token}")))
            .unwrap()
            .unwrap();
        let dev: RepoName = "dev/app".parse().unwrap();
        let prod: RepoName = "prod/app".parse().unwrap();
        assert!(auth.authorize(Some(&p), Action::Push, &dev).is_ok());
        assert_eq!(
            auth.authorize(Some(&p), Action::Push, &prod)
                .unwrap_err()
                .code,
            ErrorCode::Denied
        );
        assert_eq!(
            auth.authorize(None, Action::Pull, &dev).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        assert!(auth.authenticate(&headers("Bearer tg_wrong")).is_err());
        assert!(auth.authenticate(&HeaderMap::new()).unwrap().is_none());
        store.revoke_token("ci").unwrap();
        auth.invalidate();
        assert!(auth.authenticate(&headers(&basic)).is_err());
    }

    #[test]
    fn anonymous_pull_when_enabled() {
        let auth = Auth::new(Arc::new(MemoryStore::new()), true);
        let r: RepoName = "dev/app".parse().unwrap();
        assert!(auth.authorize(None, Action::Pull, &r).is_ok());
        assert!(auth.authorize(None, Action::Push, &r).is_err());
    }
}
