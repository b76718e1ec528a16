//! Vulnerability reports normalised into one [`VulnReport`], whichever document carried them.
//!
//! Two carriers are read:
//!
//! - the cosign vulnerability attestation (predicate type [`COSIGN_VULN_PREDICATE`], made by
//!   `cosign attest --type vuln`): its `scanner.result` is the scanner's own output, so the
//!   Trivy JSON (`Results[].Vulnerabilities[]`), Grype JSON (`matches[]`) and CycloneDX
//!   (`vulnerabilities[]`, e.g. `trivy --format cyclonedx`) shapes are understood there;
//! - a CycloneDX document's `vulnerabilities` array (a VEX or a BOM with findings). Findings
//!   whose `analysis.state` is `not_affected`, `false_positive` or `resolved` are kept but
//!   marked [`Vulnerability::suppressed`]: they do not count against thresholds.
//!
//! No I/O: callers hand over the bytes or the already-decoded predicate.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The in-toto predicate type of cosign's vulnerability attestation.
pub const COSIGN_VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// How bad a finding is, in increasing order. Scanners' spellings (`CRITICAL`, `Critical`,
/// `moderate`, `negligible`, `info`) are mapped onto these.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The scanner gave no (usable) severity.
    #[default]
    Unknown,
    /// Informational / negligible / none.
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, from least to most severe.
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::None,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// Reads a scanner's spelling, case-insensitively; anything unrecognised is `Unknown`.
    pub fn parse(s: &str) -> Severity {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" => Severity::Low,
            "none" | "info" | "informational" | "negligible" => Severity::None,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of document the report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VulnSource {
    /// A cosign vulnerability attestation predicate.
    CosignVuln,
    /// A CycloneDX document's `vulnerabilities`.
    CyclonedxVulnerabilities,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// `CVE-…`, `GHSA-…`, …
    pub id: String,
    pub severity: Severity,
    /// The affected package: a purl when the scanner gave one, else its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// The document says it does not apply (VEX `not_affected`, `false_positive`, `resolved`).
    #[serde(default)]
    pub suppressed: bool,
}

/// Findings from one scan, whichever format carried them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VulnReport {
    pub source: VulnSource,
    /// The scanner (`trivy`, `grype`, or a purl/URI as the document names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanner_version: Option<String>,
    /// When the scan finished (or started), as the document writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
    pub vulnerabilities: Vec<Vulnerability>,
}

/// A document that is not a vulnerability report this module reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VulnError {
    #[error("vulnerability report is not JSON: {0}")]
    NotJson(String),
    #[error("not a vulnerability report: {0}")]
    Unsupported(String),
    #[error("malformed vulnerability report: {0}")]
    Malformed(String),
}

impl VulnReport {
    /// Findings per severity, suppressed ones left out, each (id, package) counted once.
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut seen = std::collections::HashSet::new();
        let mut out = BTreeMap::new();
        for v in self.vulnerabilities.iter().filter(|v| !v.suppressed) {
            if seen.insert((&v.id, &v.package)) {
                *out.entry(v.severity).or_default() += 1;
            }
        }
        out
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

/// Reads any supported document: an in-toto statement whose predicate is the cosign
/// vulnerability predicate, that predicate alone, or a CycloneDX document.
pub fn parse_vuln_report(bytes: &[u8]) -> Result<VulnReport, VulnError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| VulnError::NotJson(e.to_string()))?;
    parse_vuln_value(&v)
}

/// [`parse_vuln_report`] on decoded JSON.
pub fn parse_vuln_value(v: &Value) -> Result<VulnReport, VulnError> {
    if let Some(pt) = v.get("predicateType").and_then(Value::as_str) {
        if pt != COSIGN_VULN_PREDICATE {
            return Err(VulnError::Unsupported(format!("predicate type {pt}")));
        }
        let predicate = v
            .get("predicate")
            .ok_or_else(|| VulnError::Malformed("statement has no predicate".into()))?;
        return parse_cosign_vuln(predicate);
    }
    if v.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        return parse_cyclonedx_vulns(v);
    }
    if v.get("scanner").is_some() {
        return parse_cosign_vuln(v);
    }
    Err(VulnError::Unsupported(
        "expected a cosign vulnerability attestation or a CycloneDX document".into(),
    ))
}

