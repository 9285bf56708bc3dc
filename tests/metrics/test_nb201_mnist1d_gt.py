"""spaces/nb201_mnist1d.yaml is the network its committed ground truth was built from: same fingerprint (the
build resumes), and every row's parameters and FLOPs are the space's."""

from __future__ import annotations

import csv
from pathlib import Path

from evospace.metrics.groundtruth import GroundTruthSpec, truth_fingerprint
from evospace.space import load_space

REPO = Path(__file__).resolve().parents[2]


def test_ground_truth_rows_are_this_spaces_networks() -> None:
    space = load_space(REPO / "spaces" / "nb201_mnist1d.yaml")
    path = REPO / "bench" / "data" / "nb201_mnist1d_gt.csv"
    lines = list(csv.reader(path.read_text().splitlines()))
    spec = GroundTruthSpec.parse(path.read_text().splitlines()[1], path.name)
    assert spec.fingerprint == truth_fingerprint(space)
    assert spec == GroundTruthSpec.for_space(space, spec.epochs, spec.seeds, spec.max_shift, spec.archs,
                                             spec.sample_seed)
    header, rows = lines[2], lines[3:]
    assert len(rows) > 300
    for row in rows:
        cost = space.cost(dict(zip(space.labels, row[:len(space.labels)], strict=True)))
        assert (cost.params, cost.flops) == (int(row[header.index("params")]), int(row[header.index("flops")]))
