"""A minimal launcher for the process-group tests: starts N ranks with torchrun's environment variables."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(scenario: str, world: int, tmp: Path, *, timeout: float = 30, wait: float = 120) -> list[dict | None]:
    """Run ``spawned.SCENARIO`` on ``world`` ranks (gloo, loopback); each rank's JSON result (None if it wrote none)."""
    port = free_port()
    out = tmp / f"{scenario}.json"
    procs = []
    for rank in range(world):
        env = {**os.environ, "WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "EVOSPACE_DIST_TIMEOUT": str(timeout), "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(HERE / "spawned.py"), scenario, str(out)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        proc.communicate(timeout=wait)
    results = []
    for rank in range(world):
        path = Path(f"{out}.{rank}")
        results.append(json.loads(path.read_text()) if path.exists() else None)
    return results
