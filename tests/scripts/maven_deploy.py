#!/usr/bin/env python3
"""Replays the HTTP requests Maven's deploy plugin (maven-resolver 1.9, Maven 3.9) sends to a
remote repository, with python `requests`: for a release or a SNAPSHOT of one artifact (a jar
and its pom), in the plugin's order:

1. GET the metadata it will merge into (version-level for a SNAPSHOT, then artifact-level);
2. PUT each file, each followed by its `.sha1` and `.md5` sidecars (a SNAPSHOT's files under
   their unique timestamped names, `demo-1.0-20240115.093012-7.jar`);
3. PUT the merged `maven-metadata.xml` files, each followed by `.sha1` and `.md5`.

Prints one JSON object last: {"requests": [[method, path, status], ...], "file_version": ...}.
Exits 0 whatever the statuses; the caller judges them.

With `--sbom FILE` the version also gets an SBOM attached as the cyclonedx-maven-plugin does
(`<artifact>-<file version>-cyclonedx.json`, or `-<classifier>.json` with `--sbom-classifier`),
deployed after the pom like any attached artifact, or before the jar with `--sbom-first`.

usage: maven_deploy.py URL USER PASSWORD GROUP ARTIFACT VERSION JAR POM [--stop-on-error]
       [--sbom FILE [--sbom-classifier cyclonedx|spdx] [--sbom-first]]
"""
import datetime
import hashlib
import json
import re
import sys

import requests

url, user, password, group, artifact, version, jar_path, pom_path = sys.argv[1:9]
flags = sys.argv[9:]
stop_on_error = "--stop-on-error" in flags
sbom_path = flags[flags.index("--sbom") + 1] if "--sbom" in flags else None
sbom_classifier = (
    flags[flags.index("--sbom-classifier") + 1] if "--sbom-classifier" in flags else "cyclonedx"
)
sbom_first = "--sbom-first" in flags
url = url.rstrip("/")
session = requests.Session()
session.auth = (user, password)
session.headers["User-Agent"] = "Apache-Maven/3.9.6 (Java 17.0.10; Linux 6.1.0)"
session.trust_env = False
log = []


def call(method, path, data=None):
    r = session.request(method, f"{url}/{path}", data=data, timeout=30)
    log.append([method, path, r.status_code])
    if stop_on_error and method == "PUT" and r.status_code >= 300:
        finish()
    return r


def finish():
    print(json.dumps({"requests": log, "file_version": file_version}))
    sys.exit(0)


def put_with_sums(path, data):
    call("PUT", path, data)
    call("PUT", path + ".sha1", hashlib.sha1(data).hexdigest().encode())
    call("PUT", path + ".md5", hashlib.md5(data).hexdigest().encode())


gdir = group.replace(".", "/")
adir = f"{gdir}/{artifact}"
vdir = f"{adir}/{version}"
now = datetime.datetime.now(datetime.timezone.utc)
last_updated = now.strftime("%Y%m%d%H%M%S")
snapshot = version.endswith("-SNAPSHOT")
file_version = version

# 1. metadata the deploy merges into
if snapshot:
    build = 1
    r = call("GET", f"{vdir}/maven-metadata.xml")
    if r.status_code == 200:
        m = re.search(r"<buildNumber>(\d+)</buildNumber>", r.text)
        if m:
            build = int(m.group(1)) + 1
    timestamp = now.strftime("%Y%m%d.%H%M%S")
    file_version = f"{version[: -len('SNAPSHOT')]}{timestamp}-{build}"
r = call("GET", f"{adir}/maven-metadata.xml")
versions = re.findall(r"<version>([^<]+)</version>", r.text) if r.status_code == 200 else []

# 2. the files, each with its checksums
jar = open(jar_path, "rb").read()
pom = open(pom_path, "rb").read()
sbom = open(sbom_path, "rb").read() if sbom_path else None
sbom_file = f"{vdir}/{artifact}-{file_version}-{sbom_classifier}.json"
if sbom is not None and sbom_first:
    put_with_sums(sbom_file, sbom)
put_with_sums(f"{vdir}/{artifact}-{file_version}.jar", jar)
put_with_sums(f"{vdir}/{artifact}-{file_version}.pom", pom)
if sbom is not None and not sbom_first:
    put_with_sums(sbom_file, sbom)

# 3. metadata
if snapshot:
    vmeta = f"""<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <version>{version}</version>
  <versioning>
    <snapshot>
      <timestamp>{timestamp}</timestamp>
      <buildNumber>{build}</buildNumber>
    </snapshot>
    <lastUpdated>{last_updated}</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>{file_version}</value>
        <updated>{last_updated}</updated>
      </snapshotVersion>
      <snapshotVersion>
        <extension>pom</extension>
        <value>{file_version}</value>
        <updated>{last_updated}</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
</metadata>
""".encode()
    put_with_sums(f"{vdir}/maven-metadata.xml", vmeta)
if version not in versions:
    versions.append(version)
release = [v for v in versions if not v.endswith("-SNAPSHOT")]
listed = "".join(f"\n      <version>{v}</version>" for v in versions)
release_line = f"\n    <release>{release[-1]}</release>" if release else ""
ameta = f"""<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <groupId>{group}</groupId>
  <artifactId>{artifact}</artifactId>
  <versioning>
    <latest>{versions[-1]}</latest>{release_line}
    <versions>{listed}
    </versions>
    <lastUpdated>{last_updated}</lastUpdated>
  </versioning>
</metadata>
""".encode()
put_with_sums(f"{adir}/maven-metadata.xml", ameta)
finish()
