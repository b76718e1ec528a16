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
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]}"
  apt_install "${missing[@]}" ca-certificates
fi

# oras drives the artifact test; cryptography signs tokens in tests/scripts/registry_token_server.py.
if ! python3 -c 'import oras, requests, cryptography' >/dev/null 2>&1; then
  step "installing python oras==0.2.43, requests, cryptography"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt_install python3-pip
  fi
  # Debian's own python3 is "externally managed" (PEP 668); pyenv's is not.
  python3 -m pip install -q oras==0.2.43 requests cryptography \
    || python3 -m pip install -q --break-system-packages oras==0.2.43 requests cryptography
fi

step "tools"
docker-registry --version 2>&1 | head -n1 || true
skopeo --version
python3 -c 'import sys, oras.version, cryptography; print("python", sys.version.split()[0], "oras", oras.version.__version__, "cryptography", cryptography.__version__)'
command -v htpasswd

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
TOLLGATE_E2E_REQUIRE_TOOLS=1 cargo test --workspace
