"""Property-based run over the OpenAPI document (schemathesis): for generated requests to
every operation, the API never answers 500, and every response matches the document
(status code, content type, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures_api import ServerThread, new_user


@schemathesis.check
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 500. (A documented 503, e.g. billing on a server without Stripe keys, is fine.)"""
    if response.status_code == 500:
        raise AssertionError(f"500 from {case.method} {case.formatted_path}: "
                             f"{response.text[:300]}")
    return None


@schemathesis.check
def security_headers(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every answer, errors included, carries the CSP and the other security headers."""
    headers = {k.lower() for k in response.headers}
    missing = {"content-security-policy", "x-content-type-options", "x-frame-options",
               "referrer-policy"} - headers
    if missing:
        raise AssertionError(f"{case.method} {case.formatted_path} answered "
                             f"{response.status_code} without {sorted(missing)}")
    return None


CHECKS = [no_internal_error, security_headers, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_base(api_world) -> Iterator[str]:
    """The app with limits raised (thousands of requests come from one address and key)."""
    from api.app import create_app

    with ServerThread(create_app(db_url=api_world.db_url, rate_limit_multiplier=1000)) as b:
        yield b


@pytest.fixture(scope="module")
def fuzz_headers(fuzz_base) -> dict[str, str]:
    import httpx

    with httpx.Client(base_url=fuzz_base) as c:
        return new_user(c)["headers"]


def _document() -> dict[str, Any]:
    """The document the app serves at /schema/openapi.json (building the app connects to
    nothing; the lifespan does)."""
    from api.app import create_app

    doc: dict[str, Any] = create_app(db_url="postgresql://unused").openapi_schema.to_schema()
    return doc


# Deleting the fuzzing account or its key would turn the rest of the run into 401s.
schema = schemathesis.openapi.from_dict(_document()).exclude(
    method="DELETE", path_regex=r"^/api/v1/(account|api-keys/)")


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(max_examples=15, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_every_operation_conforms_and_never_fails(case: Any, fuzz_base: str,
                                                  fuzz_headers: dict[str, str]) -> None:
    case.call_and_validate(base_url=fuzz_base, headers=fuzz_headers, checks=CHECKS)
