"""A bad setting fails at start with one line naming the variable, the value and what is
expected; the CLI exits non-zero with that line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.settings import load_settings
from storage.db import mask_url
from storage.settings import ConfigError


def test_bad_port_names_variable_value_and_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPCITY_EMBEDDED_PG_PORT", "abc")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert "RIPCITY_EMBEDDED_PG_PORT='abc'" in message
    assert "integer" in message


def test_cli_prints_one_line_and_exits_non_zero() -> None:
    env = {**os.environ, "RIPCITY_EMBEDDED_PG_PORT": "abc"}
    env.pop("RIPCITY_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "db", "status"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "RIPCITY_EMBEDDED_PG_PORT='abc'" in lines[0]


def test_bad_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIPCITY_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="RIPCITY_DATABASE_URL='mysql://x'"):
        load_settings()


def test_password_is_masked() -> None:
    assert mask_url("postgresql://u:s3cret@h:5/db") == "postgresql://u:***@h:5/db"
    assert mask_url("postgresql://u@h/db") == "postgresql://u@h/db"
