"""Python-backend adapter: the detection preprocessing (decode, letterbox), configured by config.pbtxt."""

from rawvision.backend.detect_preprocess import TritonPythonModel

__all__ = ["TritonPythonModel"]
