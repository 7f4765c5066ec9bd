"""The recommender: which upcoming events each user is likely to want, and why, in one line.

No I/O. Three explainable parts, added with fixed weights:

* **content**: each event is a sparse vector of what it is (performers, venue, category,
  city, price band; scikit-learn's ``normalize`` on a SciPy CSR matrix). A user's profile
  is the weighted sum of the events they touched (opened, followed a buy link, watched,
  set a rule on, bought) plus what they follow directly (a performer, a venue, a saved
  search's words); the content score is profile · event.
* **co-visitation**: events touched by the same people (cosine over the users × events
  matrix) -- "similar to events you opened".
* **popularity**: log of how many people touched the event (and watch it), the cold-start
  answer with the user's city.

Each pick carries the part (and, for content, the feature) that contributed most, turned
into the reason shown beside it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

#: How much one signal of each kind says about a user (event-level or followed feature).
SIGNAL_WEIGHTS: dict[str, float] = {"view": 1.0, "click": 3.0, "watch": 5.0, "rule": 5.0,
                                    "saved": 4.0, "purchase": 8.0, "follow": 6.0}
#: How much each kind of feature counts in an event's description.
FEATURE_WEIGHTS: dict[str, float] = {"performer": 1.0, "venue": 0.6, "category": 0.5,
                                     "city": 0.15, "price": 0.35}
_PRICE_BANDS = (2_500, 5_000, 8_000, 12_000, 20_000, 40_000)


@dataclasses.dataclass(slots=True)
class Catalog:
    """The events that can be recommended (upcoming, on sale), column by column."""

    event_ids: list[int]
    performers: list[Sequence[str]]
    venues: list[str | None]
    categories: list[str | None]
    cities: list[str | None]
    get_in_cents: list[int | None]
    #: people who touched or watch the event lately (the popularity prior)
    popularity: list[float]
    best_deal_score: list[float | None] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_ids)


@dataclasses.dataclass(frozen=True, slots=True)
class Signal:
    """One thing a user did: with an event (``event_id``) or followed a feature (``feature``,
    e.g. ``performer:portland trail blazers``, ``venue:moda center``, ``category:comedy``)."""

    user_id: int
    kind: str  # a key of SIGNAL_WEIGHTS
    event_id: int | None = None
    feature: str | None = None
    weight: float = 1.0  # multiplies SIGNAL_WEIGHTS[kind] (e.g. repeated views)


@dataclasses.dataclass(frozen=True, slots=True)
class Pick:
    event_id: int
    score: float
    reason: str


def price_band(cents: int | None) -> str | None:
    if cents is None:
        return None
    return f"price:{sum(cents > b for b in _PRICE_BANDS)}"


def _label(feature: str) -> str:
    kind, _, value = feature.partition(":")
    return value.title() if kind in ("performer", "venue", "city") else value


class Recommender:
    """Fit on a catalog and everyone's signals; ``recommend`` for any list of users."""

    def __init__(self, content: float = 1.0, covisit: float = 0.6,
                 popularity: float = 0.12) -> None:
        self.w_content, self.w_covisit, self.w_pop = content, covisit, popularity

    # -- fitting ------------------------------------------------------------------------
    def fit(self, catalog: Catalog, signals: Iterable[Signal]) -> Recommender:
        self.catalog = catalog
        self.item_index = {e: i for i, e in enumerate(catalog.event_ids)}
        feats: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i in range(len(catalog)):
            for f, w in self._features(catalog, i):
                j = feats.setdefault(f, len(feats))
                rows.append(i)
                cols.append(j)
                vals.append(w)
        self.features = feats
        self.feature_names = np.array(sorted(feats, key=feats.__getitem__), dtype=object)
        n_items, n_feats = len(catalog), max(len(feats), 1)
        self.X = normalize(sp.csr_matrix((vals, (rows, cols)), shape=(n_items, n_feats)))

        self.user_index: dict[int, int] = {}
        ui: tuple[list[int], list[int], list[float]] = ([], [], [])
        uf: tuple[list[int], list[int], list[float]] = ([], [], [])
        self.followed: dict[int, dict[str, str]] = {}  # user row -> feature -> kind
        for s in signals:
            u = self.user_index.setdefault(s.user_id, len(self.user_index))
            w = SIGNAL_WEIGHTS.get(s.kind, 1.0) * s.weight
            if s.event_id is not None:
                i = self.item_index.get(s.event_id)
                if i is not None:
                    ui[0].append(u)
                    ui[1].append(i)
                    ui[2].append(w)
            elif s.feature is not None and s.feature in feats:
                uf[0].append(u)
                uf[1].append(feats[s.feature])
                uf[2].append(w)
                self.followed.setdefault(u, {})[s.feature] = s.kind
        n_users = len(self.user_index)
        self.U = sp.csr_matrix((ui[2], (ui[0], ui[1])), shape=(n_users, n_items))
        self.U.sum_duplicates()
        direct = sp.csr_matrix((uf[2], (uf[0], uf[1])), shape=(n_users, n_feats))
        # each feature counts once per user however often it was followed
        direct.sum_duplicates()
        self.profile = normalize(self.U @ self.X + direct)

        touched = (self.U > 0).astype(np.float64)
        counts = np.asarray(touched.sum(axis=0)).ravel()
        co = (touched.T @ touched).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        inv = 1.0 / np.sqrt(np.maximum(counts, 1.0))
        self.C = sp.diags(inv) @ co @ sp.diags(inv)
        pop = np.log1p(counts + np.asarray(catalog.popularity, dtype=np.float64))
        self.pop = pop / pop.max() if pop.size and pop.max() > 0 else pop
        self.touched = touched.tocsr()
        return self

    @staticmethod
    def _features(catalog: Catalog, i: int) -> list[tuple[str, float]]:
        out = [(f"performer:{p.lower()}", FEATURE_WEIGHTS["performer"])
               for p in catalog.performers[i]]
        for kind, value in (("venue", catalog.venues[i]), ("category", catalog.categories[i]),
                            ("city", catalog.cities[i])):
            if value:
                out.append((f"{kind}:{value.lower()}", FEATURE_WEIGHTS[kind]))
        band = price_band(catalog.get_in_cents[i])
        if band:
            out.append((band, FEATURE_WEIGHTS["price"]))
        return out

    # -- recommending -------------------------------------------------------------------
    def scores(self, user_ids: Sequence[int], city: str | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(total, content, co-visitation, popularity) per user × event; events a user
        already touched score -inf."""
        n_items = len(self.catalog)
        rows = np.array([self.user_index.get(u, -1) for u in user_ids])
        known = rows >= 0
        content = np.zeros((len(user_ids), n_items))
        covisit = np.zeros((len(user_ids), n_items))
        if known.any():
            r = rows[known]
            content[known] = (self.profile[r] @ self.X.T).toarray()
            covisit[known] = (normalize(self.U[r]) @ self.C).toarray()
        pop = np.broadcast_to(self.pop, (len(user_ids), n_items)).copy()
        if city:  # the cold-start tilt: events in the user's city first
            home = np.array([(c or "").lower() == city.lower() for c in self.catalog.cities])
            pop[:, home] += 0.5
        total = (self.w_content * content + self.w_covisit * covisit + self.w_pop * pop)
        if known.any():
            seen = self.touched[rows[known]].toarray() > 0
            sub = total[known]
            sub[seen] = -np.inf
            total[known] = sub
        return total, content, covisit, pop

    def recommend(self, user_ids: Sequence[int], k: int = 10,
                  city: str | None = None) -> dict[int, list[Pick]]:
        """The top ``k`` events for each user, best first, each with its reason."""
        if not len(self.catalog) or not user_ids:
            return {u: [] for u in user_ids}
        total, content, covisit, pop = self.scores(user_ids, city)
        k = min(k, total.shape[1])
        top = np.argpartition(-total, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(total, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        us = np.repeat(np.arange(len(user_ids)), k)
        items = top.ravel()
        parts = np.stack([self.w_content * content[us, items],
                          self.w_covisit * covisit[us, items],
                          self.w_pop * pop[us, items]], axis=1)
        winner = parts.argmax(axis=1)
        feature = self._top_features(user_ids, us, items, winner == 0)
        out: dict[int, list[Pick]] = {}
        for n, (u, i) in enumerate(zip(us, items, strict=True)):
            score = float(total[u, i])
            if not math.isfinite(score):
                continue
            reason = self._reason(user_ids[u], int(winner[n]), feature.get(n), int(i), city)
            out.setdefault(user_ids[u], []).append(
                Pick(int(self.catalog.event_ids[i]), round(score, 4), reason))
        for u in user_ids:
            out.setdefault(u, [])
        return out

    def _top_features(self, user_ids: Sequence[int], us: np.ndarray, items: np.ndarray,
                      mask: np.ndarray) -> dict[int, str]:
        """For the picks won by content: the feature that contributed most."""
        out: dict[int, str] = {}
        idx = np.flatnonzero(mask)
        for start in range(0, idx.size, 4096):
            chunk = idx[start:start + 4096]
            rows = np.array([self.user_index[user_ids[us[c]]] for c in chunk])
            contrib = self.profile[rows].multiply(self.X[items[chunk]]).tocsr()
            best = np.asarray(contrib.argmax(axis=1)).ravel()
            for c, j in zip(chunk, best, strict=True):
                out[int(c)] = str(self.feature_names[j])
        return out

    def _reason(self, user_id: int, winner: int, feature: str | None, item: int,
                city: str | None) -> str:
        if winner == 1:
            return "similar to events you opened"
        if winner == 2 or feature is None:
            where = city or self.catalog.cities[item]
            return f"popular in {where.title()}" if where else "popular right now"
        kind = feature.partition(":")[0]
        followed = self.followed.get(self.user_index.get(user_id, -1), {})
        deal = (self.catalog.best_deal_score[item]
                if len(self.catalog.best_deal_score) > item else None)
        if feature in followed:
            how = followed[feature]
            if how == "saved":
                return f"matches your saved search ({_label(feature)})"
            if kind == "venue" and deal is not None and deal >= 80:
                return f"a great deal at {_label(feature)}, a venue you watch"
            return f"because you follow {_label(feature)}"
        if kind == "performer":
            return f"because you looked at {_label(feature)} events"
        if kind == "venue":
            return f"at {_label(feature)}, where you often look"
        if kind == "category":
            return f"more {_label(feature)} like the events you opened"
        if kind == "price":
            return "in the price range you usually look at"
        return "similar to events you opened"


def popularity_ranking(catalog: Catalog, signals: Iterable[Signal]) -> np.ndarray:
    """The baseline: events by how many people touched them, most first (indexes)."""
    index = {e: i for i, e in enumerate(catalog.event_ids)}
    counts = np.zeros(len(catalog))
    seen: set[tuple[int, int]] = set()
    for s in signals:
        i = index.get(s.event_id) if s.event_id is not None else None
        if i is not None and (s.user_id, i) not in seen:
            seen.add((s.user_id, i))
            counts[i] += 1
    return np.argsort(-counts, kind="stable")


def as_signals(rows: Iterable[Any]) -> list[Signal]:
    """Storage's signal rows (attributes ``user_id, kind, event_id, feature, weight``)."""
    return [Signal(r.user_id, r.kind, r.event_id, r.feature, float(r.weight)) for r in rows]
