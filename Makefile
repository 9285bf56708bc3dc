# `make demo` and `make test` do all the set-up on a fresh machine, then run the main job / the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# the CPU build of torch lies on this machine's disk; a bare `torch` requirement would pull CUDA (GBs)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/evospace search spaces/mnist1d.yaml --out runs/demo

# one worker per core (pytest-xdist): every test runs torch on one thread, and the torchrun tests mostly wait
test: $(STAMP)
	$(PY) -m pytest -n auto tests

lint: $(STAMP)
	$(VENV)/bin/ruff check evospace tests bench

bench-quick: $(STAMP)
	for f in bench/*.py; do $(PY) $$f --quick || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
