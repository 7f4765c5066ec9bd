"""A real multi-node Ray cluster on this machine, shaped like ``ray_cluster.yaml``.

    with LocalRayCluster({"ripcity.crawl": 1, "ripcity.ingest": 1}) as cluster:
        subprocess.run(["ripcity", "run", "--once", "--ray-address", cluster.address])
        cluster.kill("ripcity.crawl-0")          # a node dies (SIGKILL of its processes)

The head and every worker node are separate ``ray start --block`` processes, each in its own
process group and its own temp dir, each advertising the resources of its node type read
from ``ray_cluster.yaml`` (so the tests and the launcher cannot drift apart). Everything
binds 127.0.0.1 and token authentication is off (``RAY_AUTH_MODE=disabled``). A node is
stopped by signalling its process group and every process under its ``ray start`` (Ray puts
some workers in groups of their own): never ``ray stop``, which would kill every Ray on the
machine (other people's too).

Ray refuses to let a node join a cluster over loopback (it rewrites ``127.0.0.1`` into the
machine's outward address, where a loopback head does not listen); worker nodes are started
through ``python -c`` with that one rewrite turned off (``_JOIN``), nothing else changed.
Drivers reach the cluster at ``address`` (``engine.cluster.init_ray`` binds loopback for a
loopback address).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.harness import free_port

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_YAML = ROOT / "ray_cluster.yaml"

#: ``ray start`` for a worker node, with Ray's loopback -> outward address rewrite of the
#: join address turned off (the rest of ``ray start`` unchanged)
_JOIN = ("import sys; import ray._private.services as s; "
         "s.resolve_ip_for_localhost = lambda host: host; "
         "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())")

#: what a driver process needs in its environment to reach the cluster over loopback
DRIVER_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
              "RAY_USAGE_STATS_ENABLED": "0"}


class ClusterError(RuntimeError):
    """The cluster did not come up (the message names the node and its log)."""


def node_types(config: Path = CLUSTER_YAML) -> dict[str, dict[str, float]]:
    """Node type -> the resources it advertises, from the cluster launcher's YAML."""
    data = yaml.safe_load(config.read_text())
    return {name: dict(spec.get("resources") or {})
            for name, spec in data["available_node_types"].items()}


def head_node_type(config: Path = CLUSTER_YAML) -> str:
    return str(yaml.safe_load(config.read_text())["head_node_type"])


