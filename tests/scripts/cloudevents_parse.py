#!/usr/bin/env python3
"""Parses webhook requests captured by tests/tests/events.rs with the CloudEvents project's own
Python SDK (PyPI `cloudevents`), as a real consumer would, and prints what it read as JSON.

Usage: cloudevents_parse.py REQUESTS.json
REQUESTS.json: [{"headers": {name: value}, "body": "<the body, UTF-8>"}, ...]
Prints one JSON line: [{"specversion", "id", "source", "type", "subject", "time",
"datacontenttype", "tollgateseq", "data"}, ...]; exits non-zero if any request is not a valid
CloudEvent.
"""

import json
import sys


def parse(headers, body):
    try:
        # cloudevents >= 2: the spec-version-aware core API.
        from cloudevents.core.bindings.http import HTTPMessage, from_http_event

        ev = from_http_event(HTTPMessage(headers=headers, body=body))
        return {
            "specversion": ev.get_specversion(),
            "id": ev.get_id(),
            "source": ev.get_source(),
            "type": ev.get_type(),
            "subject": ev.get_subject(),
            "time": ev.get_time().isoformat() if ev.get_time() else None,
            "datacontenttype": ev.get_datacontenttype(),
            "tollgateseq": ev.get_extension("tollgateseq"),
            "data": ev.get_data(),
        }
    except ImportError:
        # cloudevents 1.x
        from cloudevents.http import from_http

        ev = from_http(headers, body)
        return {
            "specversion": ev["specversion"],
            "id": ev["id"],
            "source": ev["source"],
            "type": ev["type"],
            "subject": ev.get("subject"),
            "time": ev.get("time"),
            "datacontenttype": ev.get("datacontenttype"),
            "tollgateseq": ev.get("tollgateseq"),
            "data": ev.data,
        }


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    out = [parse(r["headers"], r["body"].encode("utf-8")) for r in requests]
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
