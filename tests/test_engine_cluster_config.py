"""``ray_cluster.yaml`` is valid for ``ray up``: checked against the schema Ray ships."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ray_cluster_yaml_matches_rays_schema() -> None:
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    config = yaml.safe_load((ROOT / "ray_cluster.yaml").read_text())
    jsonschema.validate(config, json.loads(schema_path.read_text()))
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    # the engine places actors by these custom resources
    offered = {r for t in types.values() for r in t["resources"]}
    assert {"crawl", "ingest", "score"} <= offered
    assert any("pip install" in c for c in config["setup_commands"])
