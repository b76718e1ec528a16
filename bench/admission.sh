#!/usr/bin/env bash
# Admission and promoted-pull benchmark of Tollgate (issue 6), with baselines from the same run.
#
#   bash bench/admission.sh
#
# Starts a docker-registry and a release Tollgate in front of it (upstream mode) with a permissive
# promotion policy and `[admission] registries`, seeds the store with BENCH_ARTIFACTS small
# artifacts (manifests pushed into dev repositories through the gateway: bench/seed.py), pushes
# three images dev/shop/{api,web,worker}:2.4.1 and promotes them dev → staging → prod through
# POST /api/v1/promotions. Then, with oha at each concurrency of BENCH_CONCURRENCY, in
# interleaved rounds:
#   admission   POST /admission/prod, an AdmissionReview v1 of a Deployment with those three
#               images (two by tag, one by digest, on both configured registry names)
#   healthz     GET /healthz of the same gateway: the floor of the HTTP stack (baseline)
#   pull        GET /v2/prod/shop/api/manifests/<digest> through Tollgate (pull gate + store)
#   direct      the same GET straight from the docker-registry (baseline)
# Everything runs on loopback with free ports, in one temporary directory that is removed at the
# end; every process the script starts is stopped by its pid. Needs: docker-registry, curl,
# python3, openssl, oha (`cargo install oha --locked`), cargo. See BENCHMARKS.md.
#
# Knobs (environment):
#   BENCH_ARTIFACTS=100000  artifacts seeded into the store (BENCH_REPOS=1000 repositories,
#                           BENCH_SEED_CONCURRENCY=32 pushing connections)
#   BENCH_CONCURRENCY="1 4 8 16 64"  oha connections per load run
#   BENCH_TARGETS="admission healthz pull direct"  what to load (the report needs all four)
#   BENCH_DURATION=10       seconds per load run; BENCH_ROUNDS=3 rounds (medians reported);
#                           BENCH_THREADS=2 oha worker threads
#   BENCH_STATE=DIR         keep the registry storage and the data directory in DIR, and use them
#                           in place when DIR was seeded before (seeding 100,000 artifacts takes
#                           ~9 minutes and ~5 GiB, mostly docker-registry's link files); delete
#                           DIR to reseed
#   BENCH_TMPDIR=/tmp       where the temporary directory goes
#   TOLLGATE_BIN            gateway binary to use as is (default: target/release/tollgate, first
#                           brought up to date by `cargo build --release -p tollgate`)
#   BENCH_NO_BUILD=1        skip that build
#   RUST_LOG=warn           gateway log level
#   BENCH_RESULTS=FILE      also copy the results table there
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
ARTIFACTS=${BENCH_ARTIFACTS:-100000}
REPOS=${BENCH_REPOS:-1000}
SEED_CONC=${BENCH_SEED_CONCURRENCY:-32}
CONCS=${BENCH_CONCURRENCY:-1 4 8 16 64}
DUR=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-2}
STATE=${BENCH_STATE:-}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TOLLGATE=${TOLLGATE_BIN:-$TARGET_DIR/release/tollgate}
REGISTRY=${REGISTRY_BIN:-docker-registry}
OHA=${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
export RUST_LOG=${RUST_LOG:-warn}
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
CLK_TCK=$(getconf CLK_TCK)
HOSTNAME_ALIAS=tollgate.bench # the second registry name admission accepts (never resolved)
APPS=(api web worker)
VERSION=2.4.1

log() { printf '[admission %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "FAILED: $*"
  exit 1
}

for tool in curl openssl python3 "$REGISTRY" awk sort; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
[[ -x $OHA ]] || die "missing oha (HTTP load generator): cargo install oha --locked, or set OHA_BIN"
((ARTIFACTS >= 1 && REPOS >= 1 && DUR >= 1 && ROUNDS >= 1)) || die "bad knobs"

if [[ -z ${TOLLGATE_BIN:-} && -z ${BENCH_NO_BUILD:-} ]]; then
  log "cargo build --release -p tollgate"
  (cd "$ROOT" && timeout 1800 cargo build --release -p tollgate) >&2 || die "the release build failed"
fi
[[ -x $TOLLGATE ]] || die "no tollgate binary at $TOLLGATE"

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/tollgate-admission.XXXXXX")
PIDS=()

stop_pid() { # pid: TERM, wait up to 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
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

wait_http() { # url: up to 60 s for any HTTP answer
  local i
  for ((i = 0; i < 600; i++)); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  die "nothing answers at $1"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{ printf "%s-%s", lo, hi }'; }
calc() { awk "BEGIN{ printf \"%.${2:-2}f\", $1 }"; }
med_of() { read -r -a _a <<<"$1"; median "${_a[@]}"; }
range_of() { read -r -a _a <<<"$1"; minmax "${_a[@]}"; }

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
box_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat; } # busy idle
sha256_of() { openssl dgst -sha256 -r "$1" | cut -d' ' -f1; }

CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
GIT_REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=$(cd "$ROOT" && { git diff --quiet HEAD -- gateway store attest policies sbom Cargo.toml Cargo.lock 2>/dev/null && echo clean || echo "with uncommitted changes"; })
log "machine: $(nproc) CPUs, $CPU_MODEL, kernel $(uname -r); workdir $WORK"

# --- state: the registry's storage and the gateway's data directory ---------------------------
# In the temporary directory, or kept in BENCH_STATE and used in place by later runs.
REG_DIR=$WORK/registry
TG_DATA=$WORK/tollgate-data
SEEDED=0
if [[ -n $STATE ]]; then
  REG_DIR=$STATE/registry
  TG_DATA=$STATE/tollgate-data
  if [[ -f $STATE/seeded ]]; then
    read -r s_art s_repos <"$STATE/seeded"
    [[ $s_art == "$ARTIFACTS" && $s_repos == "$REPOS" ]] ||
      die "$STATE holds $s_art artifacts in $s_repos repositories, not $ARTIFACTS in $REPOS: remove it to reseed"
    log "reusing the seeded state in $STATE"
    cp "$STATE/seed.json" "$STATE/images.txt" "$WORK/"
    SEEDED=1
  else
    rm -rf "$REG_DIR" "$TG_DATA"
  fi
fi
if ((!SEEDED)); then
  # docker-registry's filesystem driver spends ~45 KiB (directories and link files) per tagged
  # manifest, the store ~3 KiB.
  NEED_MIB=$((ARTIFACTS * 50 / 1024 + 512))
  mkdir -p "$REG_DIR"
  AVAIL_MIB=$(df -Pm "$REG_DIR" | awk 'NR==2{print $4}')
  ((AVAIL_MIB > NEED_MIB)) || die "seeding needs ~${NEED_MIB} MiB free under $REG_DIR, have ${AVAIL_MIB}"
fi
mkdir -p "$REG_DIR" "$TG_DATA"

REG_PORT=$(free_port)
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $REG_DIR}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$REG_PORT}
EOF
start_registry() {
  "$REGISTRY" serve "$WORK/registry.yml" >>"$WORK/registry.log" 2>&1 &
  REG_PID=$!
  PIDS+=("$REG_PID")
  wait_http "$REG/v2/"
}
stop_registry() {
  stop_pid "$REG_PID"
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$REG_PID" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
REG=http://127.0.0.1:$REG_PORT
start_registry
log "docker-registry $("$REGISTRY" --version 2>&1 | awk '{print $NF}') on $REG (pid $REG_PID)"

# Permissive promotion policy: dev → staging → prod, no rules.
TG_PORT=$(free_port)
mkdir -p "$WORK/policy"
printf 'version = 1\n[environments.dev]\n[environments.staging]\nfrom = ["dev"]\n[environments.prod]\nfrom = ["staging"]\n' \
  >"$WORK/policy/base.toml"
cat >"$WORK/tollgate.toml" <<EOF
[policy]
dir = "policy"

[admission]
registries = ["127.0.0.1:$TG_PORT", "$HOSTNAME_ALIAS"]
EOF
TG=http://127.0.0.1:$TG_PORT
start_tollgate() {
  "$TOLLGATE" serve --config "$WORK/tollgate.toml" --listen "127.0.0.1:$TG_PORT" --data "$TG_DATA" \
    --upstream "$REG" >>"$WORK/tollgate.log" 2>&1 &
  TG_PID=$!
  PIDS+=("$TG_PID")
  wait_http "$TG/healthz"
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $TG_DATA/admin-token ]] && break
    sleep 0.1
  done
  ADMIN=$(tr -d '[:space:]' <"$TG_DATA/admin-token")
}
stop_tollgate() {
  stop_pid "$TG_PID"
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$TG_PID" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
start_tollgate
log "Tollgate $GIT_REV (upstream mode) at $TG (pid $TG_PID)"

api() { # method path [json-body]: prints the body, fails on a non-2xx answer
  local args=(-sS --max-time 60 -X "$1" -H "Authorization: Bearer $ADMIN" -o "$WORK/api.out" -w '%{http_code}')
  [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
  local code
  code=$(curl "${args[@]}" "$TG$2") || die "$1 $2: curl failed"
  [[ $code == 2* ]] || die "$1 $2 answered $code: $(cat "$WORK/api.out")"
  cat "$WORK/api.out"
}
json_field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }

push_blob() { # repo file digest token
  local hdrs loc sep code
  hdrs=$(curl -sS -f --max-time 30 -X POST -H "Authorization: Bearer $4" -D - -o /dev/null \
    "$TG/v2/$1/blobs/uploads/") || die "upload start for $1"
  loc=$(awk 'tolower($1)=="location:"{print $2}' <<<"$hdrs" | tr -d '\r')
  [[ $loc == /* ]] && loc=$TG$loc
  sep='?'
  [[ $loc == *\?* ]] && sep='&'
  code=$(curl -sS --max-time 60 -X PUT -T "$2" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
    -H "Authorization: Bearer $4" -o "$WORK/put.out" -w '%{http_code}' "$loc${sep}digest=$3") || die "upload to $1"
  [[ $code == 201 ]] || die "blob upload to $1 answered $code: $(cat "$WORK/put.out")"
}

declare -A DIGEST
if ((!SEEDED)); then
  # --- seed -------------------------------------------------------------------------------------
  log "seeding $ARTIFACTS artifacts into $REPOS dev repositories ($SEED_CONC connections)"
  t0=$EPOCHREALTIME
  SEED_OUT=$(python3 "$ROOT/bench/seed.py" "$TG" "$ADMIN" "$ARTIFACTS" "$REPOS" "$SEED_CONC") ||
    die "seeding failed"
  log "seeded: $SEED_OUT ($(calc "$EPOCHREALTIME - $t0" 0) s)"
  echo "$SEED_OUT" >"$WORK/seed.json"

  # --- three images, promoted dev → staging → prod ----------------------------------------------
  RELEASER=$(api POST /api/v1/tokens '{"name":"releaser","roles":["promoter"]}' | json_field token)
  for app in "${APPS[@]}"; do
    repo=dev/shop/$app
    printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"app":"%s"}},"rootfs":{"type":"layers","diff_ids":[]}}' \
      "$app" >"$WORK/config-$app.json"
    head -c 65536 /dev/urandom >"$WORK/layer-$app.bin"
    cd_=sha256:$(sha256_of "$WORK/config-$app.json")
    ld=sha256:$(sha256_of "$WORK/layer-$app.bin")
    push_blob "$repo" "$WORK/config-$app.json" "$cd_" "$ADMIN"
    push_blob "$repo" "$WORK/layer-$app.bin" "$ld" "$ADMIN"
    printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":65536}]}' \
      "$OCI_MANIFEST" "$cd_" "$(stat -c %s "$WORK/config-$app.json")" "$ld" >"$WORK/manifest-$app.json"
    code=$(curl -sS --max-time 30 -X PUT -H "Authorization: Bearer $ADMIN" -H "Content-Type: $OCI_MANIFEST" \
      --data-binary "@$WORK/manifest-$app.json" -o "$WORK/put.out" -w '%{http_code}' "$TG/v2/$repo/manifests/$VERSION")
    [[ $code == 201 ]] || die "manifest PUT $repo:$VERSION answered $code: $(cat "$WORK/put.out")"
    for step in "dev staging" "staging prod"; do
      read -r from to <<<"$step"
      state=$(curl -sS --max-time 120 -X POST -H "Authorization: Bearer $RELEASER" -H 'Content-Type: application/json' \
        --data-binary "{\"artifact\":\"$from/shop/$app:$VERSION\",\"to\":\"$to\"}" "$TG/api/v1/promotions" | json_field state) ||
        die "promotion of $from/shop/$app:$VERSION to $to"
      [[ $state == promoted ]] || die "promotion of $from/shop/$app:$VERSION to $to is $state"
    done
    echo "$app sha256:$(sha256_of "$WORK/manifest-$app.json")" >>"$WORK/images.txt"
  done
  log "promoted dev/shop/{${APPS[*]}}:$VERSION to staging and prod"
  # Fresh processes for the measurement (the seeding's allocations and caches gone).
  stop_tollgate
  stop_registry
  if [[ -n $STATE ]]; then
    cp "$WORK/seed.json" "$WORK/images.txt" "$STATE/"
    echo "$ARTIFACTS $REPOS" >"$STATE/seeded"
    log "the seeded state stays in $STATE for later runs"
  fi
  start_registry
  start_tollgate
  log "restarted: docker-registry pid $REG_PID, Tollgate pid $TG_PID"
fi
while read -r app d; do DIGEST[$app]=$d; done <"$WORK/images.txt"
SEED_INFO=$(cat "$WORK/seed.json")
READER=$(api POST /api/v1/tokens "{\"name\":\"puller-$RANDOM$RANDOM\",\"roles\":[\"reader\"]}" | json_field token)

# --- the AdmissionReview: a Deployment as kubectl apply sends it --------------------------------
python3 - "$WORK/review.json" "127.0.0.1:$TG_PORT" "$HOSTNAME_ALIAS" "$VERSION" "${DIGEST[worker]}" <<'EOF'
import json, sys
out, local, alias, version, worker = sys.argv[1:]
images = {
    "api": f"{alias}/prod/shop/api:{version}",            # by tag, the DNS name
    "web": f"{local}/prod/shop/web:{version}",            # by tag, host:port
    "worker": f"{alias}/prod/shop/worker@{worker}",       # by digest
}
def container(name, image, port):
    return {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "password"}}}],
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"}, "periodSeconds": 5,
                           "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}, "periodSeconds": 10,
                          "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/shop", "readOnly": True}],
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
labels = {"app.kubernetes.io/name": "shop", "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/version": version}
spec = {
    "replicas": 3, "revisionHistoryLimit": 10,
    "selector": {"matchLabels": {"app.kubernetes.io/name": "shop"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    "progressDeadlineSeconds": 600,
    "template": {
        "metadata": {"labels": labels, "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
        "spec": {
            "containers": [container("api", images["api"], 8080), container("web", images["web"], 8081),
                           container("worker", images["worker"], 8082)],
            "volumes": [{"name": "config", "configMap": {"name": "shop-config", "defaultMode": 420}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "shop", "serviceAccount": "shop", "schedulerName": "default-scheduler",
            "securityContext": {"fsGroup": 2000, "seccompProfile": {"type": "RuntimeDefault"}},
        },
    },
}
obj = {"apiVersion": "apps/v1", "kind": "Deployment",
       "metadata": {"name": "shop", "namespace": "shop", "labels": labels, "generation": 1,
                    "uid": "8d1c3c1e-4a8e-4b7e-9a59-0d8e6f4f2b11", "creationTimestamp": None,
                    "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                    json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                                                "metadata": {"name": "shop", "namespace": "shop"},
                                                "spec": spec}, separators=(",", ":"))},
                    "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                                       "apiVersion": "apps/v1", "time": "2026-11-27T00:00:00Z", "fieldsType": "FieldsV1",
                                       "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                                                    "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}}]},
       "spec": spec, "status": {}}
review = {
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "requestKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "requestResource": {"group": "apps", "version": "v1", "resource": "deployments"},
        "name": "shop", "namespace": "shop", "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller",
                     "uid": "0c4ef6a7-0b4e-4a55-8c0a-2f6b0f7f3c0e",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"]},
        "object": obj, "oldObject": None, "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "argocd-controller"},
    },
}
open(out, "w").write(json.dumps(review, separators=(",", ":")))
EOF
REVIEW_BYTES=$(stat -c %s "$WORK/review.json")
# Sanity: allowed, with the three digests; and a refusal for an image that was not promoted.
curl -sS --max-time 10 -H 'Content-Type: application/json' --data-binary "@$WORK/review.json" \
  "$TG/admission/prod" >"$WORK/answer.json" || die "POST /admission/prod"
python3 - "$WORK/answer.json" "${DIGEST[api]}" "${DIGEST[web]}" "${DIGEST[worker]}" <<'EOF' || die "the review is not allowed with the three digests: $(cat "$WORK/answer.json")"
import json, sys
r = json.load(open(sys.argv[1]))["response"]
assert r["allowed"] is True, r
d = r["auditAnnotations"]["digests"]
assert all(x in d for x in sys.argv[2:]), d
EOF
sed "s#/prod/shop/api:#/prod/seed/svc-0001:#g" "$WORK/review.json" >"$WORK/review-denied.json"
curl -sS --max-time 10 -H 'Content-Type: application/json' --data-binary "@$WORK/review-denied.json" \
  "$TG/admission/prod" >"$WORK/answer-denied.json" || die "POST /admission/prod (denied)"
grep -q '"allowed":false' "$WORK/answer-denied.json" ||
  die "a review naming an unpromoted image was not denied: $(cat "$WORK/answer-denied.json")"
log "review: $REVIEW_BYTES bytes, allowed with the three promoted digests; an unpromoted image is denied"

# The pull: the promoted api manifest by digest, through Tollgate and straight from the registry.
PULL_PATH=/v2/prod/shop/api/manifests/${DIGEST[api]}
for base in "$TG" "$REG"; do
  got=$(curl -sS -f --max-time 10 -H "Authorization: Bearer $READER" -H "Accept: $OCI_MANIFEST" "$base$PULL_PATH" |
    openssl dgst -sha256 -r | cut -d' ' -f1)
  [[ sha256:$got == "${DIGEST[api]}" ]] || die "the promoted manifest from $base is not the one pushed"
done
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $READER" -H "Accept: $OCI_MANIFEST" \
  "$TG/v2/prod/seed/svc-0001/manifests/1.0.0")
[[ $code == 403 || $code == 404 ]] || die "an unpromoted prod pull answered $code"

# --- load -------------------------------------------------------------------------------------
declare -A RPS P50 P90 P99 P999 ERR SRV REGC GEN WALL BUSY IDLE
TIMEFORMAT='%R %U %S'
load_once() { # target conns seconds record
  local t=$1 c=$2 secs=$3 record=$4 key="$1 $2" args tf s0 r0 s1 r1 b0 i0 b1 i1 line real user sys kv
  case $t in
    admission) args=(-m POST -D "$WORK/review.json" -T application/json "$TG/admission/prod") ;;
    healthz) args=("$TG/healthz") ;;
    pull) args=(-H "Accept: $OCI_MANIFEST" -H "Authorization: Bearer $READER" "$TG$PULL_PATH") ;;
    direct) args=(-H "Accept: $OCI_MANIFEST" "$REG$PULL_PATH") ;;
  esac
  tf=$WORK/time.out
  s0=$(cpu_ticks "$TG_PID")
  r0=$(cpu_ticks "$REG_PID")
  read -r b0 i0 < <(box_ticks)
  { time timeout $((secs + 30)) "$OHA" --no-tui -z "${secs}s" -c "$c" --worker-threads "$THREADS" \
    --output-format json "${args[@]}" >"$WORK/load.out" 2>"$WORK/load.err"; } 2>"$tf" ||
    die "oha $key: $(cat "$WORK/load.err")"
  read -r b1 i1 < <(box_ticks)
  s1=$(cpu_ticks "$TG_PID")
  r1=$(cpu_ticks "$REG_PID")
  ((record)) || return 0
  line=$(python3 - "$WORK/load.out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution") or {}
errors = d.get("errorDistribution") or {}
ok = codes.get("200", 0)
bad = sum(v for k, v in codes.items() if k != "200") + sum(
    v for k, v in errors.items() if "deadline" not in k)
us = lambda x: (x or 0) * 1e6
print("rps=%.1f p50=%.3f p90=%.3f p99=%.3f p999=%.3f errors=%d"
      % (ok / s["total"], us(p["p50"]) / 1e3, us(p["p90"]) / 1e3, us(p["p99"]) / 1e3,
         us(p.get("p99.9")) / 1e3, bad))
EOF
  ) || die "oha $key: unreadable output"
  read -r real user sys <"$tf"
  local -A v=()
  for kv in $line; do v[${kv%%=*}]=${kv#*=}; done
  RPS[$key]+="${v[rps]} "
  P50[$key]+="${v[p50]} "
  P90[$key]+="${v[p90]} "
  P99[$key]+="${v[p99]} "
  P999[$key]+="${v[p999]} "
  ERR[$key]=$((${ERR[$key]:-0} + v[errors]))
  SRV[$key]=$((${SRV[$key]:-0} + s1 - s0))
  REGC[$key]=$((${REGC[$key]:-0} + r1 - r0))
  BUSY[$key]=$((${BUSY[$key]:-0} + b1 - b0))
  IDLE[$key]=$((${IDLE[$key]:-0} + i1 - i0))
  GEN[$key]=$(calc "${GEN[$key]:-0} + $user + $sys" 3)
  WALL[$key]=$(calc "${WALL[$key]:-0} + $real" 3)
  log "  $t c=$c: ${v[rps]} req/s, p50 ${v[p50]} ms, p99 ${v[p99]} ms, errors ${v[errors]}"
}

read -r -a TARGETS <<<"${BENCH_TARGETS:-admission healthz pull direct}"
log "warm-up: 2 s per target"
for t in "${TARGETS[@]}"; do load_once "$t" 16 2 0; done
log "$ROUNDS interleaved rounds of ${DUR}s per target and concurrency ($CONCS)"
for ((r = 0; r < ROUNDS; r++)); do
  for c in $CONCS; do
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do
      load_once "${TARGETS[(r + k) % ${#TARGETS[@]}]}" "$c" "$DUR" 1
    done
  done
done
# Still allowed after the load (nothing degraded).
curl -sS --max-time 10 -H 'Content-Type: application/json' --data-binary "@$WORK/review.json" \
  "$TG/admission/prod" | grep -q '"allowed":true' || die "the review is no longer allowed after the load"
TG_RSS=$(awk '$1=="VmHWM:"{print $2}' "/proc/$TG_PID/status")

# --- report -----------------------------------------------------------------------------------
verdict() { awk "BEGIN{ exit !($1) }" && echo MET || echo "NOT MET"; }
{
  echo
  echo "Tollgate admission benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) CPUs ($CPU_MODEL), kernel $(uname -r); tollgate $TOLLGATE, git $GIT_REV ($GIT_DIRTY)"
  echo "tools: docker-registry $("$REGISTRY" --version 2>&1 | awk '{print $NF}'); $("$OHA" --version); $OHA --worker-threads $THREADS"
  echo "store: $ARTIFACTS seeded artifacts + 3 promoted images; seeding $SEED_INFO"
  echo "review: AdmissionReview v1, Deployment, 3 images (2 by tag, 1 by digest), $REVIEW_BYTES bytes; pull: manifest of prod/shop/api by digest"
  echo "median of $ROUNDS interleaved ${DUR}s rounds per figure; latencies in ms; cores = CPU s / wall s;"
  echo "other = busy CPU none of the gateway, registry and load generator used (interference when > ~0.1)"
  echo
  printf '%-10s %5s %8s %7s %7s %7s %7s %6s %7s %6s %6s %5s %6s\n' target conns "req/s" p50 p90 p99 p99.9 errors gateway regis load box other
  printf '%-10s %5s %8s %7s %7s %7s %7s %6s %7s %6s %6s %5s %6s\n' "" "" "" "" "" "" "" "" cores cores cores busy cores
  for c in $CONCS; do
    for t in "${TARGETS[@]}"; do
      k="$t $c"
      [[ -n ${WALL[$k]:-} ]] || continue
      w=${WALL[$k]}
      srv_c=$(calc "${SRV[$k]} / $CLK_TCK / $w" 2)
      reg_c=$(calc "${REGC[$k]} / $CLK_TCK / $w" 2)
      gen_c=$(calc "${GEN[$k]} / $w" 2)
      other=$(awk "BEGIN{ v = ${BUSY[$k]} / $CLK_TCK / $w - $srv_c - $reg_c - $gen_c; printf \"%.2f\", (v < 0 ? 0 : v) }")
      printf '%-10s %5s %8.0f %7s %7s %7s %7s %6s %7s %6s %6s %4s%% %6s\n' "$t" "$c" "$(med_of "${RPS[$k]}")" \
        "$(med_of "${P50[$k]}")" "$(med_of "${P90[$k]}")" "$(med_of "${P99[$k]}")" "$(med_of "${P999[$k]}")" \
        "${ERR[$k]}" "$srv_c" "$reg_c" "$gen_c" \
        "$(calc "100 * ${BUSY[$k]} / (${BUSY[$k]} + ${IDLE[$k]})" 0)" "$other"
    done
  done
  echo
  if ((${#TARGETS[@]} == 4)); then
    echo "ratios and goals (>= 20,000/s and p99 < 1 ms):"
    for c in $CONCS; do
      a=$(med_of "${RPS[admission $c]}")
      h=$(med_of "${RPS[healthz $c]}")
      p=$(med_of "${RPS[pull $c]}")
      d=$(med_of "${RPS[direct $c]}")
      ap=$(med_of "${P99[admission $c]}")
      pp=$(med_of "${P99[pull $c]}")
      echo "  c=$c: admission $(calc "$a" 0)/s = $(calc "$a / $h" 2)x healthz, p99 $ap ms: $(verdict "$a >= 20000 && $ap < 1");" \
        "pull $(calc "$p" 0)/s = $(calc "$p / $d" 1)x direct, p99 $pp ms: $(verdict "$p >= 20000 && $pp < 1")"
    done
    echo "  (p99 rounds: admission $(for c in $CONCS; do printf 'c=%s %s  ' "$c" "$(range_of "${P99[admission $c]}")"; done))"
  fi
  echo "  gateway peak RSS $(calc "$TG_RSS / 1024" 1) MiB"
} | tee "$WORK/results.txt"
if [[ -n ${BENCH_RESULTS:-} ]]; then cp "$WORK/results.txt" "$BENCH_RESULTS"; fi
log "done"
