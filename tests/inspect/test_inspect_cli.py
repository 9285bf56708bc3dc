"""``evospace inspect`` / ``diff`` / ``status --watch`` on finished, interrupted and broken runs."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from inspect_runs import cut_run, finished_run

from evospace.cli import main
from evospace.inspect import lineage_graph, read_graph
from evospace.run import Run, RunStore


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return finished_run(tmp_path_factory)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_text_shows_every_round_and_the_lineage(capsys, run_dir):
    status, out, err = cli(capsys, "inspect", run_dir)
    assert (status, err) == (0, "")
    run = Run.open(run_dir)
    assert "state: finished after 3 of 3 rounds (rounds reached)" in out
    assert re.search(r"round 0 +round 1 +round 2", out)
    for label in run.space.labels:
        assert f"\n  {label} " in out
    lineage = out[out.index("Lineage"):]
    for event in run.events:
        if event["event"] == "op_removed":
            assert any(line.split()[:2] == [event["label"], event["op"]] for line in lineage.splitlines()), event
    assert f"end of round 2: {sum(e['event'] == 'op_removed' and e['round'] == 2 for e in run.events)} removed" in out


def test_text_of_one_round_lists_its_operators_with_scores(capsys, run_dir):
    status, out, _ = cli(capsys, "inspect", run_dir, "--round", "1")
    assert status == 0
    run = Run.open(run_dir)
    info = run.round(1)
    assert f"Round 1: {info.subspace.size:,} architectures" in out
    for label in run.space.labels:
        for op in info.subspace.ops(label):
            score = info.op_scores[label][op]["score"]  # the default shrink score
            assert any(op in line and f"{score:.3f}" in line for line in out.splitlines()), (label, op)


@pytest.mark.parametrize("fmt", ["json", "graphml", "gexf"])
def test_graph_files_read_back_as_the_run_graph(capsys, run_dir, tmp_path, fmt):
    path = tmp_path / f"g.{fmt}"
    status, _, err = cli(capsys, "inspect", run_dir, "--format", fmt, "--out", path)
    assert status == 0 and f"wrote {path}" in err
    expected = lineage_graph(Run.open(run_dir))
    back = read_graph(str(path), fmt)
    assert dict(back.nodes(data=True)) == dict(expected.nodes(data=True))
    assert sorted(back.edges(data=True)) == sorted(expected.edges(data=True))


def test_every_format_lands_in_the_current_directory_by_default(capsys, run_dir, tmp_path, monkeypatch):
    run = shutil.copytree(run_dir, tmp_path / "run")
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for fmt in ("json", "graphml", "gexf", "dot"):
        assert cli(capsys, "inspect", run, "--format", fmt)[0] == 0
    assert cli(capsys, "inspect", run, "--format", "dot", "--round", "2")[0] == 0
    assert cli(capsys, "inspect", run, "--format", "png")[0] == 0
    assert cli(capsys, "inspect", run, "--format", "html")[0] == 0
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # nothing written into the run
    names = sorted(p.name for p in work.iterdir())
    assert names == ["run-figures", "run-lineage.dot", "run-lineage.gexf", "run-lineage.graphml", "run-lineage.json",
                     "run-report.html", "run-round-002.dot"]
    assert sorted(p.name for p in (work / "run-figures").iterdir()) == ["fitness.png", "front.png", "scores.png",
                                                                        "space.png"]
    assert (work / "run-figures" / "space.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_text_goes_to_stdout_with_dash(capsys, run_dir):
    status, out, _ = cli(capsys, "inspect", run_dir, "--format", "json", "--round", "0", "--out", "-")
    assert status == 0
    data = json.loads(out)
    assert data["graph"]["round"] == 0
    assert len(data["nodes"]) == sum(len(ops) for ops in Run.open(run_dir).round(0).subspace.to_config().values())


def test_diff_lists_what_entered_and_left(capsys, run_dir):
    run = Run.open(run_dir)
    before, after = run.round(0).subspace, run.round(2).subspace
    status, out, _ = cli(capsys, "diff", run_dir, "0", "2")
    assert status == 0
    assert f"round 0 → round 2: {before.size:,} → {after.size:,} architectures" in out
    change = after.diff(before)
    rows = {tuple(line.split()[:3]) for line in out.splitlines()}
    for label, ops in change.removed.items():
        assert all(("−", label, op) in rows for op in ops)
    for label, ops in change.added.items():
        assert all(("+", label, op) in rows for op in ops)
    signs = [row[0] for row in rows if row and row[0] in "−+"]
    assert len(signs) == sum(map(len, change.removed.values())) + sum(map(len, change.added.values()))
    transient = [n for n, d in lineage_graph(run).nodes(data=True) if d["rounds"] == [1]]
    assert f"came and went in between ({len(transient)})" in out if transient else "came and went" not in out


def test_diff_of_a_round_with_itself_says_no_change(capsys, run_dir):
    status, out, _ = cli(capsys, "diff", run_dir, "1", "1")
    assert status == 0 and "no change" in out


def test_an_interrupted_run_is_inspected_and_says_so(capsys, run_dir, tmp_path):
    cut = cut_run(run_dir, tmp_path / "cut", 1)
    status, out, _ = cli(capsys, "inspect", cut)
    assert status == 0
    assert "NOT finished: interrupted in round 1 (2 of 3), no process holds the run" in out  # .lock, unheld
    assert f"evospace resume {cut}" in out and "active" in out
    status, _, err = cli(capsys, "inspect", cut, "--format", "graphml", "--out", tmp_path / "g.graphml")
    assert status == 0 and "NOT finished" in err
    status, out, _ = cli(capsys, "inspect", cut, "--round", "1")
    assert status == 0 and "not scored yet" in out
    status, out, _ = cli(capsys, "inspect", cut_run(run_dir, tmp_path / "cut0", 0))
    assert status == 0 and "before its first round" in out and "No round has started yet." in out


def test_the_run_lock_tells_running_from_interrupted(capsys, run_dir, tmp_path):
    cut = cut_run(run_dir, tmp_path / "cut", 1)
    handle = RunStore(cut).lock()  # what a running search holds
    try:
        out = cli(capsys, "inspect", cut)[1]
        assert "NOT finished: running in round 1 (2 of 3) (last write" in out and "resume" not in out
    finally:
        handle.close()  # as when the search process dies
    out = cli(capsys, "inspect", cut)[1]
    assert "NOT finished: interrupted in round 1 (2 of 3), no process holds the run" in out
    assert f"continue it with: evospace resume {cut}" in out


@pytest.mark.parametrize(("argv", "fragments"), [
    (["inspect", "{missing}"], ["no such run directory"]),
    (["inspect", "{empty}"], ["not a run directory (no run.yaml)"]),
    (["inspect", "{run}", "--round", "7"], ["no round 7", "rounds that started: 0, 1, 2"]),
    (["inspect", "{run}", "--round", "7", "--format", "png"], ["no round 7"]),
    (["inspect", "{run}", "--format", "pdf"], ["unknown --format 'pdf'", "expected one of text, json"]),
    (["inspect", "{run}", "--format", "grapml"], ["did you mean 'graphml'"]),
    (["diff", "{run}", "0", "9"], ["no round 9"]),
    (["diff", "{run}", "2", "1"], ["earlier round first"]),
    (["diff", "{empty}", "0", "1"], ["not a run directory"]),
])
def test_bad_input_is_one_line_and_exit_2(capsys, run_dir, tmp_path, argv, fragments):
    (tmp_path / "empty").mkdir()
    paths = {"run": run_dir, "missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    status, out, err = cli(capsys, *[a.format(**paths) for a in argv])
    assert status == 2 and out == ""
    one_line_error(err, f"evospace {argv[0]}:", *fragments)


def test_status_watch_refreshes_until_the_run_finishes(capsys, run_dir, tmp_path):
    cut = cut_run(run_dir, tmp_path / "cut", 1)
    lock = RunStore(cut).lock()  # the search that is writing it
    result = {}
    watcher = threading.Thread(target=lambda: result.update(status=main(
        ["status", str(cut), "--watch", "--interval", "0.05"])))
    watcher.start()
    time.sleep(0.3)
    for index in (1, 2):  # the search writes its last rounds (each round directory appears at once) ...
        name = f"rounds/{index:03d}"
        shutil.copytree(run_dir / name, tmp_path / "staging" / name)
        (tmp_path / "staging" / name).rename(cut / name)
    for name in ("best/arch.json", "metrics.jsonl", "events.jsonl"):  # ... and its journals
        shutil.copyfile(run_dir / name, cut / name)
    watcher.join(timeout=10)
    lock.close()
    assert not watcher.is_alive() and result["status"] == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2
    assert "(running)" in lines[0] and "finished" in lines[-1]


def test_status_watch_ends_on_an_interrupted_run(capsys, run_dir, tmp_path):
    cut = cut_run(run_dir, tmp_path / "cut", 1)
    RunStore(cut).lock().close()  # a search ran it, and no process holds it any more
    result = {}
    watcher = threading.Thread(target=lambda: result.update(status=main(
        ["status", str(cut), "--watch", "--interval", "0.05"])))
    watcher.start()
    watcher.join(timeout=10)
    assert not watcher.is_alive() and result["status"] == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and f"(interrupted: no process holds it; continue with `evospace resume {cut}`)" in lines[0]
    assert main(["status", str(cut), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is False and status["objective"] == "score" and status["scored_by"] == "supernet"
