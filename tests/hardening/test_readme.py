"""The README's newcomer path is true (issue case 20): its example space validates as written, and it says how
to reach the commands and the CPU build of torch."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from evospace.space import space_from_dict

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_example_space_validates_and_does_not_pose_as_a_shipped_file():
    section = README[README.index("## Space files"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    data = yaml.safe_load(block)
    assert data["name"] != "mnist1d"  # the shipped spaces/mnist1d.yaml differs from it
    space = space_from_dict(data, "README.md")
    assert space.config.initial.size == 4


def test_the_readme_says_how_to_run_the_commands_and_get_the_cpu_build():
    assert "source .venv/bin/activate" in README and ".venv/bin/python bench/" in README
    assert "--index-url https://download.pytorch.org/whl/cpu" in README
