"""Counter-based randomness: every random property is a pure function of its coordinates.

A listing's section, lifetime and price at a repricing epoch are ``hash(seed, event, slot,
field, ...)``; nothing is drawn from a stateful generator, so any page can be generated on
demand, in any order, and is identical every time (the whole world never sits in memory).
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_TO_UNIT = 1.0 / float(1 << 53)
_MASK64 = (1 << 64) - 1


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over a uint64 array (wrapping arithmetic is intended)."""
    with np.errstate(over="ignore"):
        z = x + _GOLD
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


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
        acc = int(mix(np.array([acc ^ value], dtype=np.uint64))[0])
    return acc


def hashes(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """One uint64 per slot for (base key, slot, field)."""
    salt = np.uint64(key(base, field))
    return mix(slots.astype(np.uint64) * _GOLD ^ salt)


def uniform(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """Uniform floats in [0, 1), one per slot."""
    return (hashes(base, slots, field) >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def normal(base: int, slots: np.ndarray, field: int) -> np.ndarray:
    """Standard normal draws (Box-Muller over two independent uniforms)."""
    u1 = uniform(base, slots, field * 2 + 1) + 1e-12
    u2 = uniform(base, slots, field * 2 + 2)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def unit(*parts: int | str) -> float:
    """A scalar uniform in [0, 1) for the given coordinates."""
    return (key(*parts) >> 11) * _TO_UNIT


def uniform2(base: int, slots: np.ndarray, other: np.ndarray, field: int) -> np.ndarray:
    """Uniform floats for (slot, other) pairs, e.g. a listing's repricing epoch."""
    salt = np.uint64(key(base, field))
    with np.errstate(over="ignore"):
        h = mix(mix(other.astype(np.uint64) ^ salt) + slots.astype(np.uint64) * _GOLD)
    return (h >> np.uint64(11)).astype(np.float64) * _TO_UNIT
