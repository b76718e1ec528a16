//! Reading an `AdmissionReview` (`admission.k8s.io/v1` or `v1beta1`) leniently: unknown
//! fields are fine, `oldObject` may be anything; what a decision needs (`request`, `uid`,
//! `operation`, the object's kind and the object itself) must be there, or the request is
//! malformed. Never a panic, and never an answer that allows because something was missing.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

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

// ---------------------------------------------------------------------------------------------
// Reading the body

/// The body as JSON, keeping only what [`parse`] and [`super::images::images`] read: the
/// review's `apiVersion`, `kind` and the request's fields below, and of the object its kind,
/// metadata name and deletion time and every pod-spec list (containers, init and ephemeral
/// containers, volumes: each item's `name` and `image`) wherever a pod spec can sit. Every other
/// member (`oldObject`, `managedFields`, annotations, env, probes, …) is skipped by the parser
/// without being built: a Deployment review is mostly such members, and building them was most
/// of the cost of an admission decision. A value of another shape than expected where a member
/// is kept (a string where an object belongs) is kept whole, so every error message is the one
/// the whole document gives.
///
/// Skipped members are still checked to be JSON (a syntax error anywhere is the same 400), but
/// not read: a lone UTF-16 surrogate escape or nesting beyond serde_json's 128 levels inside a
/// member no decision reads is no longer refused.
pub fn read(body: &[u8]) -> Result<Value, serde_json::Error> {
    // One UTF-8 check over the whole body (skipped strings are checked too), then the parser
    // needs none per string.
    let Ok(text) = std::str::from_utf8(body) else {
        return serde_json::from_slice(body);
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let v = Keep::Review.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// What of a value is kept: the value's place in a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// All of it.
    All,
    Review,
    Request,
    UserInfo,
    /// `request.object`: a pod spec itself (`EphemeralContainers`), or holding one.
    Object,
    Metadata,
    /// Where a pod spec, or a template holding one, may be (`spec`, `template.spec`, …).
    Spec,
    /// `template` and `jobTemplate`: `{spec: …}`.
    Template,
    /// `containers`, `initContainers`, `ephemeralContainers`, `volumes`.
    List,
    /// One container or volume: `name` and `image`.
    Item,
}

impl Keep {
    /// What is kept of member `key` of an object at this place; `None`: skipped.
    fn member(self, key: &str) -> Option<Keep> {
        use Keep::*;
        const LISTS: [&str; 4] = [
            "containers",
            "initContainers",
            "ephemeralContainers",
            "volumes",
        ];
        Some(match (self, key) {
            (All, _) => All,
            (Review, "apiVersion" | "kind") => All,
            (Review, "request") => Request,
            (
                Request,
                "uid" | "operation" | "kind" | "subResource" | "namespace" | "name" | "dryRun",
            ) => All,
            (Request, "userInfo") => UserInfo,
            (Request, "object") => Object,
            (UserInfo, "username") => All,
            (Object, "apiVersion" | "kind") => All,
            (Object, "metadata") => Metadata,
            (Object, "spec") => Spec,
            (Object | Spec, "template") => Template,
            (Spec, "jobTemplate") => Template,
            (Template, "spec") => Spec,
            (Object | Spec, k) if LISTS.contains(&k) => List,
            (Metadata, "name" | "generateName" | "deletionTimestamp") => All,
            (Item, "name" | "image") => All,
            _ => return None,
        })
    }

    /// What is kept of each element of a list at this place.
    fn element(self) -> Keep {
        match self {
            Keep::List => Keep::Item,
            // A list where an object belongs: kept whole for the error message.
            _ => Keep::All,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Keep {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self == Keep::All {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

/// Builds what is kept, as `serde_json::Value`'s own visitor would (scalars alike).
impl<'de> Visitor<'de> for Keep {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(self.element())? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match self.member(&key) {
                Some(keep) => {
                    let v = map.next_value_seed(keep)?;
                    out.insert(key.into_owned(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// An object key, borrowed from the body when it has no escapes (skipped members cost no
/// allocation).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
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

    /// Everything a decision reads, from a review parsed whole and from what [`read`] keeps.
    fn decision_inputs(root: &Value) -> String {
        match parse(root) {
            Err(e) => format!("error: {e}"),
            Ok(r) => {
                let images = r
                    .object
                    .map(|o| super::super::images::images(&r.group, &r.kind, o));
                let deleting = r
                    .object
                    .and_then(|o| o.get("metadata"))
                    .and_then(|m| m.get("deletionTimestamp"))
                    .map(|t| !t.is_null());
                format!(
                    "{:?} {} {:?} {} {} {:?} {:?} {:?} {:?} {} {:?} {:?}",
                    r.api_version,
                    r.uid,
                    r.operation,
                    r.group,
                    r.kind,
                    r.sub_resource,
                    r.namespace,
                    r.name,
                    r.username,
                    r.dry_run,
                    images,
                    deleting
                )
            }
        }
    }

    #[test]
    fn reading_keeps_everything_a_decision_reads() {
        let spec = json!({
            "initContainers": [{"name": "init", "image": "busybox:1.36", "env": [{"name": "A"}]}],
            "containers": [
                {"name": "app", "image": "tollgate.example.com/prod/app:1.0.0",
                 "resources": {"limits": {"cpu": "1"}}, "ports": [{"containerPort": 80}]},
                {"image": "localhost:5000/side@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff"},
                {"name": "empty", "image": ""}, {"name": "null", "image": null}
            ],
            "ephemeralContainers": [{"name": "dbg", "image": "nicolaka/netshoot", "stdin": true}],
            "volumes": [{"name": "data", "emptyDir": {}},
                        {"name": "models", "image": {"reference": "tollgate.example.com/prod/models:2", "pullPolicy": "IfNotPresent"}},
                        {"name": "bad", "image": {"reference": 7}}],
            "nodeSelector": {"disk": "ssd"}
        });
        let meta = json!({"name": "web", "namespace": "shop", "labels": {"a": "b"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"x\":1}"},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]});
        let objects = [
            (
                "",
                "Pod",
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}),
            ),
            (
                "apps",
                "Deployment",
                json!({"kind": "Deployment", "metadata": meta,
                "spec": {"replicas": 3, "template": {"metadata": meta, "spec": spec}}, "status": {"replicas": 1}}),
            ),
            (
                "batch",
                "CronJob",
                json!({"metadata": {"generateName": "job-"},
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            ),
            ("", "PodTemplate", json!({"template": {"spec": spec}})),
            ("", "EphemeralContainers", spec.clone()),
            (
                "argoproj.io",
                "Rollout",
                json!({"spec": {"template": {"spec": spec}}}),
            ),
            (
                "",
                "Pod",
                json!({"metadata": {"name": "gone", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec}),
            ),
            ("", "Pod", json!({"spec": {"containers": "not a list"}})),
            (
                "",
                "Pod",
                json!({"spec": {"containers": ["not an object"]}}),
            ),
            (
                "",
                "Pod",
                json!({"spec": {"containers": [{"name": "n", "image": {"not": "a string"}}]}}),
            ),
            ("", "Pod", json!({"spec": {"volumes": {"not": "a list"}}})),
            (
                "apps",
                "Deployment",
                json!({"spec": {"template": "not an object"}}),
            ),
            ("apps", "Deployment", json!({"spec": []})),
            ("", "Role", json!({"rules": [{"verbs": ["get"]}]})),
        ];
        let mut reviews = Vec::new();
        for (group, kind, object) in objects {
            for op in ["CREATE", "UPDATE", "DELETE"] {
                reviews.push(review(json!({
                    "uid": "u-1", "operation": op, "namespace": "shop", "name": null,
                    "kind": {"group": group, "version": "v1", "kind": kind},
                    "resource": {"group": group, "version": "v1", "resource": "x"},
                    "userInfo": {"username": "alice", "groups": ["dev"], "extra": {"a": ["b"]}},
                    "object": object, "oldObject": object, "dryRun": op == "UPDATE",
                    "subResource": if op == "UPDATE" { json!("status") } else { json!(null) },
                    "options": {"kind": "CreateOptions"}
                })));
            }
            reviews.push(review(
                json!({"uid": "u", "operation": "CREATE", "object": object}),
            ));
        }
        // Malformed reviews: the same error from both.
        reviews.extend([
            json!([]),
            json!("review"),
            json!({"kind": "AdmissionReview"}),
            json!({"apiVersion": ["admission.k8s.io/v1"], "request": {}}),
            json!({"apiVersion": "admission.k8s.io/v1", "kind": {"k": 1}, "request": {}}),
            review(json!([1, {"a": 2}])),
            review(json!({"uid": {"id": 5}, "operation": "CREATE"})),
            review(json!({"uid": "u", "operation": ["CREATE"]})),
            review(json!({"uid": "u", "operation": "CREATE", "kind": "Pod", "object": {}})),
            review(json!({"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "object": [1]})),
            review(json!({"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "object": {}, "dryRun": {"x": 1}})),
            review(json!({"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "object": {}, "userInfo": "me"})),
        ]);
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/admission");
        let mut bodies: Vec<Vec<u8>> = reviews.iter().map(|r| r.to_string().into_bytes()).collect();
        for f in std::fs::read_dir(&fixtures).expect("fixtures") {
            bodies.push(std::fs::read(f.expect("fixture").path()).expect("fixture"));
        }
        // Not JSON, trailing bytes, bad UTF-8: errors from both.
        for bad in [&b"{"[..], b"{} x", b"{\"a\": \"\xff\"}", b"", b"nul"] {
            assert!(read(bad).is_err() && serde_json::from_slice::<Value>(bad).is_err());
        }
        for body in bodies {
            let whole: Value = serde_json::from_slice(&body).expect("JSON");
            let kept = read(&body).expect("read");
            assert_eq!(
                decision_inputs(&kept),
                decision_inputs(&whole),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}
