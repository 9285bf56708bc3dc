"""``--out`` pointing at a file, into a file, or at a directory where a file is wanted (issue cases 11 and 19):
one line, exit 2, nothing written; ``diff`` against the final subspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import TINY_SPACE
from inspect_runs import finished_run

from evospace.cli import main
from evospace.inspect import lineage_graph
from evospace.inspect.graph import final_size
from evospace.run import Run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return finished_run(tmp_path_factory)


def files_under(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def refused(capsys, *args) -> str:
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


COMMANDS = {  # name -> arguments before --out, and whether --out is a directory
    "search": (lambda space, run: ["search", space, "--quiet"], True),
    "export": (lambda space, run: ["export", run], True),
    "train": (lambda space, run: ["train", run, "--epochs", "1", "--quiet"], True),
    "inspect json": (lambda space, run: ["inspect", run, "--format", "json"], False),
    "inspect png": (lambda space, run: ["inspect", run, "--format", "png"], True),
    "inspect html": (lambda space, run: ["inspect", run, "--format", "html"], False),
    "groundtruth": (lambda space, run: ["groundtruth", space, "--limit", "1", "--epochs", "1", "--seeds", "1",
                                        "--quiet"], False),
}


@pytest.mark.parametrize("where", ["at a file", "into a file", "at a directory"])
@pytest.mark.parametrize("command", COMMANDS)
def test_out_at_or_into_a_file_is_one_line(tmp_path, capsys, run_dir, command, where):
    arguments, wants_directory = COMMANDS[command]
    if where == ("at a directory" if wants_directory else "at a file"):
        pytest.skip("that is what this --out wants")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(TINY_SPACE))
    run = shutil.copytree(run_dir, tmp_path / "run")
    blocker = tmp_path / "afile"
    blocker.write_text("mine")
    (tmp_path / "adir").mkdir()
    out = {"at a file": blocker, "into a file": blocker / "x", "at a directory": tmp_path / "adir"}[where]
    before = files_under(tmp_path)
    line = refused(capsys, *arguments(space, run), "--out", out)
    assert f"--out {out}" in line
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("fmt", ["png", "html"])
def test_files_formats_refuse_stdout(capsys, run_dir, tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    assert "not '-'" in refused(capsys, "inspect", run_dir, "--format", fmt, "--out", "-")
    assert list(tmp_path.iterdir()) == []


def test_a_diff_in_the_wrong_order_says_diff_once(capsys, run_dir):
    line = refused(capsys, "diff", run_dir, "2", "0")
    assert line == "evospace diff: give the earlier round first (got 2 then 0)"


def test_diff_against_the_final_subspace(capsys, run_dir):
    assert main(["diff", str(run_dir), "0", "final"]) == 0
    out = capsys.readouterr().out
    graph = lineage_graph(Run.open(run_dir))
    assert out.splitlines()[0].endswith(f"round 0 → the final subspace: {graph.graph['sizes'][0]:,} → "
                                        f"{final_size(graph):,} architectures")
    assert "expected a round number or 'final'" in refused(capsys, "diff", run_dir, "0", "last")
