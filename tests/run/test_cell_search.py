"""A search on a cell space end to end: it resumes bit for bit after SIGKILL, and its best cell exports, trains
and is drawn as its DAG by inspect."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from conftest import TINY_CELL_SPACE, tiny_cell_dict
from resume_runs import RESUME_SPACE, differences, kill_and_resume, run_in_process, write_space

from evospace.cli import main
from evospace.inspect.graph import lineage_graph
from evospace.run import Run, read_jsonl

# The resume tests' tiny search (3 rounds of 24 steps) on the tiny cell skeleton
CELL_RESUME_SPACE = copy.deepcopy(RESUME_SPACE) | {
    "name": "tiny_cell_resume",
    "skeleton": copy.deepcopy(TINY_CELL_SPACE["skeleton"]),
    "pool": list(TINY_CELL_SPACE["pool"]),
}


@pytest.fixture(scope="module")
def cell_reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cell_reference") / "run"
    run_in_process(out, CELL_RESUME_SPACE)
    return out


def test_cell_search_resumes_bit_for_bit_after_sigkill(cell_reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    landed, _ = kill_and_resume(write_space(tmp_path / "space.yaml", CELL_RESUME_SPACE), out, kills=1, seed=5)
    assert landed >= 1
    assert differences(cell_reference, out) == []


def test_best_cell_exports_trains_and_is_drawn(cell_reference: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    run_dir = shutil.copytree(cell_reference, tmp_path / "run")
    run = Run.open(run_dir)
    graph = lineage_graph(run)
    # lineage edges follow the DAG: an operator of e1_0 (0 → 1) leads to operators of e2_1 and e3_1 only
    targets = {graph.nodes[v]["label"] for u in graph.nodes if graph.nodes[u]["label"] == "cell.e1_0"
               for v in graph.successors(u)}
    assert targets == {"cell.e2_1", "cell.e3_1"}
    assert main(["inspect", str(run_dir)]) == 0
    assert "n3 (output) = " in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # inspect writes its default outputs into the current directory
    assert main(["inspect", str(run_dir), "--format", "dot"]) == 0
    assert (tmp_path / "run-best-cell.dot").read_text().startswith("digraph")
    assert not (run_dir / "inspect").exists()
    assert main(["export", str(run_dir), "--top", "1"]) == 0
    model = run_dir / "export" / "top1" / "model.py"
    assert "import evospace" not in model.read_text() and "from evospace" not in model.read_text()
    assert main(["train", str(run_dir / "export" / "top1" / "arch.json"), "--epochs", "1", "--out",
                 str(tmp_path / "trained"), "--quiet"]) == 0
    assert (tmp_path / "trained" / "weights.safetensors").exists()


@pytest.mark.parametrize("search", [
    {"sampling": "fair", "objectives": ["accuracy", "params"], "shrink": {"keep": 2, "score": "magnitude"}},
    {"few_shot": {"split": ["cell.e1_0"], "epochs": 1}, "shrink": {"keep": 2, "score": "rank_mean(angle, accuracy)"},
     "objectives": ["angle"]},
    {"darts": True},
], ids=["fair-magnitude-pareto", "few-shot-on-an-edge", "darts-default-score"])
def test_cell_search_with_fair_sampling_magnitude_and_few_shot(tmp_path: Path, search: dict) -> None:
    from evospace.evolve import Search
    from evospace.space import space_from_dict

    search = dict(search)
    space = tiny_cell_dict(1, darts=search.pop("darts", False))
    space["search"] = {**space["search"], "rounds": 2, **search}
    Search(space_from_dict(space, "<tiny-cell>"), tmp_path / "run", device="cpu", progress=False,
           log=lambda message: None).run()
    assert Run.open(tmp_path / "run").finished
    splits = [e for e in read_jsonl(tmp_path / "run" / "events.jsonl") if e["event"] == "few_shot_split"]
    assert [e["labels"] for e in splits] == ([["cell.e1_0"]] * 2 if "few_shot" in search else [])
