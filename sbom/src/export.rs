//! Writing a normalised [`Sbom`] out as CycloneDX 1.6 JSON or SPDX 2.3 JSON, so an SBOM
//! ingested in one format can be handed to a tool that reads only the other.
//!
//! What the normalised model holds survives the trip: components with name, version, purl,
//! hashes, supplier, kind and licence expression (and whether it was concluded or declared),
//! nesting, the dependency graph and what the document describes. What it does not hold
//! (SPDX files' per-file facts, CycloneDX services, properties, vulnerabilities) is not
//! invented. Licence terms no SPDX id names become `LicenseRef-` entries with the original text
//! in SPDX, and a licence `name` in CycloneDX, so nothing is lost silently.
//!
//! No clock and no randomness: the caller passes the creation time and the document's
//! identity ([`ExportMeta`]), so the same input always gives the same bytes.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use crate::license::{LicenseExpr, LicenseOrigin, LicenseState, SpdxLicense};
use crate::model::{Component, ComponentId, ComponentKind, Format, HashAlg, Sbom};

/// What an exported document says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportMeta {
    /// Document name (SPDX `name`); e.g. the artifact reference.
    pub name: String,
    /// A URI unique to this document: the SPDX `documentNamespace`. CycloneDX gets
    /// [`ExportMeta::serial_number`].
    pub namespace: String,
    /// `urn:uuid:…` for CycloneDX `serialNumber`.
    pub serial_number: String,
    /// RFC 3339 UTC time, seconds precision (`2026-11-27T10:00:00Z`).
    pub created: String,
    /// The exporting tool, e.g. (`tollgate`, `0.1.0`).
    pub tool: (String, String),
}

/// The document `sbom` as `format`, as JSON.
pub fn export(sbom: &Sbom, format: Format, meta: &ExportMeta) -> Value {
    match format {
        Format::CycloneDx => to_cyclonedx(sbom, meta),
        Format::Spdx => to_spdx(sbom, meta),
    }
}

/// A stable, unique reference for every component: its own bom-ref / SPDXID when it has one
/// that no earlier component took, else one made from its position.
fn refs(sbom: &Sbom) -> Vec<String> {
    let mut seen = HashSet::new();
    sbom.components
        .iter()
        .map(|c| match &c.ref_id {
            Some(r) if !r.is_empty() && seen.insert(r.clone()) => r.clone(),
            _ => {
                let mut n = format!("component-{}", c.id.0);
                while !seen.insert(n.clone()) {
                    n.push('_');
                }
                n
            }
        })
        .collect()
}

// --- CycloneDX -----------------------------------------------------------------------------

