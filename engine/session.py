"""Everything a crawl needs, started in order and stopped in reverse: one ``with`` block.

database (embedded unless configured, migrated) -> sandbox (unless marketplace keys are
set) -> Ray (local unless an address is given) -> the engine's actors. Each piece is started
only when needed. ``ripcity run``, ``ripcity crawl`` and ``bench.pipeline`` all use it, so
they behave the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cluster import init_ray
from engine.crawl.settings import daily_budgets, scrapy_settings
from engine.orchestrator import Engine, EngineOptions

if TYPE_CHECKING:
    from engine.settings import Settings

logger = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Session:
    """A running stack: its settings, database, engine and sandbox (None: real markets)."""

    settings: Settings
    database_url: str
    engine: Engine
    sandbox: Any = None


def _engine_options(settings: Settings, **overrides: Any) -> EngineOptions:
    """Options from settings (workers, writers, in-flight bound), then ``overrides``."""
    options = EngineOptions(crawl_workers=settings.crawl_workers,
                            ingest_writers=settings.ingest_writers,
                            max_inflight_batches=settings.max_inflight_batches,
                            city=settings.crawl_city)
    return dataclasses.replace(options, **overrides)


class StartInterrupted(Exception):
    """A stop was asked for while the stack started; what had started was stopped."""


@contextlib.contextmanager
def engine_session(settings: Settings, *, ray_address: str | None = None,
                   num_cpus: int | None = None, continuous: bool = False,
                   sandbox: Any = None, sandbox_options: dict[str, Any] | None = None,
                   database_url: str | None = None, extra_scrapy: dict[str, Any] | None = None,
                   stop: threading.Event | None = None,
                   **option_overrides: Any) -> Iterator[Session]:
    """Start the stack; yields a ``Session`` whose engine is running. Whatever raises
    (or ``stop`` set between two steps: :class:`StartInterrupted`) stops what started."""
    import ray

    def check() -> None:
        if stop is not None and stop.is_set():
            raise StartInterrupted

    with contextlib.ExitStack() as started:
        url = database_url or _prepare_database(settings, started)
        check()
        if sandbox is None and not settings.marketplace_keys_set:
            sandbox = _start_sandbox(settings, **(sandbox_options or {}))
            started.callback(_quietly, sandbox.stop)
            check()
        urls = getattr(sandbox, "urls", None) if sandbox is not None else None
        scrapy = scrapy_settings(settings, urls)
        if urls:  # the sandbox has no quotas: lift the politeness limits
            scrapy.update({"RIPCITY_RATE_LIMITS": False, "AUTOTHROTTLE_ENABLED": False,
                           "RIPCITY_DAILY_BUDGETS": {}})
        scrapy.update(extra_scrapy or {})
        option_overrides.setdefault("budgets", {} if urls else daily_budgets(settings))
        if urls and hasattr(sandbox, "clock"):
            option_overrides.setdefault("clock_offset_s", sandbox_clock_offset(sandbox))
        options = _engine_options(settings, **option_overrides)
        if init_ray(ray_address or settings.ray_address, num_cpus):
            started.callback(ray.shutdown)
        check()
        engine = Engine(url, scrapy, options)
        started.callback(_quietly, engine.stop)
        engine.start(continuous=continuous)
        engine.start_maintenance(retention_days=settings.retention_days,
                                 models_dir=Path(settings.data_dir) / "models")
        check()
        yield Session(settings, url, engine, sandbox)


def _quietly(stop: Callable[[], Any]) -> None:
    """Shutting down: log what fails, never raise (the rest must stop too)."""
    try:
        stop()
    except Exception:
        logger.warning("stopping %s failed", getattr(stop, "__qualname__", stop),
                       exc_info=True)


def _prepare_database(settings: Settings, started: contextlib.ExitStack) -> str:
    """The database URL, migrated (starts the embedded server when none is configured;
    ``started`` releases it on the way out)."""
    from storage.db import connect, resolve_database_url
    from storage.migrate import migrate

    url = resolve_database_url(settings)
    if not settings.database_url:
        started.callback(_release_embedded)
    with connect(url) as conn:
        migrate(conn)
    return url


def _release_embedded() -> None:
    from storage.embedded import release_embedded

    for data_dir in release_embedded():
        logger.info("stopped the embedded PostgreSQL in %s", data_dir)


def _start_sandbox(settings: Settings, **overrides: Any) -> Any:
    """The local marketplace simulator, sized from settings (``.urls``, ``.stop()``)."""
    from sandbox.server import start_sandbox

    kwargs: dict[str, Any] = {
        "host": settings.sandbox_host, "port": settings.sandbox_port,
        "seed": settings.sandbox_seed, "events": settings.sandbox_events,
        "listings_per_event": settings.sandbox_listings_per_event,
        "faults": settings.sandbox_faults,
    }
    kwargs.update(overrides)
    return start_sandbox(**kwargs)


def sandbox_clock_offset(sandbox: Any) -> float:
    """Seconds from our clock to the sandbox's simulated one (its events live there)."""
    from datetime import UTC, datetime

    clock = sandbox.clock()
    return float(clock["epoch"]) - datetime.now(UTC).timestamp()
