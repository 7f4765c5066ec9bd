"""Counter-based randomness: every random property is a pure function of its coordinates.

A listing's section, lifetime and price at a repricing epoch are ``hash(seed, event, slot,
field, ...)``; nothing is drawn from a stateful generator, so any page can be generated on
demand, in any order, and is identical every time (the whole world never sits in memory).
"""

from __future__ import annotations

import functools

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_TO_UNIT = 1.0 / float(1 << 53)
_MASK64 = (1 << 64) - 1


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over a uint64 array (array arithmetic wraps silently)."""
    z = x + _GOLD
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def _mix_int(x: int) -> int:
    """splitmix64 on one Python int (no numpy scalar overflow warnings)."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


@functools.lru_cache(maxsize=65_536)
def key(*parts: int | str) -> int:
    """Fold integers / short strings into one 64-bit key (scalar, Python side)."""
    acc = 0x243F6A8885A308D3
    for part in parts:
        if isinstance(part, str):
            value = int.from_bytes(part.encode()[:32].ljust(8, b"\0")[:8], "little")
            value ^= len(part) * 0x9E3779B1 ^ sum(part.encode()) * 0x85EBCA77
            for i in range(8, len(part), 8):
                value = (value * 0x100000001B3) & _MASK64
                value ^= int.from_bytes(part[i : i + 8].encode().ljust(8, b"\0")[:8], "little")
        else:
            value = part & _MASK64
        acc = _mix_int(acc ^ value)
    return acc


def hashes(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """One uint64 per slot for (base key, slot, field)."""
    salt = np.uint64(key(base, field))
    x = slots.astype(np.uint64)
    x *= _GOLD
    x ^= salt
    return mix(x)


def uniforms(base: int, slots: np.ndarray, field: int, k: int) -> list[np.ndarray]:
    """``k`` (<= 3) uniforms per slot from one hash (21 bits each: plenty for choices)."""
    h = hashes(base, slots, field)
    out = []
    for i in range(k):
        bits = (h >> np.uint64(21 * i)) & np.uint64(0x1FFFFF)
        out.append(bits.astype(np.float64) * (1.0 / 2097152.0))
    return out


def uniform(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per slot."""
    return (hashes(base, slots, field) >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def normal(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """Standard normal draws (Box-Muller over two 21-bit uniforms from one hash)."""
    u1, u2 = uniforms(base, slots, field, 2)
    return normal_of(u1, u2)


def unit(*parts: int | str) -> float:
    """A scalar uniform in [0, 1) for the given coordinates."""
    return (key(*parts) >> 11) * _TO_UNIT


def uniform2(base: int, slots: np.ndarray, other: np.ndarray, field: int,
             k: int = 3) -> list[np.ndarray]:
    """``k`` 21-bit uniforms for (slot, other) pairs, e.g. a listing's repricing epoch."""
    salt = _salts(base, (field,))[0]
    h = mix(mix(other.astype(np.uint64) ^ salt) + slots.astype(np.uint64) * _GOLD)
    return list(uniforms_rows(h[None, :])[0, :k])


@functools.lru_cache(maxsize=65_536)
def _salts(base: int, fields: tuple[int, ...]) -> np.ndarray:
    return np.array([key(base, f) for f in fields], dtype=np.uint64)[:, None]


def hash_rows(base: int, slots: np.ndarray, fields: tuple[int, ...]) -> np.ndarray:
    """``hashes`` for several fields at once: row ``i`` is ``hashes(base, slots, fields[i])``.

    One chain of array operations over a (fields x slots) block instead of one per field:
    on a 100-listing page the per-call numpy overhead, not the arithmetic, is the cost.
    """
    x = slots.astype(np.uint64)
    x *= _GOLD
    return mix(x[None, :] ^ _salts(base, fields))


_SHIFTS = np.array([0, 21, 42], dtype=np.uint64)[None, :, None]


def uniforms_rows(h: np.ndarray) -> np.ndarray:
    """``uniforms(..., k=3)`` of every row of a ``hash_rows`` block: shape (rows, 3, n)."""
    bits = (h[:, None, :] >> _SHIFTS) & np.uint64(0x1FFFFF)
    return bits.astype(np.float64) * (1.0 / 2097152.0)


def uniform_rows(h: np.ndarray) -> np.ndarray:
    """``uniform`` of every row of a ``hash_rows`` block (53-bit floats in [0, 1))."""
    return (h >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def normal_of(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Box-Muller exactly as ``normal`` computes it, from its two 21-bit uniforms."""
    return np.sqrt(-2.0 * np.log(u1 + 2.0**-22)) * np.cos(2.0 * np.pi * u2)