fn to_cyclonedx(sbom: &Sbom, meta: &ExportMeta) -> Value {
    let refs = refs(sbom);
    let mut children: HashMap<ComponentId, Vec<&Component>> = HashMap::new();
    for c in &sbom.components {
        if let Some(p) = c.parent {
            children.entry(p).or_default().push(c);
        }
    }
    let root = sbom.root;
    let top: Vec<Value> = sbom
        .components
        .iter()
        .filter(|c| c.parent.is_none() && Some(c.id) != root)
        .map(|c| cdx_component(c, &refs, &children))
        .collect();

    let mut tools = vec![json!({
        "type": "application",
        "name": meta.tool.0,
        "version": meta.tool.1,
    })];
    for t in &sbom.tools {
        let mut o = Map::new();
        o.insert("type".into(), "application".into());
        if let Some(v) = &t.vendor {
            o.insert("group".into(), v.as_str().into());
        }
        o.insert("name".into(), t.name.as_str().into());
        if let Some(v) = &t.version {
            o.insert("version".into(), v.as_str().into());
        }
        tools.push(Value::Object(o));
    }
    let mut metadata = Map::new();
    metadata.insert("timestamp".into(), meta.created.as_str().into());
    metadata.insert("tools".into(), json!({ "components": tools }));
    if let Some(r) = root {
        metadata.insert(
            "component".into(),
            cdx_component(sbom.component(r), &refs, &children),
        );
    }

    let mut deps: Vec<(ComponentId, Vec<ComponentId>)> = Vec::new();
    let mut index: HashMap<ComponentId, usize> = HashMap::new();
    for (from, to) in &sbom.dependencies {
        let i = *index.entry(*from).or_insert_with(|| {
            deps.push((*from, Vec::new()));
            deps.len() - 1
        });
        deps[i].1.push(*to);
    }
    let dependencies: Vec<Value> = deps
        .iter()
        .map(|(from, to)| {
            json!({
                "ref": refs[from.index()],
                "dependsOn": to.iter().map(|t| refs[t.index()].as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();

    let mut doc = Map::new();
    doc.insert("bomFormat".into(), "CycloneDX".into());
    doc.insert("specVersion".into(), "1.6".into());
    doc.insert("serialNumber".into(), meta.serial_number.as_str().into());
    doc.insert("version".into(), 1.into());
    doc.insert("metadata".into(), Value::Object(metadata));
    doc.insert("components".into(), Value::Array(top));
    if sbom.dependency_entries.is_some() || !dependencies.is_empty() {
        doc.insert("dependencies".into(), Value::Array(dependencies));
    }
    Value::Object(doc)
}

fn cdx_component(
    c: &Component,
    refs: &[String],
    children: &HashMap<ComponentId, Vec<&Component>>,
) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), cdx_type(c.kind.as_ref()).into());
    o.insert("bom-ref".into(), refs[c.id.index()].as_str().into());
    if let Some(s) = &c.supplier {
        o.insert("supplier".into(), json!({ "name": s }));
    }
    if let Some(g) = &c.group {
        o.insert("group".into(), g.as_str().into());
    }
    o.insert("name".into(), c.name.as_str().into());
    if let Some(v) = &c.version {
        o.insert("version".into(), v.as_str().into());
    }
    if !c.hashes.is_empty() {
        let hashes: Vec<Value> = c
            .hashes
            .iter()
            .filter(|h| !matches!(h.alg, HashAlg::Other(_)))
            .map(|h| json!({ "alg": h.alg.to_string(), "content": h.value }))
            .collect();
        if !hashes.is_empty() {
            o.insert("hashes".into(), Value::Array(hashes));
        }
    }
    if let Some(l) = cdx_licenses(c) {
        o.insert("licenses".into(), l);
    }
    if let Some(p) = &c.purl {
        o.insert("purl".into(), p.to_string().into());
    }
    if let Some(kids) = children.get(&c.id) {
        o.insert(
            "components".into(),
            kids.iter()
                .map(|k| cdx_component(k, refs, children))
                .collect(),
        );
    }
    Value::Object(o)
}

fn cdx_type(kind: Option<&ComponentKind>) -> &'static str {
    match kind {
        Some(ComponentKind::Application) => "application",
        Some(ComponentKind::Framework) => "framework",
        Some(ComponentKind::Container) => "container",
        Some(ComponentKind::Platform) => "platform",
        Some(ComponentKind::OperatingSystem) => "operating-system",
        Some(ComponentKind::Device) => "device",
        Some(ComponentKind::DeviceDriver) => "device-driver",
        Some(ComponentKind::Firmware) => "firmware",
        Some(ComponentKind::File) => "file",
        Some(ComponentKind::MachineLearningModel) => "machine-learning-model",
        Some(ComponentKind::Data) => "data",
        Some(ComponentKind::CryptographicAsset) => "cryptographic-asset",
        // CycloneDX has no source/archive/install types; they are all libraries of code.
        _ => "library",
    }
}

/// CycloneDX `licenses`: one `license` (id, or name for a term no SPDX id names) when the
/// expression is a single licence, else one `expression`.
fn cdx_licenses(c: &Component) -> Option<Value> {
    let expr = c.licenses.expression.as_ref()?;
    let ack = match c.licenses.origin {
        LicenseOrigin::Concluded => Some("concluded"),
        LicenseOrigin::Declared => Some("declared"),
        LicenseOrigin::Unspecified => None,
    };
    let mut entry = Map::new();
    match expr {
        LicenseExpr::License(SpdxLicense {
            id,
            or_later: false,
            exception: None,
        }) => {
            entry.insert("id".into(), id.name.into());
        }
        LicenseExpr::Unknown(text) => {
            entry.insert("name".into(), text.as_str().into());
        }
        LicenseExpr::Ref(r) => {
            let name = c
                .licenses
                .refs
                .iter()
                .find(|x| x.id == r.to_string())
                .and_then(|x| x.name.clone())
                .unwrap_or_else(|| r.to_string());
            entry.insert("name".into(), name.into());
        }
        _ => {
            let mut o = Map::new();
            let mut unused = Vec::new();
            o.insert("expression".into(), spdx_text(expr, &mut unused, c).into());
            if let Some(a) = ack {
                o.insert("acknowledgement".into(), a.into());
            }
            return Some(json!([Value::Object(o)]));
        }
    }
    if let Some(a) = ack {
        entry.insert("acknowledgement".into(), a.into());
    }
    Some(json!([{ "license": Value::Object(entry) }]))
}

// --- SPDX ----------------------------------------------------------------------------------

/// A licence the SPDX list does not name, written out as `LicenseRef-…`.
struct Extracted {
    id: String,
    text: String,
    name: Option<String>,
}

fn to_spdx(sbom: &Sbom, meta: &ExportMeta) -> Value {
    let ids: Vec<String> = sbom
        .components
        .iter()
        .map(|c| format!("SPDXRef-Package-{}", c.id.0))
        .collect();
    let mut extracted: Vec<Extracted> = Vec::new();
    let packages: Vec<Value> = sbom
        .components
        .iter()
        .map(|c| spdx_package(c, &ids[c.id.index()], &mut extracted))
        .collect();

    let mut relationships = Vec::new();
    let described: Vec<ComponentId> = match sbom.root {
        Some(r) => vec![r],
        None => sbom
            .components
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| c.id)
            .collect(),
    };
    for d in &described {
        relationships.push(rel("SPDXRef-DOCUMENT", "DESCRIBES", &ids[d.index()]));
    }
    for c in &sbom.components {
        if let Some(p) = c.parent {
            relationships.push(rel(&ids[p.index()], "CONTAINS", &ids[c.id.index()]));
        }
    }
    for (from, to) in &sbom.dependencies {
        relationships.push(rel(&ids[from.index()], "DEPENDS_ON", &ids[to.index()]));
    }

    let mut creators = vec![format!("Tool: {}-{}", meta.tool.0, meta.tool.1)];
    for t in &sbom.tools {
        let v = t
            .version
            .as_deref()
            .map_or(String::new(), |v| format!("-{v}"));
        creators.push(format!("Tool: {}{v}", t.name));
    }

    let mut doc = Map::new();
    doc.insert("spdxVersion".into(), "SPDX-2.3".into());
    doc.insert("dataLicense".into(), "CC0-1.0".into());
    doc.insert("SPDXID".into(), "SPDXRef-DOCUMENT".into());
    doc.insert("name".into(), meta.name.as_str().into());
    doc.insert("documentNamespace".into(), meta.namespace.as_str().into());
    doc.insert(
        "creationInfo".into(),
        json!({ "created": meta.created, "creators": creators }),
    );
    doc.insert(
        "documentDescribes".into(),
        described
            .iter()
            .map(|d| Value::from(ids[d.index()].as_str()))
            .collect(),
    );
    doc.insert("packages".into(), Value::Array(packages));
    doc.insert("relationships".into(), Value::Array(relationships));
    if !extracted.is_empty() {
        doc.insert(
            "hasExtractedLicensingInfos".into(),
            extracted
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    o.insert("licenseId".into(), e.id.as_str().into());
                    o.insert("extractedText".into(), e.text.as_str().into());
                    if let Some(n) = &e.name {
                        o.insert("name".into(), n.as_str().into());
                    }
                    Value::Object(o)
                })
                .collect(),
        );
    }
    Value::Object(doc)
}

