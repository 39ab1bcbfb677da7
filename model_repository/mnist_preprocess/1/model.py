"""Python-backend adapter: the shared preprocessing model, configured by config.pbtxt."""

from rawvision.backend.preprocess import TritonPythonModel

__all__ = ["TritonPythonModel"]
