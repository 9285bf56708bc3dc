"""Exact resume: a search killed (SIGKILL) at random moments and resumed each time ends bit for bit like an
uninterrupted one; SIGTERM/SIGINT checkpoint and name the resume command; kills in the narrow windows
around a round's last writes resume too."""

from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from resume_runs import (
    Killed,
    differences,
    journal_rows,
    kill_and_resume,
    reference_run,
    run_in_process,
    space_dict,
    write_space,
)

from evospace.cli import main
from evospace.run import Run, RunStore, global_rng_state, read_jsonl
from evospace.supernet import RoundTrainer


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return reference_run(tmp_path_factory)


@pytest.fixture(scope="module")
def one_round(tmp_path_factory) -> tuple[dict, Path]:
    """A one-round search and its uninterrupted run (for kills around the last writes)."""
    space = space_dict(rounds=1)
    out = tmp_path_factory.mktemp("one_round") / "run"
    run_in_process(out, space)
    return space, out


def test_sigkill_at_random_moments_then_resume_is_bit_for_bit(reference, tmp_path):
    out = tmp_path / "run"
    seed = 3  # bench/resume_fuzz.py tries many more kill moments
    landed, logs = kill_and_resume(write_space(tmp_path / "space.yaml"), out, kills=3, seed=seed)
    assert landed >= 3, f"only {landed} kills landed before the run ended (seed {seed})"
    assert differences(reference, out) == [], f"seed {seed}"
    # a kill that lands after the last round is on disk (the process was exiting) leaves a finished run
    assert all("resuming" in log or "starting its first round again" in log or "already finished" in log
               for log in logs[1:]), logs
    assert RunStore(out).torn_journals() == []
    # every line was journaled exactly once, with the same figures, whatever was cut and written again
    assert journal_rows(out) == journal_rows(reference)
    assert Run.open(out).finished


def signal_at(monkeypatch, signum: int, round_index: int, step: int) -> None:
    """Deliver ``signum`` to this process right after training step ``step`` of round ``round_index``."""
    real = RoundTrainer.train_epoch

    def train_epoch(self, on_step=None, progress=None):
        def hooked(trainer):
            if (trainer.round, trainer.global_step) == (round_index, step):
                os.kill(os.getpid(), signum)
            return on_step(trainer)

        return real(self, on_step=hooked, progress=progress)

    monkeypatch.setattr(RoundTrainer, "train_epoch", train_epoch)


