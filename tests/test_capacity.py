"""``python -m bench.capacity``: README's sizing is its output, computed from the committed
benchmark JSON (``bench/results/``), and the sizing follows the load."""

from __future__ import annotations

import re
from pathlib import Path

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
    # README's sizing says why the processes' ratio is not in it
    assert "not measured on this machine" in capacity.main([])
