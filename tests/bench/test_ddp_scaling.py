"""bench/ddp_scaling.py: one worker, as torchrun starts it, trains and evaluates the default space's supernet."""

from __future__ import annotations

import json


def test_a_worker_alone_prints_its_figures(bench_script, capsys):
    """The worker runs the search's own backend: it broke unseen once the default score became the calibrated one."""
    bench_script("ddp_scaling").worker(2)
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(figures) == {"steps_per_s", "evals_per_s"} and min(figures.values()) > 0
