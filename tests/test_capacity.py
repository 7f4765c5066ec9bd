"""``python -m bench.capacity``: README's sizing is its output, computed from the committed
benchmark JSON (``bench/results/``), and the sizing follows the load."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bench import capacity

ROOT = Path(__file__).resolve().parents[1]


def test_readme_sizing_is_the_capacity_scripts_output(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    printed = capacity.main([])
    capsys.readouterr()
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- capacity:begin -->\n(.*?)\n<!-- capacity:end -->", readme,
                      re.S)
    assert block, "README has no capacity:begin / capacity:end block"
    assert block.group(1).strip() == printed.strip(), \
        "README's sizing is stale: paste `python -m bench.capacity` between the markers"


def test_ten_times_the_load_needs_more_of_what_scales_out() -> None:
    costs = capacity.unit_costs()
    one = capacity.size(capacity.DEFAULT, costs)
    ten = capacity.size(capacity.DEFAULT.times(10), costs)
    assert ten["listings_per_s"] == pytest.approx(10 * one["listings_per_s"], abs=10)
    for key in ("crawl_nodes", "api_processes", "db_primary_cores", "read_replicas"):
        assert ten[key] >= one[key], key
    assert ten["api_processes"] > one["api_processes"]
    hundred = capacity.size(capacity.DEFAULT.times(100), costs)
    assert hundred["crawl_nodes"] > one["crawl_nodes"]
    assert hundred["ingest_nodes"] > one["ingest_nodes"]
    # the single-instance limits shrink by the same factor
    for name, headroom in one["headroom"].items():
        assert ten["headroom"][name] == pytest.approx(headroom / 10), name


def test_without_benchmark_results_it_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="make bench"):
        capacity.unit_costs(tmp_path)


def test_api_processes_need_a_core_each_plus_what_keeps_them_busy() -> None:
    """bench.api --processes N: the cores a fair run needs, from the 1-process run."""
    from bench.api import cores_needed

    one = {"endpoints": {  # two cached endpoints, each keeping the server half busy
        "a_cached": {"rps": 1000, "api_cpu_ms": 0.5, "db_cpu_ms": 0.0, "redis_cpu_ms": 0.05,
                     "generator_cores": 0.05, "ratio": None},
        "b_cached": {"rps": 500, "api_cpu_ms": 1.0, "db_cpu_ms": 0.02, "redis_cpu_ms": 0.08,
                     "generator_cores": 0.05, "ratio": None},
        "c_uncached": {"rps": 100, "api_cpu_ms": 5.0, "db_cpu_ms": 2.0,
                       "generator_cores": 0.01}}}
    cores = cores_needed(one, 2)
    assert cores["servers"] == 2
    assert cores["load_generator"] == pytest.approx(0.2)  # 0.1 per server core
    assert cores["database_and_redis"] == pytest.approx(0.2)  # 0.05 + 0.05 over 1 core, x2
    assert cores["needed"] == pytest.approx(2.4)
    # README's sizing says what the processes' ratio was, or why it is not in it
    assert "API processes" in capacity.main([])


def _endpoint(rps: float, busy: float, **more: float) -> dict[str, float]:
    return {"rps": rps, "server_busy": busy, "api_cpu_ms": busy / rps * 1e3,
            "db_cpu_ms": 0.0, "redis_cpu_ms": 0.0, "generator_cores": 0.02, **more}


def _run(endpoints: dict[str, dict[str, float]], generator: str = "wrk") -> dict[str, Any]:
    return {"load_generator": generator, "ratios_refused": None, "endpoints": endpoints}


def test_under_cpu_quotas_only_endpoints_their_quota_held_count() -> None:
    """bench.api --processes 2 with a 0.4 core quota per process: an endpoint's ratio
    counts when one process was held by its quota; 2 processes under theirs are named."""
    from bench.api import scaling_verdict

    one = _run({"a_cached": _endpoint(1000, 0.4, ratio=1.0),
                "b_uncached": _endpoint(100, 0.39),
                "c_uncached": _endpoint(80, 0.2)})  # waited on something: not quota-bound
    many = _run({"a_cached": _endpoint(1900, 0.4, ratio=1.0),  # busy: per process
                 "b_uncached": _endpoint(150, 0.25),  # under the quota: held back
                 "c_uncached": _endpoint(160, 0.4)})
    verdict = scaling_verdict(one, many, 2, quota=0.4, available=2)
    assert verdict["scaling_refused"] is None
    assert verdict["scaling"] == {"cached": 1.9, "uncached": 1.5}
    assert set(verdict["scaling_skipped"]) == {"c_uncached"}
    assert "quota did not limit it" in verdict["scaling_skipped"]["c_uncached"]
    assert set(verdict["scaling_held_back"]) == {"b_uncached"}
    assert verdict["cores"]["servers"] == pytest.approx(0.8)
    assert verdict["cores"]["needed"] < 2


def test_the_processes_ratio_is_refused_when_it_would_not_measure_the_api() -> None:
    from bench.api import scaling_verdict

    one = _run({"a_cached": _endpoint(1000, 0.9, ratio=1.0)})
    many = _run({"a_cached": _endpoint(1500, 0.9, ratio=1.0)})
    # no quota: 2 full servers plus their load generator do not fit 2 cores
    no_quota = scaling_verdict(one, many, 2, available=2)
    assert no_quota["scaling"] is None
    assert "--cpu-quota" in no_quota["scaling_refused"]
    # a quota that does not fit either
    too_big = scaling_verdict(one, many, 2, quota=1.0, available=2)
    assert too_big["scaling"] is None and "smaller --cpu-quota" in too_big["scaling_refused"]
    # a quota nothing reached: the servers were never held by it
    idle = scaling_verdict(_run({"a_cached": _endpoint(1000, 0.1, ratio=1.0)}), many, 2,
                           quota=0.4, available=2)
    assert idle["scaling"] is None and "held by its CPU quota" in idle["scaling_refused"]
    # without wrk the generator cannot outrun the server
    httpx = scaling_verdict(_run(one["endpoints"], "httpx"), many, 2, quota=0.4, available=2)
    assert httpx["scaling"] is None
