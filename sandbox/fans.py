"""Simulated fans: people with hidden tastes who browse, watch and follow buy links.

Each fan has preferences nobody downstream sees: how much they like each kind of event
(basketball, concerts, club shows, comedy, theatre, soccer), a few favourite performers
(teams, artists), a favourite venue, a budget and a price sensitivity. Over a period of
simulated days each fan opens events with probability growing with how much the event suits
them (softmax of a utility), sometimes follows its buy link, sometimes watches it, and some
follow a favourite performer outright. Two periods drawn from the same tastes give a
recommender something to learn from and something to be graded on (``bench.recommend``).

Deterministic per ``(seed, fan, period)``; numpy only, like the rest of the sandbox.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sandbox.world import World

CATEGORIES = ("basketball", "concert", "club", "comedy", "theatre", "soccer")


@dataclasses.dataclass(frozen=True, slots=True)
class Taste:
    """A fan's hidden preferences."""

    genre: dict[str, float]  # category -> 0..1 (sums to 1)
    performers: frozenset[str]
    venue: str
    budget_cents: int
    price_sensitivity: float
    activity: float  # events opened per simulated day


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    """One thing a fan did: ``view`` / ``click`` (buy link) / ``watch`` an event (its index in
    ``World.events``), or ``follow`` a performer."""

    fan: int
    period: int
    kind: str
    event_index: int | None = None
    performer: str | None = None


class Fans:
    """``n`` fans of one world; ``tastes`` are the truth, ``actions(period)`` what they do."""

    def __init__(self, world: World, n: int, seed: int, days: int = 14) -> None:
        self.world, self.n, self.seed, self.days = world, n, seed, days
        events = world.events
        self.category = np.array([CATEGORIES.index(e.category) for e in events])
        self.price = np.array([max(e.base_cents, 500) for e in events], dtype=np.float64)
        self.popularity = np.array([e.popularity for e in events])
        self.venue_names = sorted({e.venue.name for e in events})
        self.venue = np.array([self.venue_names.index(e.venue.name) for e in events])
        self.performer_names = sorted({p for e in events for p in e.performers})
        self.on_sale = np.array([e.status != "cancelled" for e in events])
        rng = np.random.default_rng([seed, 1])
        self.tastes = [self._taste(rng) for _ in range(n)]

    def _taste(self, rng: np.random.Generator) -> Taste:
        genre = rng.dirichlet(np.full(len(CATEGORIES), 0.35))
        likes = [CATEGORIES[i] for i in np.argsort(-genre)[:2]]
        pool = sorted({p for e in self.world.events if e.category in likes
                       for p in e.performers})
        k = int(rng.integers(1, 4))
        favs = frozenset(rng.choice(pool, size=min(k, len(pool)), replace=False)) if pool \
            else frozenset()
        venues = sorted({e.venue.name for e in self.world.events if e.category in likes})
        venue = str(rng.choice(venues)) if venues else self.venue_names[0]
        typical = float(np.median(self.price[np.isin(self.category,
                                                     [CATEGORIES.index(c) for c in likes])]))
        return Taste(genre=dict(zip(CATEGORIES, genre.round(4).tolist(), strict=True)),
                     performers=favs, venue=venue,
                     budget_cents=int(typical * rng.lognormal(0.0, 0.35)),
                     price_sensitivity=float(rng.uniform(0.2, 2.0)),
                     activity=float(rng.lognormal(-0.3, 0.6)))

    def utility(self, fan: int) -> np.ndarray:
        """How much each event suits the fan (the hidden truth the recommender never sees)."""
        t = self.tastes[fan]
        g = np.array([t.genre[c] for c in CATEGORIES])[self.category]
        perf = np.array([any(p in t.performers for p in e.performers)
                         for e in self.world.events], dtype=np.float64)
        venue = (self.venue == self.venue_names.index(t.venue)).astype(np.float64)
        over = np.maximum(0.0, np.log(self.price / max(t.budget_cents, 1)))
        u = 6.0 * g + 2.5 * perf + 0.8 * venue + 1.2 * self.popularity \
            - t.price_sensitivity * 2.0 * over
        return np.where(self.on_sale, u, -np.inf)

    def actions(self, period: int) -> Iterator[Action]:
        """What every fan does in ``period`` (0 = the training period, 1 = the next)."""
        for fan in range(self.n):
            rng = np.random.default_rng([self.seed, 2, fan, period])
            u = self.utility(fan)
            p = np.exp(u - u[np.isfinite(u)].max())
            p = np.where(np.isfinite(u), p, 0.0)
            p /= p.sum()
            views = rng.poisson(self.tastes[fan].activity * self.days / 2)
            seen: set[int] = set()
            for i in rng.choice(len(p), size=views, p=p):
                yield Action(fan, period, "view", int(i))
                if int(i) in seen:
                    continue
                seen.add(int(i))
                suit = 1.0 / (1.0 + np.exp(-(u[i] - 4.0)))
                if rng.random() < 0.6 * suit:
                    yield Action(fan, period, "click", int(i))
                if rng.random() < 0.25 * suit:
                    yield Action(fan, period, "watch", int(i))
            t = self.tastes[fan]
            if period == 0 and t.performers and rng.random() < 0.3:
                yield Action(fan, period, "follow", performer=sorted(t.performers)[0])
