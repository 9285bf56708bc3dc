"""The README's "Search on your own data" runs as written: its space file and its Python, in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SECTION = "## Search on your own data"


def guide_blocks() -> tuple[str, str]:
    """The section's YAML block and Python block, verbatim."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    blocks = dict((lang, body) for lang, body in re.findall(r"```(yaml|python)\n(.*?)```", section, re.S))
    return blocks["yaml"], blocks["python"]


def test_the_guide_names_its_file_and_registers_what_the_space_uses() -> None:
    space, code = guide_blocks()
    assert space.startswith("# waves.yaml") and 'load_space("waves.yaml")' in code
    config = yaml.safe_load(space)
    assert f'register_dataset("{config["data"]["name"]}"' in code
    for name in config["search"]["constraints"]["max"]:
        assert f'register_objective("{name}"' in code


@pytest.mark.slow
def test_the_guide_runs_as_written(tmp_path: Path) -> None:
    space, code = guide_blocks()
    (tmp_path / "waves.yaml").write_text(space)
    (tmp_path / "guide.py").write_text(code)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "guide.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    best = tmp_path / "runs" / "waves" / "export" / "top1"
    for name in ("arch.json", "model.py", "model.torchscript.pt", "train/weights.safetensors", "train/result.json"):
        assert (best / name).is_file(), name
    assert (tmp_path / "runs" / "waves" / "latency.json").is_file()
    arch, latency, test_acc = done.stdout.strip().rsplit(" ", 2)[0], *done.stdout.strip().rsplit(" ", 2)[1:]
    assert float(latency) > 0 and 0.0 <= float(test_acc) <= 1.0 and arch.startswith("{")
