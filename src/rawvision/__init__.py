"""rawvision: image pipelines on NVIDIA Triton, raw JPEG/PNG bytes in, answers out.

The package holds the pure, server-free pieces (decoding, preprocessing specs, classification
postprocessing) that the Python-backend models, the exporters, the CLI and the tests all share.
"""

__version__ = "0.1.0"
