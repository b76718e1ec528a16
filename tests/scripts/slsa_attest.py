#!/usr/bin/env python3
"""Produce a DSSE-signed in-toto Statement v1 carrying SLSA Provenance v1, independently of
Tollgate: the statement and predicate are built with `in-toto-attestation` (protobuf
bindings), the envelope is signed and checked with `in-toto`/`securesystemslib` (DSSE, PAE,
ECDSA P-256 SHA-256). Optionally push it through the registry API.

Usage: slsa_attest.py OUTDIR --subject sha256:<hex>|FILE [--statement-subject sha256:<hex>]
                      [--builder-id URI] [--key KEY.pem] [--tamper]
                      [--push-att HOST:PORT REPO | --push-referrer HOST:PORT REPO]
Environment (when pushing): TOLLGATE_TOKEN (HTTP Basic password), TOLLGATE_USER (default "ci").

* `--subject`: the artifact the evidence is for: a digest, or a file whose sha256 is taken.
  The statement names it, unless `--statement-subject` names another digest instead.
* Builder id defaults to https://tollgate.example/builders/local@v1; the source repository,
  commit and invocation id are fresh random values for every run (printed, so a test can
  compare what the verifier recorded with what was produced).
* `--key`: an unencrypted PKCS#8 ECDSA P-256 PEM (cosign_keygen.py); without it a key is
  generated and written to OUTDIR/key.pem. Its public key is always written to
  OUTDIR/key.pub (SubjectPublicKeyInfo PEM).
* `--tamper`: after signing, the payload is replaced by an edited statement (another
  invocation id) under the same signature: a forged envelope.
* `--push-att`: pushes the envelope the way `cosign attest` does: tag sha256-<subject>.att,
  one layer application/vnd.dsse.envelope.v1+json with annotations predicateType and an
  empty dev.cosignproject.cosign/signature.
* `--push-referrer`: pushes an OCI 1.1 referrer by digest: artifactType
  application/vnd.in-toto+json, empty config, the envelope as a layer of mediaType
  application/vnd.dsse.envelope.v1+json, and `subject` = the subject manifest's descriptor
  (read back from the registry, so the subject must be there).

Writes OUTDIR/envelope.json and OUTDIR/statement.json; prints one JSON object on the last
line of stdout (the provenance fields produced, paths, and the push's status and body). A
push that the registry refuses is reported there, not as a failing exit status.
"""
import argparse
import hashlib
import json
import os
import secrets
import sys

from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from in_toto.models.metadata import Envelope  # in-toto 3.x DSSE envelope
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2 as prov
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.signer import CryptoSigner

from oci_client import (OCI_CONFIG, OCI_EMPTY, OCI_MANIFEST, Registry, cosign_config,
                        descriptor, push_result, sha256_digest)

SLSA_V1 = "https://slsa.dev/provenance/v1"
INTOTO = "application/vnd.in-toto+json"
DSSE = "application/vnd.dsse.envelope.v1+json"


