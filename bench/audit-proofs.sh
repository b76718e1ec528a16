#!/usr/bin/env bash
# Proof latency over HTTP (issue 7): a release gateway serving a data directory whose audit log
# holds 1,000,000 entries, loaded with oha at random positions:
#   inclusion    GET /api/v1/audit/proofs/inclusion?seq=<random>&tree_size=1000000
#   consistency  GET /api/v1/audit/proofs/consistency?from=<random>&to=1000000
#   healthz      GET /healthz of the same gateway (the HTTP floor, baseline)
#
#   AUDIT_BENCH_KEEP_DATA=/path/data-1m cargo bench -p tollgate --bench audit -- proof --test
#   bash bench/audit-proofs.sh /path/data-1m
#
# The data directory is built by the criterion benchmark (the line above, when its cached
# export is not there yet: remove $CARGO_TARGET_DIR/audit-bench/export-1000000.* first). It is
# copied to a temporary directory, so runs start from the same log. Knobs: BENCH_CONCURRENCY
# ("1 16"), BENCH_DURATION (10 s), BENCH_ROUNDS (3), TOLLGATE_BIN, OHA_BIN, BENCH_RESULTS=FILE.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
SRC=${1:?usage: bench/audit-proofs.sh DATA_DIR}
CONCS=${BENCH_CONCURRENCY:-1 16}
DUR=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
TOLLGATE=${TOLLGATE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollgate}
OHA=${OHA_BIN:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
export RUST_LOG=${RUST_LOG:-warn}
[[ -f $SRC/store.redb ]] || { echo "no store.redb in $SRC" >&2; exit 1; }
[[ -x $TOLLGATE && -x $OHA ]] || { echo "need $TOLLGATE and $OHA" >&2; exit 1; }

log() { printf '[proofs %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/tollgate-proofs.XXXXXX")
PID=
cleanup() {
  [[ -n $PID ]] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp -a "$SRC" "$WORK/data"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
URL=http://127.0.0.1:$PORT
t0=$EPOCHREALTIME
"$TOLLGATE" serve --listen "127.0.0.1:$PORT" --data "$WORK/data" >"$WORK/tollgate.log" 2>&1 &
PID=$!
for ((i = 0; i < 600; i++)); do
  curl -s -o /dev/null --max-time 1 "$URL/healthz" && break
  sleep 0.1
done
START_S=$(awk "BEGIN{ printf \"%.1f\", $EPOCHREALTIME - $t0 }")
TOKEN=$(tr -d '[:space:]' <"$WORK/data/admin-token")
SIZE=$(curl -sf -H "Authorization: Bearer $TOKEN" "$URL/api/v1/audit/checkpoint?format=json" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
log "gateway up in ${START_S}s (loads the tree of $SIZE entries), pid $PID"
curl -sf -H "Authorization: Bearer $TOKEN" "$URL/api/v1/audit/proofs/inclusion?seq=123456&tree_size=1000000" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["hashes"]) == 20, d'

declare -A RPS P50 P99
run() { # name conns seconds record
  local url
  case $1 in
    inclusion) url="$URL/api/v1/audit/proofs/inclusion\\?seq=[1-9][0-9]{0,5}&tree_size=1000000" ;;
    consistency) url="$URL/api/v1/audit/proofs/consistency\\?from=[1-9][0-9]{0,5}&to=1000000" ;;
    healthz) url="$URL/healthz" ;;
  esac
  "$OHA" --no-tui -z "${3}s" -c "$2" --output-format json -H "Authorization: Bearer $TOKEN" \
    $([[ $1 == healthz ]] || echo --rand-regex-url) "$url" >"$WORK/out.json"
  (($4)) || return 0
  read -r rps p50 p99 bad < <(python3 - "$WORK/out.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution") or {}
p = d["latencyPercentiles"]
print("%.0f %.3f %.3f %d" % (codes.get("200", 0) / d["summary"]["total"], p["p50"] * 1e3, p["p99"] * 1e3,
                             sum(v for k, v in codes.items() if k != "200")))
EOF
  )
  ((bad == 0)) || { echo "$1: $bad answers were not 200" >&2; exit 1; }
  RPS[$1 $2]+="$rps "
  P50[$1 $2]+="$p50 "
  P99[$1 $2]+="$p99 "
  log "  $1 c=$2: $rps req/s, p50 $p50 ms, p99 $p99 ms"
}
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END{ print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2) }'; }
TARGETS=(inclusion consistency healthz)
for t in "${TARGETS[@]}"; do run "$t" 4 2 0; done
for ((r = 0; r < ROUNDS; r++)); do
  for c in $CONCS; do
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do run "${TARGETS[(r + k) % 3]}" "$c" "$DUR" 1; done
  done
done
{
  echo
  echo "audit proofs over HTTP, log of $SIZE entries; gateway start (tree load) ${START_S}s; median of $ROUNDS x ${DUR}s"
  printf '%-12s %5s %9s %8s %8s\n' target conns "req/s" "p50 ms" "p99 ms"
  for c in $CONCS; do
    for t in "${TARGETS[@]}"; do
      printf '%-12s %5s %9s %8s %8s\n' "$t" "$c" "$(median "${RPS[$t $c]}")" "$(median "${P50[$t $c]}")" "$(median "${P99[$t $c]}")"
    done
  done
} | tee "$WORK/results.txt"
[[ -n ${BENCH_RESULTS:-} ]] && cp "$WORK/results.txt" "$BENCH_RESULTS"
log done
