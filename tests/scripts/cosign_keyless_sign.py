#!/usr/bin/env python3
"""Sign an image digest KEYLESSLY the way `cosign sign` (cosign v1/v2, legacy tag layout, no
--key) does, against the loopback mock Sigstore (tests/sigstore-mock/server.js), independently
of Tollgate, and push the signature image through the registry API.

Usage: cosign_keyless_sign.py HOST:PORT REPO --digest sha256:<hex> --sigstore http://127.0.0.1:P
                              [--tag-digest sha256:<hex>] [--tamper-bundle] [--drop-bundle]
                              [--out DIR] [--no-push]
Environment: TOLLGATE_TOKEN (HTTP Basic password), TOLLGATE_USER (default "ci").

Steps, as cosign takes them:
1. an OIDC identity token from the mock's `/oidc/token?audience=sigstore` (`{"value": JWT}`);
2. an ephemeral ECDSA P-256 key and a CSR for it, POSTed to Fulcio `/api/v2/signingCert`
   (`{"credentials":{"oidcIdentityToken":..},"certificateSigningRequest":"<PEM>"}`); the answer's
   `signedCertificateEmbeddedSct.chain.certificates` (or `signedCertificateDetachedSct`) is the
   leaf followed by the rest of the chain;
3. the simple-signing payload naming `--digest` (docker-manifest-digest) and HOST:PORT/REPO
   (docker-reference), signed with the ephemeral key (ECDSA-P256-SHA256, DER, base64);
4. a `hashedrekord` 0.0.1 entry (sha256 of the payload, the signature, base64 of the leaf
   certificate PEM) POSTed to Rekor `/api/v1/log/entries`; the answer becomes cosign's offline
   bundle `{"SignedEntryTimestamp":..,"Payload":{"body","integratedTime","logIndex","logID"}}`;
5. the signature image (cosign's config, one application/vnd.dev.cosign.simplesigning.v1+json
   layer with the `dev.cosignproject.cosign/signature`, `dev.sigstore.cosign/certificate`,
   `dev.sigstore.cosign/chain` and `dev.sigstore.cosign/bundle` annotations) pushed to tag
   sha256-<hex>.sig, where <hex> is `--tag-digest` if given (a replay under another image's
   tag), else `--digest`.

Negatives: `--tamper-bundle` adds one second to the bundle's integratedTime after Rekor signed
it (its SET no longer verifies); `--drop-bundle` leaves the bundle annotation out.
`--out DIR` also writes payload.json, signature.b64, cert.pem, chain.pem and bundle.json (the
offline bundle as annotated) there, for `tollgate verify`. `--no-push` stops before the push.

Never fails on the manifest PUT's status: prints one JSON object on the last line of stdout
(status, body, manifest digest, payload, signature, certificate, bundle, log entry) for the Rust
test to judge. Exits non-zero only when something before that PUT fails.
"""
import argparse
import base64
import hashlib
import json
import os
import sys

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from oci_client import (OCI_CONFIG, OCI_MANIFEST, Registry, cosign_config, descriptor,
                        push_result, sha256_digest)

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"


def simple_signing_payload(reference: str, digest: str) -> bytes:
    # cosign's own serialisation (Go encoding/json): compact, keys in struct order
    return json.dumps({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }, separators=(",", ":")).encode()


def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # no proxies for loopback
    return s


def fail(what: str, r: requests.Response):
    raise SystemExit(f"{what}: {r.request.method} {r.url} -> {r.status_code}\n{r.text}")


def oidc_token(http: requests.Session, sigstore: str) -> str:
    r = http.get(f"{sigstore}/oidc/token", params={"audience": "sigstore"}, timeout=30)
    if r.status_code != 200:
        fail("OIDC token", r)
    return r.json()["value"]


def jwt_claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def split_pem(text: str) -> list:
    """PEM certificates in `text`, re-encoded canonically (64-character lines), as cosign's
    Go `pem.Encode` writes them."""
    return [c.public_bytes(serialization.Encoding.PEM).decode()
            for c in x509.load_pem_x509_certificates(text.encode())]


