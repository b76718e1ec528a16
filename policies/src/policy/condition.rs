//! Custom conditions in CEL (the `cel` crate), evaluated over the facts.
//!
//! The facts are handed to CEL through their JSON form (numbers as `int` where they fit, so
//! `in_flight < 3` compares like with like), one variable per top-level field, plus `now` (a
//! timestamp), `environment` (the target's name) and `version` (the tag read as SemVer:
//! `{major, minor, patch, pre}`, or `null`).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::facts::Facts;

/// The variables a condition may use.
pub const VARIABLES: [&str; 14] = [
    "artifact",
    "promotion",
    "evidence",
    "sboms",
    "vulnerability_reports",
    "approvals",
    "current_version",
    "in_flight",
    "verifications",
    "arrived_at",
    "checklist",
    "now",
    "environment",
    "version",
];

/// Compiles an expression and checks it names only known variables.
pub(crate) fn compile(expr: &str) -> Result<Arc<cel::Program>, String> {
    let program = cel::Program::compile(expr).map_err(|e| {
        e.errors
            .iter()
            .map(|e| e.msg.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let refs = program.references();
    let bound = macro_variables(expr);
    let mut unknown: Vec<&str> = refs
        .variables()
        .into_iter()
        .filter(|v| !VARIABLES.contains(v) && !bound.iter().any(|b| b == v))
        .collect();
    unknown.sort_unstable();
    if let Some(v) = unknown.first() {
        return Err(format!(
            "unknown variable `{v}`; conditions can use {}",
            VARIABLES.join(", ")
        ));
    }
    Ok(Arc::new(program))
}

/// Names bound by macros (`list.exists(x, …)`, `m.map(k, v, …)`): CEL's reference list
/// counts them as variables. Macros are the only binders in the standard environment, and
/// their first arguments are plain identifiers, so reading them from the text is exact.
fn macro_variables(expr: &str) -> Vec<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"\b(?:all|exists|exists_one|existsOne|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,(?:\s*([A-Za-z_][A-Za-z0-9_]*)\s*,)?",
        )
        .expect("static regex")
    });
    re.captures_iter(expr)
        .flat_map(|c| [c.get(1), c.get(2)])
        .flatten()
        .map(|m| m.as_str().to_string())
        .collect()
}

fn to_cel(v: Json) -> cel::Value {
    match v {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => cel::Value::Int(i),
            (None, Some(f)) => cel::Value::Float(f),
            (None, None) => cel::Value::Null,
        },
        Json::String(s) => cel::Value::String(Arc::new(s)),
        Json::Array(a) => cel::Value::List(Arc::new(a.into_iter().map(to_cel).collect())),
        Json::Object(o) => {
            let m: HashMap<String, cel::Value> =
                o.into_iter().map(|(k, v)| (k, to_cel(v))).collect();
            cel::Value::from(m)
        }
    }
}

/// The variables for one evaluation, built once and shared by every condition.
pub(crate) struct Bindings {
    vars: Vec<(&'static str, cel::Value)>,
}

impl Bindings {
    pub fn new(facts: &Facts, now: DateTime<Utc>) -> Result<Self, String> {
        let json = serde_json::to_value(facts).map_err(|e| e.to_string())?;
        let Json::Object(mut top) = json else {
            return Err("facts are not an object".into());
        };
        let mut vars = Vec::new();
        for name in VARIABLES {
            let value = match name {
                "now" => cel::Value::Timestamp(now.fixed_offset()),
                "environment" => to_cel(Json::String(facts.promotion.to.clone())),
                "version" => match facts.semver() {
                    Some(v) => to_cel(serde_json::json!({
                        "major": v.major, "minor": v.minor, "patch": v.patch,
                        "pre": v.pre.as_str(),
                    })),
                    None => cel::Value::Null,
                },
                other => to_cel(top.remove(other).unwrap_or(Json::Null)),
            };
            vars.push((name, value));
        }
        Ok(Bindings { vars })
    }

    /// Runs a condition: `Ok(bool)`, or why it could not be judged.
    pub fn run(&self, program: &cel::Program) -> Result<bool, String> {
        let mut ctx = cel::Context::default();
        for (name, value) in &self.vars {
            ctx.add_variable_from_value(*name, value.clone());
        }
        match program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "evaluated to {:?}, not a bool",
                other.type_of().to_string()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
