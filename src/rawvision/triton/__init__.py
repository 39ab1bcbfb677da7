"""Everything that knows about Triton: the embedded server, repository configs, Python-backend adapters.

Only ``adapters`` and the model classes beside it import ``triton_python_backend_utils``, which exists
inside a Python-backend stub process alone; the rest imports anywhere.
"""
