"""Copy the PP-OCRv4 detection and recognition models from the ``rapidocr-onnxruntime`` wheel.

Only the model files come from that wheel (Apache-2.0). Their tensors are renamed to say what they hold
(``x`` → ``detection_input`` / ``recognition_input``, the outputs → ``probability_map`` /
``character_probs``), the recogniser's character dictionary (ONNX metadata ``character``) is written as
``ocr_lines/characters.txt``, and the recogniser gets two versions: 1 as shipped, 2 the same network
after ONNX Runtime's offline graph optimisation (constant folding, node fusions), checked to agree
with version 1.
"""

from __future__ import annotations

import importlib.util
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from rawvision.repository import write_version

LOGGER = logging.getLogger(__name__)
WHEEL = "rapidocr_onnxruntime"
DETECTOR_FILE = "ch_PP-OCRv4_det_infer.onnx"
RECOGNIZER_FILE = "ch_PP-OCRv4_rec_infer.onnx"
DETECTOR, RECOGNIZER, LINES = "ocr_detect", "ocr_recognize", "ocr_lines"
DICTIONARY_FILENAME = "characters.txt"
VERSION_TOLERANCE = 1e-3


@dataclass(frozen=True)
class OcrExport:
    """What was written, and how closely the two recogniser versions agree."""

    paths: list[Path]
    characters: int
    version_max_difference: float


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


def _agreement(first: bytes, second: bytes, input_name: str) -> float:
    batch = np.random.default_rng(0).uniform(-1, 1, (2, 3, 48, 320)).astype(np.float32)
    outputs = [ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {input_name: batch})[0]
               for m in (first, second)]
    return float(np.abs(outputs[0] - outputs[1]).max())


def export_ocr(repository: Path) -> OcrExport:
    """Write both networks (recogniser in versions 1 and 2) and the dictionary into ``repository``."""
    source = wheel_models()
    detector = _load_renamed(source / DETECTOR_FILE, "detection_input", "probability_map")
    recognizer = _load_renamed(source / RECOGNIZER_FILE, "recognition_input", "character_probs")
    characters = dictionary(recognizer)
    shipped = recognizer.SerializeToString()
    faster = optimized(recognizer)
    difference = _agreement(shipped, faster, "recognition_input")
    if difference > VERSION_TOLERANCE:
        raise ValueError(f"optimised recogniser differs from the shipped one by {difference:.2e}")
    paths = [
        write_version(repository / DETECTOR, 1, "model.onnx", detector.SerializeToString()),
        write_version(repository / RECOGNIZER, 1, "model.onnx", shipped),
        write_version(repository / RECOGNIZER, 2, "model.onnx", faster),
    ]
    target = repository / LINES / DICTIONARY_FILENAME
    target.write_text("\n".join(characters) + "\n", encoding="utf-8")
    paths.append(target)
    return OcrExport(paths, len(characters), difference)
