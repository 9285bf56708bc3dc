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
from evospace.metrics.prefix_eval import (
    PrefixEvaluator,
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
from evospace.metrics.sub_supernet_scores import (
    FewShotScorer,
)

__all__ = [
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
