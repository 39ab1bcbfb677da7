"""The one exception type that means "this request's input is wrong"."""


class InputError(ValueError):
    """A client sent something the pipeline cannot use; the message says what and what was expected.

    Python-backend adapters turn it into a per-request ``INVALID_ARG`` error; anything else that goes
    wrong is a server fault (``INTERNAL``).
    """


class DependencyError(RuntimeError):
    """A model that this step calls itself (Python-backend BLS) failed or is not loaded.

    Adapters answer the affected requests with ``UNAVAILABLE`` and this message, which names the model,
    so a client can tell "retry later" from "your input is wrong".
    """
