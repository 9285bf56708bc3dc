"""Scores of architectures and operators from a supernet."""

from evospace.metrics.accuracy import AccuracyEvaluator
from evospace.metrics.angle import AngleScorer, naive_angle, reference_weights

__all__ = ["AccuracyEvaluator", "AngleScorer", "naive_angle", "reference_weights"]
