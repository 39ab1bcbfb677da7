"""The ``rawvision`` command: argument parsing and the glue that calls the packages below it."""
