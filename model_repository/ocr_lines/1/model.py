"""Python-backend adapter: OCR boxes, crops, recognition (BLS) and CTC decoding, configured by config.pbtxt."""

from rawvision.backend.ocr import OcrLines as TritonPythonModel

__all__ = ["TritonPythonModel"]