fn rel(from: &str, kind: &str, to: &str) -> Value {
    json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to })
}

fn spdx_package(c: &Component, id: &str, extracted: &mut Vec<Extracted>) -> Value {
    let mut o = Map::new();
    o.insert("SPDXID".into(), id.into());
    // SPDX has no group: Maven groupId and npm scope stay in the purl, as SPDX tools write it.
    o.insert("name".into(), c.name.as_str().into());
    if let Some(v) = &c.version {
        o.insert("versionInfo".into(), v.as_str().into());
    }
    if let Some(s) = &c.supplier {
        o.insert("supplier".into(), format!("Organization: {s}").into());
    }
    o.insert("downloadLocation".into(), "NOASSERTION".into());
    o.insert("filesAnalyzed".into(), false.into());
    let checksums: Vec<Value> = c
        .hashes
        .iter()
        .filter_map(|h| Some(json!({ "algorithm": spdx_alg(&h.alg)?, "checksumValue": h.value })))
        .collect();
    if !checksums.is_empty() {
        o.insert("checksums".into(), Value::Array(checksums));
    }
    let (concluded, declared) = match (c.licenses.state, &c.licenses.expression) {
        (LicenseState::Present, Some(e)) => {
            let text = spdx_text(e, extracted, c);
            match c.licenses.origin {
                LicenseOrigin::Concluded => (text, "NOASSERTION".to_owned()),
                // A CycloneDX licence without `acknowledgement` is what the author declared.
                LicenseOrigin::Declared | LicenseOrigin::Unspecified => {
                    ("NOASSERTION".to_owned(), text)
                }
            }
        }
        (LicenseState::NoneStated, _) => ("NONE".to_owned(), "NONE".to_owned()),
        _ => ("NOASSERTION".to_owned(), "NOASSERTION".to_owned()),
    };
    o.insert("licenseConcluded".into(), concluded.into());
    o.insert("licenseDeclared".into(), declared.into());
    o.insert("copyrightText".into(), "NOASSERTION".into());
    if let Some(p) = &c.purl {
        o.insert(
            "externalRefs".into(),
            json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": p.to_string(),
            }]),
        );
    }
    if let Some(k) = &c.kind {
        o.insert("primaryPackagePurpose".into(), spdx_purpose(k).into());
    }
    Value::Object(o)
}

