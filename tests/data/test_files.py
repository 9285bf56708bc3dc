"""Data read from files (npz, csv) and data sets registered by the user: shapes, splits, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evospace.cli import main
from evospace.data import DataInfo, data_fingerprint, dataset_info, load_data, register_dataset
from evospace.data.arrays import as_arrays
from evospace.errors import DataError, SpaceError
from evospace.space import load_space, space_from_dict

TINY = {"name": "files", "skeleton": {"kind": "chain", "dims": 1, "stem": {"channels": 4},
                                      "stages": [{"channels": 4, "depth": 1, "stride": 1}]},
        "pool": ["conv_k3", "skip"], "initial": {"size": 2}}


def signals(n: int = 50, length: int = 12, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return (rng.normal(size=(n, length)) + y[:, None]).astype(np.float32), y


def write_csv(path: Path, x: np.ndarray, labels: list) -> Path:
    lines = [",".join([f"f{i}" for i in range(x.shape[1])] + ["label"])]
    lines += [",".join([f"{v:.6f}" for v in row] + [str(label)]) for row, label in zip(x, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_npz_with_test_split(tmp_path: Path) -> None:
    x, y = signals(40)
    xt, yt = signals(10, seed=1)
    np.savez(tmp_path / "d.npz", x=x[:, None, :], y=y, x_test=xt[:, None, :], y_test=yt)
    splits = load_data("npz", val_fraction=0.25, path=tmp_path / "d.npz")
    assert splits.info == DataInfo("npz", dims=1, channels=1, side=12, classes=3)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (30, 10, 10)
    assert torch.equal(splits.x_test[:, 0], torch.from_numpy(xt))  # the file's test split, untouched


def test_npz_without_test_split_holds_out_a_seeded_fifth(tmp_path: Path) -> None:
    x, y = signals(50)
    np.savez(tmp_path / "d.npz", x=x, y=y)  # (N, L): one channel
    a = load_data("npz", val_fraction=0.2, path=tmp_path / "d.npz")
    b = load_data("npz", val_fraction=0.2, path=tmp_path / "d.npz")
    assert (len(a.y_train), len(a.y_val), len(a.y_test)) == (32, 8, 10)
    assert data_fingerprint(a) == data_fingerprint(b)
    seen = torch.cat([a.x_train, a.x_val, a.x_test])[:, 0]
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, torch.from_numpy(x).tolist()))


def test_images_and_samples(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.normal(size=(30, 3, 8, 8)), y=np.arange(30) % 2)
    splits = load_data("npz", val_fraction=0.2, path=tmp_path / "img.npz", samples=10)
    assert splits.info == DataInfo("npz", dims=2, channels=3, side=8, classes=2)
    assert len(splits.y_train) + len(splits.y_val) == 10


def test_csv_named_labels(tmp_path: Path) -> None:
    x, y = signals(30, length=5)
    names = ["cat", "dog", "emu"]
    write_csv(tmp_path / "t.csv", x, [names[i] for i in y])
    splits = load_data("csv", val_fraction=0.25, path=tmp_path / "t.csv", target="label")
    assert splits.info == DataInfo("csv", dims=1, channels=1, side=5, classes=3)
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == 30
    row = splits.x_test[0, 0].numpy()
    i = int(np.argmin(np.abs(x - row).sum(axis=1)))  # its row in the file: labels numbered in sorted order
    assert names.index(names[y[i]]) == int(splits.y_test[0])


def test_user_factory_reads_the_request_and_is_validated_once(tmp_path: Path) -> None:
    calls = []

    def waves(request):
        calls.append(request)
        x, y = signals(40, length=16)
        return {"x": x[:, None, :], "y": y}

    register_dataset("waves_test", waves)
    space = space_from_dict({**TINY, "data": {"name": "waves_test", "val_fraction": 0.25}}, "<t>")
    assert space.data == DataInfo("waves_test", dims=1, channels=1, side=16, classes=3)
    load_data("waves_test", val_fraction=0.25)
    assert len(calls) == 1  # validation built it; the search reuses it
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("waves_test", waves)


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((10, 4))}, "no array 'y'"),
    ({"x": np.zeros((10, 4)), "y": np.zeros(9, dtype=int)}, "x has 10 samples but y 9 labels"),
    ({"x": np.zeros((10, 4)), "y": np.full(10, 0.5)}, "expected integer class indices"),
    ({"x": np.zeros((10, 4)), "y": -np.ones(10, dtype=int)}, "label -1"),
    ({"x": np.zeros((10, 4)), "y": np.zeros(10, dtype=int)}, "at least two classes"),
    ({"x": np.zeros((10, 2, 4, 5)), "y": np.arange(10) % 2}, "must be square"),
    ({"x": np.full((10, 4), np.nan), "y": np.arange(10) % 2}, "NaN"),
    ({"x": np.zeros(10), "y": np.arange(10) % 2}, r"expected \(N, L\)"),
    ({"x": np.zeros((10, 4)), "y": np.arange(10) % 2, "x_test": np.zeros((2, 4))}, "x_test without y_test"),
    ({"x": np.zeros((10, 4)), "y": np.arange(10) % 2, "x_test": np.zeros((2, 5)), "y_test": np.zeros(2, int)},
     "must match"),
    ((np.zeros((10, 4)),), "expected \\(x, y\\)"),
])
def test_wrong_arrays_get_one_line(arrays, message: str) -> None:
    with pytest.raises(DataError, match=message) as err:
        as_arrays(arrays, "mine")
    assert "\n" not in str(err.value)


def test_wrong_files_are_space_errors_at_their_key(tmp_path: Path) -> None:
    x, y = signals(20, length=5)
    write_csv(tmp_path / "t.csv", x, list(y))
    (tmp_path / "bad.npz").write_text("not a zip")
    np.savez(tmp_path / "obj.npz", x=np.array([object()] * 20, dtype=object), y=y)
    cases = [
        ({"name": "npz"}, "data.path", "set data.path"),
        ({"name": "npz", "path": str(tmp_path / "none.npz")}, "data.path", "does not exist"),
        ({"name": "npz", "path": str(tmp_path / "bad.npz")}, "data.path", "not an .npz archive"),
        ({"name": "npz", "path": str(tmp_path / "obj.npz")}, "data.path", "without pickle"),
        ({"name": "csv", "path": str(tmp_path / "t.csv")}, "data.target", "needs data.target"),
        ({"name": "csv", "path": str(tmp_path / "t.csv"), "target": "lable"}, "data.target", "did you mean 'label'"),
        ({"name": "mnist1d", "target": "y"}, "data.target", "does not read data.target"),
        ({"name": "no_such_data"}, "data.name", "register_dataset"),
    ]
    for data, key, message in cases:
        with pytest.raises(SpaceError, match=message) as err:
            space_from_dict({**TINY, "data": data}, "s.yaml")
        assert err.value.key == key and "\n" not in str(err.value)


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(DataError, match="line 3, column 'b': 'x' is not a number"):
        dataset_info("csv", __import__("evospace").data.DataRequest(path=str(tmp_path / "t.csv"), target="label"))
    (tmp_path / "short.csv").write_text("a,b,label\n1,2,0\n3,1\n")
    with pytest.raises(DataError, match="line 3 has 2 values"):
        load_data("csv", val_fraction=0.2, path=tmp_path / "short.csv", target="label")


def test_cli_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata: {name: npz, path: nowhere.npz}\nskeleton: {kind: chain, dims: 1, stem: "
                    "{channels: 4}, stages: [{channels: 4, depth: 1, stride: 1}]}\npool: [conv_k3, skip]\n"
                    "initial: {size: 2}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "data.path" in err and "nowhere.npz" in err


def test_relative_path_is_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = signals(20)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "s.yaml").write_text("name: s\ndata: {name: npz, path: d.npz}\nskeleton: {kind: chain, dims: 1, "
                                     "stem: {channels: 4}, stages: [{channels: 4, depth: 1, stride: 1}]}\n"
                                     "pool: [conv_k3, skip]\ninitial: {size: 2}\n")
    monkeypatch.chdir(tmp_path)
    space = load_space("s.yaml")
    assert Path(space.config.data.path) == tmp_path / "d.npz"
