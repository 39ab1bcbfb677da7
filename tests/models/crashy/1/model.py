"""Test-only Python-backend model: aborts the server that loads it (SIGABRT, as the shm lock abort does)."""

import os
import signal


class TritonPythonModel:
    def initialize(self, args):
        os.kill(os.getppid(), signal.SIGABRT)

    def execute(self, requests):
        return []
