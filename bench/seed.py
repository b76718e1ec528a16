#!/usr/bin/env python3
"""Seeds a Tollgate gateway with many small artifacts for bench/admission.sh.

    seed.py BASE_URL TOKEN ARTIFACTS REPOS CONCURRENCY [PREFIX]

Pushes one config blob and one layer blob into PREFIX/base, mounts both into every repository
PREFIX/svc-NNNN (a cross-repository mount: no bytes move), then PUTs ARTIFACTS distinct OCI
manifests, spread evenly over REPOS repositories, each under its own immutable SemVer tag
1.0.N — the path `skopeo copy` takes for an image whose blobs are already there. CONCURRENCY
threads each keep one HTTP/1.1 connection. Prints one JSON line with the counts and the rate.
Fails (exit 1) on the first answer that is not the expected 201.
"""

import hashlib
import http.client
import json
import sys
import threading
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def main():
    base, token, total, repos, conc = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    # Repositories are PREFIX/base and PREFIX/svc-NNNN (default dev/seed).
    prefix = sys.argv[6] if len(sys.argv) > 6 else "dev/seed"
    u = urllib.parse.urlsplit(base)
    host, port = u.hostname, u.port
    auth = {"Authorization": "Bearer " + token}

    def conn():
        return http.client.HTTPConnection(host, port, timeout=120)

    def call(c, method, path, body=None, headers=None, want=(201,)):
        h = dict(auth)
        h.update(headers or {})
        for attempt in range(3):
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                data = r.read()
                break
            except (ConnectionError, http.client.HTTPException):
                if attempt == 2:
                    raise
                c.close()
                c.connect()
        if r.status not in want:
            raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
        return r, data

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    layer = b"tollgate bench layer\n" * 8
    blobs = []
    c = conn()
    for b in (config, layer):
        d = "sha256:" + hashlib.sha256(b).hexdigest()
        r, _ = call(c, "POST", f"/v2/{prefix}/base/blobs/uploads/", want=(202,))
        loc = r.getheader("Location")
        sep = "&" if "?" in loc else "?"
        if loc.startswith("http"):
            loc = urllib.parse.urlsplit(loc)
            loc = loc.path + ("?" + loc.query if loc.query else "")
        call(c, "PUT", f"{loc}{sep}digest={d}", body=b,
             headers={"Content-Type": "application/octet-stream"})
        blobs.append((d, len(b)))
    c.close()

    per_repo = -(-total // repos)
    names = [f"{prefix}/svc-{i:04d}" for i in range(repos)]
    lock = threading.Lock()
    state = {"next_repo": 0, "next": 0, "done": 0}

    def guarded(worker):
        def run_it():
            try:
                worker()
            except BaseException as e:  # noqa: BLE001 - reported once, stops the others
                with lock:
                    state.setdefault("error", str(e))
        return run_it

    def mount_worker():
        c = conn()
        while "error" not in state:
            with lock:
                i = state["next_repo"]
                state["next_repo"] += 1
            if i >= repos:
                break
            for d, _ in blobs:
                call(c, "POST", f"/v2/{names[i]}/blobs/uploads/?mount={d}&from={prefix}/base")
        c.close()

    def manifest(n):
        m = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": blobs[0][0], "size": blobs[0][1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": blobs[1][0], "size": blobs[1][1]}],
            "annotations": {"org.opencontainers.image.version": f"1.0.{n // repos}",
                            "org.opencontainers.image.source": "https://git.example/seed",
                            "bench.tollgate/seq": f"{prefix}/{n}"},
        }
        return json.dumps(m, separators=(",", ":")).encode()

    def push_worker():
        c = conn()
        while "error" not in state:
            with lock:
                n = state["next"]
                state["next"] += 1
            if n >= total:
                break
            repo = names[n % repos]
            call(c, "PUT", f"/v2/{repo}/manifests/1.0.{n // repos}", body=manifest(n),
                 headers={"Content-Type": OCI_MANIFEST})
            with lock:
                state["done"] += 1
        c.close()

    def run(worker):
        ts = [threading.Thread(target=guarded(worker)) for _ in range(conc)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if "error" in state:
            raise SystemExit(state["error"])

    t0 = time.time()
    run(mount_worker)
    t1 = time.time()
    stop = threading.Event()

    def progress():
        while not stop.wait(15):
            print(f"[seed] {state['done']}/{total} manifests, "
                  f"{state['done'] / (time.time() - t1):.0f}/s", file=sys.stderr, flush=True)

    threading.Thread(target=progress, daemon=True).start()
    run(push_worker)
    stop.set()
    t2 = time.time()
    if state["done"] != total:
        raise SystemExit(f"only {state['done']} of {total} manifests pushed")
    print(json.dumps({"repositories": repos, "manifests": total, "per_repository": per_repo,
                      "mount_seconds": round(t1 - t0, 1), "push_seconds": round(t2 - t1, 1),
                      "manifests_per_second": round(total / (t2 - t1))}))


if __name__ == "__main__":
    main()
