"""Scores of architectures and operators from a supernet, and how well they rank against a ground truth."""

from __future__ import annotations

from evospace.metrics.accuracy import (
    AccuracyEvaluator,
)
from evospace.metrics.angle import (
    DEFINITIONS,
    AngleScorer,
    PieceStats,
    naive_angle,
    path_vectors,
    reference_weights,
)
from evospace.metrics.groundtruth import (
    GroundTruth,
    GroundTruthSpec,
    NoiseCeiling,
    build_ground_truth,
    build_order,
    load_ground_truth,
    noise_ceiling,
    truth_fingerprint,
)
from evospace.metrics.magnitude import (
    magnitude_table,
    op_magnitudes,
)
from evospace.metrics.predictor import (
    CalibratedScore,
    RankNormalizer,
    fit_calibrated,
    prior_weights,
    signal_matrix,
    stratified_picks,
)
from evospace.metrics.prefix_eval import (
    PrefixEvaluator,
)
from evospace.metrics.proxies import (
    PROXIES,
    proxy_score,
    proxy_scores,
)
from evospace.metrics.ranking import (
    average_ranks,
    kendall_tau,
    precision_at_k,
    spearman_rho,
)
from evospace.metrics.scores import (
    ARCH_METRICS,
    CachedScorer,
    RoundScorer,
    architecture_metrics,
    architecture_rows,
    covering_sample,
    every_architecture_metrics,
    magnitude_sums,
    metrics_record,
    op_means,
)
from evospace.metrics.signals import (
    COST_SIGNALS,
    PROXY_BATCH,
    PROXY_SIGNALS,
    SIGNALS,
    SUPERNET_SIGNALS,
    SignalComputer,
)
from evospace.metrics.sub_supernet_scores import (
    FewShotScorer,
)

__all__ = [
    "COST_SIGNALS",
    "CalibratedScore",
    "PROXIES",
    "PROXY_BATCH",
    "PROXY_SIGNALS",
    "RankNormalizer",
    "SIGNALS",
    "SUPERNET_SIGNALS",
    "SignalComputer",
    "fit_calibrated",
    "prior_weights",
    "proxy_score",
    "proxy_scores",
    "signal_matrix",
    "stratified_picks",
    "ARCH_METRICS",
    "AccuracyEvaluator",
    "AngleScorer",
    "CachedScorer",
    "DEFINITIONS",
    "FewShotScorer",
    "GroundTruth",
    "GroundTruthSpec",
    "NoiseCeiling",
    "PieceStats",
    "PrefixEvaluator",
    "RoundScorer",
    "architecture_metrics",
    "architecture_rows",
    "average_ranks",
    "build_ground_truth",
    "build_order",
    "covering_sample",
    "every_architecture_metrics",
    "kendall_tau",
    "load_ground_truth",
    "magnitude_sums",
    "magnitude_table",
    "metrics_record",
    "naive_angle",
    "noise_ceiling",
    "op_magnitudes",
    "op_means",
    "path_vectors",
    "precision_at_k",
    "reference_weights",
    "spearman_rho",
    "truth_fingerprint",
]
