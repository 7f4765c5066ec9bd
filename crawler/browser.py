"""Browser rendering for pages that build their listings in JavaScript (StubHub event pages).

Pages go through ``scrapy-playwright`` driving Debian's Chromium (``RIPCITY_CHROMIUM_PATH``;
Playwright's own browser download cannot work offline), headless, and the response is the
DOM after the listings appeared. Only requests carrying ``meta["playwright"]`` use the
browser; everything else keeps Scrapy's plain HTTP handler.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrapy.settings import Settings

_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
#: the page's script clears ``aria-busy`` once the listings are in (``data-loaded``) or
#: their fetch failed (``data-error``)
LISTINGS_READY = "ul#listings[aria-busy='false']"


class ChromiumMissing(RuntimeError):
    """The configured Chromium executable does not exist."""


def enable_browser(settings: Settings) -> None:
    """Route ``playwright`` requests through Chromium (call before settings freeze)."""
    chromium = str(settings.get("RIPCITY_CHROMIUM_PATH") or "/usr/bin/chromium")
    if not Path(chromium).exists():
        raise ChromiumMissing(
            f"Chromium not found at {chromium}: install it (apt-get install -y chromium) or "
            "set RIPCITY_CHROMIUM_PATH to a Chromium executable")
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
    handlers.update({"http": _HANDLER, "https": _HANDLER})
    settings.set("DOWNLOAD_HANDLERS", handlers, priority="spider")
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", {
        "executable_path": chromium,
        "headless": True,
        "args": list(settings.getlist("RIPCITY_CHROMIUM_ARGS")),
    }, priority="spider")


def page_meta(timeout_ms: int = 10_000) -> dict[str, Any]:
    """Request meta that renders a page and waits until its listings are in the DOM."""
    from scrapy_playwright.page import PageMethod

    return {
        "playwright": True,
        "playwright_page_methods": [
            PageMethod("wait_for_selector", LISTINGS_READY, state="attached",
                       timeout=timeout_ms),
        ],
    }
