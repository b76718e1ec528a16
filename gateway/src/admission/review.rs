//! Reading an `AdmissionReview` (`admission.k8s.io/v1` or `v1beta1`) leniently: unknown
//! fields are fine, `oldObject` may be anything; what a decision needs (`request`, `uid`,
//! `operation`, the object's kind and the object itself) must be there, or the request is
//! malformed. Never a panic, and never an answer that allows because something was missing.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V1beta1,
}

impl ApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "admission.k8s.io/v1",
            ApiVersion::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// What a decision reads from a review.
#[derive(Debug, Clone)]
pub struct Review<'a> {
    pub api_version: ApiVersion,
    pub uid: String,
    pub operation: Operation,
    /// The object's group and kind (`apps`, `Deployment`).
    pub group: String,
    pub kind: String,
    pub sub_resource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `userInfo.username`: who asked.
    pub username: Option<String>,
    pub dry_run: bool,
    /// The new object (`None` for DELETE and CONNECT).
    pub object: Option<&'a Value>,
}

fn opt_str(v: &Value, key: &str) -> Result<Option<String>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("request.{key} is {}, not a string", kind_of(other))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The review's `apiVersion`, read on its own so that even a malformed request can be
/// answered in its own version where it names one.
pub fn api_version(root: &Value) -> Result<ApiVersion, String> {
    match root.get("apiVersion").and_then(Value::as_str) {
        Some("admission.k8s.io/v1") => Ok(ApiVersion::V1),
        Some("admission.k8s.io/v1beta1") => Ok(ApiVersion::V1beta1),
        Some(other) => Err(format!(
            "apiVersion {other:?} is not admission.k8s.io/v1 or admission.k8s.io/v1beta1"
        )),
        None => Err("the body has no apiVersion (expected admission.k8s.io/v1 or v1beta1)".into()),
    }
}

