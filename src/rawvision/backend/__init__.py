"""Code that runs inside Triton's Python-backend stub: the step models and their adapters.

Only this package imports ``triton_python_backend_utils``; it imports nothing but the core and itself.
"""
