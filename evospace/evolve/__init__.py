"""The search: the round loop, its pure decision, the backends it talks to, the population, shrink and grow."""

from __future__ import annotations

from evospace.evolve.backend import (
    Backend,
    SupernetBackend,
)
from evospace.evolve.callbacks import Callback
from evospace.evolve.controller import (
    OracleLoader,
    Search,
    SearchResult,
)
from evospace.evolve.decide import (
    RoundDecision,
    decide_round,
)
from evospace.evolve.objectives import ObjectiveContext, ObjectiveMetrics
from evospace.evolve.oracle import (
    Oracle,
    OracleBackend,
    OracleScorer,
)
from evospace.evolve.policy import (
    Decision,
    combined_scores,
    grow,
    queue_of,
    rank_scores,
    shrink,
)
from evospace.evolve.population import (
    PENALTY,
    EvolutionResult,
    Individual,
    crossover,
    evolve,
    fitness,
    fitness_class,
    mutate,
    repair,
)

__all__ = [
    "Backend",
    "Callback",
    "ObjectiveContext",
    "ObjectiveMetrics",
    "Decision",
    "EvolutionResult",
    "Individual",
    "PENALTY",
    "Oracle",
    "OracleBackend",
    "OracleLoader",
    "OracleScorer",
    "RoundDecision",
    "Search",
    "SearchResult",
    "SupernetBackend",
    "combined_scores",
    "crossover",
    "decide_round",
    "evolve",
    "fitness",
    "fitness_class",
    "grow",
    "mutate",
    "queue_of",
    "rank_scores",
    "repair",
    "shrink",
]
