#!/usr/bin/env python3
"""Push and pull OCI artifacts through Tollgate with python `oras` (oras-py 0.2.43).

Usage: oras_artifact.py HOST:PORT REPO SUBJECT_TAG
Environment: TOLLGATE_TOKEN (used as the HTTP Basic password, user "ci").

(a) a classic oras push (layer + config media types) to REPO:sbom-classic, pulled back;
(b) an OCI 1.1 artifact (artifactType + empty config + subject = REPO:SUBJECT_TAG) pushed with
    upload_blob / upload_manifest (oras-py's push() has no artifactType), pulled back.
Prints one JSON object on the last line of stdout for the Rust test to check; exits non-zero
when a step fails.
"""
import base64
import hashlib
import json
import os
import sys
import tempfile

import requests
import oras.client
import oras.oci

ARTIFACT_TYPE = "application/vnd.tollgate.sbom.v1"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def main() -> int:
    host, repo, subj_tag = sys.argv[1], sys.argv[2], sys.argv[3]
    token = os.environ["TOLLGATE_TOKEN"]
    base = f"http://{host}/v2/{repo}"
    auth_header = {
        "Authorization": "Basic " + base64.b64encode(f"ci:{token}".encode()).decode()
    }

    # Basic-auth backend: on a 401 challenge oras retries with the Basic credentials.
    c = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    c.auth.set_basic_auth("ci", token)

    wd = tempfile.mkdtemp()
    os.chdir(wd)
    sbom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}
    sbom_bytes = json.dumps(sbom).encode()
    with open("sbom.cdx.json", "wb") as f:
        f.write(sbom_bytes)

    result = {}

    # (a) classic push
    r = c.push(
        target=f"{host}/{repo}:sbom-classic",
        files=["sbom.cdx.json:application/vnd.cyclonedx+json"],
        manifest_config="/dev/null:application/vnd.tollgate.sbom.config.v1+json",
        manifest_annotations={"org.opencontainers.image.title": "classic"},
    )
    result["classic_status"] = r.status_code
    result["classic_digest"] = r.headers.get("Docker-Content-Digest")
    assert r.status_code == 201, f"classic push: {r.status_code} {r.text}"

    # (b) OCI 1.1 artifact with artifactType + subject
    sm = requests.get(
        f"{base}/manifests/{subj_tag}", headers={"Accept": MANIFEST, **auth_header}
    )
    assert sm.status_code == 200, f"GET subject manifest: {sm.status_code} {sm.text}"
    subj_digest = "sha256:" + hashlib.sha256(sm.content).hexdigest()
    assert sm.headers.get("Docker-Content-Digest") == subj_digest, sm.headers
    subj = {"mediaType": MANIFEST, "digest": subj_digest, "size": len(sm.content)}
    result["subject_digest"] = subj_digest

    cont = c.get_container(f"{host}/{repo}:sbom-v11")
    layer = oras.oci.NewLayer("sbom.cdx.json", media_type="application/vnd.cyclonedx+json")
    layer["annotations"] = {"org.opencontainers.image.title": "sbom.cdx.json"}
    r = c.upload_blob("sbom.cdx.json", cont, layer)
    assert r.status_code in (200, 201), f"layer upload: {r.status_code} {r.text}"
    with open("empty.json", "w") as f:
        f.write("{}")
    empty = {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "size": 2,
        "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
    }
    r = c.upload_blob("empty.json", cont, empty)
    assert r.status_code in (200, 201), f"empty config upload: {r.status_code} {r.text}"
    man = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": empty,
        "layers": [layer],
        "subject": subj,
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }
    r = c.upload_manifest(man, cont)
    result["artifact_status"] = r.status_code
    result["artifact_digest"] = r.headers.get("Docker-Content-Digest")
    result["oci_subject"] = r.headers.get("OCI-Subject")
    assert r.status_code == 201, f"artifact manifest push: {r.status_code} {r.text}"

    # pull both back
    for tag, key in (("sbom-classic", "pulled_classic"), ("sbom-v11", "pulled_v11")):
        pulled = c.pull(target=f"{host}/{repo}:{tag}", outdir=tempfile.mkdtemp())
        result[key] = [os.path.basename(p) for p in pulled]
        for p in pulled:
            with open(p, "rb") as f:
                assert f.read() == sbom_bytes, f"{tag} pull content differs: {p}"

    m = requests.get(
        f"{base}/manifests/sbom-v11", headers={"Accept": MANIFEST, **auth_header}
    ).json()
    result["stored_artifact_type"] = m.get("artifactType")
    result["stored_subject"] = (m.get("subject") or {}).get("digest")

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
