"""Search callbacks: called in order with the round's figures and decision; stopping from any hook checkpoints, and
the resumed run ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TINY_SPACE

from evospace import Callback, Search
from evospace.space import space_from_dict

SPACE = {**TINY_SPACE, "search": {**TINY_SPACE["search"], "rounds": 2, "epochs_per_round": 2,
                                  "checkpoint_every": 4}}


class Recorder(Callback):
    def __init__(self, stop_at: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.stop_at = stop_at

    def _seen(self, search, *call) -> None:
        self.calls.append(call)
        if call[0] == self.stop_at:
            search.stop(f"stop at {self.stop_at}")

    def on_round_start(self, search, round_index):
        self._seen(search, "on_round_start", round_index)

    def on_epoch_end(self, search, round_index, figures):
        self._seen(search, "on_epoch_end", round_index, figures["epoch"])

    def on_generation(self, search, round_index, entry):
        self._seen(search, "on_generation", round_index, entry["gen"])

    def on_round_end(self, search, decision):
        self._seen(search, "on_round_end", decision.round, len(decision.front) > 0)


def journal(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in ("time", "seconds")} for row in rows
            if row["event"] != "resumed"]


def search(out: Path, callbacks=()) -> Search:
    return Search(space_from_dict(SPACE, "<cb>"), out, device="cpu", progress=False, log=lambda _: None,
                  callbacks=callbacks)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, Recorder]:
    out = tmp_path_factory.mktemp("cb") / "whole"
    recorder = Recorder()
    search(out, [recorder]).run()
    return out, recorder


@pytest.mark.slow
def test_hooks_in_order(uninterrupted) -> None:
    _, recorder = uninterrupted
    per_round = lambda r: [("on_round_start", r), ("on_epoch_end", r, 0), ("on_epoch_end", r, 1),  # noqa: E731
                           ("on_generation", r, 0), ("on_generation", r, 1), ("on_round_end", r, True)]
    assert recorder.calls == per_round(0) + per_round(1)


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["on_round_start", "on_epoch_end", "on_generation", "on_round_end"])
def test_stop_from_any_hook_resumes_exactly(uninterrupted, tmp_path: Path, hook: str) -> None:
    whole, _ = uninterrupted
    out = tmp_path / "run"
    result = search(out, [Recorder(stop_at=hook)]).run()
    assert result.stopped == f"stop at {hook}"
    snapshots = [p for d in ("checkpoint", "rounds") if (out / d).is_dir() for p in (out / d).iterdir()]
    assert snapshots or hook == "on_round_start"  # stopped before anything trained: nothing to keep
    finished = Search.resume(out, device="cpu", progress=False, log=lambda _: None).run()
    assert finished.stopped is None and finished.rounds == 2
    assert journal(out) == journal(whole)
    assert (out / "rounds" / "001" / "supernet.safetensors").read_bytes() == \
        (whole / "rounds" / "001" / "supernet.safetensors").read_bytes()
