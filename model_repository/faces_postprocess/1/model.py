"""Python-backend adapter: the detection postprocessing (head, NMS, original pixels), configured by config.pbtxt."""

from rawvision.backend.detect_postprocess import TritonPythonModel

__all__ = ["TritonPythonModel"]
