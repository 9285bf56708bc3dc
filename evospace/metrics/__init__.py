"""Scores of architectures and operators from a supernet, and how well they rank against a ground truth."""

from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import AngleScorer, naive_angle, reference_weights
from evospace.metrics.prefix_eval import PrefixEvaluator
from evospace.metrics.ranking import kendall_tau, precision_at_k, spearman_rho

__all__ = ["AccuracyEvaluator", "AngleScorer", "PrefixEvaluator", "naive_angle", "reference_weights", "kendall_tau",
           "precision_at_k", "spearman_rho"]
