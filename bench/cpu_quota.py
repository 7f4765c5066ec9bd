"""A fixed CPU budget per benchmark process: one cgroup CPU quota group per process.

    with CpuQuotas.open(0.4) as quotas:   # a str instead when cgroups cannot be used
        quotas.limit(pid)                 # pid (all its threads) and its children: 0.4 core
        quotas.throttling()               # (periods, throttled periods) so far, all groups

cgroup v2 (``/sys/fs/cgroup/cgroup.controllers`` lists ``cpu``: ``cpu.max``,
``cpu.weight``) and v1 (a ``cpu`` hierarchy: ``cpu.cfs_quota_us``, ``cpu.shares``) are both
supported. Each group gets ``WEIGHT`` times the default CPU weight, so the other users of a
shared machine do not hold a process under its quota; the quota caps it. The groups are
removed on close (any process still in one moved back to the root group first). Needs
write access to the cgroup filesystem (root, or a delegated subtree); without it ``open``
says why.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path
from types import TracebackType

#: the CFS period (µs): the quota is enforced per period of this length
PERIOD_US = 100_000
#: how many times the default CPU weight a quota group gets (v1 1024, v2 100)
WEIGHT = 4

_V2 = Path("/sys/fs/cgroup")
_V1 = (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpu,cpuacct"))


def cpu_cgroup_root() -> tuple[Path, int] | None:
    """(the root of the cgroup hierarchy with the cpu controller, its version), or None."""
    controllers = _V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return _V2, 2
    for root in _V1:
        if (root / "cpu.cfs_quota_us").exists():
            return root, 1
    return None


class CpuQuotas:
    """Quota groups of ``cores`` CPU each, one per process given to ``limit``."""

    def __init__(self, root: Path, version: int, cores: float) -> None:
        self.root, self.version, self.cores = root, version, cores
        self.groups: list[Path] = []
        self._names = (f"ripcity-bench-{os.getpid()}-{i}" for i in itertools.count())

    @classmethod
    def open(cls, cores: float) -> CpuQuotas | str:
        """Quota groups, or why this machine cannot have them (a sentence)."""
        found = cpu_cgroup_root()
        if found is None:
            return "no cgroup cpu controller (neither v2 cpu.max nor a v1 cpu hierarchy)"
        quotas = cls(*found, cores)
        try:
            if quotas.version == 2:
                control = quotas.root / "cgroup.subtree_control"
                if "cpu" not in control.read_text().split():
                    control.write_text("+cpu")
            quotas._group()  # a trial group: can we create, set and remove one?
            quotas.close()
        except OSError as exc:
            with contextlib.suppress(OSError):
                quotas.close()
            return (f"cannot make CPU quota groups under {found[0]} here "
                    f"({exc.strerror or exc})")
        return quotas

    def _group(self) -> Path:
        path = self.root / next(self._names)
        path.mkdir()
        self.groups.append(path)
        if self.version == 2:
            (path / "cpu.max").write_text(f"{round(self.cores * PERIOD_US)} {PERIOD_US}")
            (path / "cpu.weight").write_text(str(100 * WEIGHT))
        else:
            (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(round(self.cores * PERIOD_US)))
            (path / "cpu.shares").write_text(str(1024 * WEIGHT))
        return path

    def limit(self, pid: int) -> Path:
        """Put ``pid`` (every thread of it) and its descendants in a new quota group."""
        import psutil

        group = self._group()
        for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            with contextlib.suppress(ProcessLookupError):
                (group / "cgroup.procs").write_text(str(proc.pid))
        return group

    def throttling(self, groups: list[Path] | None = None) -> tuple[int, int]:
        """(CFS periods, periods in which the quota throttled) so far, over ``groups``
        (default: every group)."""
        periods = throttled = 0
        for group in self.groups if groups is None else groups:
            stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines()
                        if line.strip())
            periods += int(stat.get("nr_periods", 0))
            throttled += int(stat.get("nr_throttled", 0))
        return periods, throttled

    def close(self) -> None:
        """Remove the groups, moving anything left in them to the root group."""
        for group in list(self.groups):
            for attempt in range(10):  # a process just stopped may take a moment to leave
                with contextlib.suppress(OSError):
                    for pid in (group / "cgroup.procs").read_text().split():
                        with contextlib.suppress(OSError):
                            (self.root / "cgroup.procs").write_text(pid)
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 9:
                        raise
                    time.sleep(0.1)
            self.groups.remove(group)

    def __enter__(self) -> CpuQuotas:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
