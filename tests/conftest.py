"""Shared test fixtures, split by what they provide (each module owns one kind of fixture)."""

pytest_plugins = [
    "tests.fixtures_db",
    "tests.fixtures_sandbox",
    "tests.fixtures_api",
    "tests.fixtures_alerts",
]
