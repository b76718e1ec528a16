//! SPDX 2.2/2.3 JSON: a lenient model of the fields Tollgate uses, and its normalisation.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::de as lenient;
use crate::error::SbomError;
use crate::license::{LicenseExpr, LicenseInfo, LicenseOrigin, LicenseState, ResolvedRef};
use crate::model::{
    Component, ComponentId, ComponentKind, Format, Hash, HashAlg, Sbom, Tool, WarningKind,
};
use crate::parse::{Builder, Graph, ParseOptions, RawDocument, next_id};

#[derive(Deserialize)]
pub(crate) struct SpdxCreationInfo {
    #[serde(default, deserialize_with = "lenient::list")]
    creators: Vec<String>,
}

#[derive(Deserialize)]
pub(crate) struct SpdxPackage {
    #[serde(rename = "SPDXID", default, deserialize_with = "lenient::string")]
    spdx_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(rename = "versionInfo", default, deserialize_with = "lenient::string")]
    version_info: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    supplier: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    checksums: Vec<SpdxChecksum>,
    #[serde(
        rename = "licenseConcluded",
        default,
        deserialize_with = "lenient::string"
    )]
    license_concluded: Option<String>,
    #[serde(
        rename = "licenseDeclared",
        default,
        deserialize_with = "lenient::string"
    )]
    license_declared: Option<String>,
    #[serde(rename = "externalRefs", default, deserialize_with = "lenient::list")]
    external_refs: Vec<SpdxExternalRef>,
    #[serde(rename = "primaryPackagePurpose", default)]
    primary_package_purpose: Option<ComponentKind>,
}

#[derive(Deserialize)]
struct SpdxChecksum {
    #[serde(default)]
    algorithm: Option<HashAlg>,
    #[serde(
        rename = "checksumValue",
        default,
        deserialize_with = "lenient::string"
    )]
    checksum_value: Option<String>,
}

#[derive(Deserialize)]
struct SpdxExternalRef {
    #[serde(
        rename = "referenceCategory",
        default,
        deserialize_with = "lenient::string"
    )]
    category: Option<String>,
    #[serde(
        rename = "referenceType",
        default,
        deserialize_with = "lenient::string"
    )]
    ty: Option<String>,
    #[serde(
        rename = "referenceLocator",
        default,
        deserialize_with = "lenient::string"
    )]
    locator: Option<String>,
}

/// A file or snippet: only its id matters (as a relationship end that is not a package).
#[derive(Deserialize)]
pub(crate) struct SpdxElement {
    #[serde(rename = "SPDXID", default, deserialize_with = "lenient::string")]
    spdx_id: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SpdxRelationship {
    #[serde(
        rename = "spdxElementId",
        default,
        deserialize_with = "lenient::string"
    )]
    element: Option<String>,
    #[serde(
        rename = "relationshipType",
        default,
        deserialize_with = "lenient::string"
    )]
    ty: Option<String>,
    #[serde(
        rename = "relatedSpdxElement",
        default,
        deserialize_with = "lenient::string"
    )]
    related: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SpdxExtracted {
    #[serde(rename = "licenseId", default, deserialize_with = "lenient::string")]
    license_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SpdxExternalDocumentRef {
    #[serde(
        rename = "externalDocumentId",
        default,
        deserialize_with = "lenient::string"
    )]
    id: Option<String>,
}

/// What a relationship means for the dependency graph.
enum Rel {
    /// `A <type> B` means A depends on / contains B.
    Forward,
    /// `A <type> B` means B depends on / contains A.
    Reverse,
    Describes,
    DescribedBy,
    Other,
}

fn relationship(ty: &str) -> Rel {
    match ty.to_ascii_uppercase().replace('-', "_").as_str() {
        "DEPENDS_ON" | "CONTAINS" | "DYNAMIC_LINK" | "STATIC_LINK" | "HAS_PREREQUISITE" => {
            Rel::Forward
        }
        "DEPENDENCY_OF"
        | "CONTAINED_BY"
        | "BUILD_DEPENDENCY_OF"
        | "DEV_DEPENDENCY_OF"
        | "OPTIONAL_DEPENDENCY_OF"
        | "PROVIDED_DEPENDENCY_OF"
        | "RUNTIME_DEPENDENCY_OF"
        | "TEST_DEPENDENCY_OF"
        | "PREREQUISITE_FOR" => Rel::Reverse,
        "DESCRIBES" => Rel::Describes,
        "DESCRIBED_BY" => Rel::DescribedBy,
        _ => Rel::Other,
    }
}

/// What an SPDX element id names in this document.
enum Target {
    Package(ComponentId),
    /// The document, a file or a snippet: real, but not a component.
    Element,
    /// `DocumentRef-x:...` into a declared external document, or `NONE`/`NOASSERTION`.
    Elsewhere,
    Dangling,
}

