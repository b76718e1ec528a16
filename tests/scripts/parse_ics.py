#!/usr/bin/env python3
"""Parse an iCalendar file with the `icalendar` package (a real consumer, not ours).

Usage: parse_ics.py FILE
Prints JSON: the calendar's VERSION and PRODID and every VEVENT with its UID, SUMMARY,
DESCRIPTION, CATEGORIES, DTSTART and DTEND (ISO 8601, UTC), and DTSTAMP. Exits 1 when the
file does not parse or an event lacks a required property (RFC 5545 3.6.1: UID, DTSTAMP).
"""
import json
import sys

from icalendar import Calendar


def text(v):
    return None if v is None else str(v)


def when(v):
    return None if v is None else v.dt.isoformat()


def main() -> int:
    with open(sys.argv[1], "rb") as f:
        cal = Calendar.from_ical(f.read())
    events = []
    for e in cal.walk("VEVENT"):
        for required in ("UID", "DTSTAMP", "DTSTART"):
            if e.get(required) is None:
                print(f"event without {required}: {e.to_ical()!r}", file=sys.stderr)
                return 1
        cats = e.get("CATEGORIES")
        categories = []
        if cats is not None:
            for c in cats if isinstance(cats, list) else [cats]:
                categories.extend(str(x) for x in c.cats)
        events.append(
            {
                "uid": text(e.get("UID")),
                "summary": text(e.get("SUMMARY")),
                "description": text(e.get("DESCRIPTION")),
                "categories": categories,
                "dtstart": when(e.get("DTSTART")),
                "dtend": when(e.get("DTEND")),
                "dtstamp": when(e.get("DTSTAMP")),
            }
        )
    print(
        json.dumps(
            {
                "version": text(cal.get("VERSION")),
                "prodid": text(cal.get("PRODID")),
                "events": events,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
