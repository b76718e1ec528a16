#!/usr/bin/env python3
"""Push an image and then its SBOM through Tollgate with python `oras` (oras-py 0.2.43), the way
a build pipeline would.

Usage: oras_sbom.py HOST:PORT REPO TAG SBOM_FILE SBOM_MEDIA_TYPE
Environment: TOLLGATE_TOKEN (used as the HTTP Basic password, user "ci").

1. `oras push` of an OCI image: a gzip layer and an image config, tagged REPO:TAG.
2. `oras push` of the SBOM file as an OCI 1.1 referrer whose `subject` is that image (oras-py's
   push() takes a Subject), tagged REPO:TAG-sbom.
Prints one JSON object on the last line: the image digest and the SBOM manifest's status and
digest. Exits non-zero when a step fails.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile

import oras.client
import oras.oci

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def layer_bytes(name: str) -> bytes:
    """A one-file tar.gz naming the image, with fixed timestamps: one digest per image name."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = f"#!/bin/sh\necho hello from {name}\n".encode()
        info = tarfile.TarInfo("app/hello.sh")
        info.size = len(data)
        info.mode = 0o755
        info.mtime = 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def main() -> int:
    host, repo, tag, sbom_file, sbom_type = sys.argv[1:6]
    token = os.environ["TOLLGATE_TOKEN"]
    c = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    c.auth.set_basic_auth("ci", token)

    wd = tempfile.mkdtemp()
    os.chdir(wd)
    layer = layer_bytes(f"{repo}:{tag}")
    with open("layer.tar.gz", "wb") as f:
        f.write(layer)
    diff_id = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/app/hello.sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    with open("config.json", "w") as f:
        json.dump(config, f)
    result = {}

    r = c.push(
        target=f"{host}/{repo}:{tag}",
        files=["layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"],
        manifest_config="config.json:application/vnd.oci.image.config.v1+json",
    )
    assert r.status_code == 201, f"image push: {r.status_code} {r.text}"
    image_digest = r.headers["Docker-Content-Digest"]
    result["image_digest"] = image_digest

    # The subject descriptor comes from the manifest as the registry holds it.
    got = c.do_request(
        f"http://{host}/v2/{repo}/manifests/{image_digest}",
        "GET",
        headers={"Accept": MANIFEST},
    )
    assert got.status_code == 200, f"GET image manifest: {got.status_code}"
    subject = oras.oci.Subject(mediaType=MANIFEST, digest=image_digest, size=len(got.content))

    name = os.path.basename(sbom_file)
    shutil.copy(sbom_file, name)
    r = c.push(
        target=f"{host}/{repo}:{tag}-sbom",
        files=[f"{name}:{sbom_type}"],
        subject=subject,
    )
    result["sbom_status"] = r.status_code
    result["sbom_manifest_digest"] = r.headers.get("Docker-Content-Digest")
    result["oci_subject"] = r.headers.get("OCI-Subject")
    if r.status_code != 201:
        result["sbom_error"] = r.text
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
