//! The web console at `/ui/`: server-rendered HTML (maud) for release managers, security
//! teams and auditors, on the same store, authorisation and promotion functions as the API.
//!
//! - Sign-in with an API token creates a server-side session ([`session`]); the cookie
//!   carries only a random session id, never the token.
//! - Every page resolves the session's token again and asks the same questions of the
//!   principal as the API does; every action calls the same function the API calls
//!   (`promotion::approve`, `release_log::reject`), so the rules live in one place.
//! - Every state-changing form carries the session's CSRF token and must come from this
//!   origin.
//! - Everything is embedded: one CSS file, no JavaScript, charts and the evidence graph are
//!   SVG drawn here.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};
use tollgate_policies::Action;

use crate::app::{AppState, now_ms};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};

mod artifact;
mod audit;
mod calendar;
mod graph;
mod promotions;
mod reports;
mod sbom;
pub mod session;

use session::{Session, Sessions};

/// The console's shared state: the gateway and the live sessions.
#[derive(Debug, Clone)]
pub struct Ui {
    pub app: AppState,
    pub sessions: Arc<Sessions>,
    /// Served over TLS: cookies get `Secure`.
    pub secure: bool,
}

const CSS: &str = include_str!("console.css");

/// The console's routes, all under `/ui/`.
pub fn router(app: AppState) -> Router<AppState> {
    let secure = app.config.tls.is_some();
    let ui = Ui {
        app,
        sessions: Arc::new(Sessions::new()),
        secure,
    };
    Router::new()
        .route("/ui", get(|| async { redirect("/ui/") }))
        .route("/ui/", get(promotions::list))
        .route("/ui/static/console.css", get(css))
        .route("/ui/signin", get(signin_form).post(signin))
        .route("/ui/signout", post(signout))
        .route("/ui/promotions/{id}", get(promotions::show))
        .route("/ui/promotions/{id}/approve", post(promotions::approve))
        .route("/ui/promotions/{id}/reject", post(promotions::reject))
        .route("/ui/calendar", get(calendar::show))
        .route("/ui/calendar.ics", get(calendar::ics))
        .route("/ui/artifacts", get(artifact::find))
        .route("/ui/artifacts/{digest}", get(artifact::show))
        .route("/ui/sbom", get(sbom::search))
        .route("/ui/audit", get(audit::trail))
        .route("/ui/reports/delivery", get(reports::delivery))
        .route("/ui/reports/access-review", get(reports::access_review))
        .route("/ui/{*rest}", get(not_found).post(not_found))
        .with_state(ui)
}

/// What a page sends instead when the request may not go on (sign-in page, 403).
pub type Refusal = Box<Response>;

/// The signed-in person behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub session: Session,
    pub principal: Arc<Principal>,
}

impl Viewer {
    /// Holds `auditor` or `admin`: may read the audit log and the reports, as in the API.
    pub fn is_auditor(&self) -> bool {
        self.principal
            .grants
            .iter()
            .any(|g| g.role.allows(Action::Audit))
    }
}

impl Ui {
    /// The viewer of a page, or the answer to send instead: a redirect to the sign-in page
    /// (coming back to `next`) for no, an expired or a revoked token's session.
    pub fn viewer(&self, headers: &HeaderMap, next: &str) -> Result<Viewer, Refusal> {
        let now = now_ms();
        let Some(id) = session::cookie_id(headers) else {
            return Err(Box::new(to_signin(next, None)));
        };
        let Some(sess) = self.sessions.get(&id, now) else {
            return Err(Box::new(to_signin(
                next,
                Some("Your session has ended; sign in again."),
            )));
        };
        match self.app.auth.authenticate_hash(&sess.token_hash) {
            Ok(principal) => Ok(Viewer {
                session: sess,
                principal,
            }),
            Err(e) if e.code == ErrorCode::Unauthorized => {
                self.sessions.remove_token(&sess.token_hash);
                Err(Box::new(to_signin(
                    next,
                    Some("The token this session was opened with is no longer valid."),
                )))
            }
            Err(e) => Err(Box::new(error_page(None, &e))),
        }
    }

