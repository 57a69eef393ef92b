# make run   serve the portal on 127.0.0.1:$(PORT) (default 8000) with its embedded defaults
# make test  install what the tests need (packages, Swift all-in-one) and run the whole suite
# make bench the upload/download benchmark (bench/README.md)
PYTHON ?= python3
VENV ?= .venv

.PHONY: run test bench screenshots

$(VENV)/.installed-runtime: pyproject.toml constraints.txt
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/venv runtime

$(VENV)/.installed-test: pyproject.toml constraints.txt
	scripts/system-packages
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/venv test

run: $(VENV)/.installed-runtime
	VENV=$(VENV) scripts/run

test: $(VENV)/.installed-test
	VENV=$(VENV) scripts/test

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/upload_download.py

screenshots: $(VENV)/.installed-test
	UPDATE_SCREENSHOTS=1 $(VENV)/bin/python -m pytest -q tests/browser