/// Reads the predicate of a cosign vulnerability attestation
/// (`{"invocation":…, "scanner":{"uri","version","db","result"}, "metadata":{…}}`).
pub fn parse_cosign_vuln(predicate: &Value) -> Result<VulnReport, VulnError> {
    let scanner = predicate
        .get("scanner")
        .filter(|s| s.is_object())
        .ok_or_else(|| VulnError::Malformed("predicate has no scanner object".into()))?;
    let result = scanner.get("result").unwrap_or(&Value::Null);
    let mut vulnerabilities = Vec::new();
    let mut scanner_name = owned(str_at(scanner, &["uri"]));
    if result.get("Results").is_some() || result.get("SchemaVersion").is_some() {
        trivy(result, &mut vulnerabilities)?;
        scanner_name.get_or_insert_with(|| "trivy".into());
    } else if let Some(matches) = result.get("matches") {
        grype(matches, &mut vulnerabilities)?;
        scanner_name = scanner_name.or_else(|| owned(str_at(result, &["descriptor", "name"])));
    } else if result.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(result, &mut vulnerabilities)?;
    } else if result.is_null() || result.as_object().is_some_and(|o| o.is_empty()) {
        // A scan that found nothing may carry no result at all.
    } else {
        return Err(VulnError::Unsupported(
            "scanner.result is neither Trivy, Grype nor CycloneDX output".into(),
        ));
    }
    Ok(VulnReport {
        source: VulnSource::CosignVuln,
        scanner: scanner_name,
        scanner_version: owned(str_at(scanner, &["version"])),
        scanned_at: owned(
            str_at(predicate, &["metadata", "scanFinishedOn"])
                .or_else(|| str_at(predicate, &["metadata", "scanStartedOn"])),
        ),
        vulnerabilities,
    })
}

/// Reads a CycloneDX document's `vulnerabilities` (an absent array is an empty report).
pub fn parse_cyclonedx_vulns(doc: &Value) -> Result<VulnReport, VulnError> {
    let mut vulnerabilities = Vec::new();
    cyclonedx(doc, &mut vulnerabilities)?;
    let tool = doc
        .get("metadata")
        .and_then(|m| m.get("tools"))
        .and_then(|t| {
            // 1.2–1.4: an array of tools; 1.5+: {components: [...]}.
            t.as_array()
                .or_else(|| t.get("components").and_then(Value::as_array))
        })
        .and_then(|a| a.first());
    Ok(VulnReport {
        source: VulnSource::CyclonedxVulnerabilities,
        scanner: tool.and_then(|t| owned(str_at(t, &["name"]))),
        scanner_version: tool.and_then(|t| owned(str_at(t, &["version"]))),
        scanned_at: owned(str_at(doc, &["metadata", "timestamp"])),
        vulnerabilities,
    })
}

fn trivy(result: &Value, out: &mut Vec<Vulnerability>) -> Result<(), VulnError> {
    let Some(results) = result.get("Results") else {
        return Ok(());
    };
    let results = results
        .as_array()
        .ok_or_else(|| VulnError::Malformed("Trivy Results is not an array".into()))?;
    for r in results {
        let Some(vulns) = r.get("Vulnerabilities").filter(|v| !v.is_null()) else {
            continue;
        };
        let vulns = vulns
            .as_array()
            .ok_or_else(|| VulnError::Malformed("Trivy Vulnerabilities is not an array".into()))?;
        for v in vulns {
            let id = str_at(v, &["VulnerabilityID"]).ok_or_else(|| {
                VulnError::Malformed("Trivy vulnerability without VulnerabilityID".into())
            })?;
            out.push(Vulnerability {
                id: id.to_string(),
                severity: Severity::parse(str_at(v, &["Severity"]).unwrap_or("")),
                package: owned(
                    str_at(v, &["PkgIdentifier", "PURL"]).or_else(|| str_at(v, &["PkgName"])),
                ),
                installed_version: owned(str_at(v, &["InstalledVersion"])),
                fixed_version: owned(str_at(v, &["FixedVersion"])),
                suppressed: false,
            });
        }
    }
    Ok(())
}

fn grype(matches: &Value, out: &mut Vec<Vulnerability>) -> Result<(), VulnError> {
    let matches = matches
        .as_array()
        .ok_or_else(|| VulnError::Malformed("Grype matches is not an array".into()))?;
    for m in matches {
        let vuln = m.get("vulnerability").unwrap_or(&Value::Null);
        let id = str_at(vuln, &["id"])
            .ok_or_else(|| VulnError::Malformed("Grype match without vulnerability.id".into()))?;
        let artifact = m.get("artifact").unwrap_or(&Value::Null);
        out.push(Vulnerability {
            id: id.to_string(),
            severity: Severity::parse(str_at(vuln, &["severity"]).unwrap_or("")),
            package: owned(str_at(artifact, &["purl"]).or_else(|| str_at(artifact, &["name"]))),
            installed_version: owned(str_at(artifact, &["version"])),
            fixed_version: vuln
                .get("fix")
                .and_then(|f| f.get("versions"))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .map(str::to_string),
            suppressed: false,
        });
    }
    Ok(())
}

