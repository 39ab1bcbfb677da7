"""Test-only Python-backend model: sleeps as long as asked, through the shared execute_batched."""

import time

from rawvision.backend.adapters import ModelArgs, execute_batched, input_array


class TritonPythonModel:
    def initialize(self, args):
        self.timeout = ModelArgs(args).execute_timeout

    def execute(self, requests):
        return execute_batched(requests, lambda r: {"SECONDS": input_array(r, "SECONDS")}, self._sleep, self.timeout)

    def _sleep(self, arrays):
        time.sleep(float(arrays["SECONDS"].max()))
        return {"SLEPT": arrays["SECONDS"]}
