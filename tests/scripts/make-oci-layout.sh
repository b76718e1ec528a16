#!/usr/bin/env bash
# Adapted from the project's shared test tools; used by the README quickstart.
# Build a minimal OCI image layout (one tiny gzip layer) by hand, no daemon.
# Usage: make-oci-layout.sh OUTDIR [tag]
set -euo pipefail
OUT=$1; TAG=${2:-v1}
rm -rf "$OUT"; mkdir -p "$OUT/blobs/sha256"
W=$(mktemp -d); mkdir -p "$W/rootfs/etc"
echo "hello from tollgate $(date -u +%s%N)" > "$W/rootfs/etc/hello.txt"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' -C "$W/rootfs" -cf "$W/layer.tar" etc
DIFFID=$(sha256sum "$W/layer.tar" | cut -d' ' -f1)
gzip -n -c "$W/layer.tar" > "$W/layer.tar.gz"
LDIG=$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1); LSZ=$(stat -c%s "$W/layer.tar.gz")
cp "$W/layer.tar.gz" "$OUT/blobs/sha256/$LDIG"
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFFID" > "$W/config.json"
CDIG=$(sha256sum "$W/config.json" | cut -d' ' -f1); CSZ=$(stat -c%s "$W/config.json")
cp "$W/config.json" "$OUT/blobs/sha256/$CDIG"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' "$CDIG" "$CSZ" "$LDIG" "$LSZ" > "$W/manifest.json"
MDIG=$(sha256sum "$W/manifest.json" | cut -d' ' -f1); MSZ=$(stat -c%s "$W/manifest.json")
cp "$W/manifest.json" "$OUT/blobs/sha256/$MDIG"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$MDIG" "$MSZ" "$TAG" > "$OUT/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
rm -rf "$W"
echo "sha256:$MDIG"
