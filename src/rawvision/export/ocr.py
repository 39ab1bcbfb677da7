"""Copy the PP-OCRv4 detection and recognition models from the ``rapidocr-onnxruntime`` wheel.

Only the model files come from that wheel (Apache-2.0). Their tensors are renamed to say what they hold
(``x`` → ``detection_input`` / ``recognition_input``, the outputs → ``probability_map`` /
``character_probs``), the recogniser's character dictionary (ONNX metadata ``character``) is written as
``ocr_lines/characters.txt``, and the recogniser gets two versions: N as shipped, N+1 the same network
after ONNX Runtime's offline graph optimisation (constant folding, node fusions), checked to agree
with version N (the ``ocr`` family's parity check).
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from rawvision.export.family import Candidate, Conversion, Family, PendingFile, Request, Target

LOGGER = logging.getLogger(__name__)
WHEEL = "rapidocr_onnxruntime"
DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"
RECOGNIZER_FILE = "ch_PP-OCRv4_rec_infer.onnx"
DETECTOR, RECOGNIZER, LINES = "ocr_detect", "ocr_recognize", "ocr_lines"
DICTIONARY_FILENAME = "characters.txt"


def wheel_models() -> Path:
    """The ``models`` folder of the installed ``rapidocr-onnxruntime`` wheel."""
    spec = importlib.util.find_spec(WHEEL)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{WHEEL} is not installed: pip install --no-deps rapidocr-onnxruntime==1.4.4")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def rename_tensors(model: onnx.ModelProto, names: dict[str, str]) -> onnx.ModelProto:
    """Rename graph inputs/outputs (and every node reference to them) by ``names``."""
    graph = model.graph
    for value in [*graph.input, *graph.output]:
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    onnx.checker.check_model(model)
    return model


def _load_renamed(path: Path, input_name: str, output_name: str) -> onnx.ModelProto:
    model = onnx.load(str(path))
    (old_input,) = [i.name for i in model.graph.input]
    (old_output,) = [o.name for o in model.graph.output]
    return rename_tensors(model, {old_input: input_name, old_output: output_name})


def dictionary(model: onnx.ModelProto) -> list[str]:
    """The recogniser's characters from its ``character`` metadata (one per line)."""
    meta = {p.key: p.value for p in model.metadata_props}
    if "character" not in meta:
        raise ValueError(f"the recogniser has no 'character' metadata; keys: {sorted(meta)}")
    return str(meta["character"]).split("\n")


def optimized(model: onnx.ModelProto) -> bytes:
    """The model after ONNX Runtime's basic (portable, standard-ops-only) offline graph optimisation."""
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return Path(options.optimized_model_filepath).read_bytes()


def recognizer_inputs(request: Request) -> Candidate:
    """No network to build: the batch (2 random text-line crops) the two recogniser versions are compared on."""
    del request
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 48, 320)).astype(np.float32)
    return Candidate(None, batch)


def _agreement(first: bytes, second: bytes, input_name: str, batch: np.ndarray) -> float:
    outputs = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {input_name: batch})[0]
               for m in (first, second)]
    return float(np.abs(outputs[0] - outputs[1]).max())


def convert(family: Family, target: Target, candidate: Candidate, version: int, request: Request) -> Conversion:
    """Both networks (recogniser as versions ``version`` and ``version + 1``) and the dictionary, not yet written."""
    del target, request
    source = wheel_models()
    detector = _load_renamed(source / DETECTOR_FILE, "detection_input", "probability_map")
    recognizer = _load_renamed(source / RECOGNIZER_FILE, family.input_name, family.output_name)
    characters = dictionary(recognizer)
    shipped = recognizer.SerializeToString()
    faster = optimized(recognizer)
    difference = _agreement(shipped, faster, family.input_name, candidate.inputs)
    files = (PendingFile(DETECTOR, version, "model.onnx", detector.SerializeToString()),
             PendingFile(RECOGNIZER, version, "model.onnx", shipped),
             PendingFile(RECOGNIZER, version + 1, "model.onnx", faster),
             PendingFile(LINES, None, DICTIONARY_FILENAME, ("\n".join(characters) + "\n").encode()))
    return Conversion(files, difference, f"recogniser version {version + 1} (optimised) vs {version} "
                      f"({len(characters)} characters)")
