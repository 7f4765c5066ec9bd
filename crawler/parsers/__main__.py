"""``python -m crawler.parsers MARKETPLACE FILE``: print a saved response's records as JSON lines.

One object per record with ``kind`` = ``event``, ``listing``, ``price_stats`` or ``reject``.
Exits 1 with the reason on a response the parser cannot read, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from crawler.parsers import PARSERS, Parsed, ParseError, parse


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m crawler.parsers",
                                  description="Parse one saved marketplace response.")
    cli.add_argument("marketplace", choices=sorted(PARSERS))
    cli.add_argument("file", type=Path, help="the saved response body (JSON or HTML)")
    cli.add_argument("--event-id", help="event id, for endpoints whose body does not name it")
    args = cli.parse_args(argv)
    try:
        body = args.file.read_bytes()
    except OSError as err:
        print(f"cannot read {args.file}: {err.strerror}", file=sys.stderr)
        return 1
    try:
        parsed = parse(args.marketplace, body, source=str(args.file), event_id=args.event_id)
    except ParseError as err:
        print(f"{args.file}: cannot parse as {args.marketplace}: {err}", file=sys.stderr)
        return 1
    try:
        _write(parsed)
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        sys.stderr.close()
    return 0


def _write(parsed: Parsed) -> None:
    out = sys.stdout.buffer
    opts = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
    for event in parsed.events:
        out.write(orjson.dumps({"kind": "event", **event.to_dict()}, option=opts))
    for row in parsed.listings.to_pylist():
        # the listing's own ``kind`` column (resale/primary) travels as ``listing_kind``
        row["listing_kind"] = row.pop("kind")
        out.write(orjson.dumps({"kind": "listing", **row}, option=opts))
    for stats in parsed.stats:
        out.write(orjson.dumps({"kind": "price_stats", **stats.to_dict()}, option=opts))
    for reject in parsed.rejects:
        out.write(orjson.dumps({"kind": "reject", **reject.to_dict()}, option=opts))
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
