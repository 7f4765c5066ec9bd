"""Start or join Ray: the same engine code on a laptop and on a cluster.

Locally, a new Ray instance starts (``address="local"``: never one that another program
started on this machine) with the given CPUs and no dashboard, every one of its servers bound
to loopback (127.0.0.1) so nothing on the network reaches it, token authentication off
(~4 s, ~700 MB). Ray binds its node address, which on Linux is the machine's outward
address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it loopback; we set that for a
local start (``ray.init(_node_ip_address="127.0.0.1")`` is turned back into the outward
address by Ray). With an address (``--ray-address`` / ``RIPCITY_RAY_ADDRESS``) it joins that
cluster instead, after checking that something answers there; a loopback address (a cluster
on this machine, e.g. ``bench.cluster``) binds this driver to loopback too. Shutdown is
``ray.shutdown()`` only: never ``ray stop``, which kills every Ray process on the machine.

``ray.init`` installs a SIGTERM handler of its own (``sys.exit``); the caller's is put back
as soon as it returns, and a SIGTERM that lands while Ray starts is handed to it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class RayUnavailable(RuntimeError):
    """Ray could not be started or joined (the message says what to do)."""


def init_ray(address: str | None = None, num_cpus: int | None = None,
             object_store_mb: int | None = None) -> bool:
    """Connect to Ray; returns True when this call started it (and should shut it down).
    False also when a SIGTERM arrived while Ray started (it was handed to the caller's
    handler and Ray was shut down again)."""
    import ray

    if ray.is_initialized():
        return False
    if address:  # cluster nodes have the project installed (ray_cluster.yaml image)
        _check_answers(address)
        if _is_loopback(address):  # a cluster on this machine (bench.cluster) binds loopback
            _bind_loopback()
        return _starting(lambda: ray.init(address=address, logging_level=logging.WARNING,
                                          log_to_driver=True),
                         f"cannot join the Ray cluster at {address}",
                         "check --ray-address / RIPCITY_RAY_ADDRESS (and RAY_AUTH_MODE / the "
                         "token if the cluster uses token authentication)")
    _bind_loopback()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cpus = num_cpus or os.cpu_count() or 2
    kwargs: dict[str, Any] = {}
    if object_store_mb:
        kwargs["object_store_memory"] = object_store_mb * 1024 * 1024
    # "local": a new instance of our own, even when another Ray runs on this machine (with
    # no address Ray would join the last cluster `ray start` left in /tmp/ray)
    return _starting(lambda: ray.init(address="local", num_cpus=cpus, include_dashboard=False,
                                      logging_level=logging.WARNING, log_to_driver=True,
                                      **kwargs),
                     "could not start Ray on this machine",
                     "see the logs under /tmp/ray/session_latest/logs, free memory or disk "
                     "(/tmp, /dev/shm), or join a cluster with --ray-address")


def _bind_loopback() -> None:
    """Make a local Ray bind 127.0.0.1: for this process (the constant Ray read at import)
    and for the processes it starts (the environment)."""
    os.environ[_LOOPBACK_ENV] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _is_loopback(address: str) -> bool:
    host = address.split("://", 1)[-1].rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1")


def _check_answers(address: str) -> None:
    """Fail in a second, not after minutes of Ray's retries, when nothing listens at a
    ``host:port`` address (``auto`` and others are left to Ray)."""
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3):
            return
    except OSError as err:
        raise RayUnavailable(
            f"no Ray cluster answers at {address} ({err.strerror or err}): start it "
            "(`ray start --head` on that machine), fix --ray-address / RIPCITY_RAY_ADDRESS, "
            "or unset it to start Ray on this machine") from None


def _starting(start: Callable[[], Any], failure: str, advice: str) -> bool:
    """Run ``start`` (a ``ray.init``) keeping the caller's SIGTERM handler."""
    import ray

    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if main else None
    try:
        start()
    except SystemExit as exc:  # Ray's own SIGTERM handler fired while Ray started
        if previous is None or exc.code != signal.SIGTERM:
            raise
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)  # to the caller's handler
        return False
    except (ConnectionError, RuntimeError, TimeoutError, ValueError) as err:
        text = " ".join(str(err).split())[:300]
        raise RayUnavailable(f"{failure} ({text}): {advice}") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return True
