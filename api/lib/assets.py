"""Third-party scripts and stylesheets, served from our own origin at pinned versions.

``api/assets/package.json`` pins each package and ``package-lock.json`` locks it;
``make system-deps`` installs them with ``npm ci`` into ``api/assets/node_modules`` (never
committed, never fetched from a CDN at run time). Each package's distribution folder is
served under ``/assets/<name>/``. A checkout without them still serves the API; the app logs
one line saying how to install them, and the pages lose only what needs them (the chart,
htmx's in-place swaps, the API reference).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from litestar.static_files import create_static_files_router

logger = logging.getLogger(__name__)

NODE_MODULES = Path(__file__).resolve().parent.parent / "assets" / "node_modules"

#: URL name -> the package's folder (inside node_modules) whose files are served
PACKAGES = {
    "htmx": "htmx.org/dist",
    "uplot": "uplot/dist",
    "scalar": "@scalar/api-reference/dist/browser",
    "swagger": "swagger-ui-dist",
}


def missing() -> list[str]:
    """The packages not installed in this checkout."""
    return [name for name, sub in PACKAGES.items() if not (NODE_MODULES / sub).is_dir()]


def asset_routers() -> list[Any]:
    """One static-files router per installed package, at ``/assets/<name>``."""
    absent = missing()
    if absent:
        logger.warning("web assets missing (%s): run `make system-deps` (npm ci in "
                       "api/assets); pages work without them, minus charts and the API "
                       "reference", ", ".join(absent))
    return [create_static_files_router(path=f"/assets/{name}",
                                       directories=[NODE_MODULES / sub],
                                       include_in_schema=False, name=f"assets:{name}")
            for name, sub in PACKAGES.items() if name not in absent]
