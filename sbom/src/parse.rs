//! Format detection and the pieces both readers share.
//!
//! The whole document is read in one `serde_json` pass into a struct that declares the
//! top-level fields of both formats (they do not collide); everything else is skipped unread.
//! The format is decided afterwards from `bomFormat` / `spdxVersion`, so key order does not
//! matter and no intermediate `Value` tree is built.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::cyclonedx::{self, CdxComponent, CdxDependency, CdxMetadata, CdxService};
use crate::de;
use crate::error::SbomError;
use crate::license::{Combine, LicenseError, LicenseExpr};
use crate::model::{ComponentId, Format, Sbom, Warning, WarningKind};
use crate::spdx2::{
    self, SpdxCreationInfo, SpdxElement, SpdxExtracted, SpdxPackage, SpdxRelationship,
};

/// Default for [`ParseOptions::max_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// How documents are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Documents larger than this are refused before parsing.
    pub max_bytes: usize,
    /// How several CycloneDX `licenses[]` entries on one component combine.
    pub combine_licenses: Combine,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            combine_licenses: Combine::And,
        }
    }
}

/// Reads a CycloneDX or SPDX JSON document with default options.
pub fn parse(bytes: &[u8]) -> Result<Sbom, SbomError> {
    parse_with(bytes, &ParseOptions::default())
}

/// Reads a CycloneDX (1.2–1.7) or SPDX (2.2/2.3) JSON document, detecting the format from its
/// content.
pub fn parse_with(bytes: &[u8], opts: &ParseOptions) -> Result<Sbom, SbomError> {
    if bytes.len() > opts.max_bytes {
        return Err(SbomError::TooLarge {
            size: bytes.len(),
            limit: opts.max_bytes,
        });
    }
    // Some Windows tools write a UTF-8 byte-order mark, which JSON forbids.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    // serde reads a struct from an array too; an SBOM is always an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<IgnoredAny>(bytes)?;
        return Err(SbomError::UnknownFormat);
    }
    let raw: RawDocument = serde_json::from_slice(bytes)?;

    if raw.context.is_some() || raw.graph.is_some() {
        return Err(SbomError::Spdx3Unsupported);
    }
    match (&raw.bom_format, &raw.spdx_version) {
        (Some(bom_format), _) => {
            if !bom_format.eq_ignore_ascii_case("CycloneDX") {
                return Err(SbomError::UnsupportedBomFormat(bom_format.clone()));
            }
            cyclonedx::build(raw, opts)
        }
        (None, Some(_)) => spdx2::build(raw, opts),
        (None, None) if raw.spec_version.is_some() => Err(SbomError::MissingField {
            format: Format::CycloneDx,
            field: "bomFormat",
        }),
        (None, None) => Err(SbomError::UnknownFormat),
    }
}

/// The top level of either format; only what the model needs is declared.
#[derive(Deserialize)]
pub(crate) struct RawDocument<'a> {
    // CycloneDX
    #[serde(rename = "bomFormat", default, deserialize_with = "de::string")]
    pub bom_format: Option<String>,
    #[serde(rename = "specVersion", default, deserialize_with = "de::string")]
    pub spec_version: Option<String>,
    #[serde(rename = "serialNumber", default, deserialize_with = "de::string")]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub metadata: Option<CdxMetadata>,
    #[serde(default, deserialize_with = "de::list")]
    pub components: Vec<CdxComponent>,
    #[serde(default, deserialize_with = "de::list")]
    pub services: Vec<CdxService>,
    /// `None` when absent: CycloneDX says that means "unknown", not "no dependencies".
    #[serde(default, borrow)]
    pub dependencies: Option<Vec<CdxDependency<'a>>>,

    // SPDX 2.x
    #[serde(rename = "spdxVersion", default, deserialize_with = "de::string")]
    pub spdx_version: Option<String>,
    #[serde(rename = "SPDXID", default, deserialize_with = "de::string")]
    pub spdx_id: Option<String>,
    #[serde(rename = "documentNamespace", default, deserialize_with = "de::string")]
    pub document_namespace: Option<String>,
    #[serde(rename = "creationInfo", default)]
    pub creation_info: Option<SpdxCreationInfo>,
    #[serde(default, deserialize_with = "de::list")]
    pub packages: Vec<SpdxPackage>,
    #[serde(default, deserialize_with = "de::list")]
    pub files: Vec<SpdxElement>,
    #[serde(default, deserialize_with = "de::list")]
    pub snippets: Vec<SpdxElement>,
    #[serde(default)]
    pub relationships: Option<Vec<SpdxRelationship>>,
    #[serde(rename = "documentDescribes", default, deserialize_with = "de::list")]
    pub document_describes: Vec<String>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        default,
        deserialize_with = "de::list"
    )]
    pub extracted_licenses: Vec<SpdxExtracted>,
    #[serde(
        rename = "externalDocumentRefs",
        default,
        deserialize_with = "de::list"
    )]
    pub external_document_refs: Vec<spdx2::SpdxExternalDocumentRef>,

    // SPDX 3 JSON-LD: only detected, to be refused.
    #[serde(rename = "@context", default)]
    pub context: Option<IgnoredAny>,
    #[serde(rename = "@graph", default)]
    pub graph: Option<IgnoredAny>,
}