struct Elements<'a> {
    document: &'a str,
    packages: HashMap<&'a str, ComponentId>,
    others: HashSet<&'a str>,
    external_docs: HashSet<&'a str>,
}

impl Elements<'_> {
    fn resolve(&self, id: &str) -> Target {
        if let Some(c) = self.packages.get(id) {
            return Target::Package(*c);
        }
        if id == self.document || self.others.contains(id) {
            return Target::Element;
        }
        if id == "NONE" || id == "NOASSERTION" {
            return Target::Elsewhere;
        }
        match id.split_once(':') {
            Some((doc, _)) if self.external_docs.contains(doc) => Target::Elsewhere,
            _ => Target::Dangling,
        }
    }
}

pub(crate) fn build(raw: RawDocument<'_>, opts: &ParseOptions) -> Result<Sbom, SbomError> {
    let declared = raw.spdx_version.unwrap_or_default();
    let version = declared.trim();
    let version = version
        .strip_prefix("SPDX-")
        .or_else(|| version.strip_prefix("spdx-"))
        .unwrap_or(version);
    if version.starts_with('3') {
        return Err(SbomError::Spdx3Unsupported);
    }
    if !version.starts_with("2.") {
        return Err(SbomError::UnsupportedVersion {
            format: Format::Spdx,
            version: declared,
        });
    }
    let spec_version = version.to_owned();

    let extracted: HashMap<&str, Option<&str>> = raw
        .extracted_licenses
        .iter()
        .filter_map(|e| Some((e.license_id.as_deref()?, e.name.as_deref())))
        .collect();

    let mut b = Builder::new(opts);
    let mut components = Vec::with_capacity(raw.packages.len());
    for p in raw.packages {
        let id = next_id(components.len());
        let component = package(&mut b, &extracted, p, id);
        components.push(component);
    }

    let document = raw.spdx_id.as_deref().unwrap_or("SPDXRef-DOCUMENT");
    let mut elements = Elements {
        document,
        packages: HashMap::with_capacity(components.len()),
        others: raw
            .files
            .iter()
            .chain(&raw.snippets)
            .filter_map(|e| e.spdx_id.as_deref())
            .collect(),
        external_docs: raw
            .external_document_refs
            .iter()
            .filter_map(|d| d.id.as_deref())
            .collect(),
    };
    for c in &components {
        let Some(r) = c.ref_id.as_deref() else {
            continue;
        };
        match elements.packages.entry(r) {
            Entry::Occupied(_) => b.warn(
                Some(c.id),
                WarningKind::DuplicateRef,
                format!("SPDXID {r:?} is used more than once"),
            ),
            Entry::Vacant(v) => {
                v.insert(c.id);
            }
        }
    }

    let mut graph = Graph::default();
    let mut described: Vec<ComponentId> = Vec::new();
    for d in &raw.document_describes {
        match elements.resolve(d) {
            Target::Package(c) => described.push(c),
            Target::Dangling => graph.unresolved(d),
            Target::Element | Target::Elsewhere => {}
        }
    }
    let mut dependency_entries = 0usize;
    for rel in raw.relationships.iter().flatten() {
        let (Some(a), Some(ty), Some(z)) = (&rel.element, &rel.ty, &rel.related) else {
            continue;
        };
        let (ta, tz) = (elements.resolve(a), elements.resolve(z));
        for (t, r) in [(&ta, a), (&tz, z)] {
            if matches!(t, Target::Dangling) {
                graph.unresolved(r);
            }
        }
        match (relationship(ty), ta, tz) {
            (Rel::Forward, ta, tz) => {
                dependency_entries += 1;
                if let (Target::Package(a), Target::Package(z)) = (ta, tz) {
                    graph.edge(a, z);
                }
            }
            (Rel::Reverse, ta, tz) => {
                dependency_entries += 1;
                if let (Target::Package(a), Target::Package(z)) = (ta, tz) {
                    graph.edge(z, a);
                }
            }
            (Rel::Describes, _, Target::Package(c)) if a == elements.document => described.push(c),
            (Rel::DescribedBy, Target::Package(c), _) if z == elements.document => {
                described.push(c);
            }
            _ => {}
        }
    }

    let tools = raw
        .creation_info
        .map(|ci| ci.creators)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| tool(c))
        .collect();

    Ok(Sbom {
        format: Format::Spdx,
        spec_version,
        serial_or_namespace: raw.document_namespace,
        root: described.first().copied(),
        components,
        dependencies: graph.edges,
        dependency_entries: raw.relationships.as_ref().map(|_| dependency_entries),
        unresolved_refs: graph.unresolved,
        tools,
        warnings: b.warnings,
    })
}

