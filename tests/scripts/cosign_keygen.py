#!/usr/bin/env python3
"""Generate an ECDSA P-256 signing key pair as cosign uses them, with python `cryptography`.

Usage: cosign_keygen.py OUTPREFIX
Writes OUTPREFIX.key.pem (unencrypted PKCS#8 private key, what cosign_sign.py and
slsa_attest.py sign with) and OUTPREFIX.pub (SubjectPublicKeyInfo PEM, the `cosign.pub` a
verifier is configured with). Prints one JSON object with both paths on the last line.

Adapted from shared/tools/cosign-keygen.py without its encrypted `cosign.key` output
(scrypt + nacl/secretbox): the gateway only ever sees public keys, and the tests sign
through these scripts, not through cosign.
"""
import json
import sys

from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    k = ec.generate_private_key(ec.SECP256R1())
    with open(out + ".key.pem", "wb") as f:
        f.write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    with open(out + ".pub", "wb") as f:
        f.write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
    print(json.dumps({"private": out + ".key.pem", "public": out + ".pub"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
