"""Start or join Ray: the same engine code on a laptop and on a cluster.

Locally, Ray starts with the given CPUs, no dashboard and auth disabled for loopback
(~4 s, ~700 MB). With an address (``--ray-address`` / ``RIPCITY_RAY_ADDRESS``) it joins
that cluster instead. Shutdown is ``ray.shutdown()`` only: never ``ray stop``, which
kills every Ray process on the machine.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def init_ray(address: str | None = None, num_cpus: int | None = None,
             object_store_mb: int | None = None) -> bool:
    """Connect to Ray; returns True when this call started it (and should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address:  # cluster nodes have the project installed (ray_cluster.yaml setup)
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
        return True
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cpus = num_cpus or os.cpu_count() or 2
    kwargs = {}
    if object_store_mb:
        kwargs["object_store_memory"] = object_store_mb * 1024 * 1024
    ray.init(num_cpus=cpus, include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=True, **kwargs)
    return True

