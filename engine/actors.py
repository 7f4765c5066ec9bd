"""Ray actor definitions with their fault-tolerance options, in one place.

Crawl workers restart forever but do not retry calls themselves: the coordinator re-queues
a dead worker's shard (same observation stamp, so nothing duplicates). Ingest writers and
scorers restart and Ray retries their calls on the restarted actor (writes are idempotent).
Resource hints default to 0 CPUs so a 2-core laptop fits every actor; on a cluster whose
nodes advertise ``crawl`` / ``ingest`` / ``score`` / ``head`` (``ray_cluster.yaml``) each
actor asks for one unit, which spreads them over the node types made for them (the
coordinator on the head, beside the driver, the API and the refresh listener).
"""

from __future__ import annotations

from typing import Any

import ray

from engine.alerts.relay import ChangeRelay
from engine.crawl.coordinator import CrawlCoordinator
from engine.crawl.worker import CrawlWorker
from engine.deals.actor import DealScorerActor
from engine.ingest_writer import IngestWriter

WRITE_RETRIES = 5


def _resources(kind: str) -> dict[str, float] | None:
    """Ask for the cluster's custom resource (``ray_cluster.yaml``) when it has one."""
    return {kind: 1} if ray.cluster_resources().get(kind) else None


def make_writer(database_url: str, *, name: str | None = None, cpus: float = 0) -> Any:
    cls = ray.remote(IngestWriter).options(
        max_restarts=-1, max_task_retries=WRITE_RETRIES, num_cpus=cpus, name=name,
        resources=_resources("ingest"))
    return cls.remote(database_url)


def make_relay(database_url: str, *, name: str | None = None, cpus: float = 0,
               hook_specs: list[str] | None = None) -> Any:
    cls = ray.remote(ChangeRelay).options(
        max_restarts=-1, max_task_retries=WRITE_RETRIES, num_cpus=cpus, name=name,
        resources=_resources("ingest"))
    return cls.remote(database_url, hook_specs)


def make_scorer(database_url: str | None = None, *, name: str | None = None,
                cpus: float = 0, **kwargs: Any) -> Any:
    """A deal scorer; ``kwargs`` as ``DealScorerActor`` takes them (``model``,
    ``models_dir``)."""
    cls = ray.remote(DealScorerActor).options(max_restarts=-1, max_task_retries=WRITE_RETRIES,
                                              num_cpus=cpus, name=name,
                                              resources=_resources("score"))
    return cls.remote(database_url, **kwargs)


def make_worker(worker_id: str, scrapy_settings: dict[str, Any], writers: list[str],
                scorers: list[str], relays: list[str], *, slots: int, cpus: float = 0,
                **kwargs: Any) -> Any:
    """A crawl worker; its peers are given by actor name (see ``CrawlWorker``)."""
    # slots regular shards + 1 express (refresh) + 1 for progress / pid calls
    cls = ray.remote(CrawlWorker).options(max_restarts=-1, max_task_retries=0,
                                          max_concurrency=slots + 2, num_cpus=cpus,
                                          resources=_resources("crawl"))
    return cls.remote(worker_id, scrapy_settings, writers, scorers, relays, **kwargs)


def make_coordinator(frontier: Any, workers: list[Any], **kwargs: Any) -> Any:
    """The coordinator, on the head node where the cluster has one (``head`` resource)."""
    cls = ray.remote(CrawlCoordinator).options(max_restarts=0, num_cpus=0,
                                               max_concurrency=1000,
                                               resources=_resources("head"))
    return cls.remote(frontier, workers, **kwargs)
