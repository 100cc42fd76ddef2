"""Paired timing: run coursekit and its peer alternately (A B A B ...), so that a
noisy machine slows both sides of a pair alike, and report medians."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def _once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired(ours: Callable[[], object], peer: Callable[[], object], *, repeats: int = 7, warmup: int = 2):
    """Time two callables in alternation after a warm-up.

    Returns (median_ours_s, median_peer_s, median of per-pair peer/ours ratios).
    Each callable must block until its work is done (e.g. call .numpy()).
    """
    for _ in range(warmup):
        ours()
        peer()
    ours_s, peer_s, ratios = [], [], []
    for _ in range(repeats):
        a = _once(ours)
        b = _once(peer)
        ours_s.append(a)
        peer_s.append(b)
        ratios.append(b / a)
    return statistics.median(ours_s), statistics.median(peer_s), statistics.median(ratios)


def median_time(fn: Callable[[], object], *, repeats: int = 7, warmup: int = 2) -> float:
    """Median wall time of fn, for a physical floor such as one forward pass."""
    for _ in range(warmup):
        fn()
    return statistics.median(_once(fn) for _ in range(repeats))


def report(case: str, ours_s: float, peer_s: float, ratio: float) -> str:
    line = f"{case} coursekit_s={ours_s:.4f} peer_s={peer_s:.4f} ratio={ratio:.2f}"
    print(line, flush=True)
    return line
