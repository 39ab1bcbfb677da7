# Two commands do everything on a fresh machine:
#   make demo   set up .venv, export missing models, start the embedded Triton server, classify samples
#   make test   set up the same way, lint and type-check, run unit and integration tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REPO := model_repository
MODELS := $(REPO)/mnist_onnx/1/model.onnx

.PHONY: setup models demo test lint unit integration serve clean-models

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/.installed

$(REPO)/mnist_onnx/1/model.onnx: | $(BIN)/.installed
	$(BIN)/rawvision export mnist --repository $(REPO)

models: $(MODELS)

demo: setup models
	$(BIN)/rawvision demo --repository $(REPO)

serve: setup models
	$(BIN)/rawvision serve --repository $(REPO)

lint: setup
	$(BIN)/ruff check src client tests model_repository
	$(BIN)/mypy

unit: setup models
	$(BIN)/pytest tests/unit

test: setup models lint
	$(BIN)/pytest tests

clean-models:
	rm -f $(MODELS)
