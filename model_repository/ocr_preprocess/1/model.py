"""Python-backend adapter: OCR detection preprocessing, configured by config.pbtxt."""

from rawvision.backend.ocr import OcrPreprocess as TritonPythonModel

__all__ = ["TritonPythonModel"]
