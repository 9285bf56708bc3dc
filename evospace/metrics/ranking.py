"""How well a score ranks architectures (or operators) against the truth: Kendall τ, Spearman ρ, precision@k.

All three take two equally long arrays, ``scores`` (higher = predicted better) and ``truth`` (higher = truly
better), and treat ties the standard way: Kendall's τ-b (ties in either array shrink the denominator,
as ``scipy.stats.kendalltau``), Spearman's ρ as the Pearson correlation of average ranks. A constant array
has no ranking, so its correlation is 0 (not NaN): a metric that cannot tell architectures apart ranks
nothing. τ and ρ are scipy's (imported when first used: ``scipy.stats`` is slow to import).
"""

from __future__ import annotations

import numpy as np

__all__ = ["average_ranks", "kendall_tau", "spearman_rho", "precision_at_k"]


def _pair(scores, truth) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(scores, dtype=float).reshape(-1), np.asarray(truth, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"scores and truth differ in length: {x.size} vs {y.size}")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("scores or truth contain NaN")
    return x, y


def _constant(values: np.ndarray) -> bool:
    return values.size < 2 or bool((values == values[0]).all())


def average_ranks(values) -> np.ndarray:
    """Ranks 1..n of ``values`` (1 = smallest), ties given the mean of the ranks they span."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(values, dtype=float).reshape(-1), method="average")


def kendall_tau(scores, truth) -> float:
    """Kendall's τ-b between ``scores`` and ``truth`` (scipy's O(n log n) algorithm: 100,000 items in well
    under a second)."""
    from scipy.stats import kendalltau

    x, y = _pair(scores, truth)
    if _constant(x) or _constant(y):
        return 0.0
    return float(kendalltau(x, y).statistic)


def spearman_rho(scores, truth) -> float:
    """Spearman's ρ: Pearson correlation of the average ranks."""
    from scipy.stats import spearmanr

    x, y = _pair(scores, truth)
    if _constant(x) or _constant(y):
        return 0.0
    return float(spearmanr(x, y).statistic)


def precision_at_k(scores, truth, k: int | float) -> float:
    """Share of the ``k`` best by ``scores`` that are among the ``k`` best by ``truth``.

    Args:
        k: a count (int ≥ 1) or a fraction of the items (float in (0, 1]); at least one item.

    Ties at the cut are broken by position (stable order), the same way for both arrays.
    """
    x, y = _pair(scores, truth)
    if isinstance(k, float):
        if not 0.0 < k <= 1.0:
            raise ValueError(f"k as a fraction must be in (0, 1], got {k}")
        k = max(1, int(round(k * x.size)))
    if not 1 <= k <= x.size:
        raise ValueError(f"k must be between 1 and {x.size}, got {k}")
    top_scores = set(np.argsort(-x, kind="stable")[:k].tolist())
    top_truth = set(np.argsort(-y, kind="stable")[:k].tolist())
    return len(top_scores & top_truth) / k
