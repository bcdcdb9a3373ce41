# Two commands on a fresh machine: `make demo` and `make test` (each sets up .venv first if missing).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
export HF_HUB_OFFLINE ?= 1

.PHONY: install demo test test-fast test-browser notebooks lessons book bench dist gpu-check results-docs check-docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install            ## the label-agnostic story in ~5 min on 2 cores (cold cache): runs/demo-*/report.html
	$(VENV)/bin/ucs-lite demo $(ARGS)

test: install            ## unit tests + the notebooks (nbval)
	$(PY) -m pytest -q tests
	UCS_LITE_STRICT=1 $(PY) -m pytest -q --nbval-lax notebooks/   # strict: a failed claim fails CI (students' runs only report it)

test-browser: install    ## JupyterLab in headless Chromium: notebook 03 at a tiny size, drag the ε slider (apt-get install chromium)
	$(PY) -c "import playwright" 2>/dev/null || $(PY) -m pip install -q -e ".[browser]"
	UCS_LITE_BROWSER=1 $(PY) -m pytest -q -rs -s tests/test_browser.py

test-fast: install
	$(PY) -m pytest -q tests -m "not slow"

notebooks: install       ## execute every notebook with papermill into runs/<timestamp>/ (ARGS="-p epochs 2")
	$(VENV)/bin/ucs-lite notebooks $(ARGS)

lessons: install         ## run the six notebooks (default profile) and ship executed copies + MANIFEST.json in lessons/ (tiny: ARGS="-p epochs 1 --out /tmp/l --allow-dirty 01")
	$(PY) tools/ship_lessons.py $(ARGS)

book: install            ## offline site of the shipped lessons/ (else the newest runs/), nothing executed -> runs/book/index.html
	$(PY) -c "import myst_nb" 2>/dev/null || $(PY) -m pip install -q -e ".[book]"
	$(PY) tools/build_book.py $(ARGS)

# the docs generator reads JSON only (stdlib): the venv's python when there is one, else python3; no install needed
DOCS_PY := $(if $(wildcard $(PY)),$(PY),python3)

results-docs:            ## rewrite every generated table / value in README.md, docs/*.md and the notebooks' markdown from benchmarks/results/*.json
	$(DOCS_PY) tools/docs_tables.py

check-docs:              ## fail (with a diff) when README.md / docs/*.md / the notebooks' markdown differ from benchmarks/results/*.json; CI runs it
	$(DOCS_PY) tools/docs_tables.py --check

bench: install
	$(PY) benchmarks/bench_features.py --quick
	$(PY) benchmarks/bench_craft.py --quick

dist: install            ## wheel + sdist in dist/ (both carry ucs_lite/assets/, the embedded sample)
	rm -rf dist build
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .
	$(PY) -c "from setuptools import build_meta as b; print(b.build_sdist('dist'))"
	ls -l dist

gpu-check: install       ## every notebook at a tiny size + throughput probes on the GPU -> runs/gpu_check.json
	$(PY) benchmarks/gpu_check.py --device cuda --out runs/gpu_check.json $(ARGS)

clean:
	rm -rf runs .pytest_cache dist build
