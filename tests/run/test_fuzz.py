"""Fuzzing what a user may hand evospace: space files and run directories (issue #20, keep this).

Whatever the bytes, a command ends with exit status 0 or 2, prints at most two lines, never a traceback, and writes
nothing outside the run directory it was given (read-only commands: nothing at all).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from conftest import TINY_SPACE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from resume_runs import reference_run

from evospace.cli import main

EXAMPLES = int(os.environ.get("EVOSPACE_FUZZ_EXAMPLES", "40"))  # raise it to hunt for new cases locally
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])


def run_cli(*args: str) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    text = out.getvalue() + err.getvalue()
    assert "Traceback" not in text, text
    return status, text.splitlines()


def files_under(path: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink() or not p.is_file():
            out[str(p.relative_to(path))] = b"<link or directory>"
        else:
            out[str(p.relative_to(path))] = p.read_bytes()
    return out


# -- space files ------------------------------------------------------------------------------------------
KEYS = ["name", "seed", "pool", "pool[0]", "initial", "initial.size", "initial.ops", "data", "data.batch_size",
        "data.val_fraction", "data.samples", "data.name", "skeleton", "skeleton.kind", "skeleton.dims",
        "skeleton.stem.channels", "skeleton.stages", "skeleton.stages[0].channels", "skeleton.stages[0].depth",
        "skeleton.stages[1].stride", "search.rounds", "search.population.size", "search.train.lr",
        "search.train.momentum", "search.objectives", "search.constraints.max_params", "search.shrink.score",
        "search.scoring.ridge", "search.few_shot", "search.branch_learning", "unknown.key"]
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**40, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from([[], {}, [[[[]]]], "conv_k3", "zero", "cell", 10**30, 2**63, -1, 0, 1e308]),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(-5, 5), max_size=3),
)


def set_key(data: dict, key: str, value) -> None:
    node = data
    parts = key.replace("[", ".[").split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return
            if last:
                node[index] = value
            else:
                node = node[index]
        else:
            if not isinstance(node, dict):
                return
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})


@FAST
@given(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=4))
def test_a_mangled_space_file_is_accepted_or_one_line(changes):
    data = copy.deepcopy(TINY_SPACE)
    for key, value in changes:
        set_key(data, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        status, lines = run_cli("validate", str(path))
        assert status in (0, 2) and len(lines) <= 2, lines
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["space.yaml"]


@FAST
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_any_bytes_as_a_space_file_are_one_line(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.yaml"
        path.write_bytes(raw)
        status, lines = run_cli("validate", str(path))
        assert status in (0, 2) and len(lines) <= 2, lines
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["space.yaml"]


@FAST
@given(st.lists(st.tuples(st.sampled_from([k for k in KEYS if "[" not in k] + ["", ".", "search..rounds", "a=b"]),
                          st.text(max_size=40)), min_size=1, max_size=3))
def test_any_set_override_is_accepted_or_one_line(overrides):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.yaml"
        path.write_text(yaml.safe_dump(TINY_SPACE))
        status, lines = run_cli("validate", str(path), *[a for key, value in overrides
                                                         for a in ("--set", f"{key}={value}")])
        assert status in (0, 2) and len(lines) <= 2, lines


# -- run directories -------------------------------------------------------------------------------------------
_RUN: dict[str, Path] = {}


def finished(factory) -> Path:
    if "run" not in _RUN:
        _RUN["run"] = reference_run(factory)
    return _RUN["run"]


DAMAGE = st.sampled_from(["flip", "truncate", "delete", "garbage", "empty", "link", "directory"])


def damage(root: Path, target: Path, how: str, position: float, outside: Path) -> None:
    if how == "link":
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        target.symlink_to(outside)
    elif how == "directory":
        if target.is_file():
            target.unlink()
            target.mkdir()
    elif target.is_dir():
        shutil.rmtree(target)
    elif how == "delete":
        target.unlink()
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "garbage":
        target.write_bytes(bytes(range(256)) * 3)
    else:
        data = bytearray(target.read_bytes())
        at = min(int(position * len(data)), max(len(data) - 1, 0))
        if how == "truncate" or not data:
            target.write_bytes(bytes(data[:at]))
        else:
            data[at] ^= 0x5A
            target.write_bytes(bytes(data))


COMMANDS = [["status", "{run}"], ["status", "{run}", "--json"], ["inspect", "{run}"], ["inspect", "{run}", "--round",
            "1"], ["diff", "{run}", "0", "final"], ["inspect", "{run}", "--format", "json", "--out", "-"]]


@settings(max_examples=max(EXAMPLES * 3 // 4, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10**6), DAMAGE, st.floats(0, 1)), min_size=1, max_size=3),
       st.sampled_from(COMMANDS))
def test_a_damaged_run_directory_is_read_in_one_line_and_never_written(tmp_path_factory, damages, command):
    source = finished(tmp_path_factory)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = shutil.copytree(source, root / "run", symlinks=True)
        outside = root / "outside"
        outside.mkdir()
        (outside / "keep.txt").write_text("mine")
        for pick, how, position in damages:
            targets = sorted(p for p in run.rglob("*") if not p.is_symlink())
            if not targets:
                break
            damage(run, targets[pick % len(targets)], how, position, outside)
        before = files_under(root)
        status, lines = run_cli(*[part.format(run=run) for part in command])
        assert status in (0, 2), lines
        if status == 2:
            assert len(lines) <= 2, lines
        assert files_under(root) == before  # read-only commands write nothing, in the run or outside it
