"""The run directory trusts nothing it did not write (issue cases 1, 3–6): snapshots bound to their run, no
write through a symbolic link, the lock taken before run.yaml, a missing fingerprint is damage, disk-full
messages that say what is left and what can be deleted."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from resume_runs import copy_run, differences, files_of, interrupted_run, reference_run, run_in_process, space_dict

from evospace.cli import main
from evospace.errors import RunError
from evospace.evolve import Search
from evospace.run import Run, RunStore
from evospace.run import store as store_module
from evospace.space import space_from_dict


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    return interrupted_run(tmp_path_factory)


@pytest.fixture(scope="module")
def other(tmp_path_factory) -> Path:
    """A run of the same space with another seed: the source of foreign snapshots."""
    out = tmp_path_factory.mktemp("other") / "run"
    run_in_process(out, {**space_dict(), "seed": 1})
    return out


def stderr_lines(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


# -- 1: snapshots are bound to their run ---------------------------------------------------------------
FOREIGN = {  # where the other run's snapshot is put, and which of this run's are removed first
    "round 2 of another run": ("rounds/002", "rounds/002", "reference", "round 001 (round 2)"),
    "round 1 of another run": ("rounds/001", "rounds/001", "reference", "round 000 (round 1)"),
    "checkpoint of another run": ("rounds/001", "checkpoint/002000009", "interrupted",
                                  "checkpoint 002000006 (round 2)"),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_snapshot_copied_from_another_run_is_set_aside(reference, interrupted, other, tmp_path, capsys, case):
    source, target, base, resumed_from = FOREIGN[case]
    out = copy_run(reference if base == "reference" else interrupted, tmp_path / "run")
    if base == "reference":
        for name in ("002", "001") if target == "rounds/001" else ("002",):
            shutil.rmtree(out / "rounds" / name)
    shutil.copytree(other / source, out / target)  # a checkpoint: newer than ours, so tried first
    assert main(["resume", str(out), "--quiet"]) == 0
    said = stderr_lines(capsys)
    assert "belongs to another run" in said[0] and said[0].endswith(f"kept as {Path(target).name}.foreign)")
    assert said[1] == f"resuming {out} from {resumed_from}"
    if target.startswith("rounds"):  # set-aside checkpoints go with the rest once their round is finished
        assert (out / f"{target}.foreign").is_dir()
    assert differences(reference, out) == []


def test_a_finished_round_of_another_run_does_not_finish_this_one(reference, other, tmp_path, capsys):
    out = copy_run(reference, tmp_path / "run")
    shutil.rmtree(out / "rounds" / "002")
    events = (out / "events.jsonl").read_bytes()
    shutil.copytree(other / "rounds" / "002", out / "rounds" / "002")
    assert main(["status", str(out), "--json"]) == 0
    assert '"finished": false' in capsys.readouterr().out
    assert main(["resume", str(out), "--quiet"]) == 0
    assert "already finished" not in capsys.readouterr().err
    assert (out / "events.jsonl").read_bytes().startswith(events[: len(events) // 2])
    assert differences(reference, out) == []


def test_a_snapshot_of_another_history_of_the_run_is_foreign(reference, tmp_path, capsys):
    """Same run id, but round 1 was written again after round 2 was: round 2 no longer follows it."""
    out = copy_run(reference, tmp_path / "run")
    marker = out / "rounds" / "001" / "COMPLETE"
    marker.write_text(json.dumps(json.loads(marker.read_text()), indent=2))  # same files, other bytes: rewritten
    with pytest.raises(RunError, match="does not follow round 1"):
        RunStore(out).verify(out / "rounds" / "002")


def test_a_legacy_run_without_identity_still_resumes(reference, tmp_path, capsys):
    out = copy_run(reference, tmp_path / "run")
    shutil.rmtree(out / "rounds" / "002")
    record = yaml.safe_load((out / "run.yaml").read_text())
    del record["run_id"]
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    for marker in out.rglob("COMPLETE"):  # markers as runs before identities wrote them
        files = yaml.safe_load(marker.read_text())["files"]
        marker.write_text(json.dumps({"files": files}, indent=1))
    assert main(["resume", str(out), "--quiet"]) == 0
    assert differences(reference, out) == []


# -- 3: symbolic links ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["events.jsonl", "metrics.jsonl", "rounds", "checkpoint", ".lock"])
def test_resume_never_writes_through_a_symbolic_link(interrupted, tmp_path, capsys, name):
    out = copy_run(interrupted, tmp_path / "run")
    outside = tmp_path / "outside"
    original = out / name
    if original.is_dir():
        shutil.move(original, outside)
    else:
        if original.exists():
            shutil.move(original, outside)
        else:
            outside.write_bytes(b"someone else's file\n")
    original.symlink_to(outside)
    before = files_of(tmp_path / "outside") if outside.is_dir() else outside.read_bytes()
    assert main(["resume", str(out), "--quiet"]) == 2
    line = stderr_lines(capsys)[-1]
    assert "symbolic link" in line and name in line
    assert (files_of(outside) if outside.is_dir() else outside.read_bytes()) == before


def test_appending_to_a_journal_that_became_a_link_is_refused(tmp_path):
    store = RunStore(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.jsonl"
    outside.write_text("mine\n")
    (tmp_path / "events.jsonl").symlink_to(outside)
    with pytest.raises(RunError, match="symbolic link"):
        store.append("events", {"event": "x"})
    with pytest.raises(RunError, match="symbolic link"):
        store.truncate_journals({"events": 0})
    assert outside.read_text() == "mine\n"


# -- 4: the lock comes before run.yaml ---------------------------------------------------------------------
def test_a_search_that_loses_the_lock_writes_no_run_yaml(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = RunStore(out).lock()  # another process creating the same run, a moment earlier
    try:
        with pytest.raises(RunError, match="in use by another evospace process"):
            Search(space_from_dict(space_dict(), "<tiny>"), out, device="cpu", progress=False)
        assert sorted(p.name for p in out.iterdir()) == [".lock"]
    finally:
        holder.close()


# -- 5: a missing fingerprint is damage ------------------------------------------------------------------------
@pytest.mark.parametrize("edit", ["removed", "edited settings"])
def test_run_yaml_without_its_fingerprint_is_not_resumed(interrupted, tmp_path, capsys, edit):
    out = copy_run(interrupted, tmp_path / "run")
    record = yaml.safe_load((out / "run.yaml").read_text())
    del record["fingerprint"]
    if edit == "edited settings":
        record["space"]["seed"] = 5
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    before = files_of(out)
    assert main(["resume", str(out), "--quiet"]) == 2
    assert "has no fingerprint" in stderr_lines(capsys)[-1]
    assert files_of(out) == before


# -- 6: disk full ---------------------------------------------------------------------------------------------
def no_space(monkeypatch, when):
    real = os.replace

    def replace(src, dst):
        if when(str(dst)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace)


def test_a_disk_too_small_for_any_snapshot_does_not_claim_one_is_intact(tmp_path, monkeypatch, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(space_dict()))
    no_space(monkeypatch, lambda dst: "checkpoint" in dst or "rounds" in dst)
    assert main(["search", str(space), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    line = stderr_lines(capsys)[-1]
    assert "No space left on device" in line and "intact" not in line
    assert "no snapshot of this run is complete yet" in line


def test_retrying_on_a_full_disk_names_what_can_be_deleted(interrupted, tmp_path, monkeypatch, capsys):
    out = copy_run(interrupted, tmp_path / "run")
    no_space(monkeypatch, lambda dst: "002000009" in dst and dst.endswith("state.json"))
    for attempt in range(3):
        assert main(["resume", str(out), "--quiet"]) == 2
        line = stderr_lines(capsys)[-1]
        if attempt:
            assert "to free space, delete the incomplete snapshots set aside earlier (checkpoint/002000009" in line
    assert sorted(p.name for p in (out / "checkpoint").iterdir() if "incomplete" in p.name) == [
        "002000009.incomplete", "002000009.incomplete.1"]


# -- 2: journals damaged in the middle ----------------------------------------------------------------------
def garble(path: Path, number: int) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = b"garbage".ljust(len(lines[number - 1]), b"x")  # the same length: only the line is wrong
    path.write_bytes(b"\n".join(lines))


def garble_event(out: Path, kind: str) -> None:
    path = out / "events.jsonl"
    rows = path.read_bytes().split(b"\n")
    number = next(i for i, line in enumerate(rows, 1) if f'"event":"{kind}"'.encode() in line)
    garble(path, number)


JOURNAL_DAMAGES = {
    "garbage line in metrics.jsonl": (lambda out: garble(out / "metrics.jsonl", 3), "metrics.jsonl",
                                      "line 3 is not a JSON object", "readable lines"),
    "garbage op_added line in events.jsonl": (lambda out: garble_event(out, "op_added"), "events.jsonl",
                                              "is not a JSON object", "rebuilt from the snapshots"),
    "garbage front line in events.jsonl": (lambda out: garble_event(out, "front"), "events.jsonl",
                                           "is not a JSON object", "readable lines"),
    "events.jsonl deleted": (lambda out: (out / "events.jsonl").unlink(), "events.jsonl", "missing",
                             "rebuilt from the snapshots"),
    "events.jsonl cut short": (lambda out: os.truncate(out / "events.jsonl", 300), "events.jsonl",
                               "only 300 bytes", "rebuilt from the snapshots"),
}


@pytest.mark.parametrize("damage", JOURNAL_DAMAGES)
def test_a_journal_damaged_in_the_middle_is_set_aside_and_rebuilt(reference, interrupted, tmp_path, capsys, damage):
    spoil, name, problem, holds = JOURNAL_DAMAGES[damage]
    out = copy_run(interrupted, tmp_path / "run")
    spoil(out)
    damaged = (out / name).read_bytes() if (out / name).exists() else None
    assert main(["resume", str(out), "--quiet"]) == 0
    said = [line for line in stderr_lines(capsys) if "damaged (" in line]
    assert len(said) == 1 and said[0].startswith(f"{out / name}: damaged (") and problem in said[0], said
    assert holds in said[0]
    if damaged is not None:  # set aside, never overwritten
        assert f"kept as {name}.damaged" in said[0] and (out / f"{name}.damaged").read_bytes() == damaged
    assert differences(reference, out) == []
    assert main(["inspect", str(out)]) == 0 and main(["status", str(out)]) == 0
    assert "finished" in capsys.readouterr().out


# -- 13: a stop signal ends the search within seconds wherever it is ------------------------------------------
def test_sigterm_stops_the_search_even_where_nothing_checks_for_it(reference, tmp_path, monkeypatch, capsys):
    import signal
    import time

    from evospace.evolve import controller

    out = tmp_path / "run"
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(space_dict()))
    real = controller.decide_round
    calls = []

    def stuck(*args, **kwargs):  # a long piece of work that never asks whether to stop
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            while True:
                time.sleep(0.01)
        return real(*args, **kwargs)

    monkeypatch.setattr(controller, "decide_round", stuck)
    monkeypatch.setattr(controller, "STOP_GRACE", 0.5)
    started = time.perf_counter()
    assert main(["search", str(space), "--out", str(out), "--quiet"]) == 143
    assert time.perf_counter() - started < 60
    line = stderr_lines(capsys)[-1]
    assert "stopped by SIGTERM in round 1 (2 of 3), where no safe point came within 0.5 s" in line
    monkeypatch.undo()
    assert main(["resume", str(out), "--quiet"]) == 0
    assert differences(reference, out) == []


# -- 21: a search killed while creating its run directory -----------------------------------------------------
@pytest.mark.parametrize("left", [[".lock"], [".lock", ".run.yaml.abc123.tmp"]])
def test_a_run_killed_before_its_run_yaml_says_search_again_and_search_does(reference, tmp_path, capsys, left):
    out = tmp_path / "run"
    out.mkdir()
    for name in left:
        (out / name).write_bytes(b"")
    assert main(["resume", str(out), "--quiet"]) == 2
    line = stderr_lines(capsys)[-1]
    assert "stopped while creating it" in line and f"start the search again with --out {out}" in line
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(space_dict()))
    assert main(["search", str(space), "--out", str(out), "--quiet"]) == 0
    assert differences(reference, out) == []


def test_a_run_killed_after_its_run_yaml_starts_its_first_round_again(reference, tmp_path, capsys):
    out = tmp_path / "run"
    Search(space_from_dict(space_dict(), "<tiny>"), out, device="cpu", progress=False)._lock.close()
    (out / "events.jsonl").write_bytes((out / "events.jsonl").read_bytes()[:40])  # killed while journalling
    assert main(["resume", str(out), "--quiet"]) == 0
    assert f"no complete snapshot in {out}: starting its first round again" in capsys.readouterr().err
    assert differences(reference, out) == []


# -- settings added since a run was written --------------------------------------------------------------
def today_defaults() -> dict:
    """The resume space with the defaults a newer key brought (a data batch other than the supernet's 32)."""
    space = space_dict()
    space["data"] = {**space["data"], "batch_size": 64}
    space["search"]["scoring"] = {**space["search"]["scoring"], "anchor_steps": 75}
    return space


@pytest.mark.parametrize(("key", "before"), sorted(store_module.BEFORE_KEY_EXISTED.items()))
def test_a_run_yaml_without_a_newer_key_reads_as_it_ran(tmp_path, key, before):
    out = tmp_path / "run"
    Search(space_from_dict(today_defaults(), "<tiny>"), out, device="cpu", progress=False)._lock.close()
    record = yaml.safe_load((out / "run.yaml").read_text())
    section = record["space"]
    for part in key[:-1]:
        section = section[part]
    assert section[key[-1]] != before  # today's default differs, or there would be nothing to keep
    del section[key[-1]]
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    assert RunStore(out).read_record()["space"]["search"][key[1]][key[2]] == before
    fresh = yaml.safe_load((out / "run.yaml").read_text())
    assert key[-1] not in fresh["space"]["search"][key[1]]  # read as it ran, never written back


def test_supernet_batch_of_a_run_from_before_its_key_is_the_data_batch(tmp_path):
    out = tmp_path / "run"
    Search(space_from_dict(today_defaults(), "<tiny>"), out, device="cpu", progress=False)._lock.close()
    record = yaml.safe_load((out / "run.yaml").read_text())
    del record["space"]["search"]["train"]["batch_size"]
    (out / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    config = Run.open(out).space.config
    assert config.supernet_batch_size == config.data.batch_size == 64
