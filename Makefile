# The README's commands. Each one runs the idempotent set-up first.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test demo

setup:
	bash tools/setup_env.sh

# pytest exits 5 when it collected no test: that must fail, not pass.
test: setup
	$(PY) -m pytest tests -ra $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	  exit $$rc; }

# The main job: the neuron-allocation pipeline on scikit-learn's digits.
demo: setup
	$(PY) tools/demo_allocation.py --work-dir work_dirs/demo
