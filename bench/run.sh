#!/usr/bin/env bash
# End-to-end benchmark of Tollgate against baselines measured in the same run (DESIGN.md §8).
#
#   bash bench/run.sh
#
# Everything runs on loopback with free ports, in one temporary directory that is removed at the
# end; every process the script starts is stopped by its pid. Needs: docker-registry (CNCF
# distribution), nginx, curl, openssl, python3 (free ports, JSON), oha (`cargo install oha
# --locked`; GET and HEAD load), wrk (GET cross-check), taskset, cargo (builds the gateway).
# Takes about 7 minutes plus the build. See BENCHMARKS.md for what each part measures.
#
# Knobs (environment):
#   BENCH_RUNS=5          runs per target for pulls and pushes (medians are reported)
#   BENCH_BLOB_MIB=512    size of the big blob
#   BENCH_DURATION=10     seconds per load run (c), BENCH_ROUNDS=3 rounds per target (medians reported);
#                         BENCH_CONNECTIONS=64, BENCH_THREADS=2 (load generator threads)
#   BENCH_TMPDIR=/tmp     where the temporary directory goes (must be on disk, ~10 GiB free)
#   TOLLGATE_BIN          gateway binary to use as is (default: target/release/tollgate, first
#                         brought up to date by `cargo build --release -p tollgate`)
#   BENCH_NO_BUILD=1      skip that build and use target/release/tollgate as it is
#   RUST_LOG=warn         gateway log level
#   BENCH_RESULTS=FILE    also copy the results table there
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
N=${BENCH_RUNS:-5}
BLOB_MIB=${BENCH_BLOB_MIB:-512}
DUR=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
TOLLGATE=${TOLLGATE_BIN:-$ROOT/target/release/tollgate}
REGISTRY=${REGISTRY_BIN:-docker-registry}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
OHA=${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
export RUST_LOG=${RUST_LOG:-warn}
BLOB_BYTES=$((BLOB_MIB * 1024 * 1024))
XFER_TIMEOUT=300 # seconds, bound on any single transfer
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

for tool in curl openssl python3 wrk taskset "$REGISTRY" "$NGINX" awk sort; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
[[ -x $OHA ]] || die "missing oha (HTTP load generator): cargo install oha --locked, or set OHA_BIN"
((N >= 1 && BLOB_MIB >= 1 && DUR >= 1 && ROUNDS >= 1)) || die "bad knobs"

# The release binary is brought up to date with the tree (a no-op when it is); if that build fails
# (e.g. someone's edit in progress) an existing binary is used and the report says it is stale.
if [[ -z ${TOLLGATE_BIN:-} && -z ${BENCH_NO_BUILD:-} ]]; then
  log "cargo build --release -p tollgate"
  if ! (cd "$ROOT" && timeout 1800 cargo build --release -p tollgate) >&2; then
    [[ -x $TOLLGATE ]] || die "the release build failed and there is no binary"
    log "the build failed; using the existing (stale) $TOLLGATE"
  fi
fi
[[ -x $TOLLGATE ]] || die "no tollgate binary at $TOLLGATE"

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
# blob + variant + registry (1 + 2N blobs) + embedded store (1 + N blobs), plus slack
NEED_MIB=$((BLOB_MIB * (5 + 3 * N)))
AVAIL_MIB=$(df -Pm "$WORK" | awk 'NR==2{print $4}')
((AVAIL_MIB > NEED_MIB)) || { rm -rf "$WORK"; die "need ~${NEED_MIB} MiB free under $WORK, have ${AVAIL_MIB}"; }
PIDS=()

stop_pid() { # pid: TERM, wait up to 5 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  if ((rc != 0)); then
    for f in "$WORK"/*.log; do
      [[ -s $f ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # url: up to 20 s for any HTTP answer
  local i
  for ((i = 0; i < 200; i++)); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "nothing answers at $1"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{ printf "%s-%s", lo, hi }'; }
calc() { awk "BEGIN{ printf \"%.${2:-2}f\", $1 }"; }

cpu_ticks() { # pids...: utime+stime (clock ticks) summed; a vanished pid counts 0
  local t=0 p s f
  for p in "$@"; do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    t=$((t + f[11] + f[12]))
  done
  echo "$t"
}

vm_field() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; } # pid field -> kB

sha256_of() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }

# --- machine and versions ------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
SHA_NI=$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)
GIT_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(cd "$ROOT" && { git diff --quiet HEAD -- gateway store attest policies sbom Cargo.toml Cargo.lock 2>/dev/null && echo clean || echo "with uncommitted changes"; })
NEWER=$(cd "$ROOT" && find gateway store attest policies sbom Cargo.toml Cargo.lock -newer "$TOLLGATE" -type f 2>/dev/null | wc -l)
STALE=$( ((NEWER == 0)) && echo "binary up to date with them" || echo "STALE: $NEWER source files are newer than the binary")
log "machine: $(nproc) CPUs, $CPU_MODEL, sha_ni=$SHA_NI, kernel $(uname -r); workdir $WORK"

# --- the blob and the SHA-256 ceiling --------------------------------------------------------
BLOB=$WORK/blob.bin
log "generating a ${BLOB_MIB} MiB random blob"
head -c "$BLOB_BYTES" /dev/urandom >"$BLOB"
cat "$BLOB" >/dev/null # into the page cache
BLOB_DIGEST=sha256:$(sha256_of "$BLOB")
log "blob $BLOB_DIGEST"

# (1) openssl dgst over the same file from the page cache (read + hash, one core), best of 3;
# (2) openssl speed: hashing 256 KiB buffers in memory, no I/O, one core, best of 3 x 2 s.
# Best-of, because on a shared machine interference only ever lowers a figure.
sync
sleep 1
dgst_rates=()
for ((i = 0; i < 3; i++)); do
  t0=$EPOCHREALTIME
  openssl dgst -sha256 "$BLOB" >/dev/null
  t1=$EPOCHREALTIME
  dgst_rates+=("$(calc "$BLOB_BYTES / ($t1 - $t0) / 1e6" 0)")
done
SHA_FILE=$(printf '%s\n' "${dgst_rates[@]}" | sort -g | tail -n1)
mem_rates=()
for ((i = 0; i < 3; i++)); do
  mem_rates+=("$(openssl speed -evp sha256 -bytes 262144 -seconds 2 2>/dev/null |
    awk '$1=="sha256"{v=$NF; sub(/k$/,"",v); printf "%.0f", v/1000}')")
done
SHA_MEM=$(printf '%s\n' "${mem_rates[@]}" | sort -g | tail -n1)
[[ -n $SHA_MEM && -n $SHA_FILE ]] || die "could not measure SHA-256 throughput"
# (3) the implementation Tollgate links (RustCrypto sha2, the version in Cargo.lock) over the same
# bytes in memory, 256 KiB updates, best of 3: a throwaway crate built in the temp dir.
SHA_RUST=n/a
SHA2_VER=$(awk '$1=="name" && $3=="\"sha2\""{getline; gsub(/"/,"",$3); print $3}' "$ROOT/Cargo.lock" | sort -V | tail -n1)
if [[ -n $SHA2_VER ]] && command -v cargo >/dev/null 2>&1; then
  mkdir -p "$WORK/sha2-rate/src"
  printf '[package]\nname = "sha2-rate"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nsha2 = "=%s"\n[workspace]\n' \
    "$SHA2_VER" >"$WORK/sha2-rate/Cargo.toml"
  cat >"$WORK/sha2-rate/src/main.rs" <<'EOF'
use sha2::{Digest, Sha256};
fn main() {
    let data = std::fs::read(std::env::args().nth(1).expect("file")).expect("read");
    let mut best = 0f64;
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut h = Sha256::new();
        for c in data.chunks(256 * 1024) {
            h.update(c);
        }
        std::hint::black_box(h.finalize());
        best = best.max(data.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    println!("{best:.0}");
}
EOF
  if (cd "$WORK/sha2-rate" && { timeout 300 cargo build -q --release --offline 2>/dev/null ||
    timeout 300 cargo build -q --release; }) >"$WORK/sha2-rate.log" 2>&1; then
    SHA_RUST=$("$WORK/sha2-rate/target/release/sha2-rate" "$BLOB")
  else
    log "could not build the sha2 rate probe, reporting n/a: $(tail -n 3 "$WORK/sha2-rate.log")"
  fi
fi
# The ceiling for a verifying proxy: the faster (stricter) of the two openssl figures.
SHA_CEIL=$(printf '%s\n' "$SHA_MEM" "$SHA_FILE" | sort -g | tail -n1)
log "SHA-256 single core: openssl speed ${SHA_MEM} MB/s, openssl dgst on the file ${SHA_FILE} MB/s, Rust sha2 ${SHA2_VER:-?} ${SHA_RUST} MB/s"

# --- upstream registry -------------------------------------------------------------------------
REG_PORT=$(free_port)
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
"$REGISTRY" serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
PIDS+=("$REG_PID")
REG=http://127.0.0.1:$REG_PORT
wait_http "$REG/v2/"
log "docker-registry $("$REGISTRY" --version 2>&1 | awk '{print $NF}') on $REG (pid $REG_PID)"

# --- nginx reverse proxy in front of it: two server blocks, proxy_buffering on (nginx's default)
# and off; both with HTTP/1.1 keep-alive to the registry.
NGX_PORT=$(free_port)
NGX_NB_PORT=$(free_port)
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  upstream registry { server 127.0.0.1:$REG_PORT; keepalive 16; }
  client_max_body_size 0;
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host \$http_host;
  server {
    listen 127.0.0.1:$NGX_PORT;
    location / { proxy_pass http://registry; }
  }
  server {
    listen 127.0.0.1:$NGX_NB_PORT;
    location / { proxy_pass http://registry; proxy_buffering off; proxy_request_buffering off; }
  }
}
EOF
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.log" 2>&1 &
NGX_PID=$!
PIDS+=("$NGX_PID")
wait_http "http://127.0.0.1:$NGX_PORT/v2/"
wait_http "http://127.0.0.1:$NGX_NB_PORT/v2/"
NGX_PIDS=("$NGX_PID" $(ps --ppid "$NGX_PID" -o pid= 2>/dev/null))
log "nginx $("$NGINX" -v 2>&1 | awk -F/ '{print $NF}') on :$NGX_PORT (buffering on) and :$NGX_NB_PORT (off), pids ${NGX_PIDS[*]}"

# --- Tollgate --------------------------------------------------------------------------------
start_tollgate() { # var-prefix name data-dir [upstream-url]: sets <prefix>_URL, _PID, _TOKEN
  local prefix=$1 name=$2 data=$3 up=${4:-} port pid i
  port=$(free_port)
  local args=(serve --listen "127.0.0.1:$port" --data "$data")
  [[ -n $up ]] && args+=(--upstream "$up")
  "$TOLLGATE" "${args[@]}" >>"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
  for ((i = 0; i < 50; i++)); do
    [[ -s $data/admin-token ]] && break
    sleep 0.1
  done
  printf -v "${prefix}_URL" '%s' "http://127.0.0.1:$port"
  printf -v "${prefix}_PID" '%s' "$pid"
  printf -v "${prefix}_TOKEN" '%s' "$(tr -d '[:space:]' <"$data/admin-token")"
}

stop_tollgate() { # pid
  stop_pid "$1"
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# push_blob base-url repo file digest [token]: POST, then one monolithic PUT ?digest= with the
# file as body. Prints the seconds the two requests took (curl's time_total, summed).
push_blob() {
  local base=$1 repo=$2 file=$3 digest=$4 token=${5:-} auth=() hdrs loc t1 out code t2 sep
  [[ -n $token ]] && auth=(-H "Authorization: Bearer $token")
  hdrs=$(curl -sS -f --max-time 30 -X POST "${auth[@]}" -D - -o /dev/null -w 'TIME %{time_total}\n' \
    "$base/v2/$repo/blobs/uploads/") || die "upload start at $base for $repo"
  loc=$(awk 'tolower($1)=="location:"{print $2}' <<<"$hdrs" | tr -d '\r')
  t1=$(awk '$1=="TIME"{print $2}' <<<"$hdrs")
  [[ -n $loc ]] || die "no Location from $base"
  [[ $loc == /* ]] && loc=$base$loc
  sep='?'
  [[ $loc == *\?* ]] && sep='&'
  out=$(curl -sS --max-time "$XFER_TIMEOUT" -X PUT -T "$file" -H 'Expect:' \
    -H 'Content-Type: application/octet-stream' "${auth[@]}" -o "$WORK/put.out" \
    -w '%{http_code} %{time_total}' "$loc${sep}digest=$digest") || die "upload to $base"
  read -r code t2 <<<"$out"
  [[ $code == 201 ]] || die "upload to $base answered $code: $(cat "$WORK/put.out")"
  calc "$t1 + $t2" 6
}

put_manifest() { # base repo ref file [token]
  local auth=() code
  [[ -n ${5:-} ]] && auth=(-H "Authorization: Bearer $5")
  code=$(curl -sS --max-time 30 -X PUT "${auth[@]}" -H "Content-Type: $OCI_MANIFEST" \
    --data-binary "@$4" -o "$WORK/put.out" -w '%{http_code}' "$1/v2/$2/manifests/$3")
  [[ $code == 201 ]] || die "manifest PUT to $1 answered $code: $(cat "$WORK/put.out")"
}

REPO=bench/app
TAG=v1.0.0
TG_DATA=$WORK/tollgate-upstream
EM_DATA=$WORK/tollgate-embedded

# Setup (untimed): the big layer straight into the registry; config blob and manifest through
# Tollgate (upstream mode), so Tollgate records the manifest and mirrors the tag upstream.
log "setup: layer into the registry, config + manifest through Tollgate (upstream mode)"
push_blob "$REG" "$REPO" "$BLOB" "$BLOB_DIGEST" >/dev/null
start_tollgate SETUP tollgate-setup "$TG_DATA" "$REG"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}' \
  "$BLOB_DIGEST" >"$WORK/config.json"
CFG_DIGEST=sha256:$(sha256_of "$WORK/config.json")
CFG_SIZE=$(stat -c %s "$WORK/config.json")
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
  "$OCI_MANIFEST" "$CFG_DIGEST" "$CFG_SIZE" "$BLOB_DIGEST" "$BLOB_BYTES" >"$WORK/manifest.json"
MANIFEST_DIGEST=sha256:$(sha256_of "$WORK/manifest.json")
MANIFEST_SIZE=$(stat -c %s "$WORK/manifest.json")
push_blob "$SETUP_URL" "$REPO" "$WORK/config.json" "$CFG_DIGEST" "$SETUP_TOKEN" >/dev/null
put_manifest "$SETUP_URL" "$REPO" "$TAG" "$WORK/manifest.json" "$SETUP_TOKEN"
stop_tollgate "$SETUP_PID"

# Fresh processes for the streaming phase, so their peak RSS reflects streaming: the upstream-
# mode gateway on the same data directory (the recorded manifest stays), and an embedded one.
start_tollgate TG tollgate-upstream "$TG_DATA" "$REG"
start_tollgate EM tollgate-embedded "$EM_DATA"
log "Tollgate upstream mode at $TG_URL (pid $TG_PID), embedded mode at $EM_URL (pid $EM_PID)"
log "setup: config, layer and manifest into the embedded gateway"
push_blob "$EM_URL" "$REPO" "$WORK/config.json" "$CFG_DIGEST" "$EM_TOKEN" >/dev/null
push_blob "$EM_URL" "$REPO" "$BLOB" "$BLOB_DIGEST" "$EM_TOKEN" >/dev/null
put_manifest "$EM_URL" "$REPO" "$TAG" "$WORK/manifest.json" "$EM_TOKEN"
EM_HWM_SETUP=$(vm_field "$EM_PID" VmHWM)

# --- (a) pulls of the big blob -----------------------------------------------------------------
# target -> "base-url token server-pids-to-charge proxy-pids"
declare -A BASE TOKEN SRV
BASE[direct]=$REG
BASE[nginx]=http://127.0.0.1:$NGX_PORT
BASE[nginx-nobuf]=http://127.0.0.1:$NGX_NB_PORT
BASE[tollgate]=$TG_URL
BASE[embedded]=$EM_URL
TOKEN[direct]=''
TOKEN[nginx]=''
TOKEN[nginx-nobuf]=''
TOKEN[tollgate]=$TG_TOKEN
TOKEN[embedded]=$EM_TOKEN
SRV[direct]=''
SRV[nginx]="${NGX_PIDS[*]}"
SRV[nginx-nobuf]="${NGX_PIDS[*]}"
SRV[tollgate]=$TG_PID
SRV[embedded]=$EM_PID

declare -A SPEEDS CPU_REG CPU_PROXY CPU_CLIENT WALL BUSY IDLE
TIMEFORMAT='%R %U %S'
CURL_PREFIX=()

box_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; } # busy idle, all CPUs

pull_once() { # key target: appends MB/s to SPEEDS[key], accumulates CPU under key
  local key=$1 t=$2 auth=() tf r0 p0 r1 p1 b0 i0 b1 i1 code size speed real user sys
  [[ -n ${TOKEN[$t]} ]] && auth=(-H "Authorization: Bearer ${TOKEN[$t]}")
  tf=$WORK/time.out
  r0=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  p0=$(cpu_ticks ${SRV[$t]})
  read -r b0 i0 < <(box_ticks)
  { time "${CURL_PREFIX[@]}" curl -sS --max-time "$XFER_TIMEOUT" "${auth[@]}" -o /dev/null \
    -w '%{http_code} %{size_download} %{speed_download}\n' \
    "${BASE[$t]}/v2/$REPO/blobs/$BLOB_DIGEST" >"$WORK/curl.out" 2>"$WORK/curl.err"; } 2>"$tf" ||
    die "pull via $t: $(cat "$WORK/curl.err")"
  read -r b1 i1 < <(box_ticks)
  r1=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  p1=$(cpu_ticks ${SRV[$t]})
  read -r code size speed <"$WORK/curl.out"
  read -r real user sys <"$tf"
  [[ $code == 200 && $size == "$BLOB_BYTES" ]] || die "pull via $t: HTTP $code, $size bytes"
  SPEEDS[$key]+="$(calc "$speed / 1e6" 0) "
  WALL[$key]=$(calc "${WALL[$key]:-0} + $real" 3)
  CPU_REG[$key]=$((${CPU_REG[$key]:-0} + r1 - r0))
  CPU_PROXY[$key]=$((${CPU_PROXY[$key]:-0} + p1 - p0))
  CPU_CLIENT[$key]=$(calc "${CPU_CLIENT[$key]:-0} + $user + $sys" 3)
  BUSY[$key]=$((${BUSY[$key]:-0} + b1 - b0))
  IDLE[$key]=$((${IDLE[$key]:-0} + i1 - i0))
}

forget() { local k; for k in "$@"; do unset "SPEEDS[$k]" "WALL[$k]" "CPU_REG[$k]" "CPU_PROXY[$k]" "CPU_CLIENT[$k]" "BUSY[$k]" "IDLE[$k]"; done; }

PULL_TARGETS=(direct nginx nginx-nobuf tollgate embedded)
log "(a) warm-up pull per target"
for t in "${PULL_TARGETS[@]}"; do
  pull_once "$t" "$t"
  forget "$t"
done
log "(a) $N interleaved pulls per target (order rotates each round)"
for ((r = 0; r < N; r++)); do
  for ((k = 0; k < ${#PULL_TARGETS[@]}; k++)); do
    t=${PULL_TARGETS[(r + k) % ${#PULL_TARGETS[@]}]}
    pull_once "$t" "$t"
  done
done

# (a, pinned) Each proxy alone on CPU 1, registry and curl together on CPU 0: the proxy's own
# single-core throughput, the quantity the SHA-256 ceiling bounds. Affinity is restored after.
NCPU=$(nproc)
PIN_TARGETS=()
if ((NCPU >= 2)); then
  PIN_TARGETS=(direct nginx tollgate)
  ALL_CPUS=0-$((NCPU - 1))
  pin() { # cpu-list pids...: every thread of each pid
    local c=$1 p
    shift
    for p in "$@"; do taskset -a -p -c "$c" "$p" >/dev/null || die "taskset $c $p"; done
  }
  # shellcheck disable=SC2086
  pin 0 "$REG_PID"
  # shellcheck disable=SC2086
  pin 1 "$TG_PID" ${NGX_PIDS[*]}
  CURL_PREFIX=(taskset -c 0)
  log "(a) pinned: proxy on CPU 1, registry + curl on CPU 0; $N interleaved pulls per target"
  for t in "${PIN_TARGETS[@]}"; do
    pull_once "pin-$t" "$t"
    forget "pin-$t"
  done
  for ((r = 0; r < N; r++)); do
    for ((k = 0; k < ${#PIN_TARGETS[@]}; k++)); do
      t=${PIN_TARGETS[(r + k) % ${#PIN_TARGETS[@]}]}
      pull_once "pin-$t" "$t"
    done
  done
  CURL_PREFIX=()
  # shellcheck disable=SC2086
  pin "$ALL_CPUS" "$REG_PID" "$TG_PID" ${NGX_PIDS[*]}
fi

# --- (b) pushes of a fresh blob of the same size -------------------------------------------------
# Each push gets its own bytes (the first 32 bytes of a copy of the blob are overwritten with a
# unique nonce), so no registry or gateway can skip work by recognising a digest.
VAR=$WORK/variant.bin
cp "$BLOB" "$VAR"
declare -A PUSH_SPEEDS PUSH_CPU_REG PUSH_CPU_PROXY PUSH_WALL
PUSH_TARGETS=(direct tollgate embedded)
nonce=0
push_once() { # target
  local t=$1 d secs r0 p0 r1 p1
  nonce=$((nonce + 1))
  printf 'tollgate-bench-%016d-%s' "$nonce" "${t:0:1}" | head -c 32 |
    dd of="$VAR" bs=32 count=1 conv=notrunc status=none
  d=sha256:$(sha256_of "$VAR")
  sync # flush earlier pushes' dirty pages so writeback does not land inside this timing
  r0=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  p0=$(cpu_ticks ${SRV[$t]})
  secs=$(push_blob "${BASE[$t]}" "bench/push-$t-$nonce" "$VAR" "$d" "${TOKEN[$t]}")
  r1=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  p1=$(cpu_ticks ${SRV[$t]})
  PUSH_SPEEDS[$t]+="$(calc "$BLOB_BYTES / $secs / 1e6" 0) "
  PUSH_WALL[$t]=$(calc "${PUSH_WALL[$t]:-0} + $secs" 3)
  PUSH_CPU_REG[$t]=$((${PUSH_CPU_REG[$t]:-0} + r1 - r0))
  PUSH_CPU_PROXY[$t]=$((${PUSH_CPU_PROXY[$t]:-0} + p1 - p0))
}
log "(b) $N interleaved pushes per target"
for ((r = 0; r < N; r++)); do
  for ((k = 0; k < ${#PUSH_TARGETS[@]}; k++)); do
    push_once "${PUSH_TARGETS[(r + k) % ${#PUSH_TARGETS[@]}]}"
  done
done

# --- (d) peak RSS of the streaming gateways ------------------------------------------------------
TG_HWM=$(vm_field "$TG_PID" VmHWM)
EM_HWM=$(vm_field "$EM_PID" VmHWM)
TG_RSS_NOW=$(vm_field "$TG_PID" VmRSS)
log "(d) peak RSS: upstream mode ${TG_HWM} kB, embedded ${EM_HWM} kB"

# --- (c) manifest GET and HEAD at $CONNS connections --------------------------------------------
# Sanity: the same bytes by tag from the registry and from each gateway.
for t in direct tollgate embedded; do
  auth=()
  [[ -n ${TOKEN[$t]} ]] && auth=(-H "Authorization: Bearer ${TOKEN[$t]}")
  got=$(curl -sS -f --max-time 10 "${auth[@]}" -H "Accept: $OCI_MANIFEST" \
    "${BASE[$t]}/v2/$REPO/manifests/$TAG" | openssl dgst -sha256 -r | cut -d' ' -f1)
  [[ sha256:$got == "$MANIFEST_DIGEST" ]] || die "manifest from $t is not the one pushed"
done

# Per key "tool target method": space-separated per-round figures, and CPU ticks / seconds summed.
declare -A W_RPS W_P50 W_P90 W_P99 W_ERR W_SRV W_REG W_GEN W_WALL W_BUSY W_IDLE
WRK_TARGETS=(direct tollgate embedded)

# load_once tool target method seconds record: one load run.
# oha does GET and HEAD; wrk (4.1 cannot do HEAD: it waits for a body) is a GET cross-check.
load_once() {
  local tool=$1 t=$2 m=$3 secs=$4 record=$5 key="$1 $2 $3" url srv tf r0 s0 r1 s1 b0 i0 b1 i1
  local real user sys line kv
  url="${BASE[$t]}/v2/$REPO/manifests/$TAG"
  srv=${SRV[$t]}
  [[ $t == direct ]] && srv=$REG_PID
  local auth=()
  [[ -n ${TOKEN[$t]} ]] && auth=(-H "Authorization: Bearer ${TOKEN[$t]}")
  tf=$WORK/time.out
  r0=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  s0=$(cpu_ticks $srv)
  read -r b0 i0 < <(box_ticks)
  if [[ $tool == oha ]]; then
    { time timeout $((secs + 30)) "$OHA" --no-tui -z "${secs}s" -c "$CONNS" --worker-threads "$THREADS" \
      -m "$m" -H "Accept: $OCI_MANIFEST" "${auth[@]}" --output-format json "$url" \
      >"$WORK/load.out" 2>"$WORK/load.err"; } 2>"$tf" || die "oha $key: $(cat "$WORK/load.err")"
  else
    { time WRK_METHOD=$m WRK_TOKEN=${TOKEN[$t]} timeout $((secs + 30)) wrk -t "$THREADS" -c "$CONNS" \
      -d "${secs}s" --timeout 5s -s "$ROOT/bench/wrk-manifest.lua" "$url" \
      >"$WORK/load.out" 2>&1; } 2>"$tf" || die "wrk $key: $(cat "$WORK/load.out")"
  fi
  read -r b1 i1 < <(box_ticks)
  r1=$(cpu_ticks "$REG_PID")
  # shellcheck disable=SC2086
  s1=$(cpu_ticks $srv)
  ((record)) || return 0
  if [[ $tool == oha ]]; then
    line=$(python3 - "$WORK/load.out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution") or {}
errors = d.get("errorDistribution") or {}
ok = codes.get("200", 0)
# requests still in flight when -z ends are cut off and reported as "aborted due to deadline"
bad = sum(v for k, v in codes.items() if k != "200") + sum(
    v for k, v in errors.items() if "deadline" not in k)
us = lambda x: (x or 0) * 1e6
print("rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f errors=%d"
      % (ok / s["total"], us(p["p50"]), us(p["p90"]), us(p["p99"]), bad))
EOF
    ) || die "oha $key: unreadable output"
  else
    line=$(grep '^WRK_RESULT' "$WORK/load.out") || die "wrk $key printed no result: $(cat "$WORK/load.out")"
    line=${line#WRK_RESULT }
  fi
  read -r real user sys <"$tf"
  local -A v=()
  for kv in $line; do v[${kv%%=*}]=${kv#*=}; done
  [[ -z ${v[errors]:-} ]] && v[errors]=$((v[non2xx] + v[connect] + v[read] + v[write] + v[timeout]))
  W_RPS[$key]+="${v[rps]} "
  W_P50[$key]+="$(calc "${v[p50_us]} / 1000" 2) "
  W_P90[$key]+="$(calc "${v[p90_us]} / 1000" 2) "
  W_P99[$key]+="$(calc "${v[p99_us]} / 1000" 2) "
  W_ERR[$key]=$((${W_ERR[$key]:-0} + v[errors]))
  W_SRV[$key]=$((${W_SRV[$key]:-0} + s1 - s0))
  W_REG[$key]=$((${W_REG[$key]:-0} + r1 - r0))
  W_BUSY[$key]=$((${W_BUSY[$key]:-0} + b1 - b0))
  W_IDLE[$key]=$((${W_IDLE[$key]:-0} + i1 - i0))
  W_GEN[$key]=$(calc "${W_GEN[$key]:-0} + $user + $sys" 3)
  W_WALL[$key]=$(calc "${W_WALL[$key]:-0} + $real" 3)
  log "  $tool $m $t: ${v[rps]} req/s, p99 $(calc "${v[p99_us]} / 1000" 2) ms"
}
LOADS=("oha GET" "oha HEAD" "wrk GET")
log "(c) manifest by tag at ${CONNS} connections: $ROUNDS interleaved rounds of ${DUR}s per target; oha GET, oha HEAD, wrk GET"
for tm in "${LOADS[@]}"; do
  read -r tool m <<<"$tm"
  for t in "${WRK_TARGETS[@]}"; do
    load_once "$tool" "$t" "$m" 1 0 # warm-up: connections, caches
  done
  for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#WRK_TARGETS[@]}; k++)); do
      load_once "$tool" "${WRK_TARGETS[(r + k) % ${#WRK_TARGETS[@]}]}" "$m" "$DUR" 1
    done
  done
done
TG_HWM_AFTER_C=$(vm_field "$TG_PID" VmHWM)
EM_HWM_AFTER_C=$(vm_field "$EM_PID" VmHWM)

# --- report ------------------------------------------------------------------------------------
verdict() { awk "BEGIN{ exit !($1) }" && echo MET || echo "NOT MET"; }
cores() { calc "$1 / $CLK_TCK / $2" 2; } # ticks wall-seconds

med_of() { read -r -a _a <<<"$1"; median "${_a[@]}"; }
nonneg() { awk "BEGIN{ v = $1; printf \"%.2f\", (v < 0 ? 0 : v) }"; } # /proc tick rounding can dip below 0
range_of() { read -r -a _a <<<"$1"; minmax "${_a[@]}"; }

{
  echo
  echo "Tollgate end-to-end benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs ($CPU_MODEL, sha_ni=$SHA_NI), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
  echo "tollgate: $TOLLGATE built $(date -u -r "$TOLLGATE" '+%Y-%m-%d %H:%M UTC'); tree at git $GIT_REV, sources $GIT_DIRTY, $STALE"
  echo "tools: docker-registry $("$REGISTRY" --version 2>&1 | awk '{print $NF}'); $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'); $("$OHA" --version); $(curl --version | head -n1 | awk '{print $1, $2}')"
  echo "blob: $BLOB_MIB MiB random ($BLOB_DIGEST); runs per target: $N; MB = 10^6 bytes"
  echo
  echo "SHA-256, one core, best of 3: openssl speed (256 KiB buffers) $SHA_MEM MB/s; openssl dgst over the page-cached blob $SHA_FILE MB/s"
  echo "Rust sha2 $SHA2_VER (what Tollgate links) over the blob in memory: $SHA_RUST MB/s (best of 3)"
  echo "ceiling for a verifying proxy (the larger openssl figure): $SHA_CEIL MB/s"
  echo
  declare -A LABEL=([direct]="direct from docker-registry" [nginx]="nginx hop (proxy_buffering on)"
    [nginx-nobuf]="nginx hop (proxy_buffering off)" [tollgate]="Tollgate upstream (digest-checked)"
    [embedded]="Tollgate embedded store")
  pull_header() {
    printf '%-34s %6s %11s %6s %6s %6s %6s %5s %6s %6s %7s\n' target "MB/s" "range" "x" "regis" "proxy" "curl" "box" "other" "proxy" "proxy"
    printf '%-34s %6s %11s %6s %6s %6s %6s %5s %6s %6s %7s\n' "" "" "" "direct" "cores" "cores" "cores" "busy" "cores" "ns/B" "1-core"
  }
  pull_row() { # key label direct-median
    local k=$1 med runs nsb w reg_c px_c cu_c busy_c
    med=$(med_of "${SPEEDS[$k]}")
    read -r -a _r <<<"${SPEEDS[$k]}"
    runs=${#_r[@]}
    w=${WALL[$k]}
    nsb=$(calc "${CPU_PROXY[$k]} / $CLK_TCK / ($runs * $BLOB_BYTES) * 1e9" 2)
    reg_c=$(cores "${CPU_REG[$k]}" "$w")
    px_c=$(cores "${CPU_PROXY[$k]}" "$w")
    cu_c=$(calc "${CPU_CLIENT[$k]} / $w" 2)
    busy_c=$(calc "${BUSY[$k]} / $CLK_TCK / $w" 2)
    printf '%-34s %6.0f %11s %6s %6s %6s %6s %4s%% %6s %6s %7s\n' "$2" "$med" "$(range_of "${SPEEDS[$k]}")" \
      "$(calc "$med / $3" 2)" "$reg_c" "$([[ $k == *direct ]] && echo - || echo "$px_c")" "$cu_c" \
      "$(calc "100 * ${BUSY[$k]} / (${BUSY[$k]} + ${IDLE[$k]})" 0)" \
      "$(nonneg "$busy_c - $reg_c - $px_c - $cu_c")" \
      "$([[ $k == *direct ]] && echo - || echo "$nsb")" \
      "$([[ $k == *direct ]] && echo - || calc "1000 / $nsb" 0)"
  }
  echo "(a) pull of the ${BLOB_MIB} MiB blob (curl -o /dev/null, speed_download), median of $N, all processes free on $NCPU CPUs"
  pull_header
  DIRECT_MED=$(med_of "${SPEEDS[direct]}")
  declare -A PMED
  for t in "${PULL_TARGETS[@]}"; do
    PMED[$t]=$(med_of "${SPEEDS[$t]}")
    pull_row "$t" "${LABEL[$t]}" "$DIRECT_MED"
  done
  NGX_BEST=$(printf '%s\n' "${PMED[nginx]}" "${PMED[nginx-nobuf]}" | sort -g | tail -n1)
  R_CEIL=$(calc "${PMED[tollgate]} / $SHA_CEIL" 2)
  R_NGX=$(calc "${PMED[tollgate]} / $NGX_BEST" 2)
  echo "  Tollgate / SHA-256 ceiling ($SHA_CEIL): $R_CEIL (goal >= 0.90: $(verdict "$R_CEIL >= 0.9"))"
  echo "  Tollgate / faster nginx hop ($NGX_BEST): $R_NGX (goal > 1.00: $(verdict "$R_NGX > 1.0"))"
  echo "  Tollgate / direct: $(calc "${PMED[tollgate]} / $DIRECT_MED" 2); / openssl dgst on the file: $(calc "${PMED[tollgate]} / $SHA_FILE" 2)$([[ $SHA_RUST != n/a ]] && echo "; / Rust sha2 in memory: $(calc "${PMED[tollgate]} / $SHA_RUST" 2)")"
  if ((${#PIN_TARGETS[@]})); then
    echo
    echo "(a, pinned) the same pull with the proxy alone on CPU 1, registry + curl on CPU 0, median of $N"
    pull_header
    PIN_DIRECT=$(med_of "${SPEEDS[pin-direct]}")
    for t in "${PIN_TARGETS[@]}"; do
      pull_row "pin-$t" "${LABEL[$t]}" "$PIN_DIRECT"
    done
    PIN_TG=$(med_of "${SPEEDS[pin-tollgate]}")
    echo "  Tollgate on one core / SHA-256 ceiling: $(calc "$PIN_TG / $SHA_CEIL" 2); / nginx on one core: $(calc "$PIN_TG / $(med_of "${SPEEDS[pin-nginx]}")" 2)"
  fi
  echo "  (box busy = all CPUs over the transfers; other = busy minus registry, proxy and curl: kernel"
  echo "   threads and any other work on the machine; proxy ns/B = proxy CPU time per byte moved;"
  echo "   1-core = 1000 / ns/B, the MB/s that proxy could reach with one core to itself)"
  echo
  echo "(b) push of a fresh ${BLOB_MIB} MiB blob (POST + monolithic PUT, curl -T), median of $N"
  printf '%-34s %9s %15s %9s %9s %9s\n' target "MB/s" "range" "x direct" "registry" "gateway"
  printf '%-34s %9s %15s %9s %9s %9s\n' "" "" "" "" "cores" "cores"
  PUSH_DIRECT=$(med_of "${PUSH_SPEEDS[direct]}")
  declare -A BMED
  for t in "${PUSH_TARGETS[@]}"; do
    BMED[$t]=$(med_of "${PUSH_SPEEDS[$t]}")
    printf '%-34s %9.0f %15s %9s %9s %9s\n' "${LABEL[$t]/ (digest-checked)/}" "${BMED[$t]}" \
      "$(range_of "${PUSH_SPEEDS[$t]}")" "$(calc "${BMED[$t]} / $PUSH_DIRECT" 2)" \
      "$(cores "${PUSH_CPU_REG[$t]}" "${PUSH_WALL[$t]}")" \
      "$([[ $t == direct ]] && echo - || cores "${PUSH_CPU_PROXY[$t]}" "${PUSH_WALL[$t]}")"
  done
  R_PUSH=$(calc "${BMED[tollgate]} / $PUSH_DIRECT" 2)
  echo "  Tollgate upstream / direct: $R_PUSH (goal >= 0.90: $(verdict "$R_PUSH >= 0.9"))"
  echo
  echo "(c) manifest by tag ($MANIFEST_SIZE bytes) at $CONNS connections, $THREADS load threads; median of $ROUNDS interleaved"
  echo "    rounds of ${DUR}s per target (each figure its own median); the load generator shares the $NCPU CPUs"
  printf '%-30s %-8s %7s %6s %6s %6s %6s %6s %6s %6s %5s %5s %5s\n' target "load" "req/s" "x" "p50" "p90" "p99" errors "server" "regis" "load" "box" "other"
  printf '%-30s %-8s %7s %6s %6s %6s %6s %6s %6s %6s %5s %5s %5s\n' "" "" "" direct "ms" "ms" "ms" "" "cores" "cores" "cores" "busy" "cores"
  declare -A WLABEL=([direct]="direct from docker-registry" [tollgate]="Tollgate upstream (from store)"
    [embedded]="Tollgate embedded")
  for tm in "${LOADS[@]}"; do
    read -r tool m <<<"$tm"
    dmed=$(med_of "${W_RPS["$tool direct $m"]}")
    for t in "${WRK_TARGETS[@]}"; do
      k="$tool $t $m"
      w=${W_WALL[$k]}
      srv_c=$(cores "${W_SRV[$k]}" "$w")
      reg_c=$([[ $t == direct ]] && echo 0 || cores "${W_REG[$k]}" "$w")
      gen_c=$(calc "${W_GEN[$k]} / $w" 2)
      busy_c=$(calc "${W_BUSY[$k]} / $CLK_TCK / $w" 2)
      printf '%-30s %-8s %7.0f %6s %6s %6s %6s %6s %6s %6s %5s %4s%% %5s\n' "${WLABEL[$t]}" "$tool $m" \
        "$(med_of "${W_RPS[$k]}")" "$(calc "$(med_of "${W_RPS[$k]}") / $dmed" 1)" \
        "$(calc "$(med_of "${W_P50[$k]}")" 2)" "$(calc "$(med_of "${W_P90[$k]}")" 2)" \
        "$(calc "$(med_of "${W_P99[$k]}")" 2)" "${W_ERR[$k]}" \
        "$srv_c" "$([[ $t == direct ]] && echo - || echo "$reg_c")" "$gen_c" \
        "$(calc "100 * ${W_BUSY[$k]} / (${W_BUSY[$k]} + ${W_IDLE[$k]})" 0)" \
        "$(nonneg "$busy_c - $srv_c - $reg_c - $gen_c")"
    done
    k="$tool tollgate $m"
    r=$(calc "$(med_of "${W_RPS[$k]}") / $dmed" 1)
    p99=$(calc "$(med_of "${W_P99[$k]}")" 2)
    echo "  $tool $m, Tollgate upstream / direct: ${r}x (goal >= 10x: $(verdict "$r >= 10")); p99 $p99 ms, rounds $(range_of "${W_P99[$k]}") (goal < 5 ms: $(verdict "$p99 < 5")); errors ${W_ERR[$k]}"
  done
  echo "  (box busy = all CPUs; other cores = busy minus the processes listed: kernel threads and anything"
  echo "   else running on the machine, e.g. interference from other work)"
  echo
  echo "(d) Tollgate peak RSS (VmHWM), fresh processes started for the streaming phase"
  echo "  upstream mode after (a)+(b): $(calc "$TG_HWM / 1024" 1) MiB (goal < 100 MiB: $(verdict "$TG_HWM < 102400")); VmRSS then $(calc "$TG_RSS_NOW / 1024" 1) MiB; after (c) $(calc "$TG_HWM_AFTER_C / 1024" 1) MiB"
  echo "  embedded mode after setup push: $(calc "$EM_HWM_SETUP / 1024" 1) MiB, after (a)+(b): $(calc "$EM_HWM / 1024" 1) MiB (goal < 100 MiB: $(verdict "$EM_HWM < 102400")); after (c) $(calc "$EM_HWM_AFTER_C / 1024" 1) MiB"
  echo
  echo "(cores everywhere = CPU seconds of that process over wall seconds of the measurement; registry"
  echo " cores are the upstream's own work while that target was measured)"
} | tee "$WORK/results.txt"

if [[ -n ${BENCH_RESULTS:-} ]]; then cp "$WORK/results.txt" "$BENCH_RESULTS"; fi
log "done"
