"""``ripcity config`` and README agree on every setting, and secrets are never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.settings import describe_variables

ROOT = Path(__file__).resolve().parents[1]


def _ripcity(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200", **env})


def test_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [var for var, _, _ in describe_variables() if f"`{var}`" not in readme]
    assert missing == []


def test_config_masks_secrets_and_shows_values() -> None:
    out = _ripcity("config", STRIPE_API_KEY="sk_test_supersecret", RIPCITY_API_PORT="8123",
                   RIPCITY_DATABASE_URL="postgresql://app:hunter2@db.example:5432/rc")
    assert out.returncode == 0, out.stderr
    assert "sk_test_supersecret" not in out.stdout and "hunter2" not in out.stdout
    assert "8123" in out.stdout and "db.example" in out.stdout


def test_bad_value_is_one_line_naming_variable_value_and_expectation() -> None:
    out = _ripcity("config", RIPCITY_API_PORT="eighty")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "RIPCITY_API_PORT='eighty'" in lines[0] and "expected a valid integer" in lines[0]
