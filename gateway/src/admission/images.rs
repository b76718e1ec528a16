//! Where the images of a Kubernetes object are: every container, init container, ephemeral
//! container and image volume of its pod spec, each with the JSON pointer of its string (the
//! mutating webhook patches exactly there).

use serde_json::Value;

/// One image string found in an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// JSON pointer of the string inside the object (`/spec/template/spec/containers/0/image`).
    pub pointer: String,
    /// What the runtime would run: `container app`, `initContainer setup`, `volume models`.
    pub place: String,
    /// The string as written, or why it is not one.
    pub image: Result<String, String>,
}

/// Where a kind keeps its pod spec, for the kinds Kubernetes itself defines.
fn pod_spec_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    const POD: &[&str] = &["spec"];
    const TEMPLATE: &[&str] = &["spec", "template", "spec"];
    const CRONJOB: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec"];
    const POD_TEMPLATE: &[&str] = &["template", "spec"];
    const ROOT: &[&str] = &[];
    Some(match (group, kind) {
        ("", "Pod") => POD,
        ("", "ReplicationController") => TEMPLATE,
        ("", "PodTemplate") => POD_TEMPLATE,
        // Before 1.22 an ephemeral-containers update carried only this list.
        ("", "EphemeralContainers") => ROOT,
        ("apps" | "extensions", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            TEMPLATE
        }
        ("batch", "Job") => TEMPLATE,
        ("batch", "CronJob") => CRONJOB,
        _ => return None,
    })
}

/// Where a custom resource that embeds a pod template (Argo Rollouts, OpenKruise, …)
/// usually keeps it; any of these that holds containers is checked.
const DUCK_PATHS: &[&[&str]] = &[
    &["spec"],
    &["spec", "template", "spec"],
    &["spec", "jobTemplate", "spec", "template", "spec"],
];

const LISTS: &[(&str, &str)] = &[
    ("containers", "container"),
    ("initContainers", "initContainer"),
    ("ephemeralContainers", "ephemeralContainer"),
];

/// Every image of `object`, whose kind is `group`/`kind`. `Err` when a kind Kubernetes
/// defines lacks its pod spec or holds one of the wrong shape (the API server would never
/// send that: the request is malformed). Objects without a pod spec hold no images.
pub fn images(group: &str, kind: &str, object: &Value) -> Result<Vec<Found>, String> {
    let mut out = Vec::new();
    match pod_spec_path(group, kind) {
        Some(path) => {
            let spec = walk(object, path).ok_or_else(|| {
                format!(
                    "the {kind} object has no {}",
                    if path.is_empty() {
                        "body".to_string()
                    } else {
                        path.join(".")
                    }
                )
            })?;
            pod_spec(spec, &pointer_of(path), &mut out)?;
        }
        None => {
            for path in DUCK_PATHS {
                if let Some(spec) = walk(object, path)
                    && LISTS
                        .iter()
                        .any(|(l, _)| spec.get(*l).is_some_and(Value::is_array))
                {
                    pod_spec(spec, &pointer_of(path), &mut out)?;
                }
            }
        }
    }
    Ok(out)
}

fn walk<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.is_object().then_some(cur)
}

fn pointer_of(path: &[&str]) -> String {
    path.iter().map(|k| format!("/{k}")).collect()
}

