"""Python-backend adapter: the shared classification postprocessing, configured by config.pbtxt."""

from rawvision.backend.postprocess import TritonPythonModel

__all__ = ["TritonPythonModel"]
