//! CycloneDX JSON 1.2–1.7: a lenient model of the fields Tollgate uses, and its normalisation.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::de as lenient;
use crate::error::SbomError;
use crate::license::{LicenseExpr, LicenseInfo, LicenseOrigin, LicenseState};
use crate::model::{
    Component, ComponentId, ComponentKind, Format, Hash, HashAlg, Sbom, Tool, WarningKind,
};
use crate::parse::{Builder, Graph, ParseOptions, RawDocument, next_id};

#[derive(Deserialize)]
pub(crate) struct CdxMetadata {
    #[serde(default)]
    tools: CdxTools,
    #[serde(default)]
    component: Option<CdxComponent>,
}

#[derive(Deserialize)]
pub(crate) struct CdxComponent {
    #[serde(rename = "type", default)]
    ty: Option<ComponentKind>,
    #[serde(rename = "bom-ref", default, deserialize_with = "lenient::string")]
    bom_ref: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    version: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    purl: Option<String>,
    #[serde(default, deserialize_with = "lenient::entity_name")]
    supplier: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    hashes: Vec<CdxHash>,
    #[serde(default, deserialize_with = "lenient::list")]
    licenses: Vec<CdxLicenseChoice>,
    #[serde(default, deserialize_with = "lenient::list")]
    components: Vec<CdxComponent>,
}

/// A service: only its bom-ref matters, as a dependency end that is not a component.
#[derive(Deserialize)]
pub(crate) struct CdxService {
    #[serde(rename = "bom-ref", default, deserialize_with = "lenient::string")]
    bom_ref: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    services: Vec<CdxService>,
}

impl CdxService {
    fn refs<'a>(&'a self, out: &mut HashSet<&'a str>) {
        out.extend(self.bom_ref.as_deref());
        for s in &self.services {
            s.refs(out);
        }
    }
}

#[derive(Deserialize)]
struct CdxHash {
    #[serde(default)]
    alg: Option<HashAlg>,
    #[serde(default, deserialize_with = "lenient::string")]
    content: Option<String>,
}

/// One `licenses[]` entry: `{"license": {...}}` or `{"expression": "..."}`.
#[derive(Deserialize)]
struct CdxLicenseChoice {
    #[serde(default)]
    license: Option<CdxLicense>,
    #[serde(default, deserialize_with = "lenient::string")]
    expression: Option<String>,
    /// 1.6: on the expression form.
    #[serde(default, deserialize_with = "lenient::string")]
    acknowledgement: Option<String>,
}

#[derive(Deserialize)]
struct CdxLicense {
    #[serde(default, deserialize_with = "lenient::string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    acknowledgement: Option<String>,
}

/// A `dependencies[]` entry. Its references are only looked up, so they are borrowed from the
/// document (a 20,000-component SBOM has ~60,000 of them).
#[derive(Deserialize)]
pub(crate) struct CdxDependency<'a> {
    #[serde(rename = "ref", default, borrow, deserialize_with = "lenient::ref_str")]
    reference: Option<lenient::RefStr<'a>>,
    #[serde(
        rename = "dependsOn",
        default,
        borrow,
        deserialize_with = "lenient::ref_list"
    )]
    depends_on: Vec<lenient::RefStr<'a>>,
}

/// `metadata.tools`: a legacy array of `{vendor,name,version}` (≤1.4) or, from 1.5, an object
/// `{components: [...], services: [...]}`.
#[derive(Default)]
struct CdxTools(Vec<CdxTool>);

#[derive(Deserialize)]
struct CdxTool {
    #[serde(default, deserialize_with = "lenient::string")]
    vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    group: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    version: Option<String>,
}

