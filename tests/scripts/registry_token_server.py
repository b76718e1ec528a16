#!/usr/bin/env python3
"""A registry token server (the Docker/Distribution "Bearer" flow) for tests.

Usage: registry_token_server.py PORT CERT_OUT USER PASSWORD

Writes a self-signed ECDSA P-256 certificate to CERT_OUT (the registry's `rootcertbundle`), then
serves GET /token?service=&scope=... : with Basic USER:PASSWORD it returns an ES256 JWT granting
every requested action; without or with wrong credentials, 401. Each issued token is counted at
GET /count so a test can prove the client really used the flow.
"""
import base64, datetime, json, sys, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

port, cert_out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ISSUER = "tollgate-test-issuer"

key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tollgate test token signer")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
with open(cert_out, "wb") as f:
    f.write(cert.public_bytes(serialization.Encoding.PEM))
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
issued = 0


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(service: str, scopes: list) -> str:
    access = []
    for s in scopes:
        # resourcename may hold ':' (host:port/name): split type first, actions last
        typ, rest = s.split(":", 1)
        rname, actions = rest.rsplit(":", 1)
        access.append({"type": typ, "name": rname, "actions": actions.split(",")})
    t = int(time.time())
    header = {"typ": "JWT", "alg": "ES256", "x5c": [x5c]}
    claims = {"iss": ISSUER, "sub": user, "aud": service, "exp": t + 300, "nbf": t - 10,
              "iat": t, "jti": str(uuid.uuid4()), "access": access}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        global issued
        u = urlparse(self.path)
        if u.path == "/count":
            return self.reply(200, {"issued": issued})
        if u.path != "/token":
            return self.reply(404, {"error": "not found"})
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") != want:
            return self.reply(401, {"error": "bad credentials"})
        q = parse_qs(u.query)
        token = jwt(q.get("service", [""])[0], q.get("scope", []))
        issued += 1
        self.reply(200, {"token": token, "access_token": token, "expires_in": 300,
                         "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat()})

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
