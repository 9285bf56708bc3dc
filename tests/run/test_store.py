"""The run store: atomic writes that survive failures, checksummed snapshots, journals with torn lines."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evospace.errors import RunError
from evospace.run import IncompleteSnapshot, RunStore, atomic_write, read_jsonl
from evospace.run import store as store_module

FILES = {"state.json": b'{"controller": {"round": 1}}', "supernet.safetensors": b"\x08\x00" + b"w" * 64}


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def temp_files(directory: Path) -> list[Path]:
    return list(directory.rglob(".*.tmp"))


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.create({"space": {"name": "tiny"}})
    return store


# -- atomic writes --------------------------------------------------------------------------------
@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_atomic_write_keeps_the_old_file_when_the_disk_is_full(tmp_path, monkeypatch, failing):
    path = tmp_path / "state.json"
    atomic_write(path, b"old")
    monkeypatch.setattr(store_module.os, failing, enospc)
    with pytest.raises(OSError) as err:
        atomic_write(path, b"new" * 1000)
    monkeypatch.undo()
    assert err.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_atomic_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "deep" / "file.bin"
    atomic_write(path, b"a" * 100)
    atomic_write(path, b"b")
    assert path.read_bytes() == b"b"
    assert temp_files(tmp_path) == []


def test_a_checkpoint_that_fails_midway_leaves_the_previous_one_loadable(store, monkeypatch):
    store.write_checkpoint(3, FILES)
    calls = []
    real_replace = os.replace

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the second file of the new checkpoint
            enospc()
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", replace_then_fail)
    newer = {name: data + b" newer" for name, data in FILES.items()}
    with pytest.raises(RunError, match="No space left on device.*evospace resume"):
        store.write_checkpoint(6, newer)
    monkeypatch.undo()

    kinds = store.snapshots()
    assert [path.name for _, path in kinds] == ["000000006", "000000003"]
    with pytest.raises(IncompleteSnapshot):
        store.verify(kinds[0][1])
    previous = store.verify(kinds[1][1])
    assert {name: previous.read_bytes(name) for name in FILES} == FILES
    assert temp_files(store.path) == []


def test_a_journal_append_that_fails_is_one_clear_error(store, monkeypatch):
    monkeypatch.setattr(store_module.os, "fsync", enospc)
    with pytest.raises(RunError, match="events.jsonl: could not append .*evospace resume"):
        store.append("events", {"event": "x"})


# -- snapshots ------------------------------------------------------------------------------------
def test_snapshot_round_trip_and_checksums(store):
    snap = store.write_round(0, FILES)
    again = store.verify(snap.path)
    assert again.files == snap.files
    assert json.loads((snap.path / "COMPLETE").read_text())["files"].keys() == FILES.keys()
    assert again.read_json("state.json") == {"controller": {"round": 1}}


def test_verify_catches_a_truncated_file(store):
    snap = store.write_round(0, FILES)
    path = snap.path / "supernet.safetensors"
    path.write_bytes(path.read_bytes()[:10])
    with pytest.raises(RunError, match=r"supernet\.safetensors: checksum mismatch"):
        store.verify(snap.path)


def test_verify_catches_a_flipped_byte(store):
    snap = store.write_round(0, FILES)
    path = snap.path / "state.json"
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(RunError, match=r"state\.json: checksum mismatch"):
        store.verify(snap.path)


def test_verify_catches_a_missing_marker_or_file(store):
    snap = store.write_round(0, FILES)
    (snap.path / "supernet.safetensors").unlink()
    with pytest.raises(RunError, match=r"supernet\.safetensors: missing"):
        store.verify(snap.path)
    (snap.path / "COMPLETE").unlink()
    with pytest.raises(IncompleteSnapshot, match="no COMPLETE marker"):
        store.verify(snap.path)


@pytest.mark.parametrize("marker", [b"", b"{not json", b'{"files": ["state.json"]}',
                                    b'{"files": {"../run.yaml": "00"}}', b"\xff\xfe"])
def test_verify_refuses_a_damaged_marker(store, marker):
    snap = store.write_round(0, FILES)
    (snap.path / "COMPLETE").write_bytes(marker)
    with pytest.raises(RunError, match="COMPLETE: damaged marker file"):
        store.verify(snap.path)


def test_a_snapshot_reads_only_listed_files_and_rechecks_them(store):
    snap = store.verify(store.write_round(0, FILES).path)
    (snap.path / "state.pkl").write_bytes(b"planted")
    with pytest.raises(RunError, match="not part of this snapshot"):
        snap.read_bytes("state.pkl")
    (snap.path / "state.json").write_bytes(b'{"controller": {"round": 2}}')  # changed after verify
    with pytest.raises(RunError, match="checksum mismatch"):
        snap.read_json("state.json")


def test_snapshots_are_ordered_by_progress(store):
    store.write_checkpoint(1 * 10**6 + 12, FILES)
    store.write_checkpoint(1 * 10**6 + 9, FILES)
    store.write_round(0, FILES)
    store.write_round(1, FILES)  # written before its checkpoints were dropped
    store.write_checkpoint(2 * 10**6 + 3, FILES, keep=3)
    order = [(kind, path.name) for kind, path in store.snapshots()]
    assert order == [("checkpoint", "002000003"), ("round", "001"), ("checkpoint", "001000012"),
                     ("checkpoint", "001000009"), ("round", "000")]
    assert store.latest_checkpoint() == (2, 3)


def test_checkpoints_keep_the_newest_two_in_numeric_order(store):
    for step in (999, 1000, 10**6 + 1, 2):
        store.write_checkpoint(step, FILES)
    names = sorted(p.name for p in (store.path / "checkpoint").iterdir())
    assert names == ["000001000", "001000001"]
    store.clear_checkpoints()
    assert not (store.path / "checkpoint").exists()
    assert store.latest_checkpoint() is None


def test_set_aside_never_overwrites(store):
    first = store.set_aside(store.write_round(2, FILES).path, "damaged")
    second = store.set_aside(store.write_round(2, FILES).path, "damaged")
    assert (first.name, second.name) == ("002.damaged", "002.damaged.1")
    assert store.round_indices() == []
    assert store.snapshots() == []


def test_create_refuses_a_directory_with_files_but_not_leftovers(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty and holds no run.yaml"):
        RunStore(busy).create({"space": {}})
    assert (busy / "notes.txt").read_text() == "mine" and sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    killed = tmp_path / "killed"  # a first run killed while writing run.yaml
    killed.mkdir()
    (killed / ".run.yaml.abc123.tmp").write_bytes(b"form")
    RunStore(killed).create({"space": {"name": "tiny"}}).close()
    RunStore(killed).remove_leftovers()
    assert sorted(p.name for p in killed.iterdir()) == [".lock", "run.yaml"]


def test_a_run_is_locked_by_one_process_at_a_time(store):
    handle = store.lock()
    with pytest.raises(RunError, match="in use by another evospace process"):
        store.lock()
    handle.close()
    store.lock().close()


# -- journals -------------------------------------------------------------------------------------
ROWS = st.lists(st.dictionaries(st.sampled_from(["event", "round", "op", "note"]),
                                st.one_of(st.integers(), st.text(max_size=8), st.floats(allow_nan=False,
                                                                                         allow_infinity=False))),
                min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, cut=st.integers(min_value=1))
def test_read_jsonl_drops_a_torn_last_line(tmp_path_factory, rows, cut):
    path = tmp_path_factory.mktemp("journal") / "events.jsonl"
    lines = [json.dumps(row, ensure_ascii=False).encode() + b"\n" for row in rows]
    last = lines[-1]
    torn = last[:cut % (len(last) - 1)]  # anything short of the full line (its newline included)
    path.write_bytes(b"".join(lines[:-1]) + torn)
    assert read_jsonl(path) == rows[:-1]
    store = RunStore(path.parent)
    assert store.torn_journals() == (["events.jsonl"] if torn else [])


def test_read_jsonl_refuses_a_damaged_middle_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"event": "a"}\n{"event": \n{"event": "c"}\n')
    with pytest.raises(RunError, match="line 2 is not a JSON object"):
        read_jsonl(path)


def test_truncate_journals_cuts_back_to_a_snapshot(store):
    store.append("events", {"event": "a"})
    store.append("metrics", {"kind": "epoch"})
    offsets = store.journal_offsets()
    store.append("events", {"event": "b"})
    with open(store.path / "metrics.jsonl", "ab") as f:
        f.write(b'{"kind": "ep')  # killed mid-append
    assert store.torn_journals() == ["metrics.jsonl"]
    store.truncate_journals(offsets)
    assert store.events() == [{"event": "a"}]
    assert store.metrics() == [{"kind": "epoch"}]
    assert store.torn_journals() == []
    assert store.journal_offsets() == offsets
