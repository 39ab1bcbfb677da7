"""The package layout: imports run one way (cli → tools → server/backend → core), clients stand alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "rawvision"

# Which layers each layer may import. The core is the package root (imaging, transforms, ...), ocr/ and detection/.
CORE_FOLDERS = {"ocr", "detection"}
CORE = {"core"}
TOOLS = {"pipelines", "export", "train", "loadtest"}
ALLOWED = {
    "core": CORE,
    "backend": CORE | {"backend"},
    "server": CORE | {"server"},
    "testing": CORE | {"testing"},
    "client": {"client"},
    **{tool: CORE | {"backend", "server", "client", "testing"} | TOOLS for tool in TOOLS},
    "cli": CORE | {"backend", "server", "client", "testing", "cli"} | TOOLS,
}


def layer(module: str) -> str:
    """The layer of a ``rawvision`` module name: its sub-package, or ``core`` for the root, ocr/ and detection/."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in CORE_FOLDERS or not (PACKAGE / parts[1]).is_dir():
        return "core"
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every module that ``path`` imports, at the top or inside functions (``from m import x`` gives m.x too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_layers_are_the_folders() -> None:
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert folders - CORE_FOLDERS == set(ALLOWED) - {"core"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_run_one_way(path: Path) -> None:
    own = layer(module_name(path))
    wrong = [name for name in imports(path)
             if name.split(".")[0] == "rawvision" and layer(name) not in ALLOWED[own]]
    assert not wrong, f"{own} module imports {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_only_the_backend_imports_the_stub_utilities_and_nothing_imports_tests(path: Path) -> None:
    names = imports(path)
    assert not [name for name in names if name.split(".")[0] in {"tests", "bench"}]
    if layer(module_name(path)) != "backend":
        assert "triton_python_backend_utils" not in names


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_module_opens_with_one_line_saying_what_it_is_for(path: Path) -> None:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring, "no module docstring"
    first = docstring.splitlines()[0]
    assert first.endswith((".", ":", ")")), f"the first line is not a sentence: {first!r}"


def test_the_layer_check_sees_a_wrong_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from rawvision.cli.main import main\nimport rawvision.server.embedded\n")
    assert [layer(name) for name in imports(bad) if name.startswith("rawvision")] == ["cli", "cli", "server"]
    assert "server" not in ALLOWED["backend"] and "cli" not in ALLOWED["server"]


@pytest.mark.parametrize("name", sorted(path.name for path in (PACKAGE / "client").glob("*_client.py")))
def test_a_client_works_as_one_copied_file(tmp_path: Path, name: str) -> None:
    copy = tmp_path / name
    copy.write_text((PACKAGE / "client" / name).read_text(encoding="utf-8"), encoding="utf-8")
    # rawvision is made unimportable, so the copy can lean on nothing but its own lines and its libraries.
    code = (f"import runpy, sys; sys.modules['rawvision'] = None; sys.argv = [{str(copy)!r}, '--help']; "
            f"runpy.run_path({str(copy)!r}, run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout
