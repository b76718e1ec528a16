#!/usr/bin/env python3
"""Validate an SBOM with its format's reference tooling, not ours.

Usage: validate_sbom.py spdx|cyclonedx FILE
- spdx: spdx-tools (the SPDX project's python library) parses the JSON and runs its full 2.3
  document validation (ids, relationships, licence expressions against the licence list and
  the document's extracted licensing infos).
- cyclonedx: cyclonedx-python-lib validates the JSON against the official CycloneDX 1.6 schema
  (strict: unknown properties are errors).
Prints "valid" and exits 0, or prints every problem and exits 1.
"""
import sys


def main() -> int:
    fmt, path = sys.argv[1], sys.argv[2]
    if fmt == "spdx":
        from spdx_tools.spdx.parser.parse_anything import parse_file
        from spdx_tools.spdx.validation.document_validator import (
            validate_full_spdx_document,
        )

        doc = parse_file(path)
        problems = [m.validation_message for m in validate_full_spdx_document(doc, "SPDX-2.3")]
    elif fmt == "cyclonedx":
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        with open(path) as f:
            err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
        problems = [str(err)] if err is not None else []
    else:
        print(f"unknown format {fmt!r}", file=sys.stderr)
        return 2
    if problems:
        print("\n".join(problems))
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
