"""The stubs' Python honours PYTHONPATH (a worktree's sources) before the venv, though it starts isolated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rawvision.server.embedded import server_environment, stub_prefix


def test_stub_prefix_puts_the_python_path_before_this_venv(tmp_path: Path) -> None:
    sources = tmp_path / "src"
    sources.mkdir()
    python_bin = stub_prefix(tmp_path / "work", str(sources))
    # What the stub does: find python3 on PATH and take the venv around it as its prefix, ignoring PYTHONPATH.
    result = subprocess.run([str(python_bin / "python3"), "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                            capture_output=True, text=True, check=True)
    path = json.loads(result.stdout)
    own = next(p for p in sys.path if p.endswith("site-packages"))
    assert path.index(str(sources.resolve())) < path.index(own)


def test_without_pythonpath_the_stubs_use_this_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env = server_environment(tmp_path)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert not (tmp_path / "stub-python").exists()