fn cyclonedx(doc: &Value, out: &mut Vec<Vulnerability>) -> Result<(), VulnError> {
    let Some(vulns) = doc.get("vulnerabilities") else {
        return Ok(());
    };
    let vulns = vulns
        .as_array()
        .ok_or_else(|| VulnError::Malformed("CycloneDX vulnerabilities is not an array".into()))?;
    // bom-ref -> purl (or name) of the components, to name what `affects` points at.
    let mut refs: BTreeMap<&str, String> = BTreeMap::new();
    let mut stack: Vec<&Value> = Vec::new();
    if let Some(c) = doc.get("metadata").and_then(|m| m.get("component")) {
        stack.push(c);
    }
    if let Some(cs) = doc.get("components").and_then(Value::as_array) {
        stack.extend(cs);
    }
    while let Some(c) = stack.pop() {
        if let Some(r) = str_at(c, &["bom-ref"]) {
            let name = str_at(c, &["purl"]).or_else(|| str_at(c, &["name"]));
            refs.insert(r, name.unwrap_or(r).to_string());
        }
        if let Some(cs) = c.get("components").and_then(Value::as_array) {
            stack.extend(cs);
        }
    }
    for v in vulns {
        let id = str_at(v, &["id"])
            .ok_or_else(|| VulnError::Malformed("CycloneDX vulnerability without id".into()))?;
        // The worst rating wins: sources disagree, and a gate must not pick the mildest.
        let severity = v
            .get("ratings")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| Severity::parse(str_at(r, &["severity"]).unwrap_or("")))
                    .max()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let suppressed = matches!(
            str_at(v, &["analysis", "state"]),
            Some("not_affected" | "false_positive" | "resolved")
        );
        let affects: Vec<&str> = v
            .get("affects")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| str_at(x, &["ref"])).collect())
            .unwrap_or_default();
        let packages: Vec<Option<String>> = if affects.is_empty() {
            vec![None]
        } else {
            affects
                .iter()
                .map(|r| Some(refs.get(r).cloned().unwrap_or_else(|| r.to_string())))
                .collect()
        };
        for package in packages {
            out.push(Vulnerability {
                id: id.to_string(),
                severity,
                package,
                installed_version: None,
                fixed_version: None,
                suppressed,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cosign attest --type vuln` with a Trivy JSON result (shape of Trivy 0.4x output).
    const COSIGN_TRIVY: &str = r#"{
      "_type": "https://in-toto.io/Statement/v0.1",
      "predicateType": "https://cosign.sigstore.dev/attestation/vuln/v1",
      "subject": [{"name": "ghcr.io/acme/app", "digest": {"sha256": "6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"}}],
      "predicate": {
        "invocation": {"parameters": null, "uri": "https://github.com/acme/app/actions/runs/4242", "event_id": "4242", "builder.id": "github-actions"},
        "scanner": {
          "uri": "pkg:github/aquasecurity/trivy@v0.45.0",
          "version": "0.45.0",
          "db": {"uri": "pkg:github/aquasecurity/trivy-db", "version": "2"},
          "result": {
            "SchemaVersion": 2,
            "ArtifactName": "ghcr.io/acme/app:1.4.0",
            "ArtifactType": "container_image",
            "Results": [
              {"Target": "ghcr.io/acme/app:1.4.0 (alpine 3.17.3)", "Class": "os-pkgs", "Type": "alpine",
               "Vulnerabilities": [
                 {"VulnerabilityID": "CVE-2023-0464", "PkgID": "libcrypto3@3.0.8-r0", "PkgName": "libcrypto3",
                  "PkgIdentifier": {"PURL": "pkg:apk/alpine/libcrypto3@3.0.8-r0?arch=x86_64&distro=3.17.3"},
                  "InstalledVersion": "3.0.8-r0", "FixedVersion": "3.0.8-r1", "Status": "fixed",
                  "SeveritySource": "nvd", "Severity": "HIGH"},
                 {"VulnerabilityID": "CVE-2023-0465", "PkgName": "libssl3", "InstalledVersion": "3.0.8-r0",
                  "FixedVersion": "3.0.8-r2", "Severity": "MEDIUM"},
                 {"VulnerabilityID": "CVE-2022-48174", "PkgName": "busybox", "InstalledVersion": "1.35.0-r29",
                  "Severity": "CRITICAL"}
               ]},
              {"Target": "app/package-lock.json", "Class": "lang-pkgs", "Type": "npm", "Vulnerabilities": null},
              {"Target": "usr/local/bin/app", "Class": "lang-pkgs", "Type": "gobinary"}
            ]
          }
        },
        "metadata": {"scanStartedOn": "2024-05-02T10:11:12Z", "scanFinishedOn": "2024-05-02T10:11:40Z"}
      }
    }"#;

    /// The same predicate made from Grype's JSON output.
    const COSIGN_GRYPE: &str = r#"{
      "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
      "scanner": {
        "uri": "",
        "version": "0.74.0",
        "result": {
          "matches": [
            {"vulnerability": {"id": "GHSA-jfh8-c2jp-5v3q", "dataSource": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q",
                               "namespace": "github:language:java", "severity": "Critical",
                               "fix": {"versions": ["2.15.0"], "state": "fixed"}},
             "relatedVulnerabilities": [{"id": "CVE-2021-44228", "severity": "Critical"}],
             "artifact": {"name": "log4j-core", "version": "2.14.1", "type": "java-archive",
                          "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}},
            {"vulnerability": {"id": "CVE-2023-2650", "severity": "Negligible", "fix": {"versions": [], "state": "not-fixed"}},
             "artifact": {"name": "openssl", "version": "3.0.8"}}
          ],
          "source": {"type": "image", "target": {"userInput": "acme/app:1.4.0"}},
          "descriptor": {"name": "grype", "version": "0.74.0"}
        }
      },
      "metadata": {"scanStartedOn": "2024-05-02T10:11:12Z"}
    }"#;

    /// A CycloneDX 1.5 BOM with findings, one analysed as not affecting the product.
    const CDX: &str = r#"{
      "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
      "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
      "metadata": {"timestamp": "2024-05-02T10:12:00Z",
                   "tools": {"components": [{"type": "application", "name": "trivy", "version": "0.45.0"}]},
                   "component": {"bom-ref": "app", "type": "container", "name": "acme/app"}},
      "components": [
        {"bom-ref": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "type": "library",
         "name": "log4j-core", "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
        {"bom-ref": "jackson", "type": "library", "name": "jackson-databind",
         "purl": "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.8"}
      ],
      "vulnerabilities": [
        {"bom-ref": "v1", "id": "CVE-2021-44228", "source": {"name": "NVD"},
         "ratings": [{"source": {"name": "NVD"}, "score": 10.0, "severity": "critical", "method": "CVSSv31"},
                     {"source": {"name": "ghsa"}, "severity": "high"}],
         "affects": [{"ref": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]},
        {"id": "CVE-2020-36518", "ratings": [{"severity": "high"}],
         "affects": [{"ref": "jackson"}],
         "analysis": {"state": "not_affected", "justification": "code_not_reachable"}},
        {"id": "CVE-2024-0001", "ratings": [], "affects": [{"ref": "jackson"}]}
      ]
    }"#;

    #[test]
    fn cosign_trivy_statement() {
        let r = parse_vuln_report(COSIGN_TRIVY.as_bytes()).unwrap();
        assert_eq!(r.source, VulnSource::CosignVuln);
        assert_eq!(
            r.scanner.as_deref(),
            Some("pkg:github/aquasecurity/trivy@v0.45.0")
        );
        assert_eq!(r.scanner_version.as_deref(), Some("0.45.0"));
        assert_eq!(r.scanned_at.as_deref(), Some("2024-05-02T10:11:40Z"));
        assert_eq!(r.vulnerabilities.len(), 3);
        let v = &r.vulnerabilities[0];
        assert_eq!(v.id, "CVE-2023-0464");
        assert_eq!(v.severity, Severity::High);
        assert_eq!(
            v.package.as_deref(),
            Some("pkg:apk/alpine/libcrypto3@3.0.8-r0?arch=x86_64&distro=3.17.3")
        );
        assert_eq!(v.fixed_version.as_deref(), Some("3.0.8-r1"));
        assert_eq!(r.vulnerabilities[1].package.as_deref(), Some("libssl3"));
        let c = r.counts();
        assert_eq!(c.get(&Severity::Critical), Some(&1));
        assert_eq!(c.get(&Severity::High), Some(&1));
        assert_eq!(c.get(&Severity::Medium), Some(&1));
        assert_eq!(c.get(&Severity::Low), None);
    }

    #[test]
    fn cosign_grype_predicate() {
        let r = parse_vuln_report(COSIGN_GRYPE.as_bytes()).unwrap();
        assert_eq!(r.scanner.as_deref(), Some("grype"));
        assert_eq!(r.scanned_at.as_deref(), Some("2024-05-02T10:11:12Z"));
        assert_eq!(r.vulnerabilities[0].id, "GHSA-jfh8-c2jp-5v3q");
        assert_eq!(r.vulnerabilities[0].severity, Severity::Critical);
        assert_eq!(
            r.vulnerabilities[0].package.as_deref(),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
        );
        assert_eq!(
            r.vulnerabilities[0].fixed_version.as_deref(),
            Some("2.15.0")
        );
        assert_eq!(r.vulnerabilities[1].severity, Severity::None);
        assert_eq!(r.vulnerabilities[1].fixed_version, None);
    }

    #[test]
    fn cyclonedx_vulnerabilities() {
        let r = parse_vuln_report(CDX.as_bytes()).unwrap();
        assert_eq!(r.source, VulnSource::CyclonedxVulnerabilities);
        assert_eq!(r.scanner.as_deref(), Some("trivy"));
        assert_eq!(r.vulnerabilities.len(), 3);
        // The worst rating counts.
        assert_eq!(r.vulnerabilities[0].severity, Severity::Critical);
        assert_eq!(
            r.vulnerabilities[0].package.as_deref(),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
        );
        assert!(r.vulnerabilities[1].suppressed);
        assert_eq!(
            r.vulnerabilities[1].package.as_deref(),
            Some("pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.8")
        );
        assert_eq!(r.vulnerabilities[2].severity, Severity::Unknown);
        let c = r.counts();
        assert_eq!(c.get(&Severity::High), None, "suppressed finding counted");
        assert_eq!(c.get(&Severity::Critical), Some(&1));
        assert_eq!(c.get(&Severity::Unknown), Some(&1));
        // Round-trips through serde (the gateway stores reports as facts).
        let back: VulnReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn cosign_predicate_with_cyclonedx_result_and_empty_scan() {
        let pred = format!(
            r#"{{"scanner": {{"uri": "pkg:github/aquasecurity/trivy", "version": "0.45.0", "result": {CDX}}}}}"#
        );
        let r = parse_vuln_report(pred.as_bytes()).unwrap();
        assert_eq!(r.source, VulnSource::CosignVuln);
        assert_eq!(r.vulnerabilities.len(), 3);
        let empty = parse_vuln_report(br#"{"scanner": {"uri": "x", "result": {}}}"#).unwrap();
        assert!(empty.vulnerabilities.is_empty());
        // A CycloneDX BOM without findings is an empty report, not an error.
        let r = parse_vuln_report(br#"{"bomFormat": "CycloneDX", "specVersion": "1.4"}"#).unwrap();
        assert!(r.vulnerabilities.is_empty());
    }

    #[test]
    fn refusals() {
        assert!(matches!(
            parse_vuln_report(b"not json"),
            Err(VulnError::NotJson(_))
        ));
        assert!(matches!(
            parse_vuln_report(
                br#"{"predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}"#
            ),
            Err(VulnError::Unsupported(_))
        ));
        assert!(matches!(
            parse_vuln_report(br#"{"spdxVersion": "SPDX-2.3"}"#),
            Err(VulnError::Unsupported(_))
        ));
        assert!(matches!(
            parse_vuln_report(br#"{"scanner": {"result": {"Results": [{"Vulnerabilities": [{"Severity": "HIGH"}]}]}}}"#),
            Err(VulnError::Malformed(_))
        ));
        assert!(matches!(
            parse_vuln_report(br#"{"scanner": {"result": {"weird": true}}}"#),
            Err(VulnError::Unsupported(_))
        ));
    }

    #[test]
    fn severity_spellings() {
        assert_eq!(Severity::parse("CRITICAL"), Severity::Critical);
        assert_eq!(Severity::parse("Moderate"), Severity::Medium);
        assert_eq!(Severity::parse("negligible"), Severity::None);
        assert_eq!(Severity::parse("whatever"), Severity::Unknown);
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::None);
    }
}
