"""bench/proxy_speed.py: the shared passes give the proxies' values of their definitions, bit for bit."""

from __future__ import annotations

from pathlib import Path

SPACES = Path(__file__).resolve().parents[2] / "spaces"


def test_shared_and_separate_passes_agree_on_a_quick_run(bench_script, capsys):
    proxy_speed = bench_script("proxy_speed")
    assert proxy_speed.main(["--space", str(SPACES / "mnist1d_rank.yaml"), "--quick"]) == 0
    result = capsys.readouterr().out.splitlines()[-1]
    assert result.startswith("RESULT proxy_speedup=") and result.endswith("max_abs_diff=0")