fn pod_spec(spec: &Value, base: &str, out: &mut Vec<Found>) -> Result<(), String> {
    let at = |s: &str| {
        let p = format!("{base}/{s}");
        p.trim_start_matches('/').replace('/', ".")
    };
    for (list, what) in LISTS {
        let items = match spec.get(*list) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => return Err(format!("{} is not a list", at(list))),
        };
        for (i, c) in items.iter().enumerate() {
            if !c.is_object() {
                return Err(format!("{}[{i}] is not an object", at(list)));
            }
            let name = c.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
            let image = match c.get("image") {
                // Templates may leave the image to be filled in later; a pod cannot.
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) if s.is_empty() => continue,
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("image is {other}, not a string")),
            };
            out.push(Found {
                pointer: format!("{base}/{list}/{i}/image"),
                place: format!("{what} {name}"),
                image,
            });
        }
    }
    match spec.get("volumes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(vols)) => {
            for (i, v) in vols.iter().enumerate() {
                let Some(img) = v.get("image").filter(|i| !i.is_null()) else {
                    continue;
                };
                let name = v.get("name").and_then(Value::as_str).unwrap_or("(unnamed)");
                let image = match img.get("reference") {
                    None | Some(Value::Null) => continue,
                    Some(Value::String(s)) if s.is_empty() => continue,
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(format!("image reference is {other}, not a string")),
                };
                out.push(Found {
                    pointer: format!("{base}/volumes/{i}/image/reference"),
                    place: format!("volume {name}"),
                    image,
                });
            }
        }
        Some(_) => return Err(format!("{} is not a list", at("volumes"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod_spec_json() -> Value {
        json!({
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [
                {"name": "app", "image": "tollgate.example.com/prod/app:1.0.0"},
                {"name": "side", "image": "localhost:5000/side@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff"}
            ],
            "ephemeralContainers": [{"name": "debugger", "image": "nicolaka/netshoot"}],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "models", "image": {"reference": "tollgate.example.com/prod/models:2", "pullPolicy": "IfNotPresent"}}
            ]
        })
    }

    fn found(group: &str, kind: &str, obj: &Value) -> Vec<(String, String, String)> {
        images(group, kind, obj)
            .unwrap()
            .into_iter()
            .map(|f| (f.pointer, f.place, f.image.unwrap()))
            .collect()
    }

    fn expect(base: &str) -> Vec<(String, String, String)> {
        let e = |p: &str, place: &str, img: &str| {
            (format!("{base}{p}"), place.to_string(), img.to_string())
        };
        vec![
            e(
                "/containers/0/image",
                "container app",
                "tollgate.example.com/prod/app:1.0.0",
            ),
            e(
                "/containers/1/image",
                "container side",
                "localhost:5000/side@sha256:91ac9b26df583762234c1cdb2fc930364754ccc59bc752a2bfe298d2ea68f9ff",
            ),
            e(
                "/initContainers/0/image",
                "initContainer init",
                "busybox:1.36",
            ),
            e(
                "/ephemeralContainers/0/image",
                "ephemeralContainer debugger",
                "nicolaka/netshoot",
            ),
            e(
                "/volumes/1/image/reference",
                "volume models",
                "tollgate.example.com/prod/models:2",
            ),
        ]
    }

    #[test]
    fn every_workload_kind() {
        let spec = pod_spec_json();
        let pod = json!({"kind": "Pod", "spec": spec});
        assert_eq!(found("", "Pod", &pod), expect("/spec"));
        let templated =
            json!({"spec": {"replicas": 2, "template": {"metadata": {}, "spec": spec}}});
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("extensions", "Deployment"),
            ("batch", "Job"),
            ("", "ReplicationController"),
        ] {
            assert_eq!(
                found(g, k, &templated),
                expect("/spec/template/spec"),
                "{g}/{k}"
            );
        }
        // batch/v1 and batch/v1beta1 CronJobs have the same shape.
        let cron = json!({"apiVersion": "batch/v1beta1", "kind": "CronJob",
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": spec}}}}});
        assert_eq!(
            found("batch", "CronJob", &cron),
            expect("/spec/jobTemplate/spec/template/spec")
        );
        let pt = json!({"template": {"spec": spec}});
        assert_eq!(found("", "PodTemplate", &pt), expect("/template/spec"));
        let eph = json!({"ephemeralContainers": [{"name": "dbg", "image": "busybox"}]});
        assert_eq!(
            found("", "EphemeralContainers", &eph),
            vec![(
                "/ephemeralContainers/0/image".into(),
                "ephemeralContainer dbg".into(),
                "busybox".into()
            )]
        );
    }

    #[test]
    fn objects_without_images() {
        let role = json!({"kind": "Role", "rules": [{"verbs": ["get"], "resources": ["pods"]}]});
        assert!(
            images("rbac.authorization.k8s.io", "Role", &role)
                .unwrap()
                .is_empty()
        );
        let cm = json!({"kind": "ConfigMap", "data": {"image": "nginx"}});
        assert!(images("", "ConfigMap", &cm).unwrap().is_empty());
        // A template with the image left out (filled in by a later controller).
        let dep = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}]}}}});
        assert!(images("apps", "Deployment", &dep).unwrap().is_empty());
    }

    #[test]
    fn custom_resources_with_pod_templates_are_checked() {
        let rollout = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx"}]}}}});
        assert_eq!(
            found("argoproj.io", "Rollout", &rollout),
            vec![(
                "/spec/template/spec/containers/0/image".into(),
                "container a".into(),
                "nginx".into()
            )]
        );
        // Same kind name in another group: not the batch Job, but duck-typed all the same.
        let job = json!({"spec": {"containers": [{"name": "x", "image": "busybox"}]}});
        assert_eq!(found("example.com", "Job", &job).len(), 1);
    }

    #[test]
    fn malformed_objects_are_errors_not_empty() {
        let e = images("apps", "Deployment", &json!({"spec": {}})).unwrap_err();
        assert!(e.contains("spec.template.spec"), "{e}");
        let e = images("", "Pod", &json!({"spec": {"containers": "nginx"}})).unwrap_err();
        assert!(e.contains("spec.containers is not a list"), "{e}");
        let e = images("", "Pod", &json!({"spec": {"containers": ["nginx"]}})).unwrap_err();
        assert!(e.contains("spec.containers[0]"), "{e}");
        let e = images("", "Pod", &json!({})).unwrap_err();
        assert!(e.contains("no spec"), "{e}");
        // A non-string image is found, as an invalid one (denied, never skipped).
        let f = images(
            "",
            "Pod",
            &json!({"spec": {"containers": [{"name": "a", "image": 7}]}}),
        )
        .unwrap();
        assert!(f[0].image.is_err());
    }
}
