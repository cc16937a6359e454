# Two commands do all the set-up on a fresh machine with Python 3.11 and pip:
#   make demo   simulate the demo cohort and run every stage that exists on it
#   make test   run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo
NJOBS ?= 2

.PHONY: demo test venv lint bench clean-demo docs test-lowest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

# --dist load: a worker that crashes becomes one failed test and the run goes on (with
# --dist loadgroup, pytest-xdist waits for ever on the crashed worker's group).
test: $(STAMP)
	$(BIN)/python -m pytest -n $(NJOBS) --dist load

# simulate -> extract -> train -> regime export -> explain -> report; each step reuses what the
# previous run left
# (the dataset is rebuilt only when its config changes; extraction is cached per participant).
demo: $(STAMP) $(DEMO_DIR)/dataset/ground_truth.json
	$(BIN)/backpheno extract configs/demo_extract.yaml
	$(BIN)/backpheno train configs/best_stage1.yaml --run-dir $(DEMO_DIR)/runs/best_stage1 --overwrite
	$(BIN)/backpheno export-regime $(DEMO_DIR)/features/features.parquet \
		$(DEMO_DIR)/features/outcomes.parquet --config configs/demo_regime.yaml \
		--run $(DEMO_DIR)/runs/best_stage1 --out $(DEMO_DIR)/runs/best_stage1/regime
	$(BIN)/backpheno explain $(DEMO_DIR)/runs/best_stage1 --permutations 19
	$(BIN)/backpheno report $(DEMO_DIR)/runs/best_stage1

$(DEMO_DIR)/dataset/ground_truth.json: configs/demo_simulate.yaml $(STAMP)
	$(BIN)/backpheno simulate --config configs/demo_simulate.yaml --out $(DEMO_DIR)/dataset --overwrite

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf $(DEMO_DIR)

# The documentation site (Sphinx + MyST): reference pages generated from the code, notebooks
# rendered with their stored outputs, warnings are errors. Output: docs/_build/html/index.html.
docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html -q docs docs/_build/html

# The quick suite on the lowest versions pyproject.toml allows: every direct dependency at its
# lower bound (uv's lowest-direct resolution), in a separate environment .venv-lowest.
LOWEST := .venv-lowest
test-lowest:
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet uv
	$(LOWEST)/bin/python -m uv pip compile pyproject.toml --extra dev \
		--resolution lowest-direct --python $(LOWEST)/bin/python -o $(LOWEST)/requirements.txt
	VIRTUAL_ENV=$(LOWEST) $(LOWEST)/bin/python -m uv pip install -r $(LOWEST)/requirements.txt
	VIRTUAL_ENV=$(LOWEST) $(LOWEST)/bin/python -m uv pip install --no-deps -e .
	$(LOWEST)/bin/python -m pytest -n $(NJOBS) --dist load