class RayNode:
    """One ``ray start --block`` process group: a node of the cluster."""

    def __init__(self, name: str, node_type: str, resources: Mapping[str, float],
                 temp_dir: Path, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.node_type, self.resources = name, node_type, dict(resources)
        self.temp_dir, self.process, self.log = temp_dir, process, log

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def processes(self) -> list[psutil.Process]:
        """``ray start`` and every process under it (raylet, agents, workers, actors: Ray
        starts some of them in process groups of their own)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def signal(self, sig: int) -> None:
        """``sig`` to the node's process group and to every process under it."""
        procs = self.processes()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the node's process group, then SIGKILL what is left after ``timeout``."""
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        self.signal(signal.SIGKILL)  # raylet's workers and agents may outlive `ray start`
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class LocalRayCluster:
    """A head node plus ``workers`` (node type -> count) on this machine; a context manager.

    ``cpus`` overrides the CPUs each node advertises (the YAML's are the cloud machine's;
    Ray only uses them for bookkeeping: the engine's actors ask for 0 CPUs).
    ``object_store_mb`` keeps each node's shared-memory store small.
    """

    def __init__(self, workers: Mapping[str, int], *, config: Path = CLUSTER_YAML,
                 cpus: float | None = None, object_store_mb: int = 128,
                 start_timeout: float = 120.0) -> None:
        self.types = node_types(config)
        self.head_type = head_node_type(config)
        unknown = set(workers) - set(self.types)
        if unknown:
            raise ValueError(f"no node type {sorted(unknown)} in {config} "
                             f"(it has {sorted(self.types)})")
        self.workers = dict(workers)
        self.cpus, self.object_store_mb, self.start_timeout = cpus, object_store_mb, \
            start_timeout
        self.port = 0
        self.nodes: list[RayNode] = []
        self._root: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LocalRayCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- starting ------------------------------------------------------------------------
    def start(self) -> None:
        # not under a 0700 temp root owned by another user: Ray's workers must reach it
        self._root = Path(tempfile.mkdtemp(prefix="ripcity-ray-"))
        self.port = free_port()
        self._start_node(self.head_type, 0, head=True)
        self.wait_for(1)
        started = 1
        for node_type, count in self.workers.items():
            for i in range(count):  # one at a time: a loaded machine starts each in time
                self._start_node(node_type, i, head=False)
                started += 1
                self.wait_for(started)

    def _start_node(self, node_type: str, index: int, *, head: bool) -> RayNode:
        assert self._root is not None
        name = f"{node_type}-{index}"
        temp_dir = self._root / name.replace(".", "-")
        temp_dir.mkdir()
        resources = dict(self.types[node_type])
        cpus = self.cpus if self.cpus is not None else resources.get("CPU", 1)
        custom = {k: v for k, v in resources.items() if k not in ("CPU", "GPU", "memory")}
        args = ["start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus:g}",
                f"--resources={json.dumps(custom)}", f"--temp-dir={temp_dir}",
                f"--object-store-memory={self.object_store_mb * 2**20}",
                "--disable-usage-stats", "--dashboard-agent-listen-port=0",
                "--dashboard-agent-grpc-port=0", "--metrics-export-port=0",
                "--runtime-env-agent-port=0", "--min-worker-port=0",
                "--max-worker-port=0"]
        env = {**os.environ, **DRIVER_ENV}
        if head:
            args += ["--head", f"--port={self.port}", "--include-dashboard=false",
                     f"--dashboard-port={free_port()}", "--dashboard-host=127.0.0.1",
                     f"--ray-client-server-port={free_port()}"]
            command = [sys.executable, "-m", "ray.scripts.scripts", *args]
        else:
            args += [f"--address={self.address}"]
            # joining needs Ray's multi-node switch on; loopback comes from _JOIN
            env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"
            command = [sys.executable, "-c", _JOIN, *args]
        log = temp_dir / "ray-start.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env,
                                       start_new_session=True)  # its own process group
        node = RayNode(name, node_type, resources, temp_dir, process, log)
        self.nodes.append(node)
        return node

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        """Wait until ``count`` nodes are alive in the cluster; their ``ray.nodes()``."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            dead = [n for n in self.nodes if not n.alive]
            if dead:
                n = dead[0]
                raise ClusterError(f"Ray node {n.name} exited while starting "
                                   f"(log {n.log}):\n{n.tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClusterError(f"the Ray cluster at {self.address} did not reach "
                                   f"{count} nodes in {self.start_timeout:g} s")
            try:
                nodes = self.describe(timeout=left, wait_nodes=count)
            except (subprocess.SubprocessError, ValueError):
                time.sleep(1)
                continue
            if sum(1 for n in nodes if n["alive"]) >= count:
                return nodes

    def describe(self, *, timeout: float = 60.0, wait_nodes: int = 0
                 ) -> list[dict[str, Any]]:
        """The cluster's nodes as Ray sees them (node id, alive, resources), read by a
        short-lived driver (this process stays free to be a driver of its own)."""
        code = ("import json, sys, time, ray\n"
                "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
                "want, end = int(sys.argv[2]), time.monotonic() + float(sys.argv[3])\n"
                "while True:\n"
                "    nodes = ray.nodes()\n"
                "    if sum(n['Alive'] for n in nodes) >= want or time.monotonic() > end:\n"
                "        break\n"
                "    time.sleep(0.5)\n"
                "print(json.dumps([{'node_id': n['NodeID'], 'alive': n['Alive'],\n"
                "    'resources': n['Resources']} for n in nodes]))\n")
        out = subprocess.run([sys.executable, "-c", code, self.address, str(wait_nodes),
                              str(max(1.0, timeout - 10))],
                             capture_output=True, timeout=timeout, check=True,
                             env={**os.environ, **DRIVER_ENV})
        return list(json.loads(out.stdout.decode().strip().splitlines()[-1]))

    # -- faults and stopping ---------------------------------------------------------------
    def node(self, name: str) -> RayNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {[n.name for n in self.nodes]}")

    def kill(self, name: str) -> RayNode:
        """A node dies at once: SIGKILL to every process of it (raylet, its workers and
        actors, agents). The head's death takes the cluster with it."""
        node = self.node(name)
        node.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(10)
        return node

    def stop(self) -> None:
        """Stop every node (workers first, the head last) and remove their temp dirs."""
        for node in reversed(self.nodes):
            node.stop()
        self.nodes.clear()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.cluster --crawl 1 --ingest 1``: start a cluster on this machine,
    print its address, and keep it until Ctrl-C / SIGTERM."""
    from bench.harness import arguments

    parser = arguments("bench.cluster", __doc__)
    parser.add_argument("--crawl", type=int, default=1, help="ripcity.crawl nodes")
    parser.add_argument("--ingest", type=int, default=1, help="ripcity.ingest nodes")
    parser.add_argument("--cpus", type=float, default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with LocalRayCluster({"ripcity.crawl": args.crawl, "ripcity.ingest": args.ingest},
                         cpus=args.cpus) as cluster:
        print(json.dumps({"address": cluster.address,
                          "nodes": {n.name: n.resources for n in cluster.nodes}}), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while all(n.alive for n in cluster.nodes):
                time.sleep(1)


if __name__ == "__main__":
    main()
