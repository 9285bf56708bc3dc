"""Damaged run directories: each damage is one clear line; resume falls back to the newest snapshot that
verifies and says so, sets the damaged one aside, overwrites nothing, and still ends bit for bit like an
uninterrupted run; planted pickles are never loaded."""

from __future__ import annotations

import errno
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from resume_runs import copy_run, differences, files_of, interrupted_run, reference_run, space_dict, write_space

from evospace.cli import main
from evospace.errors import RunError
from evospace.run import Run, RunStore, read_jsonl
from evospace.run import store as store_module


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    return interrupted_run(tmp_path_factory)


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


DAMAGES = {
    "truncated safetensors": (lambda d: truncate(d / "supernet.safetensors"),
                              "supernet.safetensors: checksum mismatch", "damaged"),
    "flipped byte in state.json": (lambda d: flip_byte(d / "state.json"), "state.json: checksum mismatch", "damaged"),
    "missing COMPLETE": (lambda d: (d / "COMPLETE").unlink(), ": incomplete (no COMPLETE marker)", "incomplete"),
}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_round_falls_back_to_the_previous_one(reference, tmp_path, capsys, damage):
    spoil, reason, why = DAMAGES[damage]
    out = copy_run(reference, tmp_path / "run")
    spoil(out / "rounds" / "002")
    before = files_of(out)

    run = Run.open(out)
    with pytest.raises(RunError, match=re.escape(reason)) as err:
        run.round(2)
    assert "\n" not in str(err.value) and str(out / "rounds" / "002") in str(err.value)
    assert [r.index for r in run.rounds] == [0, 1] and not run.finished

    assert main(["resume", str(out), "--quiet"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith(str(out / "rounds" / "002")) and reason in said[0]
    assert said[0].endswith(f"; falling back to an older snapshot (002 kept as 002.{why})")
    assert said[1] == f"resuming {out} from round 001 (round 2)"

    after = files_of(out)
    for name, data in before.items():  # nothing overwritten: the damaged round was moved, the rest kept
        kept = name.replace("rounds/002/", f"rounds/002.{why}/")
        if not name.endswith(".jsonl") and name != "best/arch.json":
            assert after[kept] == data, name
    assert differences(reference, out) == []


def test_a_damaged_checkpoint_falls_back_to_the_one_before(reference, interrupted, tmp_path, capsys):
    out = copy_run(interrupted, tmp_path / "run")
    flip_byte(out / "checkpoint" / "002000006" / "optimizer.safetensors")
    assert main(["resume", str(out), "--quiet"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert said[0] == (f"{out}/checkpoint/002000006/optimizer.safetensors: checksum mismatch; the file was changed "
                       f"or damaged after it was written; falling back to an older snapshot (002000006 kept as "
                       f"002000006.damaged)")
    assert said[1] == f"resuming {out} from checkpoint 002000003 (round 2)"
    assert differences(reference, out) == []


def test_a_torn_last_line_of_events_is_dropped(reference, interrupted, tmp_path, capsys):
    out = copy_run(interrupted, tmp_path / "run")
    complete = read_jsonl(out / "events.jsonl")
    with open(out / "events.jsonl", "ab") as f:
        f.write(b'{"event":"round_ended","round":2,"si')
    assert Run.open(out).events == complete
    assert main(["status", str(out)]) == 0
    assert "round 2 (3 of 3), step 6" in capsys.readouterr().out

    assert main(["resume", str(out), "--quiet"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert said[0] == f"{out}/events.jsonl: dropping its torn last line (the run was killed while writing it)"
    assert said[1] == f"resuming {out} from checkpoint 002000006 (round 2)"
    assert RunStore(out).torn_journals() == []
    assert differences(reference, out) == []


def test_planted_pickles_are_never_loaded(reference, interrupted, tmp_path, monkeypatch, capsys):
    out = copy_run(interrupted, tmp_path / "run")
    torch.save({"choices.s1_b1.conv_k3.0.weight": torch.zeros(1)}, out / "checkpoint" / "002000006" / "supernet.pt")
    planted = {out / "rounds" / "000" / "state.pkl": pickle.dumps({"controller": {"round": 9}}),
               out / "best" / "arch.pkl": pickle.dumps({"arch": {}}), out / "run.pkl": pickle.dumps({})}
    for path, data in planted.items():
        path.write_bytes(data)

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    run = Run.open(out)
    assert [r.index for r in run.rounds] == [0, 1] and run.events and run.best and not run.status()["finished"]
    assert main(["status", str(out)]) == 0
    assert main(["resume", str(out), "--quiet"]) == 0
    assert f"resuming {out} from checkpoint 002000006 (round 2)" in capsys.readouterr().err
    assert differences(reference, out) == []
    assert all(path.read_bytes() == data for path, data in planted.items())


def test_search_into_an_existing_run_says_resume_or_names_the_other_space(reference, tmp_path, capsys):
    out = copy_run(reference, tmp_path / "run")
    before = files_of(out)
    same = write_space(tmp_path / "same.yaml")
    assert main(["search", str(same), "--out", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (f"evospace search: {out}: it holds a run of this space: continue it "
                                                 f"with `evospace resume {out}`; or choose another --out")
    other = write_space(tmp_path / "other.yaml", {**space_dict(), "name": "other", "seed": 1})
    assert main(["search", str(other), "--out", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (f"evospace search: {out}: it holds a run of another space "
                                                 f"('tiny_resume') with other settings (name, seed differ); or choose "
                                                 f"another --out")
    reseeded = write_space(tmp_path / "reseeded.yaml", {**space_dict(), "seed": 1})
    assert main(["search", str(reseeded), "--out", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (f"evospace search: {out}: it holds a run of this space with other "
                                                 f"settings (seed differs); or choose another --out")
    assert files_of(out) == before


def test_a_run_directory_holding_another_spaces_record_is_refused(reference, tmp_path, capsys):
    out = copy_run(reference, tmp_path / "run")
    shutil.rmtree(out / "rounds" / "002")  # unfinished, so resume has work to do
    record = yaml.safe_load((out / "run.yaml").read_text())
    record["space"]["skeleton"]["stem"]["channels"] = 6  # as if run.yaml came from another run
    from evospace.space import space_from_dict

    record["fingerprint"] = space_from_dict(record["space"], "<other>").fingerprint()
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    before = files_of(out)
    assert main(["resume", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"evospace resume: {out}/rounds/001: unusable snapshot")
    assert "does not match the space" in line and "no other snapshot to fall back to" in line
    assert files_of(out) == before


def test_a_damaged_first_round_with_nothing_to_fall_back_to_is_refused(reference, tmp_path, capsys):
    out = copy_run(reference, tmp_path / "run")
    for index in ("001", "002"):
        shutil.rmtree(out / "rounds" / index)
    flip_byte(out / "rounds" / "000" / "reference.safetensors")
    before = files_of(out)
    assert main(["resume", str(out)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"evospace resume: {out}/rounds/000/reference.safetensors: checksum mismatch; the file was changed or "
        f"damaged after it was written; no other snapshot to fall back to, so the run cannot continue (start a new "
        f"one with `evospace search --out NEW_DIR`)")
    assert files_of(out) == before


@pytest.mark.parametrize(("setup", "expected"), [
    ("missing", "no such run directory"),
    ("empty", "not a run directory (no run.yaml)"),
    ("bad yaml", "run.yaml: not valid YAML (ParserError); the run is damaged"),
    ("no space", "run.yaml: missing the `space` section; the run is damaged"),
])
@pytest.mark.parametrize("command", ["status", "resume"])
def test_a_directory_that_is_not_a_run_is_one_line_and_exit_2(tmp_path, capsys, setup, expected, command):
    out = tmp_path / "run"
    if setup != "missing":
        out.mkdir()
    if setup == "bad yaml":
        (out / "run.yaml").write_text("space: [unclosed\n  : :")
    if setup == "no space":
        (out / "run.yaml").write_text("format: 1\nseed: 0\n")
    assert main([command, str(out)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"evospace {command}: {out}") and expected in line


def test_a_disk_full_during_a_checkpoint_is_one_line_and_the_run_resumes(reference, interrupted, tmp_path,
                                                                          monkeypatch, capsys):
    out = copy_run(interrupted, tmp_path / "run")
    real = os.replace

    def replace(src, dst):
        if "002000009" in str(dst) and str(dst).endswith("state.json"):  # midway through that checkpoint
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace)
    assert main(["resume", str(out), "--quiet"]) == 2
    monkeypatch.undo()
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"evospace resume: {out}/checkpoint/002000009: could not write it (No space left on device); earlier "
        f"snapshots are intact, continue with `evospace resume {out}` once the problem is fixed")
    assert not list(out.rglob(".*.tmp"))

    assert main(["resume", str(out), "--quiet"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert said[0].endswith("; falling back to an older snapshot (002000009 kept as 002000009.incomplete)")
    assert said[1] == f"resuming {out} from checkpoint 002000006 (round 2)"
    assert differences(reference, out) == []
