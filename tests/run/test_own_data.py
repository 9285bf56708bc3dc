"""A search on data of one's own: the data's fingerprint in run.yaml, resume refusing changed data, and test data
that never decides anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_SPACE

from evospace import Run, Search
from evospace.cli import main
from evospace.space import space_from_dict


def write_data(path: Path, *, test_labels_seed: int = 0, scale: float = 1.0) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(200) % 3
    x = (rng.normal(size=(200, 1, 16)) + y[:, None, None]) * scale
    x_test = rng.normal(size=(40, 1, 16))
    y_test = np.random.default_rng(test_labels_seed).integers(0, 3, 40)
    np.savez(path, x=x.astype(np.float32), y=y, x_test=x_test.astype(np.float32), y_test=y_test)
    return path


def npz_space(path: Path) -> dict:
    return {**TINY_SPACE, "name": "own", "data": {"name": "npz", "path": str(path), "batch_size": 32}}


def decisions(run: Path) -> list[dict]:
    """The journal without its clock fields."""
    rows = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in ("time", "seconds")} for row in rows]


def quiet_search(space: dict, out: Path) -> None:
    Search(space_from_dict(space, "<own>"), out, device="cpu", progress=False, log=lambda _: None).run()


@pytest.mark.slow
def test_fingerprint_recorded_and_test_split_never_decides(tmp_path: Path) -> None:
    a = write_data(tmp_path / "a.npz")
    b = write_data(tmp_path / "b.npz", test_labels_seed=1)  # the same training data, other test labels
    quiet_search(npz_space(a), tmp_path / "ra")
    quiet_search(npz_space(b), tmp_path / "rb")
    rec_a = yaml.safe_load((tmp_path / "ra" / "run.yaml").read_text())["data"]
    rec_b = yaml.safe_load((tmp_path / "rb" / "run.yaml").read_text())["data"]
    assert rec_a["info"] == {"name": "npz", "dims": 1, "channels": 1, "side": 16, "classes": 3}
    assert (rec_a["train"], rec_a["val"], rec_a["test"]) == (160, 40, 40)
    assert rec_a["fingerprint"] != rec_b["fingerprint"]
    assert decisions(tmp_path / "ra") == decisions(tmp_path / "rb")
    a.unlink()  # a recorded run opens without its data
    assert Run.open(tmp_path / "ra").space.data.side == 16


@pytest.mark.slow
def test_resume_refuses_changed_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_data(tmp_path / "d.npz")
    space = npz_space(data)
    space["search"] = {**space["search"], "rounds": 2}
    out = tmp_path / "run"
    result = Search(space_from_dict(space, "<own>"), out, device="cpu", progress=False, log=lambda _: None,
                    callbacks=[_StopAfterFirstRound()]).run()
    assert result.stopped == "enough" and result.rounds == 1
    write_data(data, scale=2.0)
    assert main(["resume", str(out), "--device", "cpu", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data changed since it started" in err and "same sample counts" in err
    write_data(data)
    assert main(["resume", str(out), "--device", "cpu", "--quiet"]) == 0


class _StopAfterFirstRound:
    def on_round_end(self, search, decision) -> None:
        search.stop("enough")
