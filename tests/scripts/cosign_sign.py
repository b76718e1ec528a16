#!/usr/bin/env python3
"""Sign an image digest the way `cosign sign --key` (cosign v1/v2, legacy tag layout) does,
independently of Tollgate, and push the signature image through the registry API.

Usage: cosign_sign.py HOST:PORT REPO --digest sha256:<hex> --key KEY.pem [--key KEY2.pem ...]
                      [--tag-digest sha256:<hex>] [--annotation K=V ...] [--flip-payload-byte]
Environment: TOLLGATE_TOKEN (HTTP Basic password), TOLLGATE_USER (default "ci").

* The payload is cosign's simple-signing JSON naming `--digest` (docker-manifest-digest) and
  HOST:PORT/REPO (docker-reference); `--annotation`s go into `optional`.
* Each `--key` (an unencrypted PKCS#8 ECDSA P-256 PEM, see cosign_keygen.py) signs the payload
  bytes (ECDSA-P256-SHA256, DER, base64) and becomes one layer of mediaType
  application/vnd.dev.cosign.simplesigning.v1+json with the
  `dev.cosignproject.cosign/signature` annotation, as cosign appends one layer per signature.
* The signature image (cosign's config, the layers) goes to tag sha256-<hex>.sig, where <hex>
  is `--tag-digest` if given (to replay a signature under another image's tag), else `--digest`.
* `--flip-payload-byte` changes one byte of the payload (inside docker-reference) *after*
  signing, so the signature no longer matches the bytes.

Never fails on the manifest PUT's status: prints one JSON object on the last line of stdout
(status, body, manifest digest, payloads, signatures) for the Rust test to judge. Exits
non-zero only when something before that PUT fails.
"""
import argparse
import base64
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from oci_client import (OCI_CONFIG, OCI_MANIFEST, Registry, cosign_config, descriptor,
                        push_result, sha256_digest)

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"


def simple_signing_payload(reference: str, digest: str, optional) -> bytes:
    # cosign's own serialisation (Go encoding/json): compact, keys in struct order
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": optional,
    }, separators=(",", ":")).encode()


def sign(key_path: str, payload: bytes) -> str:
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{key_path}: not an ECDSA key")
    sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    # check our own work with the public half, so a failure is never the signer's
    key.public_key().verify(sig, payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def flip_one_byte(payload: bytes, reference: str) -> bytes:
    """Flips the lowest bit of the first letter of the repository in docker-reference: the
    JSON stays valid and still names the same image digest."""
    at = payload.index(reference.encode()) + reference.index("/") + 1
    out = bytearray(payload)
    out[at] ^= 0x01
    return bytes(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("repo")
    ap.add_argument("--digest", required=True, help="the image digest the payload names")
    ap.add_argument("--key", action="append", required=True,
                    help="PKCS#8 PEM private key; one layer per --key")
    ap.add_argument("--tag-digest", help="push under sha256-<this>.sig instead")
    ap.add_argument("--annotation", action="append", default=[], metavar="K=V")
    ap.add_argument("--flip-payload-byte", action="store_true")
    a = ap.parse_args()

    reference = f"{a.host}/{a.repo}"
    optional = dict(kv.split("=", 1) for kv in a.annotation) or None
    payload = simple_signing_payload(reference, a.digest, optional)
    signatures = [sign(k, payload) for k in a.key]
    if a.flip_payload_byte:
        payload = flip_one_byte(payload, reference)

    reg = Registry(a.host, a.repo)
    reg.put_blob(payload)
    config = cosign_config([payload] * len(signatures))
    reg.put_blob(config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, config),
        "layers": [descriptor(SIMPLE_SIGNING, payload, {SIGNATURE_ANNOTATION: s})
                   for s in signatures],
    }, separators=(",", ":")).encode()
    tag = (a.tag_digest or a.digest).replace(":", "-") + ".sig"
    resp = reg.put_manifest(tag, manifest)

    result = push_result(resp, manifest, tag)
    result.update({
        "subject": a.digest,
        "payload": payload.decode(),
        "payload_digest": sha256_digest(payload),
        "signatures": signatures,
    })
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
