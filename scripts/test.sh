#!/usr/bin/env bash
# The project's test command (see README): on a fresh Debian 12 machine (as root) it installs the
# external tools the end-to-end tests drive, then runs format check, clippy, build and every test
# (unit + end-to-end). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

# --- external tools ------------------------------------------------------------------------
apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils) # bcrypt htpasswd for the Basic-auth upstream
# PostgreSQL server binaries: tests/src/postgres.rs starts a throw-away cluster for the
# PostgreSQL store (tests/tests/pg_store.rs, tests/tests/replicas.rs).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# nginx with its WebDAV module (PUT/DELETE) is the raw repository upstream of tests/tests/raw_repos.rs
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# Debian's Chromium runs the web console's browser tests (tests/tests/console.rs); Playwright
# drives it through executablePath, since browser downloads are not possible.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]}"
  apt_install "${missing[@]}" ca-certificates
fi

# oras drives the artifact test; cryptography signs tokens in tests/scripts/registry_token_server.py
# and cosign signatures in tests/scripts/cosign_sign.py; in-toto (with securesystemslib) and
# in-toto-attestation (with protobuf) make the DSSE SLSA provenance in tests/scripts/slsa_attest.py;
# spdx-tools and cyclonedx-python-lib (the formats' own validators) check Tollgate's SBOM exports
# in tests/scripts/validate_sbom.py; cloudevents (the CloudEvents SDK) reads the deployment events
# webhooks receive in tests/tests/events.rs, as a real consumer would; icalendar reads the release
# calendar's .ics export in tests/scripts/parse_ics.py.
PY_PACKAGES=(oras==0.2.43 requests cryptography in-toto==3.1.0 in-toto-attestation==0.9.3
  spdx-tools==0.8.5 "cyclonedx-python-lib[json-validation]==11.12.0" cloudevents==2.2.0
  icalendar==7.3.2)
if ! python3 -c 'import oras, requests, cryptography, in_toto, securesystemslib.signer, in_toto_attestation.v1.statement, spdx_tools.spdx.validation, cyclonedx.validation.json, cloudevents.core.bindings.http, icalendar' >/dev/null 2>&1; then
  step "installing python ${PY_PACKAGES[*]}"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  # Debian's own python3 is "externally managed" (PEP 668); pyenv's is not.
  python3 -m pip install -q "${PY_PACKAGES[@]}" \
    || python3 -m pip install -q --break-system-packages "${PY_PACKAGES[@]}"
fi

# node runs the loopback Sigstore mock (Fulcio, Rekor, TSA, OIDC) in tests/sigstore-mock and its
# @sigstore/cli signs keyless bundles for tests/tests/keyless.rs; npm ci installs both from the lock.
if ! command -v node >/dev/null 2>&1; then
  step "installing nodejs npm"
  apt_install nodejs npm
fi
if [ ! -d tests/sigstore-mock/node_modules ]; then
  step "npm ci --prefix tests/sigstore-mock"
  npm ci --prefix tests/sigstore-mock --no-audit --no-fund
fi

# playwright-core (pinned in tests/browser/package-lock.json) drives that Chromium.
if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
  step "npm ci --prefix tests/browser"
  npm ci --prefix tests/browser --no-audit --no-fund
fi

step "tools"
docker-registry --version 2>&1 | head -n1 || true
skopeo --version
python3 -c 'import sys, importlib.metadata as m, oras.version, cryptography; print("python", sys.version.split()[0], "oras", oras.version.__version__, "cryptography", cryptography.__version__, "in-toto", m.version("in-toto"), "in-toto-attestation", m.version("in-toto-attestation"), "securesystemslib", m.version("securesystemslib"))'
command -v htpasswd
nginx -v 2>&1 || /usr/sbin/nginx -v
echo "node $(node --version)"
chromium --version 2>/dev/null | head -n1 || true

# --- Rust ------------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build"
cargo build --workspace

step "cargo test (unit + end-to-end)"
# The e2e tests find target/<profile>/tollgate next to their own executable (or $TOLLGATE_BIN);
# in this script a missing external tool is a failure, never a skip.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
TOLLGATE_E2E_REQUIRE_TOOLS=1 cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line for the whole run (cargo prints one per test binary, the last often a
# doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
exit "$rc"