/// Reads `root`; the error is the message of a 400.
pub fn parse(root: &Value) -> Result<Review<'_>, String> {
    if !root.is_object() {
        return Err(format!(
            "the body is {}, not an AdmissionReview object",
            kind_of(root)
        ));
    }
    let api_version = api_version(root)?;
    match root.get("kind") {
        None => {}
        Some(Value::String(k)) if k == "AdmissionReview" => {}
        Some(other) => return Err(format!("kind is {other}, not \"AdmissionReview\"")),
    }
    let req = match root.get("request") {
        Some(r @ Value::Object(_)) => r,
        None | Some(Value::Null) => return Err("the AdmissionReview has no request".into()),
        Some(other) => return Err(format!("request is {}, not an object", kind_of(other))),
    };
    let uid = opt_str(req, "uid")?.ok_or("request.uid is missing: it must be echoed back")?;
    let operation = match opt_str(req, "operation")?.as_deref() {
        Some("CREATE") => Operation::Create,
        Some("UPDATE") => Operation::Update,
        Some("DELETE") => Operation::Delete,
        Some("CONNECT") => Operation::Connect,
        Some(other) => {
            return Err(format!(
                "request.operation {other:?} is not CREATE, UPDATE, DELETE or CONNECT"
            ));
        }
        None => return Err("request.operation is missing".into()),
    };
    let object = match (operation, req.get("object")) {
        (Operation::Delete | Operation::Connect, _) => None,
        (_, Some(o @ Value::Object(_))) => Some(o),
        (op, None | Some(Value::Null)) => {
            return Err(format!(
                "request.object is missing: a {} request carries the object",
                op.as_str()
            ));
        }
        (_, Some(other)) => {
            return Err(format!(
                "request.object is {}, not an object",
                kind_of(other)
            ));
        }
    };
    // The object's kind: request.kind, else what the object says of itself.
    let stated = match req.get("kind") {
        Some(k @ Value::Object(_)) => {
            let kind = k.get("kind").and_then(Value::as_str).unwrap_or_default();
            let group = k.get("group").and_then(Value::as_str).unwrap_or_default();
            Some((group.to_string(), kind.to_string())).filter(|(_, k)| !k.is_empty())
        }
        None | Some(Value::Null) => None,
        Some(other) => return Err(format!("request.kind is {}, not an object", kind_of(other))),
    };
    let (group, kind) = stated.unwrap_or_else(|| {
        let o = object.unwrap_or(&Value::Null);
        let kind = o.get("kind").and_then(Value::as_str).unwrap_or_default();
        let api = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let group = api.rsplit_once('/').map_or("", |(g, _)| g);
        (group.to_string(), kind.to_string())
    });
    if kind.is_empty() && object.is_some() {
        return Err("request.kind is missing and the object names no kind".into());
    }
    let username = match req.get("userInfo") {
        Some(u @ Value::Object(_)) => u
            .get("username")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        _ => None,
    };
    let dry_run = match req.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "request.dryRun is {}, not a boolean",
                kind_of(other)
            ));
        }
    };
    Ok(Review {
        api_version,
        uid,
        operation,
        group,
        kind,
        sub_resource: opt_str(req, "subResource")?,
        namespace: opt_str(req, "namespace")?,
        name: opt_str(req, "name")?.or_else(|| {
            let meta = object?.get("metadata")?;
            meta.get("name")
                .or_else(|| meta.get("generateName"))
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        username,
        dry_run,
        object,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn review(req: Value) -> Value {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
    }

    #[test]
    fn reads_what_a_decision_needs() {
        let v = review(json!({
            "uid": "u-1", "operation": "CREATE", "namespace": "ns",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "userInfo": {"username": "alice", "groups": ["dev"]},
            "object": {"metadata": {"name": "web"}}, "oldObject": {}, "dryRun": true,
            "somethingNew": [1, 2]
        }));
        let r = parse(&v).unwrap();
        assert_eq!(r.api_version, ApiVersion::V1);
        assert_eq!(
            (r.uid.as_str(), r.group.as_str(), r.kind.as_str()),
            ("u-1", "apps", "Deployment")
        );
        assert_eq!(r.username.as_deref(), Some("alice"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert!(r.dry_run);
        let mut v1beta1 = v.clone();
        v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
        assert_eq!(parse(&v1beta1).unwrap().api_version, ApiVersion::V1beta1);
    }

    #[test]
    fn old_object_may_be_anything_and_delete_needs_no_object() {
        for old in [json!(null), json!({}), json!("x"), json!(3)] {
            let v = review(json!({"uid": "u", "operation": "CREATE",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "object": {"spec": {}}, "oldObject": old}));
            assert!(parse(&v).is_ok());
        }
        let v = review(json!({"uid": "u", "operation": "DELETE",
            "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": null}));
        assert!(parse(&v).unwrap().object.is_none());
    }

    #[test]
    fn kind_falls_back_to_the_object() {
        let v = review(json!({"uid": "u", "operation": "CREATE",
            "object": {"apiVersion": "batch/v1", "kind": "CronJob"}}));
        let r = parse(&v).unwrap();
        assert_eq!((r.group.as_str(), r.kind.as_str()), ("batch", "CronJob"));
        let v = review(
            json!({"uid": "u", "operation": "CREATE", "kind": {"group": "apps"},
            "object": {"apiVersion": "v1", "kind": "Pod"}}),
        );
        let r = parse(&v).unwrap();
        assert_eq!((r.group.as_str(), r.kind.as_str()), ("", "Pod"));
    }

    #[test]
    fn malformed_requests_say_what_is_wrong() {
        let cases = [
            (json!([]), "not an AdmissionReview"),
            (json!({"kind": "AdmissionReview"}), "no apiVersion"),
            (
                json!({"apiVersion": "admission.k8s.io/v2", "request": {}}),
                "admission.k8s.io/v2",
            ),
            (
                json!({"apiVersion": "admission.k8s.io/v1", "kind": "Pod", "request": {}}),
                "kind",
            ),
            (json!({"apiVersion": "admission.k8s.io/v1"}), "no request"),
            (review(json!("x")), "request is a string"),
            (
                review(json!({"operation": "CREATE"})),
                "request.uid is missing",
            ),
            (
                review(json!({"uid": 5, "operation": "CREATE"})),
                "request.uid is a number",
            ),
            (review(json!({"uid": "u"})), "request.operation is missing"),
            (review(json!({"uid": "u", "operation": "PATCH"})), "PATCH"),
            (
                review(json!({"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}})),
                "request.object is missing",
            ),
            (
                review(
                    json!({"uid": "u", "operation": "UPDATE", "kind": {"kind": "Pod"}, "object": []}),
                ),
                "request.object is a list",
            ),
            (
                review(json!({"uid": "u", "operation": "CREATE", "object": {}})),
                "names no kind",
            ),
            (
                review(
                    json!({"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "object": {}, "dryRun": "yes"}),
                ),
                "dryRun",
            ),
        ];
        for (v, want) in cases {
            let e = parse(&v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
