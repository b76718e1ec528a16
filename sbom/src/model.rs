//! The one normalised SBOM model both formats are read into.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::license::LicenseInfo;
use crate::purl::Purl;

/// The document format an [`Sbom`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CycloneDX JSON (1.2–1.7).
    CycloneDx,
    /// SPDX 2.2/2.3 JSON.
    Spdx,
}

impl Format {
    /// The format a registry media type announces (parameters such as `; version=1.6` ignored),
    /// or `None` for anything that is not a JSON SBOM.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/vnd.cyclonedx+json")
            || essence.eq_ignore_ascii_case("application/vnd.cyclonedx")
        {
            Some(Self::CycloneDx)
        } else if essence.eq_ignore_ascii_case("application/spdx+json") {
            Some(Self::Spdx)
        } else {
            None
        }
    }

    /// The in-toto predicate type for an SBOM of this format.
    pub fn from_predicate_type(predicate_type: &str) -> Option<Self> {
        match predicate_type.trim_end_matches('/') {
            "https://cyclonedx.org/bom" => Some(Self::CycloneDx),
            "https://spdx.dev/Document" => Some(Self::Spdx),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CycloneDx => "CycloneDX",
            Self::Spdx => "SPDX",
        })
    }
}

/// Index of a component in [`Sbom::components`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComponentId(pub u32);

impl ComponentId {
    /// The position in [`Sbom::components`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A normalised SBOM: the same shape whichever format it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sbom {
    pub format: Format,
    /// `"1.6"` for CycloneDX, `"2.3"` for SPDX (the `SPDX-` prefix dropped).
    pub spec_version: String,
    /// CycloneDX `serialNumber` or SPDX `documentNamespace`.
    pub serial_or_namespace: Option<String>,
    /// What the document describes: CycloneDX `metadata.component` (always index 0 when
    /// present), or the first package an SPDX `DESCRIBES` / `documentDescribes` names.
    pub root: Option<ComponentId>,
    /// Every component, nested ones included (they carry their [`Component::parent`]).
    pub components: Vec<Component>,
    /// `(dependent, dependency)` edges, de-duplicated, in document order. For SPDX these come
    /// from `DEPENDS_ON`/`CONTAINS`/linking relationships and their inverses between packages.
    pub dependencies: Vec<(ComponentId, ComponentId)>,
    /// How many dependency statements the document made: CycloneDX `dependencies[]` entries,
    /// or SPDX dependency/containment relationships (whatever their ends). `None` when the
    /// document has no `dependencies` / `relationships` at all: "unknown", not "none".
    pub dependency_entries: Option<usize>,
    /// References (bom-ref / SPDXID) a dependency statement used that name no element of the
    /// document, each once, in first-seen order.
    pub unresolved_refs: Vec<String>,
    /// Tools that produced the document.
    pub tools: Vec<Tool>,
    /// Things that were tolerated rather than refused (bad purls, unparsable licences, …).
    pub warnings: Vec<Warning>,
}

impl Sbom {
    /// The component with this id.
    ///
    /// # Panics
    /// If `id` does not come from this SBOM.
    pub fn component(&self, id: ComponentId) -> &Component {
        &self.components[id.index()]
    }

    /// The components the document lists as its inventory: all of them except a CycloneDX
    /// `metadata.component`, which describes the subject rather than something it contains
    /// (an SPDX root is an ordinary package and stays).
    pub fn inventory(&self) -> &[Component] {
        match (self.format, self.root) {
            (Format::CycloneDx, Some(_)) => &self.components[1..],
            _ => &self.components,
        }
    }

    /// The component whose bom-ref / SPDXID is `ref_id`.
    pub fn find_ref(&self, ref_id: &str) -> Option<&Component> {
        self.components
            .iter()
            .find(|c| c.ref_id.as_deref() == Some(ref_id))
    }

    /// Direct dependencies of `id`.
    pub fn dependencies_of(&self, id: ComponentId) -> impl Iterator<Item = ComponentId> + '_ {
        self.dependencies
            .iter()
            .filter(move |(from, _)| *from == id)
            .map(|(_, to)| *to)
    }
}

/// One package / component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub id: ComponentId,
    /// CycloneDX `bom-ref` or SPDX `SPDXID`.
    pub ref_id: Option<String>,
    pub name: String,
    /// CycloneDX `group` (Maven groupId, npm scope, composer vendor); SPDX has none.
    pub group: Option<String>,
    pub version: Option<String>,
    /// Canonicalised package URL; `None` when absent or unparsable (then a [`Warning`]).
    pub purl: Option<Purl>,
    pub licenses: LicenseInfo,
    pub hashes: Vec<Hash>,
    /// Supplier name (CycloneDX `supplier.name`, SPDX `supplier` without its `Organization:` /
    /// `Person:` prefix).
    pub supplier: Option<String>,
    /// CycloneDX `type` or SPDX `primaryPackagePurpose`.
    pub kind: Option<ComponentKind>,
    /// The component this one is nested in (CycloneDX `components[].components[]`).
    pub parent: Option<ComponentId>,
}

/// What a component is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComponentKind {
    Application,
    Framework,
    Library,
    Container,
    Platform,
    OperatingSystem,
    Device,
    DeviceDriver,
    Firmware,
    File,
    MachineLearningModel,
    Data,
    CryptographicAsset,
    Source,
    Archive,
    Install,
    Other(String),
}

