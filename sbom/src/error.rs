//! Why a document is not read as an SBOM.

use crate::model::Format;

/// Why [`crate::parse`] refused a document. Nothing is half-read: an error means no [`crate::Sbom`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbomError {
    #[error("SBOM is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// Not JSON, truncated, or a field of the wrong type. `line`/`column` are 1-based and
    /// point where the JSON reader stopped.
    #[error("SBOM is malformed JSON at line {line}, column {column}: {message}")]
    Malformed {
        kind: MalformedKind,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "document is not an SBOM: it has neither `bomFormat` (CycloneDX) nor `spdxVersion` (SPDX)"
    )]
    UnknownFormat,
    #[error("SPDX 3 JSON-LD (`@context`/`@graph`) is not supported; send SPDX 2.2/2.3 JSON")]
    Spdx3Unsupported,
    #[error("`bomFormat` is {0:?}, not \"CycloneDX\"")]
    UnsupportedBomFormat(String),
    #[error("{format} version {version:?} is not supported")]
    UnsupportedVersion { format: Format, version: String },
    #[error("{format} document lacks the required `{field}`")]
    MissingField { format: Format, field: &'static str },
}

/// What kind of JSON problem a [`SbomError::Malformed`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    /// The input ended early (truncated upload).
    Eof,
    /// Not valid JSON.
    Syntax,
    /// Valid JSON, but a field has a type no SBOM uses there.
    Data,
}

impl From<serde_json::Error> for SbomError {
    fn from(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Eof => MalformedKind::Eof,
            Category::Syntax | Category::Io => MalformedKind::Syntax,
            Category::Data => MalformedKind::Data,
        };
        let (line, column) = (e.line(), e.column());
        // serde_json appends the position to its message; it is kept in fields instead.
        let text = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        Self::Malformed {
            kind,
            line,
            column,
            message,
        }
    }
}
