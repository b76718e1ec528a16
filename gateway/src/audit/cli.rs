//! `tollgate audit export|verify|key`.
//!
//! An export is JSON Lines: a header naming the log (origin, verifier key, size), every entry
//! as the exact bytes the log stores, and a last line with the signed checkpoints that cover
//! it. `verify` recomputes the Merkle tree from the entry lines and checks every checkpoint's
//! signature and root; removed, inserted or reordered entries break the numbering and are
//! reported where it breaks, and an edited entry fails the first checkpoint after it, which
//! locates it to the batch between two checkpoints (one entry, when entries arrive one by one).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Value, json};
use tollgate_attest::merkle::MerkleLog;
use tollgate_attest::note::{Checkpoint, NoteVerifier};
use tollgate_store::{AuditStore, CheckpointRecord};

use crate::client::{Gateway, GatewayArgs};

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Write the audit log and its signed checkpoints as JSON Lines (from a data directory no
    /// gateway is running on; a running gateway serves the same at /api/v1/audit/export).
    Export {
        #[arg(long)]
        data: PathBuf,
        /// The gateway's config file, for [audit] origin and key
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output file [default: standard output]
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check an export, or the log of a running gateway (--url/--token): exit 0 intact, 1 any
    /// entry edited, removed, reordered or inserted (each reported with its position), 2 the
    /// export could not be read.
    Verify {
        /// An export file; without it the log is fetched from the gateway at --url
        file: Option<PathBuf>,
        /// The verifier key to trust (`name+keyid+key`); default: the one the export names
        #[arg(long)]
        key: Option<String>,
        #[arg(long, default_value = crate::client::DEFAULT_URL)]
        url: String,
        #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Print the verifier key of the audit checkpoints (from a data directory)
    Key {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn run(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Export { data, config, out } => {
            match export_data(&data, config.as_deref(), out.as_deref()) {
                Ok(n) => {
                    eprintln!("exported {n} audit entries");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tollgate audit export: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        AuditCommand::Key { data, config } => match signer_for(&data, config.as_deref()) {
            Ok(s) => {
                println!("{}", s.verifier_key());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tollgate audit key: {e:#}");
                ExitCode::from(2)
            }
        },
        AuditCommand::Verify {
            file,
            key,
            url,
            token,
        } => {
            let text = match file {
                Some(f) => {
                    std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))
                }
                None => fetch(&url, token.as_deref()),
            };
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("tollgate audit verify: {e:#}");
                    return ExitCode::from(2);
                }
            };
            match verify_export(&text, key.as_deref()) {
                Ok(report) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
                    );
                    if report.problems.is_empty() {
                        ExitCode::SUCCESS
                    } else {
                        for p in &report.problems {
                            eprintln!("{p}");
                        }
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("tollgate audit verify: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn fetch(url: &str, token: Option<&str>) -> anyhow::Result<String> {
    let token =
        token.ok_or_else(|| anyhow::anyhow!("give an export file, or --token for the gateway"))?;
    let args = GatewayArgs {
        url: url.to_string(),
        token: Some(token.to_string()),
    };
    let gw = Gateway::from_args(&args).with_timeout(std::time::Duration::from_secs(600));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let a = gw
            .send(
                http::Method::GET,
                "/api/v1/audit/export",
                "application/jsonl",
                None,
            )
            .await?;
        if !a.status.is_success() {
            return Err(crate::client::ApiFailure::from_answer(a.status, &a.body).into());
        }
        Ok(String::from_utf8(a.body.to_vec())?)
    })
}

fn signer_for(
    data: &Path,
    config: Option<&Path>,
) -> anyhow::Result<tollgate_attest::note::NoteSigner> {
    let cfg = crate::config::Config::load(
        config,
        &crate::config::Overrides {
            data: Some(data.to_path_buf()),
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    super::load_signer(&cfg.audit, data)
}

fn export_data(data: &Path, config: Option<&Path>, out: Option<&Path>) -> anyhow::Result<u64> {
    let signer = signer_for(data, config)?;
    let store = crate::serve::open_store(data)?;
    let tree = super::load_tree(&store)?;
    let size = tree.len();
    let fresh = super::sign_checkpoint(&signer, signer.name(), &tree, size)
        .ok_or_else(|| anyhow::anyhow!("cannot sign a checkpoint of {size} entries"))?;
    let mut checkpoints = store.audit_checkpoints()?;
    checkpoints.push(fresh);
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    write_export(
        &mut w,
        &store,
        signer.name(),
        &signer.verifier_key(),
        size,
        &checkpoints,
    )?;
    w.flush()?;
    Ok(size)
}

/// Writes the JSON Lines export of the first `size` entries.
pub fn write_export(
    w: &mut dyn Write,
    store: &dyn AuditStore,
    origin: &str,
    vkey: &str,
    size: u64,
    checkpoints: &[CheckpointRecord],
) -> anyhow::Result<()> {
    writeln!(
        w,
        "{}",
        json!({ "tollgate_audit_export": 1, "origin": origin, "verifier_key": vkey, "size": size })
    )?;
    let mut at = 0;
    while at < size {
        let page = store.audit_raw(at, 8192)?;
        if page.is_empty() {
            break;
        }
        for bytes in page {
            if at == size {
                break;
            }
            w.write_all(&bytes)?;
            w.write_all(b"\n")?;
            at += 1;
        }
    }
    let notes: Vec<&str> = checkpoints
        .iter()
        .filter(|c| c.size <= size)
        .map(|c| c.note.as_str())
        .collect();
    writeln!(w, "{}", json!({ "checkpoints": notes }))?;
    Ok(())
}

/// What a verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub entries: u64,
    pub checkpoints: usize,
    pub verified_size: u64,
    /// Entries whose body was pruned (archived); their leaf hashes still count.
    pub pruned: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    fn to_json(&self) -> Value {
        json!({
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "verified_size": self.verified_size,
            "pruned": self.pruned,
            "intact": self.problems.is_empty(),
            "problems": self.problems,
        })
    }
}

/// Checks an export against its checkpoints, signed by `key` (or the key the export names).
pub fn verify_export(text: &str, key: Option<&str>) -> anyhow::Result<VerifyReport> {
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("line 1 is not the export header: {e}"))?;
    if header["tollgate_audit_export"] != 1 {
        anyhow::bail!("line 1 is not a Tollgate audit export header");
    }
    let named = header["verifier_key"].as_str().unwrap_or_default();
    let vkey = key.unwrap_or(named);
    let verifier = NoteVerifier::parse(vkey).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut body: Vec<&str> = lines.collect();
    let trailer: Value = serde_json::from_str(body.pop().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("last line is not the checkpoint list: {e}"))?;
    let notes = trailer["checkpoints"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("last line has no \"checkpoints\""))?;

    let mut report = VerifyReport {
        entries: body.len() as u64,
        ..VerifyReport::default()
    };
    // Numbering: every line's seq is its position.
    let mut tree = MerkleLog::new();
    for (pos, line) in body.iter().enumerate() {
        let pos = pos as u64;
        let seq = seq_of(line);
        match seq {
            None => report
                .problems
                .push(format!("position {pos}: not an audit entry")),
            Some(s) if s > pos => report.problems.push(format!(
                "position {pos}: entries {pos}..{s} are missing (found seq {s})"
            )),
            Some(s) if s < pos => report.problems.push(format!(
                "position {pos}: seq {s} repeats or is out of order (inserted or reordered)"
            )),
            Some(_) => {}
        }
        if tollgate_store::mentions_pruned(line.as_bytes()) {
            report.pruned += 1;
        }
        tree.push(tollgate_store::stored_leaf_hash(line.as_bytes()));
    }

    // Every checkpoint must be signed by the key, and its root must match the entries.
    let mut heads: Vec<Checkpoint> = Vec::new();
    for n in notes {
        let note = n.as_str().unwrap_or_default();
        match verifier
            .open(note)
            .map_err(|e| e.to_string())
            .and_then(|t| Checkpoint::from_text(t).map_err(|e| e.to_string()))
        {
            Ok(cp) if cp.origin == verifier.name() => heads.push(cp),
            Ok(cp) => report.problems.push(format!(
                "checkpoint of size {} names origin {:?}, not {:?}",
                cp.size,
                cp.origin,
                verifier.name()
            )),
            Err(e) => report
                .problems
                .push(format!("a checkpoint does not verify: {e}")),
        }
    }
    heads.sort_by_key(|c| c.size);
    heads.dedup_by_key(|c| c.size);
    report.checkpoints = heads.len();
    let mut good = 0u64;
    for cp in &heads {
        if cp.size > tree.len() {
            report.problems.push(format!(
                "checkpoint of size {} covers entries the export does not have: entries {}..{} were removed",
                cp.size,
                tree.len(),
                cp.size
            ));
            break;
        }
        if tree.root(cp.size) == Some(cp.root) {
            good = cp.size;
        } else {
            let what = if cp.size - good == 1 {
                format!("position {good}: entry edited")
            } else {
                format!(
                    "positions {good}..{}: an entry in this range was edited, removed or inserted",
                    cp.size
                )
            };
            report.problems.push(format!(
                "{what} (checkpoint of size {} signed another root)",
                cp.size
            ));
            break;
        }
    }
    report.verified_size = good;
    if good < tree.len() && report.problems.is_empty() {
        report.problems.push(format!(
            "positions {good}..{}: no signed checkpoint covers these entries",
            tree.len()
        ));
    }
    if heads.is_empty() {
        report
            .problems
            .push("no valid checkpoint in the export".into());
    }
    Ok(report)
}

/// The `seq` of an entry line: what `serde_json::from_str::<Value>(line)` and then
/// `v["seq"].as_u64()` give — `None` unless the line is one JSON object (every string, escape,
/// number and nesting level checked as a `Value` checks them) whose last `seq` member is a
/// non-negative integer — without building the entry: verifying an export reads a million.
fn seq_of(line: &str) -> Option<u64> {
    use serde::de::{MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// Accepts any JSON value, reading each string (so escapes are checked as a `Value` checks
    /// them) without keeping anything.
    struct Any;
    impl<'de> Visitor<'de> for Any {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<AnyValue>()?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_key::<AnyValue>()?.is_some() {
                map.next_value::<AnyValue>()?;
            }
            Ok(())
        }
    }
    struct AnyValue;
    impl<'de> serde::Deserialize<'de> for AnyValue {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Any).map(|()| AnyValue)
        }
    }

    /// A member's value: a non-negative integer, or anything else (checked like `Any`).
    struct SeqValue(Option<u64>);
    impl<'de> serde::Deserialize<'de> for SeqValue {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = SeqValue;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_u64<E>(self, v: u64) -> Result<SeqValue, E> {
                    Ok(SeqValue(Some(v)))
                }
                fn visit_i64<E>(self, v: i64) -> Result<SeqValue, E> {
                    Ok(SeqValue(u64::try_from(v).ok()))
                }
                fn visit_bool<E>(self, _: bool) -> Result<SeqValue, E> {
                    Ok(SeqValue(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<SeqValue, E> {
                    Ok(SeqValue(None))
                }
                fn visit_str<E>(self, _: &str) -> Result<SeqValue, E> {
                    Ok(SeqValue(None))
                }
                fn visit_unit<E>(self) -> Result<SeqValue, E> {
                    Ok(SeqValue(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SeqValue, A::Error> {
                    Any.visit_seq(seq).map(|()| SeqValue(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SeqValue, A::Error> {
                    Any.visit_map(map).map(|()| SeqValue(None))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// Whether a member's name is `seq` (borrowed from the line: no allocation).
    struct IsSeq(bool);
    impl<'de> serde::Deserialize<'de> for IsSeq {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = IsSeq;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a member name")
                }
                fn visit_str<E>(self, v: &str) -> Result<IsSeq, E> {
                    Ok(IsSeq(v == "seq"))
                }
            }
            d.deserialize_str(V)
        }
    }

    /// The line: an object's last `seq` member; any other value has none.
    struct Line(Option<u64>);
    impl<'de> serde::Deserialize<'de> for Line {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Line;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an audit entry")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
                    let mut seq = None;
                    while let Some(IsSeq(is_seq)) = map.next_key()? {
                        if is_seq {
                            seq = map.next_value::<SeqValue>()?.0;
                        } else {
                            map.next_value::<AnyValue>()?;
                        }
                    }
                    Ok(Line(seq))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_str<E>(self, _: &str) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_unit<E>(self) -> Result<Line, E> {
                    Ok(Line(None))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Line, A::Error> {
                    Any.visit_seq(seq).map(|()| Line(None))
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_str::<Line>(line).ok().and_then(|l| l.0)
}

/// Reads an export from a reader (for tests and tools).
pub fn read_all(r: impl BufRead) -> std::io::Result<String> {
    let mut s = String::new();
    for l in r.lines() {
        s.push_str(&l?);
        s.push('\n');
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_read_as_a_json_value_reads_it() {
        let deep = format!("{{\"seq\":1,\"x\":{}{}}}", "[".repeat(200), "]".repeat(200));
        let lines = [
            r#"{"seq":0,"at_ms":1,"actor":"a","action":"manifest-push","details":{"tag":"1.0.0","subject":null}}"#,
            r#"{"seq":42,"pruned":true,"action":"x","at_ms":1,"leaf":"00"}"#,
            r#"{"at_ms":1,"seq":7}"#,
            r#"{"seq":5,"a":1,"seq":9}"#,
            r#"{"seq":5,"a":1,"seq":"9"}"#,
            r#"{"seq":-1}"#,
            r#"{"seq":1.0}"#,
            r#"{"seq":18446744073709551615}"#,
            r#"{"seq":18446744073709551616}"#,
            r#"{"seq":1e400}"#,
            r#"{"seq":"3"}"#,
            r#"{"seq":[3]}"#,
            r#"{"seq":{"seq":3}}"#,
            r#"{"nested":{"seq":3}}"#,
            r#"[{"seq":3}]"#,
            r#""seq""#,
            "3",
            "null",
            "",
            "{",
            r#"{"seq":3} x"#,
            r#"{"seq":3,}"#,
            r#"{"seq":3,"s":"\ud800"}"#,
            r#"{"seq":3,"s":"\ud83d\ude00 \n \u00e9"}"#,
            r#"{"seq":3,"s":"\x"}"#,
            &deep,
            r#"  {"seq" : 3 }  "#,
        ];
        for l in lines {
            let want = serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| v["seq"].as_u64());
            assert_eq!(seq_of(l), want, "{l}");
        }
    }
}
