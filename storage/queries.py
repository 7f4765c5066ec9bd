"""The old home of the rollup writer, kept while ``engine/maintenance.py`` and ``bench/api.py``
still import it from here: its code lives in :mod:`storage.history`. Delete this module once
they import ``storage.history.refresh_hourly_rollups``.
"""

from __future__ import annotations

from storage.history import refresh_hourly_rollups

__all__ = ["refresh_hourly_rollups"]
