"""The ``evospace`` command: exit statuses, one-line errors, and a tiny end-to-end search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evospace.cli import main


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def run_subprocess(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "evospace", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


# -- validate --------------------------------------------------------------------------------------
def test_validate_good_file(capsys: pytest.CaptureFixture, tiny_space_file: Path) -> None:
    status, out, err = run_cli(capsys, "validate", str(tiny_space_file))
    assert status == 0
    assert f"{tiny_space_file}: ok" in out
    assert "3 choice points (s1.b1, s2.b1, s2.b2), pool of 6, 27 architectures in round 0, 216 in the whole pool" in out


def test_validate_default_space(capsys: pytest.CaptureFixture, default_space_file: Path) -> None:
    status, out, err = run_cli(capsys, "validate", str(default_space_file))
    assert (status, err) == (0, "")
    assert "6 choice points" in out and "4,096 architectures in round 0" in out


def test_validate_with_overrides(capsys: pytest.CaptureFixture, tiny_space_file: Path) -> None:
    status, out, _ = run_cli(capsys, "validate", str(tiny_space_file), "--set", "initial.size=2",
                             "--set", "skeleton.stages=[{channels: 4, depth: 2}]")
    assert status == 0
    assert "2 choice points" in out and "4 architectures in round 0" in out


@pytest.mark.parametrize(("edit", "fragments"), [
    (lambda d: d["search"]["population"].update(size=1, tournament=2), ["search.population.size", "got 1"]),
    (lambda d: d["pool"].append("conv_k8"), ["pool[6]", "odd"]),
    (lambda d: d["skeleton"].update(stagse=[]), ["skeleton.stagse", "did you mean 'stages'"]),
])
def test_validate_bad_file(capsys: pytest.CaptureFixture, tmp_path: Path, tiny_space_dict: dict, edit,
                           fragments: list[str]) -> None:
    edit(tiny_space_dict)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tiny_space_dict))
    status, out, err = run_cli(capsys, "validate", str(path))
    assert status == 2
    assert out == ""
    assert err.startswith(f"evospace validate: {path}: ")
    assert_one_line_error(err, *fragments)


def test_validate_missing_file(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    status, _, err = run_cli(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert status == 2
    assert_one_line_error(err, "nope.yaml", "no such file")


def test_unknown_override_key(capsys: pytest.CaptureFixture, tiny_space_file: Path) -> None:
    status, _, err = run_cli(capsys, "validate", str(tiny_space_file), "--set", "nope.key=1")
    assert status == 2
    assert_one_line_error(err, "--set: nope.key: no such key")


def test_subprocess_validate_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\npool: [conv_k3\n")
    result = run_subprocess("validate", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_line_error(result.stderr, f"evospace validate: {bad}: not valid YAML at line")


def test_subprocess_unknown_override_key(tmp_path: Path, default_space_file: Path) -> None:
    result = run_subprocess("search", str(default_space_file), "--out", str(tmp_path / "run"),
                            "--set", "nope.key=1", cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "nope.key")
    assert not (tmp_path / "run").exists()


# -- search ----------------------------------------------------------------------------------------
def test_search_writes_the_run_directory(tiny_run: Path, tiny_space_dict: dict) -> None:
    out = tiny_run
    for name in ("run.yaml", "metrics.jsonl", "events.jsonl", "rounds/000/COMPLETE", "rounds/000/space.yaml",
                 "rounds/000/supernet.safetensors", "best/arch.json"):
        assert (out / name).is_file(), name
    record = yaml.safe_load((out / "run.yaml").read_text())
    assert record["seed"] == 3 and record["space"]["seed"] == 3
    assert record["space"]["search"]["rounds"] == 1
    resolved = record["space"]["skeleton"]["stages"]  # every key resolved, defaults included
    assert [{k: st[k] for k in given} for st, given in zip(resolved, tiny_space_dict["skeleton"]["stages"])] \
        == tiny_space_dict["skeleton"]["stages"]
    assert all(st["multi_branch"] is False for st in resolved)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    assert {"round_started", "round_ended", "op_added"} <= set(kinds)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics if m["kind"] == "epoch"] == [0]
    best = json.loads((out / "best" / "arch.json").read_text())
    assert set(best["arch"]) == {"s1.b1", "s2.b1", "s2.b2"}


def test_second_search_into_the_same_out_is_refused(capsys: pytest.CaptureFixture, tiny_run: Path,
                                                    tiny_cli_args: list[str], default_space_file: Path) -> None:
    out = tiny_run
    before = (out / "events.jsonl").read_text()
    status, _, err = run_cli(capsys, "search", str(default_space_file), "--out", str(out), "--quiet",
                             "--seed", "3", *tiny_cli_args)
    assert status == 2
    assert_one_line_error(err, str(out), f"evospace resume {out}")
    assert (out / "events.jsonl").read_text() == before


def test_search_refuses_a_non_empty_directory(capsys: pytest.CaptureFixture, tmp_path: Path,
                                              default_space_file: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    status, _, err = run_cli(capsys, "search", str(default_space_file), "--out", str(tmp_path), "--quiet")
    assert status == 2
    assert_one_line_error(err, str(tmp_path), "not empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_status_and_resume_of_a_finished_run(capsys: pytest.CaptureFixture, tiny_run: Path) -> None:
    out = tiny_run
    status, text, _ = run_cli(capsys, "status", str(out), "--json")
    assert status == 0
    report = json.loads(text)
    assert report["finished"] is True and report["rounds_done"] == 1
    status, _, err = run_cli(capsys, "resume", str(out), "--quiet")
    assert status == 0
    assert "already finished" in err