impl<'de> Deserialize<'de> for CdxTools {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CdxTools;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of tools or {components, services}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<CdxTools, E> {
                Ok(CdxTools::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CdxTools, A::Error> {
                let mut tools = Vec::new();
                while let Some(t) = seq.next_element()? {
                    tools.push(t);
                }
                Ok(CdxTools(tools))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CdxTools, A::Error> {
                let mut tools = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "components" || key == "services" {
                        let list: Option<Vec<CdxTool>> = map.next_value()?;
                        tools.extend(list.unwrap_or_default());
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(CdxTools(tools))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn build(raw: RawDocument<'_>, opts: &ParseOptions) -> Result<Sbom, SbomError> {
    let spec_version = raw.spec_version.ok_or(SbomError::MissingField {
        format: Format::CycloneDx,
        field: "specVersion",
    })?;
    if !spec_version.trim().starts_with("1.") {
        return Err(SbomError::UnsupportedVersion {
            format: Format::CycloneDx,
            version: spec_version,
        });
    }

    let mut b = Builder::new(opts);
    let mut components = Vec::with_capacity(raw.components.len() + 1);
    let (tools, subject) = match raw.metadata {
        Some(m) => (m.tools.0, m.component),
        None => (Vec::new(), None),
    };
    let root = subject.map(|c| push(&mut b, &mut components, c, None));
    for c in raw.components {
        push(&mut b, &mut components, c, None);
    }

    let mut index: HashMap<&str, ComponentId> = HashMap::with_capacity(components.len());
    for c in &components {
        let Some(r) = c.ref_id.as_deref() else {
            continue;
        };
        match index.entry(r) {
            // References go to the first holder, as a reader of the document would take it.
            Entry::Occupied(_) => b.warn(
                Some(c.id),
                WarningKind::DuplicateRef,
                format!("bom-ref {r:?} is used more than once"),
            ),
            Entry::Vacant(v) => {
                v.insert(c.id);
            }
        }
    }

    // Services may be dependency ends too; they are not components, but not dangling either.
    let mut services = HashSet::new();
    for s in &raw.services {
        s.refs(&mut services);
    }
    let mut graph = Graph::default();
    let dependency_entries = raw.dependencies.as_ref().map(Vec::len);
    for dep in raw.dependencies.iter().flatten() {
        let Some(from_ref) = dep.reference.as_deref() else {
            continue;
        };
        let from = index.get(from_ref).copied();
        if from.is_none() && !services.contains(from_ref) {
            graph.unresolved(from_ref);
        }
        for to_ref in &dep.depends_on {
            let to_ref: &str = to_ref;
            match (from, index.get(to_ref)) {
                (Some(from), Some(to)) => graph.edge(from, *to),
                (_, None) if !services.contains(to_ref) => graph.unresolved(to_ref),
                _ => {}
            }
        }
    }

    Ok(Sbom {
        format: Format::CycloneDx,
        spec_version: spec_version.trim().to_owned(),
        serial_or_namespace: raw.serial_number,
        root,
        components,
        dependencies: graph.edges,
        dependency_entries,
        unresolved_refs: graph.unresolved,
        tools: tools
            .into_iter()
            .filter_map(|t| {
                Some(Tool {
                    vendor: t.vendor.or(t.group),
                    name: t.name?,
                    version: t.version,
                })
            })
            .collect(),
        warnings: b.warnings,
    })
}

/// Appends `c` and, depth first, the components nested in it.
fn push(
    b: &mut Builder<'_>,
    out: &mut Vec<Component>,
    c: CdxComponent,
    parent: Option<ComponentId>,
) -> ComponentId {
    let id = next_id(out.len());
    let purl = c.purl.and_then(|p| match p.parse() {
        Ok(purl) => Some(purl),
        Err(e) => {
            b.warn(Some(id), WarningKind::InvalidPurl, format!("{p:?}: {e}"));
            None
        }
    });
    let licenses = licenses(b, c.licenses, id);
    out.push(Component {
        id,
        ref_id: c.bom_ref,
        name: c.name.unwrap_or_default(),
        group: c.group.filter(|g| !g.is_empty()),
        version: c.version.filter(|v| !v.is_empty()),
        purl,
        licenses,
        hashes: c
            .hashes
            .into_iter()
            .filter_map(|h| Some(Hash::new(h.alg?, h.content?)))
            .collect(),
        supplier: c.supplier.filter(|s| !s.is_empty()),
        kind: c.ty,
        parent,
    });
    for child in c.components {
        push(b, out, child, Some(id));
    }
    id
}

fn acknowledgement(choice: &CdxLicenseChoice) -> Option<&str> {
    choice
        .license
        .as_ref()
        .and_then(|l| l.acknowledgement.as_deref())
        .or(choice.acknowledgement.as_deref())
}

const MAX_LICENSE_ENTRIES: usize = 256;

fn licenses(b: &mut Builder<'_>, choices: Vec<CdxLicenseChoice>, id: ComponentId) -> LicenseInfo {
    let is = |c: &CdxLicenseChoice, what: &str| {
        acknowledgement(c).is_some_and(|a| a.eq_ignore_ascii_case(what))
    };
    // 1.6 lets a BOM carry both what a package declares and what someone concluded; the
    // conclusion is the better-informed statement, as SPDX's licenseConcluded is.
    let concluded = choices.iter().any(|c| is(c, "concluded"));
    let origin = if concluded {
        LicenseOrigin::Concluded
    } else if !choices.is_empty() && choices.iter().all(|c| is(c, "declared")) {
        LicenseOrigin::Declared
    } else {
        LicenseOrigin::Unspecified
    };

    let mut info = LicenseInfo {
        origin,
        ..LicenseInfo::default()
    };
    if choices.len() > MAX_LICENSE_ENTRIES {
        // Combining is quadratic; no real component lists this many licences.
        b.warn(
            Some(id),
            WarningKind::InvalidLicense,
            format!(
                "{} licence entries (over {MAX_LICENSE_ENTRIES})",
                choices.len()
            ),
        );
        info.expression = Some(LicenseExpr::Unknown("too many licence entries".to_owned()));
        info.state = LicenseState::Present;
        return info;
    }
    let mut parts = Vec::new();
    for choice in choices {
        if concluded && !is(&choice, "concluded") {
            continue;
        }
        if let Some(expr) = choice.expression {
            match expr.trim() {
                t if t.eq_ignore_ascii_case("NOASSERTION") => {
                    info.state = LicenseState::NoAssertion
                }
                t if t.eq_ignore_ascii_case("NONE") => info.state = LicenseState::NoneStated,
                _ => parts.push(b.expression(&expr, id)),
            }
            info.raw.push(expr);
        }
        let Some(l) = choice.license else {
            continue;
        };
        if let Some(lid) = l.id.filter(|s| !s.trim().is_empty()) {
            parts.push(b.license_id(&lid));
            info.raw.push(lid);
        } else if let Some(name) = l.name.filter(|s| !s.trim().is_empty()) {
            parts.push(b.license_name(&name));
            info.raw.push(name);
        }
    }
    if let Some(expr) = LicenseExpr::combine(parts, b.opts.combine_licenses) {
        info.expression = Some(expr);
        info.state = LicenseState::Present;
    } else if info.raw.is_empty() {
        info.origin = LicenseOrigin::Unspecified;
    }
    info
}
