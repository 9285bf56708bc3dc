"""Callbacks: a user's code at fixed points of a search, with a clean way to stop it.

A callback is any object with some of these methods (:class:`Callback` has them all, doing nothing). The search
calls them in this order, on every process of a run::

    on_round_start(search, round_index)           a round begins (or continues after a resume)
    on_epoch_end(search, round_index, figures)    after each supernet epoch: {"epoch", "loss", "train_acc", ...}
    on_generation(search, round_index, entry)     after each generation: {"gen", "nevals", objective: {mean, ...}}
    on_round_end(search, decision)                the round is recorded: a RoundDecision (front, removed, grown, ...)

``search.stop(reason)`` from any of them ends the search at the next safe point: the round (or the step) in
progress is checkpointed, :meth:`Search.run` returns with ``result.stopped`` set to ``reason``, and the run
continues later with ``evospace resume``. An exception raised by a callback propagates: the search stops, and its
last snapshot stays on disk.

Example:
    >>> class StopWhenGood(evospace.Callback):  # doctest: +SKIP
    ...     def on_round_end(self, search, decision):
    ...         if decision.front[0]["metrics"]["accuracy"] > 0.9:
    ...             search.stop("accurate enough")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Callback", "dispatch", "HOOKS"]

HOOKS = ("on_round_start", "on_epoch_end", "on_generation", "on_round_end")


class Callback:
    """Base class of search callbacks: override the hooks you need (see the module docstring for the order)."""

    def on_round_start(self, search: Any, round_index: int) -> None:
        """A round begins (``round_index`` counts from 0), or continues after a resume."""

    def on_epoch_end(self, search: Any, round_index: int, figures: dict) -> None:
        """A supernet epoch ended: ``figures`` holds ``epoch``, ``loss``, ``train_acc``, ``lr``, ``steps``, ..."""

    def on_generation(self, search: Any, round_index: int, entry: dict) -> None:
        """A generation was evaluated: ``entry`` holds ``gen``, ``nevals`` and each objective's statistics."""

    def on_round_end(self, search: Any, decision: Any) -> None:
        """The round is decided and recorded: ``decision`` is its :class:`~evospace.evolve.decide.RoundDecision`."""


def dispatch(callbacks: Sequence[object], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback that has it, in order."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)