fn spdx_alg(alg: &HashAlg) -> Option<&'static str> {
    Some(match alg {
        HashAlg::Md5 => "MD5",
        HashAlg::Sha1 => "SHA1",
        HashAlg::Sha224 => "SHA224",
        HashAlg::Sha256 => "SHA256",
        HashAlg::Sha384 => "SHA384",
        HashAlg::Sha512 => "SHA512",
        HashAlg::Sha3_256 => "SHA3-256",
        HashAlg::Sha3_384 => "SHA3-384",
        HashAlg::Sha3_512 => "SHA3-512",
        HashAlg::Blake2b256 => "BLAKE2b-256",
        HashAlg::Blake2b384 => "BLAKE2b-384",
        HashAlg::Blake2b512 => "BLAKE2b-512",
        HashAlg::Blake3 => "BLAKE3",
        HashAlg::Other(_) => return None,
    })
}

fn spdx_purpose(kind: &ComponentKind) -> &'static str {
    match kind {
        ComponentKind::Application => "APPLICATION",
        ComponentKind::Framework => "FRAMEWORK",
        ComponentKind::Library => "LIBRARY",
        ComponentKind::Container => "CONTAINER",
        ComponentKind::OperatingSystem => "OPERATING-SYSTEM",
        ComponentKind::Device => "DEVICE",
        ComponentKind::Firmware => "FIRMWARE",
        ComponentKind::File => "FILE",
        ComponentKind::Source => "SOURCE",
        ComponentKind::Archive => "ARCHIVE",
        ComponentKind::Install => "INSTALL",
        _ => "OTHER",
    }
}

/// The expression as SPDX 2.3 text: terms outside the SPDX lists (free text, exceptions that
/// are not on the exception list) become `LicenseRef-` ids recorded in `extracted`.
fn spdx_text(expr: &LicenseExpr, extracted: &mut Vec<Extracted>, c: &Component) -> String {
    match expr {
        LicenseExpr::License(l) => match &l.exception {
            Some(crate::license::LicenseException::Other(_)) => {
                license_ref(&l.to_string(), None, extracted)
            }
            _ => l.to_string(),
        },
        LicenseExpr::Ref(r) => {
            let id = r.to_string();
            if r.document.is_none() && !extracted.iter().any(|e| e.id == id) {
                let name = c
                    .licenses
                    .refs
                    .iter()
                    .find(|x| x.id == id)
                    .and_then(|x| x.name.clone());
                extracted.push(Extracted {
                    text: name.clone().unwrap_or_else(|| id.clone()),
                    id: id.clone(),
                    name,
                });
            }
            id
        }
        LicenseExpr::Unknown(text) => license_ref(text, Some(text), extracted),
        LicenseExpr::And(children) | LicenseExpr::Or(children) => {
            let op = if matches!(expr, LicenseExpr::And(_)) {
                " AND "
            } else {
                " OR "
            };
            children
                .iter()
                .map(|child| {
                    let t = spdx_text(child, extracted, c);
                    // AND binds tighter than OR: an OR inside an AND needs parentheses.
                    if matches!(expr, LicenseExpr::And(_)) && matches!(child, LicenseExpr::Or(_)) {
                        format!("({t})")
                    } else {
                        t
                    }
                })
                .collect::<Vec<_>>()
                .join(op)
        }
    }
}

/// `LicenseRef-<text made id-safe>`, recorded once per distinct text.
fn license_ref(text: &str, name: Option<&str>, extracted: &mut Vec<Extracted>) -> String {
    if let Some(e) = extracted.iter().find(|e| e.text == text) {
        return e.id.clone();
    }
    let mut slug: String = text
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '.' {
                ch
            } else {
                '-'
            }
        })
        .collect();
    slug = slug.trim_matches('-').to_owned();
    if slug.is_empty() {
        slug = "unknown".to_owned();
    }
    let mut id = format!("LicenseRef-{slug}");
    let mut n = 1;
    while extracted.iter().any(|e| e.id == id) {
        n += 1;
        id = format!("LicenseRef-{slug}-{n}");
    }
    extracted.push(Extracted {
        id: id.clone(),
        text: text.to_owned(),
        name: name.map(str::to_owned),
    });
    id
}
