"""The live status of ``ripcity run``: a rich panel on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

_ROWS = (
    ("listings crawled", "crawled_listings"), ("listings committed", "committed_listings"),
    ("snapshots written", "total_written"), ("new listings", "total_new_listings"),
    ("price changes", "total_price_changes"), ("gone", "total_gone"),
    ("listings scored", "scored"), ("deals (score >= 70)", "deals"),
    ("shards done", "total_shards"), ("backlog (shards)", "backlog"),
    ("running shards", "in_flight"), ("events tracked", "events"),
    ("errors", "errors"), ("rejects", "total_rejects"), ("quarantined", "total_quarantined"),
    ("batches to score", "scoring_pending"), ("batches to match", "matching_pending"),
    ("post-commit failing", "post_commit_failed"), ("coordinator", "coordinator"),
    ("next due in (s)", "next_due_in_s"),
)


class StatusReporter:
    """Shows ``status`` dicts: ``update`` as often as you like, it rate-limits itself."""

    def __init__(self, url: str | None, *, live: bool | None = None,
                 plain_every: float = 5.0) -> None:
        self.console = Console(stderr=False)
        self.url = url
        self.live = self.console.is_terminal if live is None else live
        self._live: Live | None = None
        self._plain_every = plain_every
        self._last_plain = 0.0
        self._last: tuple[float, int] | None = None
        self._rate = 0.0

    def __enter__(self) -> StatusReporter:
        if self.live:
            self._live = Live(self._table({}), console=self.console, refresh_per_second=2)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def _update_rate(self, status: dict[str, Any]) -> None:
        now, n = time.monotonic(), int(status.get("committed_listings", 0) or 0)
        if self._last is not None and now > self._last[0]:
            self._rate = 0.7 * self._rate + 0.3 * (n - self._last[1]) / (now - self._last[0])
        self._last = (now, n)

    def update(self, status: dict[str, Any]) -> None:
        self._update_rate(status)
        if self._live is not None:
            self._live.update(self._table(status))
            return
        now = time.monotonic()
        if now - self._last_plain >= self._plain_every:
            self._last_plain = now
            self.console.print(plain_line(status, self._rate), highlight=False, soft_wrap=True)

    def _table(self, status: dict[str, Any]) -> Table:
        table = Table(title="Rip City Ticket Dispatch — engine", show_header=False,
                      caption=self.url and f"API and dashboard: {self.url}  (Ctrl-C stops)")
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("rate (listings/s)", f"{self._rate:,.0f}")
        for label, key in _ROWS:
            value = status.get(key)
            table.add_row(label, "-" if value is None else f"{value:,}"
                          if isinstance(value, int) else str(value))
        for err in (status.get("last_errors") or [])[-3:]:
            table.add_row("[red]last error[/red]", err[:100])
        return table


def plain_line(status: dict[str, Any], rate: float = 0.0) -> str:
    keys = ("committed_listings", "total_written", "total_price_changes", "backlog",
            "in_flight", "errors", "total_shards", "scoring_pending", "matching_pending",
            "post_commit_failed")
    fields = " ".join(f"{k}={status.get(k, 0)}" for k in keys)
    if status.get("coordinator") == "restarting":
        fields += " coordinator=restarting"
    return f"engine: rate={rate:.0f}/s {fields}"
