"""The one exception type that means "this request's input is wrong"."""


class InputError(ValueError):
    """A client sent something the pipeline cannot use; the message says what and what was expected.

    Python-backend adapters turn it into a per-request ``INVALID_ARG`` error; anything else that goes
    wrong is a server fault (``INTERNAL``).
    """
