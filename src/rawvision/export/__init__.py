"""Training and export: data → train or load weights → export → check → write a repository version.

Needs the ``train`` extra (PyTorch, ONNX); nothing in the serving path imports this package.
"""
