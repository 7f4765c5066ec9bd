"""Scrapy add-ons of the Rip City crawler (enabled by ``ADDONS`` in ``crawler/settings.py``).

``EnvironmentSettingsAddon`` gives a standalone crawl (``scrapy crawl``,
``python -m crawler.run_once``) its marketplace settings from the ``RIPCITY_*`` environment
when the crawler process starts, so the same spiders run against the real services or the
sandbox without the settings module reading anything at import. The engine passes those
settings itself and turns the add-on off with ``RIPCITY_SETTINGS_FROM_ENV = False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.config import MarketplaceSettings
from storage.settings import LogSettings, StorageSettings, load

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


class EnvironmentSettingsAddon:
    """Fill the marketplace settings, log level and data directory from the environment.

    Runs in ``update_pre_crawler_settings``, when a ``CrawlerProcess`` / ``CrawlerRunner``
    is created and before any spider reads its base URL. Values go in at Scrapy's ``addon``
    priority, so ``-s NAME=value`` and the settings a runner is built with still win.
    """

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        if not settings.getbool("RIPCITY_SETTINGS_FROM_ENV", True):
            return
        marketplaces = load(MarketplaceSettings)
        settings.setdict({
            **marketplaces.scrapy_settings(),
            "LOG_LEVEL": load(LogSettings).log_level,
            "RIPCITY_DATA_DIR": str(load(StorageSettings).data_dir),
        }, priority="addon")