def test_sigterm_finishes_the_step_checkpoints_and_names_the_resume_command(reference, tmp_path, monkeypatch,
                                                                             capsys):
    out, space = tmp_path / "run", write_space(tmp_path / "space.yaml")
    signal_at(monkeypatch, signal.SIGTERM, 1, 7)
    assert main(["search", str(space), "--out", str(out), "--quiet"]) == 143  # 128 + SIGTERM, the shell's convention
    monkeypatch.undo()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f"evospace search: stopped by SIGTERM in round 1 (2 of 3); the last checkpoint is on disk. "
                    f"Continue with: evospace resume {out}")
    store = RunStore(out)
    assert store.latest_checkpoint() == (1, 7)  # a checkpoint of the step it was in, not only the periodic ones
    store.verify(store.snapshots()[0][1])

    assert main(["status", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert (f"{out}: tiny_resume, 1 rounds done, round 1 (2 of 3), step 7 (interrupted: no process holds it; "
            f"continue with `evospace resume {out}`)") in line
    started = [e for e in Run.open(out).events if e["event"] == "round_started"][-1]
    assert f"subspace {started['size']:,} architectures" in line
    assert re.search(r"best by score -?\d\.\d{3}, supernet accuracy 0\.\d{3} \(shared weights", line)
    status = Run.open(out).status()
    assert (status["rounds_done"], status["current_round"], status["step"], status["finished"]) == (1, 1, 7, False)

    assert main(["resume", str(out), "--quiet"]) == 0
    assert f"resuming {out} from checkpoint 001000007 (round 1)" in capsys.readouterr().err
    assert differences(reference, out) == []
    assert journal_rows(out) == journal_rows(reference)  # the epoch cut in two has the same loss and accuracy
    assert Run.open(out).status()["finished"]


def test_sigint_stops_like_sigterm(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    handler = signal.getsignal(signal.SIGINT)
    signal_at(monkeypatch, signal.SIGINT, 0, 4)
    assert main(["search", str(write_space(tmp_path / "s.yaml", space_dict(rounds=1))), "--out", str(out),
                 "--quiet"]) == 130
    assert capsys.readouterr().err.strip().endswith(f"Continue with: evospace resume {out}")
    assert RunStore(out).latest_checkpoint() == (0, 4)
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's handler is back


def test_catch_up_sampling_resumes_mid_round_with_its_newcomers_weights(tmp_path, monkeypatch, capsys):
    space = space_dict(rounds=2, sampling="catch_up")
    straight = tmp_path / "straight"
    run_in_process(straight, space)
    grown = [e for e in Run.open(straight).events if e["event"] == "op_added" and e["round"] == 1]
    assert grown  # round 1 trains newcomers beside survivors: their weights differ from uniform
    out = tmp_path / "run"
    signal_at(monkeypatch, signal.SIGTERM, 1, 7)
    assert main(["search", str(write_space(tmp_path / "s.yaml", space)), "--out", str(out), "--quiet"]) == 143
    monkeypatch.undo()
    assert main(["resume", str(out), "--quiet"]) == 0
    assert differences(straight, out) == []
    assert journal_rows(out) == journal_rows(straight)


def test_a_warm_started_run_resumes_mid_round_without_fitting_again(tmp_path, monkeypatch, capsys):
    space = space_dict(rounds=2, match_steps=4)
    straight = tmp_path / "straight"
    run_in_process(straight, space)
    fits = [row for row in read_jsonl(straight / "metrics.jsonl") if row.get("kind") == "warm_start"]
    assert [row["round"] for row in fits] == [0, 1] and all(row["operators"] > 0 for row in fits)
    plain = tmp_path / "plain"
    run_in_process(plain, space_dict(rounds=2))
    assert differences(straight, plain)  # the fit changed the weights
    out = tmp_path / "run"
    signal_at(monkeypatch, signal.SIGTERM, 1, 7)  # after round 1's fit and its first checkpoints
    assert main(["search", str(write_space(tmp_path / "s.yaml", space)), "--out", str(out), "--quiet"]) == 143
    monkeypatch.undo()
    assert main(["resume", str(out), "--quiet"]) == 0
    assert differences(straight, out) == []
    assert journal_rows(out) == journal_rows(straight)


@pytest.mark.parametrize(("killed", "said"), [
    # the `finished` event is out, the round is not written yet: the newest checkpoint is the last anchor's of the
    # calibrated score (3 of them), right after the trained state's (step 24)
    ("append", "resuming {out} from checkpoint 000000027 (round 0)"),
    # every file of the round is written but COMPLETE
    ("write_round", "resuming {out} from checkpoint 000000027 (round 0)"),
    # the round is on disk: only the tidying after it is left
    ("clear_checkpoints", "{out} is already finished; nothing to resume"),
    ("write_best", "{out} is already finished; nothing to resume"),
])
def test_a_kill_around_the_last_writes_of_a_round_resumes(one_round, tmp_path, monkeypatch, capsys, killed, said):
    space, reference = one_round
    out = tmp_path / "run"
    real = getattr(RunStore, killed)

    def dies(self, *args, **kwargs):
        if killed == "write_round":
            real(self, *args, **kwargs)
            (self.round_dir(args[0]) / "COMPLETE").unlink()
        if killed != "append" or args[1].get("event") == "finished":
            raise Killed
        return real(self, *args, **kwargs)

    monkeypatch.setattr(RunStore, killed, dies)
    with pytest.raises(Killed):
        run_in_process(out, space)
    monkeypatch.undo()
    assert Run.open(out).finished == said.endswith("nothing to resume")

    assert main(["resume", str(out), "--quiet"]) == 0
    assert said.format(out=out) in capsys.readouterr().err
    assert differences(reference, out) == []
    assert [e["event"] for e in read_jsonl(out / "events.jsonl")].count("finished") == 1
    assert not (out / "checkpoint").exists()


def test_resume_restores_the_global_generators(reference, tmp_path):
    """Python, NumPy and torch global states are put back as the snapshot recorded them."""
    from evospace.evolve import Search

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    shutil.rmtree(out / "rounds" / "002")
    search = Search.resume(out, device="cpu", progress=False, log=lambda message: None)
    recorded = RunStore(out).verify(out / "rounds" / "001").read_json("state.json")["rng"]
    assert global_rng_state() == recorded
    search.run()
    assert differences(reference, out) == []


def test_resume_of_a_finished_run_does_nothing(reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    assert main(["resume", str(out)]) == 0
    assert capsys.readouterr().err == f"{out} is already finished; nothing to resume\n"
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before



def test_a_longer_first_round_trains_its_epochs_and_resumes_in_its_extra_epoch(tmp_path, monkeypatch, capsys):
    space = space_dict(rounds=2, epochs_per_round=1, first_round_epochs=2)
    straight = tmp_path / "straight"
    run_in_process(straight, space)
    epochs = [(row["round"], row["epoch"]) for row in read_jsonl(straight / "metrics.jsonl")
              if row.get("kind") == "epoch"]
    assert epochs == [(0, 0), (0, 1), (1, 0)]
    out = tmp_path / "run"
    signal_at(monkeypatch, signal.SIGTERM, 0, 17)  # in round 0's second epoch, which only first_round_epochs gives
    assert main(["search", str(write_space(tmp_path / "s.yaml", space)), "--out", str(out), "--quiet"]) == 143
    monkeypatch.undo()
    assert main(["resume", str(out), "--quiet"]) == 0
    assert differences(straight, out) == []
    assert journal_rows(out) == journal_rows(straight)


def test_a_search_says_when_its_supernet_stayed_near_chance(tmp_path):
    said: list[str] = []
    run_in_process(tmp_path / "run", space_dict(rounds=1), log=said.append)
    accuracy = [row["train_acc"] for row in read_jsonl(tmp_path / "run" / "metrics.jsonl")
                if row.get("kind") == "epoch"]
    assert accuracy[-1] < 0.19  # 384 samples, 2 epochs: the tiny space's supernet stays near chance (10 classes)
    assert [line for line in said if line.startswith("round 0 (1 of 1): the supernet stayed near chance")]
