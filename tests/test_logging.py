"""Messages through the `evospace` logger (the CLI configures it, a library user controls it), no progress-bar
frames when stderr is not a terminal, `evospace --version`, and `--import` of the user's registrations."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, TINY_OVERRIDES

import evospace
from evospace import Search
from evospace.cli import main
from evospace.space import load_space


def test_version(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"evospace {evospace.__version__}"


@pytest.mark.slow
def test_library_logs_only_where_the_user_says(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               caplog: pytest.LogCaptureFixture) -> None:
    space = load_space(REPO / "spaces" / "mnist1d.yaml", TINY_OVERRIDES)
    with caplog.at_level(logging.INFO, logger="evospace"):
        Search(space, tmp_path / "run", device="cpu").run()  # progress bars on, but stderr is no terminal here
    captured = capsys.readouterr()
    assert captured.out == "" and "\r" not in captured.err and "round 0 (1 of 1)" not in captured.err
    assert any("round 0 (1 of 1)" in record.getMessage() for record in caplog.records if record.name == "evospace")


@pytest.mark.slow
def test_cli_log_file_holds_lines_not_frames(tmp_path: Path, tiny_cli_args: list[str]) -> None:
    """`evospace search 2> log` (stderr redirected to a file): the log holds whole lines, no carriage returns."""
    plugin = tmp_path / "mine.py"
    plugin.write_text("import evospace\n"
                      "evospace.register_objective('twice_params', lambda arch, ctx: 2 * ctx.cost(arch).params,"
                      " 'minimize')\n")
    log = tmp_path / "search.log"
    with log.open("w") as err:
        status = subprocess.run([sys.executable, "-m", "evospace", "--import", str(plugin), "search",
                                 str(REPO / "spaces" / "mnist1d.yaml"), "--out", str(tmp_path / "run"), "--device",
                                 "cpu", *tiny_cli_args, "--set", "search.objectives=[angle, twice_params]"],
                                stderr=err, stdout=subprocess.DEVNULL, cwd=tmp_path, timeout=300).returncode
    text = log.read_text()
    assert status == 0, text
    assert "\r" not in text and "round 0 (1 of 1):" in text and "done after 1 rounds" in text
