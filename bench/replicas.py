#!/usr/bin/env python3
"""Replicas on PostgreSQL vs one embedded node (issue 9), measured in the same run.

    python3 bench/replicas.py

Starts a docker-registry (the upstream for every gateway), a throw-away PostgreSQL cluster with
durable settings (fsync and synchronous_commit on, as in production), and a release Tollgate with
its embedded store. Seeds that node with BENCH_ARTIFACTS small artifacts (bench/seed.py), pushes
three images and promotes them dev → staging → prod, stops it, copies its store into PostgreSQL
with `tollgate store migrate`, and starts it again beside two replicas on the database. Then, in
BENCH_ROUNDS interleaved rounds of BENCH_DURATION seconds, with oha:

  admission  POST /admission/prod, a 3-image Deployment (two by tag, one by digest)
  pull       GET /v2/prod/shop/api/manifests/<digest> (tag-free, pull gate + store)

against  embedded  the embedded node, BENCH_CONCURRENCY connections
         replicas  both replicas at once, half the connections each (requests/s summed,
                   the worse p99 of the two)

first with the replicas' default cache_ms = 0 (every lookup asks PostgreSQL), then again after
restarting them with cache_ms = BENCH_CACHE_MS. Push throughput: BENCH_PUSH manifests through
the embedded node, then the same number split over the two replicas at once.

Prints a markdown table (medians of the rounds; min-max in brackets) and writes it to
BENCH_RESULTS when set. Needs: docker-registry, PostgreSQL server binaries
(/usr/lib/postgresql/*/bin), oha (`cargo install oha --locked`), python3 with `cryptography`.
Everything runs on loopback, free ports, one temporary directory, removed at the end.

Knobs: BENCH_ARTIFACTS=10000 BENCH_REPOS=200 BENCH_CONCURRENCY=16 BENCH_DURATION=10
BENCH_ROUNDS=3 BENCH_PUSH=3000 BENCH_PUSH_CONCURRENCY=16 BENCH_CACHE_MS=100
TOLLGATE_BIN (default target/release/tollgate, built first unless BENCH_NO_BUILD=1).
"""

