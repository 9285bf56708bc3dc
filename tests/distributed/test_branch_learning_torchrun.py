"""Branch learning under torchrun: the logits' gradients are averaged over the ranks, so both ranks prune the
same operators within the round and agree on every decision (the run's own agreement checks would stop it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "run"))  # the multi-branch search's space
from test_multibranch_search import MULTI_SPACE  # noqa: E402
from test_torchrun import events, finish, launch  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_two_process_branch_learning_search_prunes_and_agrees(tmp_path: Path) -> None:
    space = tmp_path / "multi.yaml"
    space.write_text(yaml.safe_dump(MULTI_SPACE, sort_keys=False))
    out = tmp_path / "run"
    proc = launch("search", str(space), "--out", str(out), "--quiet")
    err = finish(proc)
    assert proc.returncode == 0, err
    rows = events(out)
    assert rows[0]["processes"] == 2 and rows[-1]["event"] == "finished"
    assert [e for e in rows if e["event"] == "op_removed" and "epoch" in e], "no operator left within a round"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [m["architecture_steps"] for m in metrics if m["kind"] == "branches"]
    assert steps[-1] > 0 and len(steps) == 6
