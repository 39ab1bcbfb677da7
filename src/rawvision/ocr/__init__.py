"""OCR with PP-OCR-style models: detection pre/postprocessing, crops and CTC decoding as pure functions.

The models (PP-OCRv4 DB detection and CTC recognition) come from the ``rapidocr-onnxruntime`` wheel;
everything around them lives here so the Triton steps, the exporter, the benchmark and the tests share it.
"""
