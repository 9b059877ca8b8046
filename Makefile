# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# The Python to build the environment with: 3.12 where the machine has one
# (jax 0.12), else 3.11 (jax 0.10); pyenv's installs count. PYTHON=... overrides.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 \
  python3.11 $$(pyenv root 2>/dev/null)/versions/3.11*/bin/python3.11 python3; do \
  $$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' \
  >/dev/null 2>&1 && { echo $$p; break; }; done)
endif
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench-test venv clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11 or 3.12 found (install one, or set PYTHON=...)"; exit 1; }
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); cosearch needs 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setting up $(VENV) with Python $$($(PY) -c 'import platform; print(platform.python_version())') ($$($(PY) -c 'import sys; print(sys._base_executable)'))"
	@have=$$($(PY) -c 'import platform; print(platform.python_version())'); \
	  want=$$($(PYTHON) -c 'import platform; print(platform.python_version())'); \
	  [ "$$have" = "$$want" ] || echo "note: $(VENV) keeps its Python $$have; 'make clean' rebuilds it with $(PYTHON) ($$want)"
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.search --config=experiments/configs/default.py:demo --workdir=runs/default

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

# The PyTorch-peer benchmark tests (torch is a benchmark peer, not installed
# by `make test`).
bench-test: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m pytest tests/benchmarks

clean:
	rm -rf $(VENV)
