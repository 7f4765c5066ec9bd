"""``ray_cluster.yaml`` is valid for ``ray up`` (checked against the schema Ray ships), its
nodes run the project's image, and that image installs exactly what ``make`` installs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bench.cluster import head_node_type, node_types

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
_COMMAND_LISTS = ("initialization_commands", "setup_commands", "head_setup_commands",
                  "worker_setup_commands", "head_start_ray_commands",
                  "worker_start_ray_commands")


@pytest.mark.slow
def test_ray_cluster_yaml_matches_rays_schema() -> None:
    import ray

    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    jsonschema.validate(CONFIG, json.loads(schema_path.read_text()))


def test_each_actor_kind_has_a_node_type_offering_its_resource() -> None:
    types = node_types()
    assert head_node_type() in types
    assert types[head_node_type()].get("head") == 1  # the coordinator's place
    offered = {r for resources in types.values() for r in resources}
    assert {"crawl", "ingest", "score", "head"} <= offered
    assert not any(r.get("head") for name, r in types.items() if name != head_node_type())


def test_nodes_run_the_projects_image_with_no_per_node_installs() -> None:
    assert CONFIG["docker"]["image"]
    commands = [c for key in _COMMAND_LISTS for c in CONFIG.get(key) or []]
    for command in commands:
        assert not re.search(r"\b(apt|apt-get|pip|pip3|venv)\b", command), command


def test_the_image_and_make_install_through_the_same_script() -> None:
    runs = [line for line in (ROOT / "Dockerfile").read_text().splitlines()
            if line.startswith("RUN ")]
    assert runs and all("scripts/install.sh" in line for line in runs), runs
    assert any("install.sh system" in line for line in runs)
    assert any("install.sh python" in line for line in runs)
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/install.sh system" in makefile.split("system-deps:", 1)[1].split("\n\n")[0]
    assert "scripts/install.sh python" in makefile
    assert "setup: $(STAMP) system-deps" in makefile and "test: setup" in makefile
