// Loopback mock Sigstore: Fulcio (/api/v2/signingCert), Rekor v1 (/api/v1/log/entries),
// TSA (/api/v1/timestamp) and a GitHub-Actions-style OIDC token endpoint (/oidc/token).
// Writes trusted_root.json, client_trust_config.json (for sigstore-python --trust-config) and
// id_token.jwt into OUTDIR, then listens; every instance makes fresh keys, so the trusted root of
// one instance does not verify what another issued. Ready once GET /oidc/token answers 200.
// Usage: node server.js PORT OUTDIR   (127.0.0.1 only)
// Adapted for the Tollgate e2e tests (tests/tests/keyless.rs) from the team's shared tool: the
// TSA's genTime is whole seconds, as Go-built TSAs (sigstore's timestamp-authority) encode it;
// @sigstore/mock adds milliseconds, which RFC 3161 allows but the Rust sigstore-tsa 0.15 parser
// refuses. SIGSTORE_MOCK_TSA_FRACTIONAL=1 keeps the milliseconds.
// SIGSTORE_MOCK_CA_OFFSET_SECS shifts Fulcio's clock (see below).
const http = require('http'), fs = require('fs'), crypto = require('crypto');
const m = require('@sigstore/mock');
const { generateKeyPair } = require('@sigstore/mock/dist/util/key');
const { TrustedRoot, ClientTrustConfig } = require('@sigstore/protobuf-specs');
const port = Number(process.argv[2] || 5230), out = process.argv[3] || '.';
const base = `http://127.0.0.1:${port}`;
const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
(async () => {
  const kp = generateKeyPair('prime256v1');
  const ctlog = await m.initializeCTLog(kp);
  // SIGSTORE_MOCK_CA_OFFSET_SECS=-3600 makes Fulcio issue certificates that expired long before
  // Rekor and the TSA stamp the signature: a signing time outside the certificate's validity.
  const caOffset = Number(process.env.SIGSTORE_MOCK_CA_OFFSET_SECS || 0);
  const ca = await m.initializeCA(kp, ctlog, caOffset ? new Date(Date.now() + caOffset * 1000) : undefined);
  const tlog = await m.initializeTLog(base, kp);
  const tsa = await m.initializeTSA(kp);
  if (process.env.SIGSTORE_MOCK_TSA_FRACTIONAL !== '1')
    tsa.getCurrentTime = () => new Date(Math.floor(Date.now() / 1000) * 1000);
  const routes = {};
  for (const h of [m.fulcioHandler(ca, { strict: true }), m.rekorHandler(tlog, { strict: true }), m.tsaHandler(tsa, { strict: true })])
    routes[h.path] = h.fn;
  const start = new Date(Date.now() - 3600e3);
  const pk = (raw) => ({ rawBytes: raw, keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } });
  const tr = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: pk(tlog.publicKey),
      logId: { keyId: crypto.createHash('sha256').update(tlog.publicKey).digest() } }],
    certificateAuthorities: [{ subject: { organization: 'sigstore.mock', commonName: 'sigstore' }, uri: base,
      certChain: { certificates: [{ rawBytes: Buffer.from(ca.rootCertificate.buffer) }] }, validFor: { start } }],
    ctlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: pk(ctlog.publicKey),
      logId: { keyId: Buffer.from(ctlog.logID.buffer) } }],
    timestampAuthorities: [{ subject: { organization: 'sigstore.mock', commonName: 'tsa' }, uri: base,
      certChain: { certificates: [{ rawBytes: Buffer.from(tsa.intCertificate.buffer) }, { rawBytes: Buffer.from(tsa.rootCertificate.buffer) }] },
      validFor: { start } }],
  };
  const trJSON = TrustedRoot.toJSON(TrustedRoot.fromJSON(JSON.parse(JSON.stringify(tr, (k, v) =>
    (v && v.type === 'Buffer') ? Buffer.from(v.data).toString('base64') : v))));
  fs.writeFileSync(`${out}/trusted_root.json`, JSON.stringify(trJSON, null, 1));
  const svc = (v) => ({ url: base, majorApiVersion: v, validFor: { start: start.toISOString() }, operator: 'sigstore.mock' });
  const ctc = { mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json', trustedRoot: trJSON,
    signingConfig: { mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
      caUrls: [svc(1)], oidcUrls: [svc(1)], rekorTlogUrls: [svc(1)], tsaUrls: [{ ...svc(1), url: `${base}/api/v1/timestamp` }],
      rekorTlogConfig: { selector: 'ANY' }, tsaConfig: { selector: 'ANY' } } };
  fs.writeFileSync(`${out}/client_trust_config.json`, JSON.stringify(ctc, null, 1));
  // Unsigned-issuer JWT: the mock Fulcio decodes claims without verifying signature.
  const token = (aud) => { const now = Math.floor(Date.now() / 1000);
    return `${b64u({ alg: 'ES256', typ: 'JWT' })}.${b64u({ iss: 'https://oidc.tollgate.test', sub: 'ci@tollgate.test', email: 'ci@tollgate.test',
      email_verified: true, aud: aud || 'sigstore', iat: now, nbf: now, exp: now + 600 })}.${Buffer.from('sig').toString('base64url')}`; };
  fs.writeFileSync(`${out}/id_token.jwt`, token('sigstore'));
  http.createServer((req, res) => {
    const chunks = []; req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const u = new URL(req.url, base);
      if (u.pathname === '/oidc/token') { res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ value: token(u.searchParams.get('audience')) })); }
      const fn = req.method === 'POST' && routes[u.pathname];
      if (!fn) { res.writeHead(404); return res.end('not found'); }
      let body = Buffer.concat(chunks).toString();
      // Real Fulcio also accepts the OIDC token as a Bearer header (sigstore-python does this);
      // the @sigstore/mock handler only reads body.credentials, so move it there.
      const auth = req.headers.authorization || '';
      if (u.pathname === '/api/v2/signingCert' && auth.startsWith('Bearer ')) {
        const j = JSON.parse(body); if (!j.credentials) j.credentials = { oidcIdentityToken: auth.slice(7) };
        // Real Fulcio takes the CSR as base64(PEM) (sigstore-python); the mock expects the PEM itself.
        if (j.certificateSigningRequest && !j.certificateSigningRequest.startsWith('-----')) {
          const dec = Buffer.from(j.certificateSigningRequest, 'base64').toString(); if (dec.startsWith('-----')) j.certificateSigningRequest = dec; }
        body = JSON.stringify(j); }
      const r = await fn(body);
      res.writeHead(r.statusCode, { 'Content-Type': r.contentType || 'text/plain' });
      res.end(typeof r.response === 'string' ? r.response : Buffer.from(r.response.buffer, r.response.byteOffset, r.response.byteLength));
      console.error(`${req.method} ${u.pathname} -> ${r.statusCode}`);
    });
  }).listen(port, '127.0.0.1', () => console.error(`mock sigstore on ${base}`));
})();
