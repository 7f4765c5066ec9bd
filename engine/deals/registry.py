"""Model versions on disk (``RIPCITY_DATA_DIR/models/``) and retraining on a schedule.

A version id is ``fp-<UTC time>-<content hash>``; every score stores it, so any score can be
traced to the exact model that produced it. ``LATEST`` names the version scorers load.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
from filelock import FileLock

from engine.deals.model import FairPriceModel, fit

if TYPE_CHECKING:
    import pyarrow as pa

    from engine.deals.context import ScoringContext

logger = logging.getLogger(__name__)

_LATEST = "LATEST"
#: held while a model is trained and saved: of the processes that find none (writers, the
#: scorer, the scheduled retraining), one trains it and the others then load what it saved
_TRAINING_LOCK = ".training.lock"


class ModelNotFoundError(LookupError):
    """No saved model (or not the requested version) in the models directory."""


def models_dir(directory: Path | str | None = None) -> Path:
    """The models directory: ``directory`` or ``RIPCITY_DATA_DIR/models``."""
    if directory is not None:
        return Path(directory)
    from engine.settings import get_settings

    return Path(get_settings().data_dir) / "models"


def _content_hash(model: FairPriceModel) -> str:
    h = hashlib.sha256()
    for eff in model.effects:
        h.update(eff.tobytes())
    h.update(repr(sorted(model.event_level.items())).encode())
    return h.hexdigest()[:8]


def save_model(model: FairPriceModel, directory: Path | str | None = None) -> str:
    """Persist ``model`` under a new version id, point ``LATEST`` at it, return the id."""
    root = models_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    model.version = (f"fp-{model.trained_at.astimezone(UTC):%Y%m%dT%H%M%SZ}-"
                     f"{_content_hash(model)}")
    path = root / f"{model.version}.joblib"
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, path)
    latest_tmp = root / f".{_LATEST}.tmp"
    latest_tmp.write_text(model.version + "\n")
    os.replace(latest_tmp, root / _LATEST)
    logger.info("saved fair-price model %(version)s to %(path)s",
                {"version": model.version, "path": path})
    return model.version


def list_versions(directory: Path | str | None = None) -> list[str]:
    """Saved version ids, oldest first."""
    root = models_dir(directory)
    return sorted(p.stem for p in root.glob("fp-*.joblib")) if root.is_dir() else []


def load_model(version: str | None = None, directory: Path | str | None = None
               ) -> FairPriceModel:
    """Load ``version`` (default: ``LATEST``)."""
    root = models_dir(directory)
    if version is None:
        latest = root / _LATEST
        if not latest.is_file():
            raise ModelNotFoundError(
                f"no fair-price model in {root}: train one first "
                "(engine.deals.train_and_save, or wait for the scheduled retraining)")
        version = latest.read_text().strip()
    path = root / f"{version}.joblib"
    if not path.is_file():
        raise ModelNotFoundError(
            f"model version {version!r} not found in {root}; saved: {list_versions(root)}")
    model = joblib.load(path)
    if not isinstance(model, FairPriceModel):
        raise ModelNotFoundError(f"{path} does not hold a FairPriceModel")
    return model


def train_and_save(history: pa.Table, context: ScoringContext | None = None,
                   directory: Path | str | None = None, **fit_options: object) -> FairPriceModel:
    """Fit on ``history`` and save: the on-demand retraining entry point."""
    model = fit(history, context, **fit_options)  # type: ignore[arg-type]
    save_model(model, directory)
    return model


def retrain_if_due(
    load_history: Callable[[], tuple[pa.Table, ScoringContext | None]],
    every: timedelta = timedelta(hours=6),
    directory: Path | str | None = None,
    now: datetime | None = None,
    wait_s: float = -1,
) -> FairPriceModel | None:
    """Retrain when the latest model is older than ``every`` (or there is none); the
    scheduler calls this periodically, and scorers do to get their first model. Returns the
    new model, or None when not due. One process trains at a time, and each looks again
    once it holds the lock, so processes that all find no model save one between them.
    ``wait_s``: how long to wait for another's training (-1: as long as it takes; then
    ``filelock.Timeout``)."""
    root = models_dir(directory)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / _TRAINING_LOCK, timeout=wait_s):
        now = now or datetime.now(UTC)
        try:
            current = load_model(directory=root)
            if now - current.trained_at < every:
                return None
        except ModelNotFoundError:
            pass
        history, context = load_history()
        return train_and_save(history, context, root)