def hex_of(subject: str) -> str:
    if subject.startswith("sha256:"):
        return subject.split(":", 1)[1]
    with open(subject, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def statement_payload(subject_hex: str, name: str, facts: dict) -> bytes:
    subj = ResourceDescriptor(name=name, digest={"sha256": subject_hex}).pb
    p = prov.Provenance()
    bd = p.build_definition
    bd.build_type = facts["build_type"]
    bd.external_parameters.update({"repository": facts["repository"], "ref": facts["source_ref"]})
    bd.internal_parameters.update({"runner": "tollgate-e2e"})
    bd.resolved_dependencies.append(ResourceDescriptor(
        uri=f"{facts['source_uri']}@{facts['source_ref']}",
        digest={"gitCommit": facts["source_commit"]}).pb)
    rd = p.run_details
    rd.builder.id = facts["builder_id"]
    rd.metadata.invocation_id = facts["invocation_id"]
    rd.metadata.started_on.FromJsonString(facts["started_on"])
    rd.metadata.finished_on.FromJsonString(facts["finished_on"])
    st = Statement([subj], SLSA_V1, json_format.MessageToDict(p))  # camelCase, as SLSA v1
    st.validate()
    return json_format.MessageToJson(st.pb, indent=None).encode()


def load_signer(key_path):
    if key_path is None:
        return CryptoSigner.generate_ecdsa()
    with open(key_path, "rb") as f:
        return CryptoSigner(serialization.load_pem_private_key(f.read(), None))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--subject", required=True)
    ap.add_argument("--statement-subject")
    ap.add_argument("--builder-id", default="https://tollgate.example/builders/local@v1")
    ap.add_argument("--key")
    ap.add_argument("--tamper", action="store_true")
    ap.add_argument("--push-att", nargs=2, metavar=("HOST", "REPO"))
    ap.add_argument("--push-referrer", nargs=2, metavar=("HOST", "REPO"))
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)

    subject_hex = hex_of(a.subject)
    named_hex = hex_of(a.statement_subject) if a.statement_subject else subject_hex
    run = secrets.token_hex(6)
    facts = {
        "builder_id": a.builder_id,
        "build_type": "https://tollgate.example/buildtypes/e2e@v1",
        "repository": f"https://git.tollgate.example/e2e/app-{run}.git",
        "source_uri": f"git+https://git.tollgate.example/e2e/app-{run}.git",
        "source_ref": "refs/heads/main",
        "source_commit": secrets.token_hex(20),
        "invocation_id": f"tollgate-e2e-run-{run}",
        "started_on": "2026-01-01T00:00:00Z",
        "finished_on": "2026-01-01T00:01:00Z",
    }
    payload = statement_payload(named_hex, "tollgate-e2e/artifact", facts)

    signer = load_signer(a.key)
    env = Envelope(payload=payload, payload_type=INTOTO, signatures={})
    env.sign(signer)
    env.verify([signer.public_key], 1)  # our own check: raises unless it verifies
    env_dict = env.to_dict()
    if a.tamper:
        forged = json.loads(payload)
        forged["predicate"]["runDetails"]["metadata"]["invocationId"] += "-forged"
        env_dict["payload"] = Envelope(payload=json.dumps(forged).encode(), payload_type=INTOTO,
                                       signatures={}).to_dict()["payload"]
    envelope = json.dumps(env_dict).encode()

    with open(os.path.join(a.outdir, "envelope.json"), "wb") as f:
        f.write(envelope)
    with open(os.path.join(a.outdir, "statement.json"), "wb") as f:
        f.write(payload)
    pub_path = os.path.join(a.outdir, "key.pub")
    # CryptoSigner keeps the cryptography key; its public half as SubjectPublicKeyInfo PEM
    with open(pub_path, "wb") as f:
        f.write(signer._private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    if a.key is None:
        with open(os.path.join(a.outdir, "key.pem"), "wb") as f:
            f.write(signer.private_bytes)

    result = dict(facts)
    result.update({
        "subject": "sha256:" + subject_hex,
        "statement_subject": "sha256:" + named_hex,
        "predicate_type": SLSA_V1,
        "envelope_path": os.path.join(a.outdir, "envelope.json"),
        "envelope_digest": sha256_digest(envelope),
        "public_key_path": pub_path,
        "keyid": signer.public_key.keyid,
    })

    if a.push_att:
        reg = Registry(*a.push_att)
        reg.put_blob(envelope)
        config = cosign_config([envelope])
        reg.put_blob(config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, config),
            "layers": [descriptor(DSSE, envelope, {
                "dev.cosignproject.cosign/signature": "",
                "predicateType": SLSA_V1,
            })],
        }, separators=(",", ":")).encode()
        tag = f"sha256-{subject_hex}.att"
        result["push"] = push_result(reg.put_manifest(tag, manifest), manifest, tag)
    elif a.push_referrer:
        reg = Registry(*a.push_referrer)
        subject_desc = reg.manifest_descriptor("sha256:" + subject_hex)
        reg.put_blob(envelope)
        reg.put_blob(b"{}")
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": INTOTO,
            "config": descriptor(OCI_EMPTY, b"{}"),
            "layers": [descriptor(DSSE, envelope, {"in-toto.io/predicate-type": SLSA_V1})],
            "subject": subject_desc,
            "annotations": {"org.opencontainers.image.created": "2026-01-01T00:01:00Z"},
        }, separators=(",", ":")).encode()
        ref = sha256_digest(manifest)
        result["push"] = push_result(reg.put_manifest(ref, manifest), manifest, ref)

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
