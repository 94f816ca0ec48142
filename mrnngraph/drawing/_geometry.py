"""Plane geometry of the area diagram: node outlines, edge curves, where a curve
leaves a node, and which side of an anchor a label goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Shape", "Curve", "quad", "cubic", "bend_curve", "chord", "exit_t", "back_off", "anchor"]


@dataclass
class Shape:
    center: np.ndarray
    r: float  # circle radius, or half the side of a square
    square: bool

    def inside(self, pts: np.ndarray, pad: float = 0.0) -> np.ndarray:
        d = pts - self.center
        if self.square:
            return np.max(np.abs(d), axis=-1) < self.r + pad
        return np.hypot(d[..., 0], d[..., 1]) < self.r + pad


@dataclass
class Curve:
    """A parametric curve ``f(t)``, ``t`` in [0, 1], from one node towards another."""

    f: Callable[[np.ndarray], np.ndarray]
    t0: float = 0.0
    t1: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def at(self, t: float) -> np.ndarray:
        return self.f(np.array([t]))[0]


def quad(p0: np.ndarray, c: np.ndarray, p2: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def f(t: np.ndarray) -> np.ndarray:
        t = t[:, None]
        return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t**2 * p2

    return f


def cubic(
    p0: np.ndarray, c1: np.ndarray, c2: np.ndarray, p3: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    def f(t: np.ndarray) -> np.ndarray:
        t = t[:, None]
        return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3

    return f


def bend_curve(p0: np.ndarray, p2: np.ndarray, bend: float) -> Callable:
    """Quadratic curve whose control point sits ``bend * length`` to the left of the chord."""
    d = p2 - p0
    left = np.array([-d[1], d[0]])
    return quad(p0, (p0 + p2) / 2 + bend * left, p2)


def chord(p0: np.ndarray, p2: np.ndarray, ring: float, r0: float) -> Callable:
    """A chord of the arc layout: pulled towards the centre so it clears the neighbours,
    and bent a little to the left of its direction so reciprocal pairs run apart."""
    mid = (p0 + p2) / 2
    d = p2 - p0
    beta = min(max(0.22, 3.2 * r0 / ring), 0.6)
    control = mid * (1 - beta) + 0.07 * np.array([-d[1], d[0]])
    return quad(p0, control, p2)


def exit_t(f: Callable, shape: Shape, pad: float, *, reverse: bool) -> float:
    """First ``t`` outside ``shape`` (or, with ``reverse``, the last one before entering it)."""
    lo, hi = 0.0, 1.0
    for _ in range(3):  # three vectorised refinements: resolution (1/120)**3
        ts = np.linspace(lo, hi, 121)
        out = ~shape.inside(f(ts), pad)
        idx = np.flatnonzero(out)
        if idx.size == 0:
            return hi if not reverse else lo
        if not reverse:
            k = int(idx[0])
            if k == 0:
                return float(ts[0])
            lo, hi = float(ts[k - 1]), float(ts[k])
        else:
            k = int(idx[-1])
            if k == ts.size - 1:
                return float(ts[-1])
            lo, hi = float(ts[k]), float(ts[k + 1])
    return hi if not reverse else lo


def back_off(f: Callable, t1: float, dist: float, t_min: float) -> float:
    """The ``t < t1`` whose point is ``dist`` away from ``f(t1)`` (the shaft's end)."""
    if dist <= 0:
        return t1
    tip = f(np.array([t1]))[0]
    ts = np.linspace(t_min, t1, 200)
    d = np.hypot(*(f(ts) - tip).T)
    far = np.flatnonzero(d >= dist)
    return float(ts[far[-1]]) if far.size else t_min


def anchor(u: np.ndarray) -> tuple[str, str]:
    """Text alignment that puts a label on the side of its anchor that ``u`` points to."""
    ha = "left" if u[0] > 0.38 else "right" if u[0] < -0.38 else "center"
    va = "bottom" if u[1] > 0.38 else "top" if u[1] < -0.38 else "center"
    return ha, va
