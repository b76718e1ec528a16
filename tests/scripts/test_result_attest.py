#!/usr/bin/env python3
"""Produce a DSSE-signed in-toto Statement v1 carrying a test result, as a CI job would after
smoke-testing a deployment, independently of Tollgate: the statement and the
`https://in-toto.io/attestation/test-result/v0.1` predicate are built with
`in-toto-attestation` (protobuf bindings), the envelope is signed and checked with
`in-toto`/`securesystemslib` (DSSE, PAE, ECDSA P-256 SHA-256).

Usage: test_result_attest.py OUTDIR --subject sha256:<hex> --key KEY.pem
                             [--result PASSED|WARNED|FAILED] [--passed NAME,…] [--failed NAME,…]
                             [--url URL] [--environment ENV] [--metrics JSON]

* `--environment`: added to the predicate as `environment` (Tollgate checks it against the
  environment the result is posted for).
* `--metrics`: a JSON object of measurements added to the predicate as `metrics` (success
  criteria: error rate, latency, transactions).

Writes OUTDIR/envelope.json and prints one JSON object on the last line of stdout: the
envelope (parsed), its path and the predicate type.
"""
import argparse
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from google.protobuf import json_format
from in_toto.models.metadata import Envelope
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement
from securesystemslib.signer import CryptoSigner

TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
INTOTO = "application/vnd.in-toto+json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--subject", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--result", default="PASSED", choices=["PASSED", "WARNED", "FAILED"])
    ap.add_argument("--passed", default="smoke/health,smoke/login")
    ap.add_argument("--failed", default="")
    ap.add_argument("--url", default="https://ci.tollgate.example/jobs/smoke/1")
    ap.add_argument("--environment")
    ap.add_argument("--metrics")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)

    hex_ = a.subject.split(":", 1)[1]
    pred = test_result_pb2.TestResult(
        result=a.result,
        url=a.url,
        passed_tests=[t for t in a.passed.split(",") if t],
        failed_tests=[t for t in a.failed.split(",") if t],
    )
    pred.configuration.append(ResourceDescriptor(
        name="smoke-suite", uri="https://git.tollgate.example/e2e/smoke.yaml",
        digest={"sha256": "0" * 64}).pb)
    predicate = json_format.MessageToDict(pred)
    if a.environment:
        predicate["environment"] = a.environment
    if a.metrics:
        predicate["metrics"] = json.loads(a.metrics)
    st = Statement([ResourceDescriptor(name="tollgate-e2e/artifact",
                                       digest={"sha256": hex_}).pb], TEST_RESULT, predicate)
    st.validate()
    payload = json_format.MessageToJson(st.pb, indent=None).encode()

    with open(a.key, "rb") as f:
        signer = CryptoSigner(serialization.load_pem_private_key(f.read(), None))
    env = Envelope(payload=payload, payload_type=INTOTO, signatures={})
    env.sign(signer)
    env.verify([signer.public_key], 1)  # our own check: raises unless it verifies
    env_dict = env.to_dict()
    path = os.path.join(a.outdir, "envelope.json")
    with open(path, "w") as f:
        json.dump(env_dict, f)
    print(json.dumps({"envelope": env_dict, "envelope_path": path,
                      "predicate_type": TEST_RESULT}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
