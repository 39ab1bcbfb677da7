"""rawvision: image pipelines on NVIDIA Triton, raw JPEG/PNG bytes in, answers out.

The package root is the pure core (decoding, preprocessing specs, classification, presets, errors, the typed
parameter parser, model-repository files) that every other package imports. The sub-packages say where their
code runs: ``backend`` inside Triton's Python stub, ``server`` beside the server, ``client`` on the user's
machine, ``cli`` in the ``rawvision`` command; ``pipelines``, ``export``, ``train``, ``loadtest`` and ``testing``
are the tools between them. Imports run one way: cli → loadtest/pipelines/export/train → server/backend → core.
"""

__version__ = "0.1.0"
