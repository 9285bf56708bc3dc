"""Figures and the HTML report: drawn without a display, self-contained, and honest about unfinished runs."""

from __future__ import annotations

import ast
import base64
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from inspect_runs import cut_run, finished_run

from evospace.inspect import lineage_graph
from evospace.inspect.report import (
    FIGURES,
    _pareto,
    _ranks,
    draw_figures,
    plot_front,
    plot_op_scores,
    readable_op,
    relative_scores,
    write_html,
)
from evospace.run import Run

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return Run.open(finished_run(tmp_path_factory))


@pytest.mark.parametrize(("name", "readable"), [
    ("conv_k3", "conv k3"), ("dil_k3_d2", "dilated conv k3 d2"), ("sep_k5", "separable conv k5"),
    ("mb_e6_k5", "MBConv k5 e6"), ("avg_pool_k3", "avg pool k3"), ("skip", "skip"), ("not_an_op", "not_an_op"),
])
def test_operator_names_are_spelled_out(name, readable):
    assert readable_op(name) == readable


def test_relative_scores_and_ranks_order_operators_within_a_choice_point(run):
    graph = lineage_graph(run)
    relative, ranks = relative_scores(graph), _ranks(graph)
    assert set(relative) == set(ranks) == {(n, r) for n, d in graph.nodes(data=True) for r in d["scores"]}
    for info in run.rounds:
        for label, ops in info.op_scores.items():
            combined = {op: s["combined"] for op, s in ops.items()}
            best = max(combined.values())
            for op, value in combined.items():
                key = (f"{label}/{op}", info.index)
                assert 0.0 <= relative[key] <= 1.0
                assert (relative[key] == 1.0) == (value == best)
                assert ranks[key] == 1 + sum(other > value for other in combined.values())


def test_html_report_is_self_contained(run, tmp_path):
    path = write_html(run, lineage_graph(run), tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    sources = re.findall(r"""src="([^"]*)\"""", page)
    assert len(sources) == len(FIGURES)
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == PNG
    assert "<link" not in page and "<script" not in page
    assert "finished after 3 of 3 rounds" in page
    for label in run.space.labels:
        assert f"<b>{label}</b>" in page
    assert "seed: 0" in page and "accuracy_samples: 8" in page  # run.yaml, verbatim


def test_figures_of_interrupted_and_unstarted_runs(run, tmp_path):
    for round_index in (1, 0):
        cut = Run.open(cut_run(run.path, tmp_path / f"cut{round_index}", round_index))
        images = draw_figures(cut, lineage_graph(cut))
        assert set(images) == set(FIGURES)
        assert all(data[:8] == PNG for data in images.values())
    page = write_html(cut, lineage_graph(cut), tmp_path / "unstarted.html").read_text()
    assert "NOT finished: interrupted before its first round, no process holds the run" in page  # .lock, unheld
    assert "None yet" in page


def test_front_of_an_unfinished_round_is_a_clear_placeholder(run, tmp_path):
    cut = Run.open(cut_run(run.path, tmp_path / "cut", 1))
    fig = plot_front(cut, 1)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("round 1 has not finished" in t for t in texts)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_undominated_points(points):
    rows = [{"params": p, "accuracy": a / 20} for p, a in points]
    front = _pareto(rows, "accuracy", "params")
    assert [r["params"] for r in front] == sorted(r["params"] for r in front)
    for row in rows:
        dominated = any(o["params"] <= row["params"] and o["accuracy"] >= row["accuracy"]
                        and (o["params"], o["accuracy"]) != (row["params"], row["accuracy"]) for o in rows)
        on_front = any((f["params"], f["accuracy"]) == (row["params"], row["accuracy"]) for f in front)
        assert on_front != dominated


@pytest.mark.parametrize("module", ["cli/inspect", "inspect/text", "inspect/graph", "inspect/report"])
def test_matplotlib_and_networkx_are_imported_only_inside_functions(module):
    import evospace

    source = (Path(evospace.__file__).parent / f"{module}.py").read_text()
    top_level = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in top_level if isinstance(node, ast.ImportFrom)]
    assert not [name for name in names if name.split(".")[0] in ("matplotlib", "networkx")]


def test_report_headings_and_captions_name_what_the_plots_show(run, tmp_path):
    page = write_html(run, lineage_graph(run), tmp_path / "report.html").read_text()
    objective = run.space.config.search.objectives[0]
    assert objective != "accuracy"  # the default: the calibrated score
    assert "Accuracy against size" not in page and "accuracy score per round" not in page
    assert f"The best against size ({objective})" in page and f"{objective} against size for the last" in page


def test_figures_name_operators_as_everything_else_does(run):
    graph = lineage_graph(run)
    ops = {data["op"] for data in graph.nodes.values()}
    legend = plot_op_scores(graph, "score").legends[0]
    shown = {text.get_text() for text in legend.get_texts()} - {"removed after this round"}
    assert shown and shown <= ops
    labels = {text.get_text() for ax in plot_front(run).axes for text in (ax.get_legend().get_texts()
                                                                           if ax.get_legend() else [])}
    assert sum("front" in label for label in labels) == 0  # one line and the kept best, not two "fronts"
