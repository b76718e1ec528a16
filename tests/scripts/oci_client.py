"""A tiny OCI Distribution client for the evidence helper scripts (imported, not run).

Every request carries HTTP Basic credentials: user `TOLLGATE_USER` (default "ci") and the
token in `TOLLGATE_TOKEN` as the password. Proxies from the environment are ignored: the
registry is always on loopback.
"""
import base64
import hashlib
import json
import os

import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
MANIFEST_ACCEPT = ", ".join([
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, annotations=None) -> dict:
    d = {"mediaType": media_type, "digest": sha256_digest(data), "size": len(data)}
    if annotations:
        d["annotations"] = annotations
    return d


def cosign_config(layer_payloads) -> bytes:
    """The image config cosign writes for a signature image: one diff_id per layer."""
    return json.dumps({
        "architecture": "", "os": "", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(p) for p in layer_payloads]},
    }, separators=(",", ":")).encode()


class Registry:
    """One repository on one registry, with Basic auth."""

    def __init__(self, host: str, repo: str):
        self.host = host
        self.repo = repo
        self.base = f"http://{host}/v2/{repo}"
        token = os.environ.get("TOLLGATE_TOKEN", "")
        user = os.environ.get("TOLLGATE_USER", "ci")
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies for loopback
        self.session.headers["Authorization"] = "Basic " + base64.b64encode(
            f"{user}:{token}".encode()).decode()

    def _abs(self, location: str) -> str:
        return location if location.startswith("http") else f"http://{self.host}{location}"

    def put_blob(self, data: bytes) -> str:
        """Monolithic upload (POST, then PUT ?digest=); raises unless 201."""
        digest = sha256_digest(data)
        r = self.session.post(f"{self.base}/blobs/uploads/", timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"POST upload in {self.repo}: {r.status_code} {r.text}")
        loc = self._abs(r.headers["Location"])
        r = self.session.put(loc + ("&" if "?" in loc else "?") + "digest=" + digest, data=data,
                             headers={"Content-Type": "application/octet-stream"}, timeout=60)
        if r.status_code != 201:
            raise RuntimeError(f"PUT blob {digest} in {self.repo}: {r.status_code} {r.text}")
        return digest

    def put_manifest(self, reference: str, manifest: bytes, media_type: str = OCI_MANIFEST):
        """PUT the exact manifest bytes; returns the response whatever its status."""
        return self.session.put(f"{self.base}/manifests/{reference}", data=manifest,
                                headers={"Content-Type": media_type}, timeout=60)

    def manifest_descriptor(self, reference: str) -> dict:
        """The descriptor of a stored manifest (for a `subject`), read back with a GET."""
        r = self.session.get(f"{self.base}/manifests/{reference}",
                             headers={"Accept": MANIFEST_ACCEPT}, timeout=60)
        if r.status_code != 200:
            raise RuntimeError(f"GET manifest {reference} in {self.repo}: {r.status_code} {r.text}")
        media_type = r.headers.get("Content-Type", OCI_MANIFEST).split(";")[0].strip()
        return {"mediaType": media_type, "digest": sha256_digest(r.content), "size": len(r.content)}


def push_result(resp, manifest: bytes, reference: str) -> dict:
    """What the Rust tests read about a manifest push."""
    return {
        "reference": reference,
        "status": resp.status_code,
        "body": resp.text,
        "manifest_digest": sha256_digest(manifest),
        "docker_content_digest": resp.headers.get("Docker-Content-Digest"),
        "oci_subject": resp.headers.get("OCI-Subject"),
    }