    /// For a state-changing form: the viewer, with the request checked for origin and CSRF
    /// token. Anything wrong is a 403 page and nothing changes.
    pub fn actor(&self, headers: &HeaderMap, form: &Form) -> Result<Viewer, Refusal> {
        if !session::same_origin(headers) {
            return Err(Box::new(forbidden(
                "csrf-origin",
                "This form was sent from another site and was refused.",
            )));
        }
        let Some(id) = session::cookie_id(headers) else {
            return Err(Box::new(forbidden("session-missing", "Sign in first.")));
        };
        let Some(sess) = self.sessions.get(&id, now_ms()) else {
            return Err(Box::new(forbidden(
                "session-missing",
                "Your session has ended; sign in again.",
            )));
        };
        if !session::csrf_ok(&sess, form.get("csrf")) {
            return Err(Box::new(forbidden(
                "csrf-invalid",
                "The form's CSRF token is missing or wrong; reload the page and try again.",
            )));
        }
        match self.app.auth.authenticate_hash(&sess.token_hash) {
            Ok(principal) => Ok(Viewer {
                session: sess,
                principal,
            }),
            Err(e) => {
                if e.code == ErrorCode::Unauthorized {
                    self.sessions.remove_token(&sess.token_hash);
                }
                Err(Box::new(error_page(None, &e)))
            }
        }
    }
}

/// A URL-encoded form body.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The query string of a request as pairs (repeated keys allowed, empty values dropped).
pub type QueryMap = std::collections::HashMap<String, String>;

pub fn q<'a>(map: &'a QueryMap, key: &str) -> Option<&'a str> {
    map.get(key).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Only console paths are followed after sign-in.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/ui/") && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/ui/"
    }
}

fn to_signin(next: &str, message: Option<&str>) -> Response {
    let mut url = url::form_urlencoded::Serializer::new(String::new());
    url.append_pair("next", safe_next(next));
    if let Some(m) = message {
        url.append_pair("message", m);
    }
    redirect(&format!("/ui/signin?{}", url.finish()))
}

/// An HTML answer with the console's headers: no caching, no framing, nothing from
/// elsewhere.
pub fn respond(status: StatusCode, body: Markup) -> Response {
    let mut r = (status, body.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Promotions,
    Calendar,
    Artifacts,
    Sbom,
    Audit,
    Delivery,
    Access,
    None,
}

/// The navigation, in order.
const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Promotions, "/ui/", "Promotions"),
    (Nav::Calendar, "/ui/calendar", "Release calendar"),
    (Nav::Artifacts, "/ui/artifacts", "Artifacts"),
    (Nav::Sbom, "/ui/sbom", "SBOM search"),
    (Nav::Audit, "/ui/audit", "Audit trail"),
    (Nav::Delivery, "/ui/reports/delivery", "Delivery"),
    (Nav::Access, "/ui/reports/access-review", "Access review"),
];

