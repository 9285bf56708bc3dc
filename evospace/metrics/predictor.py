"""The calibrated score: a rank aggregate of cheap signals, corrected by a few architectures trained stand-alone.

Every signal (parameters, FLOPs, zero-cost proxies, supernet metrics) ranks architectures well on some spaces
and badly on others, and no fixed mix wins everywhere (``python bench/ranking.py``). The score therefore
starts from a fixed *prior* mix and lets a handful of *anchors*, architectures trained stand-alone with the
space's recipe, say how much each signal is worth on this space::

    u_j(a)  = standardised rank of signal j of architecture a within a reference sample of the subspace
    score(a) = Σ_j w_j u_j(a)
    w = argmin_w Σ_anchors (score(a) + c − y(a))² + λ ‖w − w0‖²      (y: anchors' standardised accuracy)

``w0`` gives each prior signal the same weight, so without anchors the score is their mean rank, and with few
or noisy anchors it stays near it (ridge regression shrunk toward the prior, not toward zero). Ranks make the
signals' scales irrelevant and bound what one outlier can do. Pure NumPy: nothing here trains or runs a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["RankNormalizer", "CalibratedScore", "fit_calibrated", "prior_weights", "signal_matrix", "stratified_picks"]

_UNIT_STD = np.sqrt(1.0 / 12.0)  # standard deviation of a uniform rank in [0, 1]


@dataclass(frozen=True)
class RankNormalizer:
    """Maps each signal to its standardised rank within a reference sample (mean 0, standard deviation ~1).

    A value's rank is its mid-rank among the reference values (ties split evenly), so a value outside the
    sample's range still gets a finite, bounded score.
    """

    names: tuple[str, ...]  # signals, in column order
    sorted_values: tuple[np.ndarray, ...]  # each signal's reference values, ascending

    @classmethod
    def fit(cls, names: Sequence[str], reference: np.ndarray) -> RankNormalizer:
        """``reference``: one row per architecture of the sample, one column per signal."""
        reference = np.asarray(reference, dtype=float).reshape(-1, len(names))
        return cls(tuple(names), tuple(np.sort(reference[:, j]) for j in range(len(names))))

    def keeping(self, earlier: RankNormalizer, names: Sequence[str]) -> RankNormalizer:
        """This normaliser with the reference values of ``names`` taken from ``earlier`` (same signals).

        A signal whose value does not depend on the round (a cost, a zero-cost proxy) can stay ranked within an
        earlier, wider sample: once the subspace has shrunk, re-ranking it within the survivors would stretch
        differences too small to matter to the full scale its weight was fitted on.
        """
        if earlier.names != self.names:
            raise ValueError(f"signals differ: {earlier.names} vs {self.names}")
        return RankNormalizer(self.names, tuple(earlier.sorted_values[j] if name in names else values
                                                for j, (name, values) in enumerate(zip(self.names,
                                                                                       self.sorted_values))))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardised ranks of ``values`` (rows of signals in :attr:`names` order)."""
        values = np.asarray(values, dtype=float).reshape(-1, len(self.names))
        out = np.empty_like(values)
        for j, ref in enumerate(self.sorted_values):
            below = np.searchsorted(ref, values[:, j], side="left")
            upto = np.searchsorted(ref, values[:, j], side="right")
            share = (below + upto) / (2.0 * max(len(ref), 1))
            out[:, j] = (share - 0.5) / _UNIT_STD
        return out


@dataclass(frozen=True)
class CalibratedScore:
    """A fitted score: weights per signal over standardised ranks (higher score = predicted better)."""

    normalizer: RankNormalizer
    weights: np.ndarray  # one per signal, in normalizer.names order
    anchors: int  # architectures the weights were fitted on (0: the prior mix)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Scores of architectures given as rows of raw signal values."""
        return self.normalizer.transform(values) @ self.weights

    def parts(self) -> dict[str, float]:
        """Each signal's weight (for the run's records)."""
        return {name: float(w) for name, w in zip(self.normalizer.names, self.weights)}


def prior_weights(names: Sequence[str], prior: Sequence[str]) -> np.ndarray:
    """Equal weights on the prior signals, scaled so that the prior score has about unit variance."""
    chosen = [name in prior for name in names]
    count = max(sum(chosen), 1)
    return np.array([1.0 / np.sqrt(count) if c else 0.0 for c in chosen])


def fit_calibrated(names: Sequence[str], reference: np.ndarray, prior: Sequence[str] | np.ndarray, ridge: float,
                   anchor_values: np.ndarray | None = None,
                   anchor_accuracy: Sequence[float] | None = None,
                   normalizer: RankNormalizer | None = None) -> CalibratedScore:
    """Fit the score: the prior mix, corrected by the anchors when there are at least three of them.

    Args:
        names: the signals, e.g. ``("flops", "synflow", "neg_loss")``.
        reference: raw signal values of a reference sample of the subspace (rows of ``names``).
        prior: the signals the prior mix weighs equally (a subset of ``names``), or the prior's weights
            themselves (e.g. an earlier round's fit, so that later rounds refine it).
        ridge: λ, how strongly the weights stay near the prior (∞ ignores the anchors).
        anchor_values, anchor_accuracy: raw signals and measured accuracy of the anchors.
        normalizer: the ranks to use instead of ``reference``'s own (e.g. some signals kept from an earlier one).
    """
    if normalizer is None:
        normalizer = RankNormalizer.fit(names, reference)
    if isinstance(prior, np.ndarray):
        w0 = np.asarray(prior, dtype=float).reshape(len(names))
    else:
        w0 = prior_weights(names, prior)
    count = 0 if anchor_accuracy is None else len(anchor_accuracy)
    if count < 3 or not np.isfinite(ridge):
        return CalibratedScore(normalizer, w0, 0)
    x = normalizer.transform(anchor_values)
    y = np.asarray(anchor_accuracy, dtype=float)
    spread = y.std()
    if spread == 0:  # the anchors cannot tell architectures apart: nothing to learn from them
        return CalibratedScore(normalizer, w0, 0)
    y = (y - y.mean()) / spread
    design = np.column_stack([x, np.ones(len(x))])
    penalty = np.concatenate([np.full(len(names), float(ridge)), [0.0]])  # the intercept is free
    solution = np.linalg.solve(design.T @ design + np.diag(penalty),
                               design.T @ y + penalty * np.concatenate([w0, [0.0]]))
    return CalibratedScore(normalizer, solution[:-1], count)


def signal_matrix(signals: Sequence[Mapping[str, float]], names: Sequence[str]) -> np.ndarray:
    """Rows of raw values in ``names`` order from per-architecture ``{signal: value}`` mappings."""
    return np.array([[float(s[name]) for name in names] for s in signals], dtype=float).reshape(-1, len(names))


def stratified_picks(scores: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct indices of ``scores``, one drawn from each of ``count`` equal strata of their ranks.

    Anchors spread evenly along the prior score teach the ridge fit its slopes with less variance than a
    uniform draw of the same size (measured on the shipped ground truths: τ +0.02–0.03 on two spaces, equal on
    the others, ``bench/ranking.py``). Fewer candidates than ``count``: every one of them.
    """
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if count >= len(scores):
        return np.arange(len(scores))
    order = np.argsort(scores, kind="stable")
    edges = np.linspace(0, len(scores), count + 1).round().astype(int)
    return np.array([order[rng.integers(edges[i], edges[i + 1])] for i in range(count)], dtype=np.int64)
