# Production image: NVIDIA's Triton 24.10 release (Triton 2.51, the version of the embedded server;
# Ubuntu 22.04 with Python 3.10) serving model_repository/ with its native backends: ONNX Runtime and
# PyTorch (libtorch) for the core models (default config names, so configs/embedded.pbtxt is not used), and
# the Python backend for the pre- and postprocessing models, which import the rawvision package below.
#
# The model files are built, not committed: run `make models` before `docker build -t rawvision .`.
FROM nvcr.io/nvidia/tritonserver:24.10-py3

WORKDIR /opt/rawvision
COPY pyproject.toml README.md ./
COPY src ./src
# Into the container's own Python, which the Python-backend stub runs. numpy < 2 as for the embedded
# server (nvidia-pytriton 0.7 requires it); no extras: serving needs numpy, Pillow and the Triton protobufs.
RUN python3 -m pip install --no-cache-dir "numpy<2" . \
 && python3 -c "import rawvision.transforms, rawvision.classify, rawvision.repository"

COPY model_repository /models

EXPOSE 8000 8001 8002
# Explicit model control, loading every model at start as the embedded server does
# (rawvision.server.embedded.startup_models): an ensemble brings its composing models, but ocr_lines calls
# ocr_recognize through BLS, which no ensemble declares. Operators then load or unload through the
# model-repository API.
ENTRYPOINT ["tritonserver", "--model-repository=/models", "--model-control-mode=explicit", \
            "--load-model=*", "--strict-readiness=true"]
