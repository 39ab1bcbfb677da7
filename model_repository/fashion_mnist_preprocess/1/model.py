"""Python-backend adapter: the shared preprocessing model, configured by config.pbtxt."""

from rawvision.triton.preprocess import TritonPythonModel

__all__ = ["TritonPythonModel"]
