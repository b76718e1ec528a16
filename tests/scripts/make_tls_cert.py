#!/usr/bin/env python3
"""Make a self-signed TLS server certificate with python `cryptography`.

Usage: make_tls_cert.py OUTDIR [DNS-NAME ...]
Writes OUTDIR/tls.crt (PEM certificate, valid one day, subjectAltName = the DNS names given,
"localhost" by default, and IP 127.0.0.1) and OUTDIR/tls.key (PEM PKCS#8 ECDSA P-256 key).
The certificate is its own CA (basicConstraints CA:TRUE), so a client given it as its trust
anchor (`curl --cacert`, a webhook's caBundle) verifies the server. Prints one JSON object
with both paths on the last line.
"""
import datetime
import ipaddress
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    names = sys.argv[2:] or ["localhost"]
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    crt, k = os.path.join(out, "tls.crt"), os.path.join(out, "tls.key")
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(s.Encoding.PEM))
    with open(k, "wb") as f:
        f.write(key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    print(json.dumps({"cert": crt, "key": k}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
