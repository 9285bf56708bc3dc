"""bench/proxy_speed.py: the shared passes give the proxies' values of their definitions, bit for bit."""

from __future__ import annotations

from pathlib import Path

SPACES = Path(__file__).resolve().parents[2] / "spaces"


def test_shared_and_separate_passes_agree_on_a_quick_run(bench_script, capsys):
    proxy_speed = bench_script("proxy_speed")
    assert proxy_speed.main(["--space", str(SPACES / "mnist1d_rank.yaml"), "--quick"]) == 0
    result = capsys.readouterr().out.splitlines()[-1]
    assert result.startswith("RESULT proxy_speedup=") and result.endswith("max_abs_diff=0")


def test_a_missing_space_file_is_one_error_line(bench_script, capsys, tmp_path):
    proxy_speed = bench_script("proxy_speed")
    assert proxy_speed.main(["--space", str(tmp_path / "nope.yaml"), "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.yaml" in err and err.count("\n") == 1