/// State shared by both readers while a document is normalised.
pub(crate) struct Builder<'o> {
    pub opts: &'o ParseOptions,
    pub warnings: Vec<Warning>,
    /// Licence strings repeat across thousands of components; each distinct one is parsed once.
    expressions: HashMap<String, Result<LicenseExpr, LicenseError>>,
    ids: HashMap<String, LicenseExpr>,
    names: HashMap<String, LicenseExpr>,
}

impl<'o> Builder<'o> {
    pub fn new(opts: &'o ParseOptions) -> Self {
        Self {
            opts,
            warnings: Vec::new(),
            expressions: HashMap::new(),
            ids: HashMap::new(),
            names: HashMap::new(),
        }
    }

    pub fn warn(&mut self, component: Option<ComponentId>, kind: WarningKind, detail: String) {
        self.warnings.push(Warning {
            component,
            kind,
            detail,
        });
    }

    /// An expression; one that does not parse is kept as an unknown licence (and warned about).
    pub fn expression(&mut self, text: &str, component: ComponentId) -> LicenseExpr {
        let parsed = match self.expressions.get(text) {
            Some(p) => p.clone(),
            None => {
                let p = LicenseExpr::parse(text);
                self.expressions.insert(text.to_owned(), p.clone());
                p
            }
        };
        parsed.unwrap_or_else(|e| {
            self.warn(Some(component), WarningKind::InvalidLicense, e.to_string());
            LicenseExpr::Unknown(text.trim().to_owned())
        })
    }

    pub fn license_id(&mut self, id: &str) -> LicenseExpr {
        cached(&mut self.ids, id, LicenseExpr::from_id)
    }

    pub fn license_name(&mut self, name: &str) -> LicenseExpr {
        cached(&mut self.names, name, LicenseExpr::from_name)
    }
}

fn cached(
    map: &mut HashMap<String, LicenseExpr>,
    key: &str,
    f: impl FnOnce(&str) -> LicenseExpr,
) -> LicenseExpr {
    if let Some(e) = map.get(key) {
        return e.clone();
    }
    let e = f(key);
    map.insert(key.to_owned(), e.clone());
    e
}

/// Collects dependency edges and dangling references without duplicates.
#[derive(Default)]
pub(crate) struct Graph {
    pub edges: Vec<(ComponentId, ComponentId)>,
    seen_edges: std::collections::HashSet<(ComponentId, ComponentId)>,
    pub unresolved: Vec<String>,
    seen_unresolved: std::collections::HashSet<String>,
}

impl Graph {
    pub fn edge(&mut self, from: ComponentId, to: ComponentId) {
        if self.seen_edges.insert((from, to)) {
            self.edges.push((from, to));
        }
    }

    pub fn unresolved(&mut self, r: &str) {
        if !self.seen_unresolved.contains(r) {
            self.seen_unresolved.insert(r.to_owned());
            self.unresolved.push(r.to_owned());
        }
    }
}

/// Position → id; documents with more than `u32::MAX` components are far past the size cap.
pub(crate) fn next_id(len: usize) -> ComponentId {
    ComponentId(u32::try_from(len).unwrap_or(u32::MAX))
}