import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.environ.get
ARTIFACTS = int(ENV("BENCH_ARTIFACTS", "10000"))
REPOS = int(ENV("BENCH_REPOS", "200"))
CONC = int(ENV("BENCH_CONCURRENCY", "16"))
DUR = int(ENV("BENCH_DURATION", "10"))
ROUNDS = int(ENV("BENCH_ROUNDS", "3"))
PUSH = int(ENV("BENCH_PUSH", "3000"))
PUSH_CONC = int(ENV("BENCH_PUSH_CONCURRENCY", "16"))
CACHE_MS = int(ENV("BENCH_CACHE_MS", "100"))
TARGET = ENV("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
TOLLGATE = ENV("TOLLGATE_BIN", os.path.join(TARGET, "release", "tollgate"))
OHA = ENV("OHA_BIN") or shutil.which("oha") or os.path.expanduser("~/.cargo/bin/oha")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ALIAS = "tollgate.bench"
VERSION = "2.4.1"
APPS = ["api", "web", "worker"]

PROCS = []


def log(msg):
    print(f"[replicas {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(args, logfile, **kw):
    p = subprocess.Popen(args, stdout=open(logfile, "ab"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, **kw)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def wait_http(url, secs=60):
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.1)
    raise SystemExit(f"nothing answers at {url}")


def http(method, url, token=None, body=None, ctype=None, want=(200, 201, 202)):
    req = urllib.request.Request(url, data=body, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            data, status, headers = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        data, status, headers = e.read(), e.code, e.headers
    if status not in want:
        raise SystemExit(f"{method} {url}: {status} {data[:300]!r}")
    return status, headers, data


def sha256(b):
    import hashlib
    return "sha256:" + hashlib.sha256(b).hexdigest()


def is_root():
    return os.geteuid() == 0


def as_pg(args):
    return (["runuser", "-u", "postgres", "--"] if is_root() else []) + args


class Gateway:
    def __init__(self, work, name, config, reg):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "policy"), exist_ok=True)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.reg = reg
        self.name = name
        shutil.copy(os.path.join(work, "audit.pem"), os.path.join(self.dir, "audit.pem"))
        with open(os.path.join(self.dir, "policy", "base.toml"), "w") as f:
            f.write('version = 1\n[environments.dev]\n[environments.staging]\nfrom = ["dev"]\n'
                    '[environments.prod]\nfrom = ["staging"]\n')
        self.write_config(config)
        self.proc = None

    def write_config(self, extra):
        with open(os.path.join(self.dir, "tollgate.toml"), "w") as f:
            f.write(f'[upstream]\nurl = "{self.reg}"\n\n[audit]\nkey = "audit.pem"\n\n'
                    f'[policy]\ndir = "policy"\n\n[admission]\n'
                    f'registries = ["{ALIAS}"]\n\n{extra}')

    def start(self, admin=None):
        os.makedirs(self.data, exist_ok=True)
        if admin:
            with open(os.path.join(self.data, "admin-token"), "w") as f:
                f.write(admin + "\n")
        env = dict(os.environ, RUST_LOG=ENV("RUST_LOG", "warn"))
        self.proc = start([TOLLGATE, "serve", "--config", os.path.join(self.dir, "tollgate.toml"),
                           "--listen", f"127.0.0.1:{self.port}", "--data", self.data],
                          os.path.join(self.dir, "tollgate.log"), env=env)
        wait_http(self.url + "/healthz")
        for _ in range(100):
            p = os.path.join(self.data, "admin-token")
            if os.path.exists(p) and open(p).read().strip():
                self.admin = open(p).read().strip()
                return
            time.sleep(0.1)
        raise SystemExit(f"{self.name}: no admin token")

    def stop(self):
        stop(self.proc)


def oha(url_args, conc, secs, out):
    args = [OHA, "--no-tui", "-z", f"{secs}s", "-c", str(conc), "--worker-threads", "1",
            "--output-format", "json"] + url_args
    with open(out, "w") as f:
        subprocess.run(args, stdout=f, stderr=subprocess.DEVNULL, check=True, timeout=secs + 60)
    d = json.load(open(out))
    codes = d.get("statusCodeDistribution") or {}
    ok = codes.get("200", 0)
    bad = sum(v for k, v in codes.items() if k != "200")
    return ok / d["summary"]["total"], d["latencyPercentiles"]["p99"] * 1e3, bad


def load(work, target, gws, conc, secs, review, pull_path, reader):
    """Loads every gateway in `gws` at once (conc split evenly); (rps sum, worst p99 ms, errors)."""
    results = [None] * len(gws)

    def one(i, gw):
        if target == "admission":
            args = ["-m", "POST", "-D", review, "-T", "application/json", gw.url + "/admission/prod"]
        else:
            args = ["-H", f"Accept: {OCI_MANIFEST}", "-H", f"Authorization: Bearer {reader}",
                    gw.url + pull_path]
        results[i] = oha(args, max(1, conc // len(gws)), secs,
                         os.path.join(work, f"oha-{i}.json"))

    ts = [threading.Thread(target=one, args=(i, g)) for i, g in enumerate(gws)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if any(r is None for r in results):
        raise SystemExit(f"oha failed for {target}")
    return (sum(r[0] for r in results), max(r[1] for r in results),
            sum(r[2] for r in results))


def seed(gw, token, n, repos, conc, prefix):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "seed.py"), gw.url, token,
                          str(n), str(repos), str(conc), prefix],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"seeding {gw.name}: {out.stdout[-500:]}{out.stderr[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    for tool in ("docker-registry",):
        if not shutil.which(tool):
            raise SystemExit(f"missing {tool}")
    if not os.access(OHA, os.X_OK):
        raise SystemExit("missing oha: cargo install oha --locked, or set OHA_BIN")
    pg_bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not pg_bins:
        raise SystemExit("missing PostgreSQL server binaries (apt-get install postgresql)")
    pg_bin = os.path.dirname(pg_bins[-1])
    if not ENV("TOLLGATE_BIN") and not ENV("BENCH_NO_BUILD"):
        log("cargo build --release -p tollgate")
        subprocess.run(["cargo", "build", "--release", "-p", "tollgate"], cwd=ROOT, check=True)

    work = tempfile.mkdtemp(prefix="tollgate-replicas.", dir=ENV("BENCH_TMPDIR", "/tmp"))
    os.chmod(work, 0o755)
    try:
        run(work, pg_bin)
    finally:
        for p in list(reversed(PROCS)):
            stop(p)
        pgdata = os.path.join(work, "pg", "data")
        if os.path.exists(os.path.join(pgdata, "postmaster.pid")):
            subprocess.run(as_pg([os.path.join(pg_bin, "pg_ctl"), "-D", pgdata, "stop", "-m",
                                  "fast"]), capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def run(work, pg_bin):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with open(os.path.join(work, "audit.pem"), "wb") as f:
        f.write(ed25519.Ed25519PrivateKey.generate().private_bytes(
            s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True).stdout.strip()
    log(f"machine: {os.cpu_count()} CPUs, {cpu}; Tollgate {rev}; workdir {work}")

    # registry
    reg_port = free_port()
    reg = f"http://127.0.0.1:{reg_port}"
    with open(os.path.join(work, "registry.yml"), "w") as f:
        f.write(f"version: 0.1\nlog: {{level: warn, accesslog: {{disabled: true}}}}\n"
                f"storage: {{filesystem: {{rootdirectory: {work}/registry}}, delete: {{enabled: true}}}}\n"
                f"http: {{addr: 127.0.0.1:{reg_port}}}\n")
    start(["docker-registry", "serve", os.path.join(work, "registry.yml")],
          os.path.join(work, "registry.log"))
    wait_http(reg + "/v2/")

    # PostgreSQL, durable
    pgdir = os.path.join(work, "pg")
    os.makedirs(pgdir)
    if is_root():
        shutil.chown(pgdir, "postgres", "postgres")
    subprocess.run(as_pg([os.path.join(pg_bin, "initdb"), "-U", "postgres", "-A", "trust", "-E",
                          "UTF8", "--locale=C.UTF-8", "-D", os.path.join(pgdir, "data")]),
                   check=True, capture_output=True)
    pg_port = free_port()
    subprocess.run(as_pg([os.path.join(pg_bin, "pg_ctl"), "-D", os.path.join(pgdir, "data"),
                          "-l", os.path.join(pgdir, "server.log"), "-w", "-o",
                          f"-c listen_addresses=127.0.0.1 -p {pg_port} -k {pgdir} "
                          f"-c max_connections=200 -c shared_buffers=256MB", "start"]),
                   check=True, capture_output=True)
    subprocess.run([os.path.join(pg_bin, "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U",
                    "postgres", "-c", "CREATE DATABASE tollgate"], check=True,
                   capture_output=True)
    db = f"postgres://postgres@127.0.0.1:{pg_port}/tollgate"
    pg_version = subprocess.run([os.path.join(pg_bin, "postgres"), "--version"],
                                capture_output=True, text=True).stdout.strip()
    log(f"{pg_version} on 127.0.0.1:{pg_port} (fsync on, synchronous_commit on)")

    # the embedded node, seeded
    node = Gateway(work, "embedded", "", reg)
    node.start()
    log(f"seeding {ARTIFACTS} artifacts into {REPOS} repositories through the embedded node")
    seeded = seed(node, node.admin, ARTIFACTS, REPOS, 32, "dev/seed")
    log(f"seeded: {seeded}")
    _, _, body = http("POST", node.url + "/api/v1/tokens", node.admin,
                      json.dumps({"name": "releaser", "roles": ["promoter"]}).encode(),
                      "application/json")
    releaser = json.loads(body)["token"]
    _, _, body = http("POST", node.url + "/api/v1/tokens", node.admin,
                      json.dumps({"name": "reader", "roles": ["reader"]}).encode(),
                      "application/json")
    reader = json.loads(body)["token"]
    digests = {}
    for app in APPS:
        repo = f"dev/shop/{app}"
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"app": app}},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        layer = os.urandom(65536)
        for blob in (config, layer):
            _, h, _ = http("POST", f"{node.url}/v2/{repo}/blobs/uploads/", node.admin)
            loc = h["Location"]
            loc = loc if loc.startswith("http") else node.url + loc
            sep = "&" if "?" in loc else "?"
            http("PUT", f"{loc}{sep}digest={sha256(blob)}", node.admin, blob,
                 "application/octet-stream")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(layer), "size": len(layer)}]}).encode()
        http("PUT", f"{node.url}/v2/{repo}/manifests/{VERSION}", node.admin, manifest, OCI_MANIFEST)
        digests[app] = sha256(manifest)
        for frm, to in (("dev", "staging"), ("staging", "prod")):
            _, _, body = http("POST", node.url + "/api/v1/promotions", releaser,
                              json.dumps({"artifact": f"{frm}/shop/{app}:{VERSION}",
                                          "to": to}).encode(), "application/json")
            state = json.loads(body)["state"]
            if state != "promoted":
                raise SystemExit(f"{frm}/shop/{app} → {to}: {state}")
    node.stop()
    t0 = time.time()
    out = subprocess.run([TOLLGATE, "store", "migrate", "--from", node.data, "--to", db],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"store migrate: {out.stderr}")
    migrate_s = time.time() - t0
    log(f"store migrate: {out.stdout.strip().splitlines()[-1]} in {migrate_s:.1f} s")
    node.start()

    replicas = [Gateway(work, f"replica-{i}", f'[store]\nurl = "{db}"\npool_size = 16\n', reg)
                for i in range(2)]
    for r in replicas:
        r.start(admin=node.admin)

    review = os.path.join(work, "review.json")
    with open(review, "w") as f:
        f.write(json.dumps(review_json(digests)))
    for gw in [node] + replicas:
        _, _, body = http("POST", gw.url + "/admission/prod", None, open(review, "rb").read(),
                          "application/json")
        if json.loads(body)["response"]["allowed"] is not True:
            raise SystemExit(f"{gw.name}: the review is not allowed: {body[:300]!r}")
    pull_path = f"/v2/prod/shop/api/manifests/{digests['api']}"

    results = {}

    def measure(label, gws_for):
        log(f"warm-up ({label})")
        for target in ("admission", "pull"):
            load(work, target, gws_for, CONC, 2, review, pull_path, reader)
        for rnd in range(ROUNDS):
            for target in ("admission", "pull"):
                for setup, gws in (("embedded", [node]), (label, gws_for)):
                    rps, p99, bad = load(work, target, gws, CONC, DUR, review, pull_path, reader)
                    results.setdefault((target, setup), []).append((rps, p99, bad))
                    log(f"  round {rnd + 1} {target} {setup}: {rps:.0f}/s p99 {p99:.2f} ms"
                        f"{f', {bad} errors' if bad else ''}")

    measure("replicas, cache_ms = 0", replicas)
    for r in replicas:
        r.stop()
        r.write_config(f'[store]\nurl = "{db}"\npool_size = 16\ncache_ms = {CACHE_MS}\n')
        r.start(admin=node.admin)
    measure(f"replicas, cache_ms = {CACHE_MS}", replicas)

    # pushes: the embedded node alone, then both replicas at once (half each)
    log(f"push: {PUSH} manifests through the embedded node")
    e = seed(node, node.admin, PUSH, 50, PUSH_CONC, "dev/push-embedded")
    log(f"push: {PUSH} manifests split over both replicas")
    outs = [None, None]

    def push_via(i):
        outs[i] = seed(replicas[i], node.admin, PUSH // 2, 25, PUSH_CONC // 2, f"dev/push-r{i}")

    t0 = time.time()
    ts = [threading.Thread(target=push_via, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if None in outs:
        raise SystemExit("pushing through the replicas failed")
    wall = max(o["push_seconds"] for o in outs)
    r_rate = (PUSH // 2 * 2) / wall

    lines = [
        f"Machine: {os.cpu_count()} vCPUs ({cpu}); Tollgate {rev} (release); {pg_version} "
        f"with fsync and synchronous_commit on; docker-registry upstream; oha, {CONC} connections "
        f"({CONC // 2} per replica), {ROUNDS} interleaved rounds of {DUR} s, medians [min-max].",
        f"Store: {ARTIFACTS} seeded artifacts in {REPOS} repositories (+3 promoted images), "
        f"moved into PostgreSQL with `tollgate store migrate` in {migrate_s:.1f} s.",
        "",
        "| load | setup | requests/s | p99 ms | vs embedded (req/s) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for target in ("admission", "pull"):
        base = statistics.median(r[0] for r in results[(target, "embedded")])
        for setup in sorted({k[1] for k in results if k[0] == target},
                            key=lambda s: (s != "embedded", s)):
            rs = results[(target, setup)]
            rps = [r[0] for r in rs]
            p99 = [r[1] for r in rs]
            lines.append(
                f"| {target} | {setup} | {statistics.median(rps):,.0f} [{min(rps):,.0f}-{max(rps):,.0f}] "
                f"| {statistics.median(p99):.2f} [{min(p99):.2f}-{max(p99):.2f}] "
                f"| {statistics.median(rps) / base:.2f}× | {sum(r[2] for r in rs)} |")
    lines += [
        "",
        "| push (manifest PUT, blobs already there) | manifests/s | vs embedded |",
        "|---|---|---|",
        f"| embedded node, {PUSH_CONC} connections | {e['manifests_per_second']:,} | 1.00× |",
        f"| two replicas at once, {PUSH_CONC // 2} connections each | {r_rate:,.0f} | "
        f"{r_rate / e['manifests_per_second']:.2f}× |",
    ]
    table = "\n".join(lines)
    print(table)
    if ENV("BENCH_RESULTS"):
        with open(ENV("BENCH_RESULTS"), "w") as f:
            f.write(table + "\n")


def review_json(digests):
    images = [f"{ALIAS}/prod/shop/api:{VERSION}", f"{ALIAS}/prod/shop/web:{VERSION}",
              f"{ALIAS}/prod/shop/worker@{digests['worker']}"]
    containers = [{"name": f"c{i}", "image": im, "imagePullPolicy": "IfNotPresent",
                   "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}
                  for i, im in enumerate(images)]
    return {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "shop", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:argocd:argocd-application-controller"},
            "object": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "shop", "namespace": "shop"},
                       "spec": {"replicas": 3, "template": {"spec": {"containers": containers}}}},
            "oldObject": None, "dryRun": False,
        },
    }


if __name__ == "__main__":
    main()