def fulcio_certificate(http: requests.Session, sigstore: str, token: str,
                       key: ec.EllipticCurvePrivateKey) -> list:
    """The chain Fulcio issues for `key` (leaf first), as PEM strings."""
    email = jwt_claims(token).get("email") or jwt_claims(token).get("sub")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, email)]))
           .sign(key, hashes.SHA256()))
    body = {
        "credentials": {"oidcIdentityToken": token},
        "certificateSigningRequest": csr.public_bytes(serialization.Encoding.PEM).decode(),
    }
    r = http.post(f"{sigstore}/api/v2/signingCert", json=body, timeout=60)
    if r.status_code not in (200, 201):
        fail("Fulcio signingCert", r)
    answer = r.json()
    signed = answer.get("signedCertificateEmbeddedSct") or answer.get("signedCertificateDetachedSct")
    if not signed:
        raise SystemExit(f"Fulcio answered no certificate: {answer}")
    chain = [pem for c in signed["chain"]["certificates"] for pem in split_pem(c)]
    if not chain:
        raise SystemExit(f"Fulcio answered an empty chain: {answer}")
    # the leaf must certify our key, or nothing downstream means anything
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (leaf.public_key().public_bytes(serialization.Encoding.DER, spki)
            != key.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise SystemExit("Fulcio's leaf certificate is for another key")
    return chain


def sign(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    key.public_key().verify(sig, payload, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(sig).decode()


def rekor_entry(http: requests.Session, sigstore: str, payload: bytes, signature: str,
                leaf_pem: str) -> dict:
    """Logs a hashedrekord entry; returns cosign's offline bundle for it."""
    proposed = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256",
                              "value": hashlib.sha256(payload).hexdigest()}},
            "signature": {
                "content": signature,
                "publicKey": {"content": base64.b64encode(leaf_pem.encode()).decode()},
            },
        },
    }
    r = http.post(f"{sigstore}/api/v1/log/entries", json=proposed, timeout=60)
    if r.status_code != 201:
        fail("Rekor log entry", r)
    answer = r.json()
    if len(answer) != 1:
        raise SystemExit(f"Rekor answered {len(answer)} entries: {answer}")
    (uuid, e), = answer.items()
    return {
        "uuid": uuid,
        "bundle": {
            "SignedEntryTimestamp": e["verification"]["signedEntryTimestamp"],
            "Payload": {
                "body": e["body"],
                "integratedTime": e["integratedTime"],
                "logIndex": e["logIndex"],
                "logID": e["logID"],
            },
        },
    }


def write_files(out: str, files: dict) -> dict:
    os.makedirs(out, exist_ok=True)
    paths = {}
    for name, text in files.items():
        if text is None:
            continue
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        paths[name] = path
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("repo")
    ap.add_argument("--digest", required=True, help="the image digest the payload names")
    ap.add_argument("--sigstore", required=True,
                    help="base URL of the mock (Fulcio, Rekor and OIDC alike)")
    ap.add_argument("--tag-digest", help="push under sha256-<this>.sig instead")
    ap.add_argument("--tamper-bundle", action="store_true",
                    help="integratedTime + 1 in the bundle, after Rekor signed it")
    ap.add_argument("--drop-bundle", action="store_true",
                    help="no dev.sigstore.cosign/bundle annotation")
    ap.add_argument("--out", help="also write the pieces there, for `tollgate verify`")
    ap.add_argument("--no-push", action="store_true", help="stop before pushing")
    a = ap.parse_args()
    sigstore = a.sigstore.rstrip("/")

    http = session()
    token = oidc_token(http, sigstore)
    key = ec.generate_private_key(ec.SECP256R1())
    chain = fulcio_certificate(http, sigstore, token, key)
    leaf, rest = chain[0], "".join(chain[1:])

    reference = f"{a.host}/{a.repo}"
    payload = simple_signing_payload(reference, a.digest)
    signature = sign(key, payload)
    logged = rekor_entry(http, sigstore, payload, signature, leaf)
    bundle = logged["bundle"]
    if a.tamper_bundle:
        bundle["Payload"]["integratedTime"] += 1
    # cosign's annotation: Go encoding/json of the struct, compact
    bundle_text = json.dumps(bundle, separators=(",", ":"))

    annotations = {SIGNATURE_ANNOTATION: signature, CERTIFICATE_ANNOTATION: leaf}
    if rest:
        annotations[CHAIN_ANNOTATION] = rest
    if not a.drop_bundle:
        annotations[BUNDLE_ANNOTATION] = bundle_text

    result = {
        "subject": a.digest,
        "payload": payload.decode(),
        "payload_digest": sha256_digest(payload),
        "signature": signature,
        "certificate": leaf,
        "chain": rest,
        "rekor_bundle": None if a.drop_bundle else bundle_text,
        "rekor_uuid": logged["uuid"],
        "log_index": bundle["Payload"]["logIndex"],
        "integrated_time": bundle["Payload"]["integratedTime"],
        "identity": jwt_claims(token).get("sub"),
        "issuer": jwt_claims(token).get("iss"),
    }
    if a.out:
        result["files"] = write_files(a.out, {
            "payload.json": payload,
            "signature.b64": signature + "\n",
            "cert.pem": leaf,
            "chain.pem": rest or None,
            "bundle.json": None if a.drop_bundle else bundle_text,
        })

    if not a.no_push:
        reg = Registry(a.host, a.repo)
        reg.put_blob(payload)
        config = cosign_config([payload])
        reg.put_blob(config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(SIMPLE_SIGNING, payload, annotations)],
        }, separators=(",", ":")).encode()
        tag = (a.tag_digest or a.digest).replace(":", "-") + ".sig"
        result["push"] = push_result(reg.put_manifest(tag, manifest), manifest, tag)

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