impl ComponentKind {
    /// Reads a CycloneDX `type` or SPDX `primaryPackagePurpose` (case and `_`/`-` ignored).
    pub fn parse(s: &str) -> Self {
        const KINDS: &[(&str, ComponentKind)] = &[
            ("library", ComponentKind::Library),
            ("application", ComponentKind::Application),
            ("framework", ComponentKind::Framework),
            ("container", ComponentKind::Container),
            ("platform", ComponentKind::Platform),
            ("operating-system", ComponentKind::OperatingSystem),
            ("device", ComponentKind::Device),
            ("device-driver", ComponentKind::DeviceDriver),
            ("firmware", ComponentKind::Firmware),
            ("file", ComponentKind::File),
            (
                "machine-learning-model",
                ComponentKind::MachineLearningModel,
            ),
            ("data", ComponentKind::Data),
            ("cryptographic-asset", ComponentKind::CryptographicAsset),
            ("source", ComponentKind::Source),
            ("archive", ComponentKind::Archive),
            ("install", ComponentKind::Install),
        ];
        // Called once per component: compare in place rather than allocate a normalised copy.
        let same = |want: &str| {
            want.len() == s.len()
                && want.bytes().zip(s.bytes()).all(|(w, c)| {
                    let c = if c == b'_' {
                        b'-'
                    } else {
                        c.to_ascii_lowercase()
                    };
                    w == c
                })
        };
        KINDS
            .iter()
            .find(|(name, _)| same(name))
            .map_or_else(|| Self::Other(s.to_owned()), |(_, k)| k.clone())
    }
}

/// A digest of a component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Hash {
    pub alg: HashAlg,
    /// Lower-case hex (kept as given when it is not hex).
    pub value: String,
}

/// Hash algorithms of both formats under one spelling (CycloneDX's, in `Display`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum HashAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_256,
    Sha3_384,
    Sha3_512,
    Blake2b256,
    Blake2b384,
    Blake2b512,
    Blake3,
    Other(String),
}

impl HashAlg {
    /// Reads `SHA-256` (CycloneDX), `SHA256` (SPDX), `sha256`, `BLAKE2b-256`, ...
    pub fn parse(s: &str) -> Self {
        // Upper-cased with `-`/`_` dropped, in a stack buffer: this runs once per hash.
        let mut buf = [0u8; 16];
        let mut len = 0;
        for b in s.bytes().filter(|b| *b != b'-' && *b != b'_') {
            if len == buf.len() {
                return Self::Other(s.to_owned());
            }
            buf[len] = b.to_ascii_uppercase();
            len += 1;
        }
        match &buf[..len] {
            b"MD5" => Self::Md5,
            b"SHA1" => Self::Sha1,
            b"SHA224" => Self::Sha224,
            b"SHA256" => Self::Sha256,
            b"SHA384" => Self::Sha384,
            b"SHA512" => Self::Sha512,
            b"SHA3256" => Self::Sha3_256,
            b"SHA3384" => Self::Sha3_384,
            b"SHA3512" => Self::Sha3_512,
            b"BLAKE2B256" => Self::Blake2b256,
            b"BLAKE2B384" => Self::Blake2b384,
            b"BLAKE2B512" => Self::Blake2b512,
            b"BLAKE3" => Self::Blake3,
            _ => Self::Other(s.to_owned()),
        }
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Md5 => "MD5",
            Self::Sha1 => "SHA-1",
            Self::Sha224 => "SHA-224",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
            Self::Sha3_256 => "SHA3-256",
            Self::Sha3_384 => "SHA3-384",
            Self::Sha3_512 => "SHA3-512",
            Self::Blake2b256 => "BLAKE2b-256",
            Self::Blake2b384 => "BLAKE2b-384",
            Self::Blake2b512 => "BLAKE2b-512",
            Self::Blake3 => "BLAKE3",
            Self::Other(s) => s,
        })
    }
}

impl Hash {
    pub(crate) fn new(alg: HashAlg, mut value: String) -> Self {
        // Producers almost always write lower case; a branch-free scan finds the rest.
        let has_upper = value
            .bytes()
            .fold(false, |acc, b| acc | b.is_ascii_uppercase());
        if has_upper && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            value.make_ascii_lowercase();
        }
        Self { alg, value }
    }
}

/// Reads a string field straight into a small enum, without allocating for the known values.
struct ParseStr<T>(fn(&str) -> T);

impl<T> Visitor<'_> for ParseStr<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok((self.0)(v))
    }
}

impl<'de> Deserialize<'de> for HashAlg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseStr(Self::parse))
    }
}

impl<'de> Deserialize<'de> for ComponentKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ParseStr(Self::parse))
    }
}

/// A tool named in the document's metadata / creation info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    pub vendor: Option<String>,
    pub name: String,
    pub version: Option<String>,
}

/// Something tolerated while reading the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The component concerned, if any.
    pub component: Option<ComponentId>,
    pub kind: WarningKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// A purl that does not parse; the component keeps `purl: None`.
    InvalidPurl,
    /// A licence expression that does not parse; it is judged as unknown.
    InvalidLicense,
    /// A `LicenseRef-` with no `hasExtractedLicensingInfos` entry.
    UnresolvedLicenseRef,
    /// Two elements share one bom-ref / SPDXID; references go to the first.
    DuplicateRef,
}
