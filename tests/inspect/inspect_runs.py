"""A finished three-round run of the tiny space, made once per session, plus interrupted copies of it.

hall_of_fame 1 and shrink.keep 1 make every round remove operators, so the lineage has births, deaths and
operators that came and went.

A helper module rather than ``tests/inspect/conftest.py``: a second module named ``conftest`` would shadow
``tests/conftest.py`` for the test files here that import from it. Each test module wraps
:func:`finished_run` in a fixture; the run itself is made once per session (cached here).
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from conftest import tiny_variant

from evospace.run import read_jsonl

# The tiny space of tests/conftest.py, run for three rounds of one epoch.
INSPECT_SPACE: dict = tiny_variant("tiny_inspect", search={
    "rounds": 3,
    "population": {"size": 6, "generations": 2, "tournament": 2, "hall_of_fame": 1},
    "shrink": {"keep": 1},
    "constraints": {"max_params": 5000},
})


_CACHE: dict[str, Path] = {}


def finished_run(factory: pytest.TempPathFactory) -> Path:
    """The finished three-round run (shared and read-only: copy it before changing anything)."""
    if "finished" not in _CACHE:
        from evospace import Search
        from evospace.space import space_from_dict

        out = factory.mktemp("inspect") / "run"
        Search(space_from_dict(copy.deepcopy(INSPECT_SPACE), "<tiny-inspect>"), out, device="cpu", progress=False,
               log=lambda message: None).run()
        _CACHE["finished"] = out
    return _CACHE["finished"]


def cut_run(source: Path, target: Path, round_index: int) -> Path:
    """A copy of ``source`` as a crash in round ``round_index`` leaves it (before it wrote any checkpoint).

    The journals end with that round's ``round_started`` (for round 0: before it, as a crash at start-up),
    and rounds from ``round_index`` on, ``best/`` and checkpoints are gone.
    """
    shutil.copytree(source, target)
    events = read_jsonl(target / "events.jsonl")
    start = next(i for i, e in enumerate(events) if e.get("event") == "round_started" and e["round"] == round_index)
    _write_jsonl(target / "events.jsonl", events[: start + 1] if round_index else events[:start])
    _write_jsonl(target / "metrics.jsonl", [m for m in read_jsonl(target / "metrics.jsonl")
                                            if m["round"] < round_index])
    for directory in sorted((target / "rounds").iterdir()):
        if int(directory.name) >= round_index:
            shutil.rmtree(directory)
    if round_index == 0:
        shutil.rmtree(target / "best")
    shutil.rmtree(target / "checkpoint", ignore_errors=True)
    return target


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
