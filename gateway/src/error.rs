//! The one place where errors become HTTP: every refusal carries an [`ErrorCode`], and one
//! table maps each code to its status and wire name. Bodies use the OCI error envelope
//! (`{"errors":[{"code","message","detail"}]}`) on every interface, so clients parse one shape.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tollgate_policies::ReasonCode;

/// Every error Tollgate answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    ManifestTooLarge,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    RangeInvalid,
    PaginationNumberInvalid,
    /// API-only: a page `cursor` that is not one the query handed out (reason
    /// `cursor-invalid`).
    CursorInvalid,
    /// API-only: malformed request (bad JSON, bad query parameter).
    BadRequest,
    /// API-only: the named object does not exist.
    NotFound,
    /// API-only: the object exists already.
    Conflict,
    /// The upstream answered something Tollgate cannot accept.
    UpstreamInvalid,
    /// The upstream could not be reached.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    Internal,
}

impl ErrorCode {
    /// The table: status and wire code for each error.
    pub fn status_and_name(self) -> (StatusCode, &'static str) {
        use ErrorCode::*;
        match self {
            BlobUnknown => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
            BlobUploadInvalid => (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID"),
            BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
            DigestInvalid => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
            ManifestBlobUnknown => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
            ManifestInvalid => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
            ManifestUnknown => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
            ManifestTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID"),
            NameInvalid => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
            NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
            SizeInvalid => (StatusCode::BAD_REQUEST, "SIZE_INVALID"),
            Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            Denied => (StatusCode::FORBIDDEN, "DENIED"),
            Unsupported => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            RangeInvalid => (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID"),
            PaginationNumberInvalid => (StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID"),
            CursorInvalid => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            BadRequest => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Conflict => (StatusCode::CONFLICT, "CONFLICT"),
            UpstreamInvalid => (StatusCode::BAD_GATEWAY, "UNAVAILABLE"),
            UpstreamUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            UpstreamTimeout => (StatusCode::GATEWAY_TIMEOUT, "UNAVAILABLE"),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
        }
    }

    /// The stable kebab-case reason a request error carries in `detail` (`{"reason": …}`) when
    /// its wire code alone does not say what was wrong.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            ErrorCode::CursorInvalid => Some("cursor-invalid"),
            _ => None,
        }
    }
}

/// The raw/Maven fronts, which answer in their own products' statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFront {
    /// `/repository/…`: Nexus answers refused deploys with 400.
    Nexus,
    /// `/artifactory/…`: Artifactory answers them with 409.
    Artifactory,
}

impl ErrorCode {
    /// The second column of the table: the status a file front answers with. Policy refusals
    /// other than missing roles and unpromoted pulls (403 everywhere) are a failed deploy in
    /// Nexus's terms (400) and a conflict in Artifactory's (409); a method refused by
    /// configuration is 405; everything else keeps its status.
    pub fn file_front_status(self, reason: Option<ReasonCode>, front: FileFront) -> StatusCode {
        match (self, reason) {
            (ErrorCode::Denied, Some(ReasonCode::RoleMissing | ReasonCode::NotPromoted)) => {
                StatusCode::FORBIDDEN
            }
            (ErrorCode::Denied, _) => match front {
                FileFront::Nexus => StatusCode::BAD_REQUEST,
                FileFront::Artifactory => StatusCode::CONFLICT,
            },
            (code, _) => code.status_and_name().0,
        }
    }
}

/// An error on its way to the client: a code, a human message, an optional JSON detail, and
/// extra headers (a `WWW-Authenticate` challenge, a `Range`).
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<Value>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    /// A policy refusal: 403 `DENIED` with the stable reason code in `detail`.
    pub fn denied(reason: ReasonCode, message: impl Into<String>) -> Self {
        let code = match reason {
            ReasonCode::DeleteDisabled => ErrorCode::Unsupported,
            _ => ErrorCode::Denied,
        };
        ApiError::new(code, message).with_detail(json!({ "reason": reason.as_str() }))
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the gateway log")
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The stable reason code in `detail`, when there is one.
    pub fn reason(&self) -> Option<ReasonCode> {
        self.detail
            .as_ref()
            .and_then(|d| d.get("reason"))
            .and_then(|r| r.as_str())
            .and_then(ReasonCode::from_code)
    }
}

impl From<tollgate_store::StoreError> for ApiError {
    fn from(e: tollgate_store::StoreError) -> Self {
        match e {
            tollgate_store::StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            e => ApiError::internal(e),
        }
    }
}

impl From<crate::upstream::UpstreamError> for ApiError {
    fn from(e: crate::upstream::UpstreamError) -> Self {
        use crate::upstream::UpstreamError as U;
        let code = match &e {
            U::Unavailable(_) => ErrorCode::UpstreamUnavailable,
            U::Timeout(_) => ErrorCode::UpstreamTimeout,
            U::Invalid(_) => ErrorCode::UpstreamInvalid,
        };
        tracing::warn!(error = %e, "upstream call failed");
        ApiError::new(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, name) = self.code.status_and_name();
        let mut err = json!({ "code": name, "message": self.message });
        if let Some(d) = self
            .detail
            .or_else(|| Some(json!({ "reason": self.code.reason()? })))
        {
            err["detail"] = d;
        }
        let body = json!({ "errors": [err] }).to_string();
        let mut resp = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_carry_the_reason_code() {
        let e = ApiError::denied(ReasonCode::TagImmutable, "tag 1.0 is immutable");
        assert_eq!(e.code, ErrorCode::Denied);
        assert_eq!(e.detail, Some(json!({"reason": "tag-immutable"})));
        let e = ApiError::denied(ReasonCode::DeleteDisabled, "no");
        assert_eq!(e.code.status_and_name().0, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn file_fronts_answer_in_their_products_statuses() {
        let status = |e: &ApiError, f| e.code.file_front_status(e.reason(), f);
        let immutable = ApiError::denied(ReasonCode::VersionImmutable, "released");
        assert_eq!(
            status(&immutable, FileFront::Nexus),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(&immutable, FileFront::Artifactory),
            StatusCode::CONFLICT
        );
        for r in [ReasonCode::RoleMissing, ReasonCode::NotPromoted] {
            let e = ApiError::denied(r, "no");
            assert_eq!(status(&e, FileFront::Nexus), StatusCode::FORBIDDEN);
            assert_eq!(status(&e, FileFront::Artifactory), StatusCode::FORBIDDEN);
        }
        let e = ApiError::new(ErrorCode::NotFound, "no such file");
        assert_eq!(status(&e, FileFront::Artifactory), StatusCode::NOT_FOUND);
        let e = ApiError::denied(ReasonCode::DeleteDisabled, "no");
        assert_eq!(status(&e, FileFront::Nexus), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn request_errors_with_a_reason_carry_it() {
        let resp = ApiError::new(ErrorCode::CursorInvalid, "bad cursor").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"errors": [{"code": "BAD_REQUEST", "message": "bad cursor",
                "detail": {"reason": "cursor-invalid"}}]})
        );
    }
}
