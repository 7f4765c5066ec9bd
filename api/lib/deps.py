"""Dependency markers for handler signatures (the names are the ones the app provides)."""

from __future__ import annotations

from litestar.di import NamedDependency

from api.lib.principals import Principal
from api.lib.replicas import Reads
from api.lib.runtime import Runtime

#: The per-app runtime (pool, cache, settings).
RuntimeDep = NamedDependency[Runtime]
#: The authenticated caller (401 when anonymous; CSRF checked for sessions).
UserDep = NamedDependency[Principal]
#: The caller if any.
PrincipalDep = NamedDependency[Principal | None]
#: Where this request's read-only queries go (a healthy replica, or the primary).
ReadsDep = NamedDependency[Reads]
