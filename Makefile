# The README's commands. Each one runs the idempotent set-up first.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test test-quick demo study study-report

setup:
	bash tools/setup_env.sh

# One pytest-xdist worker per CPU core, whole test files per worker (their
# module fixtures are built once), in the order tests/conftest.py gives
# them (the files with end-to-end runs first); PYTEST_WORKERS=0 runs in
# this process.
# pytest exits 5 when it collected no test: that must fail, not pass.
PYTEST_WORKERS ?= auto
test: setup
	$(PY) -m pytest tests -ra -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	  exit $$rc; }

# The quick tier, for use while working: every module, without the
# end-to-end runs and the deeper variants marked slow (make test runs all).
test-quick: setup
	$(MAKE) test PYTEST_ARGS='-m "not slow" $(PYTEST_ARGS)'

# The main job: the neuron-allocation pipeline on scikit-learn's digits.
demo: setup
	$(PY) tools/allocation_study.py configs/studies/digits.py --work-dir work_dirs/demo

# The allocation study on Fashion-MNIST (CPU protocol, about 4 hours on 2
# cores; resumes where it stopped). Needs the Debian package
# dataset-fashion-mnist or the files (see tools/prepare_fashion_mnist.py).
study: setup
	$(PY) tools/prepare_fashion_mnist.py
	$(PY) tools/allocation_study.py configs/studies/fashion-mnist-cpu.py

study-report: setup
	$(PY) tools/allocation_study.py configs/studies/fashion-mnist-cpu.py --report --update-doc docs/study.md
