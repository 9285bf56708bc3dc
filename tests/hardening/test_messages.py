"""The newcomer's messages (issue cases 16 and 17): one round numbering, an error line never drawn over a
progress bar, a line per error however the input is shaped."""

from __future__ import annotations

import io

import pytest

from evospace.cli import main
from evospace.run.events import round_name


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rounds_are_named_by_index_and_place():
    assert round_name(0, 4) == "round 0 (1 of 4)" and round_name(3, 4) == "round 3 (4 of 4)"


def test_an_error_on_a_terminal_starts_on_a_cleared_line(tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    text = terminal.getvalue()
    assert text.startswith("\r\x1b[K") and text.count("\n") == 1


def test_an_error_off_a_terminal_is_a_plain_line(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.startswith("evospace validate: ")


@pytest.mark.parametrize("key", ['"a\\nb"', '"x\\ry"', '"\\u2028"'])
def test_a_key_holding_a_line_break_is_still_one_line(tmp_path, capsys, key):
    path = tmp_path / "space.yaml"
    path.write_text(f"{key}: 1\nname: x\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err