/// `Tool: syft-0.57.0` → syft / 0.57.0.
fn tool(creator: &str) -> Option<Tool> {
    let rest = creator.trim().strip_prefix("Tool:")?.trim();
    let (name, version) = match rest.rsplit_once('-') {
        Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit() || c == 'v') => {
            (n, Some(v.to_owned()))
        }
        _ => (rest, None),
    };
    Some(Tool {
        vendor: None,
        name: name.to_owned(),
        version,
    })
}

fn package(
    b: &mut Builder<'_>,
    extracted: &HashMap<&str, Option<&str>>,
    p: SpdxPackage,
    id: ComponentId,
) -> Component {
    let purl = p
        .external_refs
        .iter()
        .filter(|r| {
            r.category.as_deref().is_some_and(|c| {
                c.eq_ignore_ascii_case("PACKAGE-MANAGER")
                    || c.eq_ignore_ascii_case("PACKAGE_MANAGER")
            }) && r
                .ty
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("purl"))
        })
        .filter_map(|r| r.locator.as_deref())
        .find_map(|locator| match locator.parse() {
            Ok(purl) => Some(purl),
            Err(e) => {
                b.warn(
                    Some(id),
                    WarningKind::InvalidPurl,
                    format!("{locator:?}: {e}"),
                );
                None
            }
        });
    let licenses = licenses(
        b,
        extracted,
        p.license_concluded.as_deref(),
        p.license_declared.as_deref(),
        id,
    );
    let supplier = p.supplier.as_deref().and_then(|s| {
        let s = s.trim();
        if s.eq_ignore_ascii_case("NOASSERTION") || s.is_empty() {
            return None;
        }
        let s = s
            .strip_prefix("Organization:")
            .or_else(|| s.strip_prefix("Person:"))
            .unwrap_or(s);
        Some(s.trim().to_owned())
    });
    Component {
        id,
        ref_id: p.spdx_id,
        name: p.name.unwrap_or_default(),
        group: None,
        version: p
            .version_info
            .filter(|v| !v.is_empty() && v != "NOASSERTION"),
        purl,
        licenses,
        hashes: p
            .checksums
            .into_iter()
            .filter_map(|c| Some(Hash::new(c.algorithm?, c.checksum_value?)))
            .collect(),
        supplier,
        kind: p.primary_package_purpose,
        parent: None,
    }
}

enum Field<'a> {
    Absent,
    NoAssertion,
    NoneStated,
    Expression(&'a str),
}

fn field(s: Option<&str>) -> Field<'_> {
    match s.map(str::trim) {
        None | Some("") => Field::Absent,
        Some(t) if t.eq_ignore_ascii_case("NOASSERTION") => Field::NoAssertion,
        Some(t) if t.eq_ignore_ascii_case("NONE") => Field::NoneStated,
        Some(t) => Field::Expression(t),
    }
}

/// `licenseConcluded` when it asserts something (an expression or `NONE`), else
/// `licenseDeclared`.
fn licenses(
    b: &mut Builder<'_>,
    extracted: &HashMap<&str, Option<&str>>,
    concluded: Option<&str>,
    declared: Option<&str>,
    id: ComponentId,
) -> LicenseInfo {
    let (chosen, origin) = match (field(concluded), field(declared)) {
        (c @ (Field::Expression(_) | Field::NoneStated), _) => (c, LicenseOrigin::Concluded),
        (Field::NoAssertion, Field::Absent) => (Field::NoAssertion, LicenseOrigin::Concluded),
        (Field::Absent, Field::Absent) => (Field::Absent, LicenseOrigin::Unspecified),
        (_, d) => (d, LicenseOrigin::Declared),
    };
    let mut info = LicenseInfo {
        origin,
        ..LicenseInfo::default()
    };
    match chosen {
        Field::Absent => {}
        Field::NoAssertion => {
            info.state = LicenseState::NoAssertion;
            info.raw.push("NOASSERTION".to_owned());
        }
        Field::NoneStated => {
            info.state = LicenseState::NoneStated;
            info.raw.push("NONE".to_owned());
        }
        Field::Expression(text) => {
            info.raw.push(text.to_owned());
            let expr = b.expression(text, id);
            for leaf in expr.leaves() {
                let LicenseExpr::Ref(r) = leaf else {
                    continue;
                };
                let text = r.to_string();
                if info.refs.iter().any(|x| x.id == text) {
                    continue;
                }
                let found = r
                    .document
                    .is_none()
                    .then(|| extracted.get(text.as_str()))
                    .flatten();
                if found.is_none() && r.document.is_none() {
                    b.warn(
                        Some(id),
                        WarningKind::UnresolvedLicenseRef,
                        format!("{text} is not in hasExtractedLicensingInfos"),
                    );
                }
                info.refs.push(ResolvedRef {
                    id: text,
                    name: found.copied().flatten().map(str::to_owned),
                    resolved: found.is_some(),
                });
            }
            info.expression = Some(expr);
            info.state = LicenseState::Present;
        }
    }
    info
}