/// A whole page: header with navigation and the signed-in name, the main content.
pub fn page(title: &str, viewer: Option<&Viewer>, nav: Nav, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tollgate" }
                link rel="stylesheet" href="/ui/static/console.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "Tollgate" }
                    @if let Some(v) = viewer {
                        nav aria-label="Main" {
                            ul {
                                @for (n, href, label) in NAV {
                                    li {
                                        a href=(href) aria-current=[(*n == nav).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                        div.who {
                            span { "Signed in as " strong { (v.principal.name) } }
                            form method="post" action="/ui/signout" {
                                input type="hidden" name="csrf" value=(v.session.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (main)
                }
            }
        }
    }
}

/// The reason code of an error, when it has one.
pub fn reason_of(e: &ApiError) -> Option<String> {
    e.detail
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(|r| r.as_str())
        .map(str::to_string)
        .or_else(|| e.code.reason().map(str::to_string))
}

/// An error as a page: status, wire code, reason code and message.
pub fn error_page(viewer: Option<&Viewer>, e: &ApiError) -> Response {
    let (status, name) = e.code.status_and_name();
    let reason = reason_of(e);
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNAUTHORIZED => "Sign-in needed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::BAD_REQUEST => "Request not understood",
        s if s.is_server_error() => "Something went wrong",
        _ => "Refused",
    };
    let body = html! {
        section.error role="alert" aria-labelledby="error-title" {
            h1 id="error-title" { (title) }
            p { (e.message) }
            dl.facts {
                dt { "Status" } dd { (status.as_u16()) " " code { (name) } }
                @if let Some(r) = &reason {
                    dt { "Reason code" } dd { code.reason { (r) } }
                }
            }
            p { a href="/ui/" { "Back to the console" } }
        }
    };
    respond(status, page(title, viewer, Nav::None, body))
}

fn forbidden(reason: &str, message: &str) -> Response {
    let body = html! {
        section.error role="alert" aria-labelledby="error-title" {
            h1 id="error-title" { "Not allowed" }
            p { (message) }
            dl.facts {
                dt { "Status" } dd { "403 " code { "DENIED" } }
                dt { "Reason code" } dd { code.reason { (reason) } }
            }
            p { a href="/ui/" { "Back to the console" } }
        }
    };
    respond(
        StatusCode::FORBIDDEN,
        page("Not allowed", None, Nav::None, body),
    )
}

async fn not_found(State(ui): State<Ui>, headers: HeaderMap, Path(rest): Path<String>) -> Response {
    let viewer = ui.viewer(&headers, "/ui/").ok();
    error_page(
        viewer.as_ref(),
        &ApiError::new(
            ErrorCode::NotFound,
            format!("There is no console page at /ui/{rest}."),
        ),
    )
}

async fn signin_form(
    State(ui): State<Ui>,
    axum::extract::Query(qm): axum::extract::Query<QueryMap>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q(&qm, "next").unwrap_or("/ui/")).to_string();
    // Already signed in: straight on.
    if ui.viewer(&headers, &next).is_ok() {
        return redirect(&next);
    }
    signin_page(StatusCode::OK, &next, q(&qm, "message"))
}

fn signin_page(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let body = html! {
        section.signin aria-labelledby="signin-title" {
            h1 id="signin-title" { "Sign in" }
            p { "Paste a Tollgate API token. The console keeps it only as a hash on the server; "
                "your browser gets a session cookie. You see and do exactly what the token may." }
            @if let Some(m) = message {
                p.notice role="alert" { (m) }
            }
            form method="post" action="/ui/signin" {
                input type="hidden" name="next" value=(next);
                label for="token" { "API token" }
                input id="token" name="token" type="password" autocomplete="off" required
                    spellcheck="false" aria-describedby="token-help";
                p.help id="token-help" { "Starts with " code { "tg_" } ". Created with "
                    code { "tollgate token create" } " or by an admin." }
                button type="submit" { "Sign in" }
            }
        }
    };
    respond(status, page("Sign in", None, Nav::None, body))
}

async fn signin(State(ui): State<Ui>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    if !session::same_origin(&headers) {
        return forbidden(
            "csrf-origin",
            "This form was sent from another site and was refused.",
        );
    }
    let form = Form::parse(&body);
    let next = safe_next(form.get("next").unwrap_or("/ui/")).to_string();
    let token = form.get("token").unwrap_or_default().trim();
    if token.is_empty() {
        return signin_page(StatusCode::BAD_REQUEST, &next, Some("Paste a token."));
    }
    let hash = crate::auth::hash_token(token);
    match ui.app.auth.authenticate_hash(&hash) {
        Ok(p) => {
            let id = ui.sessions.create(&hash, &p.name, now_ms());
            tracing::info!(token = %p.name, "console sign-in");
            let mut r = redirect(&next);
            if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id, ui.secure)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) if e.code == ErrorCode::Unauthorized => signin_page(
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That token is unknown or revoked."),
        ),
        Err(e) => error_page(None, &e),
    }
}

async fn signout(State(ui): State<Ui>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = ui.actor(&headers, &form) {
        return *r;
    }
    if let Some(id) = session::cookie_id(&headers) {
        ui.sessions.remove(&id);
    }
    let mut r = redirect("/ui/signin?message=Signed+out.");
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(ui.secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `2026-11-27 07:49:03 UTC` from milliseconds, in a `<time>` element.
pub fn time(ms: i64) -> Markup {
    let iso = crate::api::rfc3339(ms);
    html! { time datetime=(iso) { (iso[..10]) " " (iso[11..19]) " UTC" } }
}

/// An RFC 3339 string from the API in a `<time>` element.
pub fn time_str(s: &str) -> Markup {
    if s.len() >= 19 {
        html! { time datetime=(s) { (s[..10]) " " (s[11..19]) " UTC" } }
    } else {
        html! { (s) }
    }
}

/// `sha256:0123456789ab…`: short enough for tables, the full digest in the title.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => d.to_string(),
    }
}

pub fn digest_link(d: &str) -> Markup {
    html! { a.digest href={"/ui/artifacts/" (d)} title=(d) { code { (short_digest(d)) } } }
}

/// A state or status as a labelled badge.
pub fn badge(text: &str) -> Markup {
    let class = match text {
        "promoted" | "pass" | "allow" | "verified" | "succeeded" | "passed" | "active"
        | "current" => "ok",
        "denied" | "fail" | "deny" | "failed" | "rolled-back" | "unverified" | "revoked" => "bad",
        "pending" | "warn" | "copying" | "warned" | "unused" | "behind" | "scheduled" => "wait",
        _ => "neutral",
    };
    html! { span class={"badge " (class)} { (text) } }
}

/// The auditor check the audit and report APIs make (`require_auditor`).
pub fn require_auditor(viewer: &Viewer) -> Result<(), ApiError> {
    if viewer.is_auditor() {
        return Ok(());
    }
    Err(ApiError::denied(
        tollgate_policies::ReasonCode::RoleMissing,
        format!(
            "token {:?} may not read this (needs auditor or admin)",
            viewer.principal.name
        ),
    ))
}
