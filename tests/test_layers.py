"""Layers import downwards only: no wrapper or algorithm module imports DataJoint or the schema."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pose_pipeline"
# Wrapper and algorithm packages and modules: frames or arrays in, contracts out, no database.
PURE = [
    "detection",
    "keypoints",
    "tracking",
    "lifting",
    "bodymodels",
    "dlc",
    "video",
    "synthetic",
    "privacy.py",
    "visualize.py",
    "visualize_pose.py",
    "formats.py",
    "export",
    "imports",
    "registry.py",
    "stages.py",
    "skeletons.py",
    "resolvers.py",
    "weights.py",
    "onnx_session.py",
    "jsonable.py",
    "measures.py",
]
FORBIDDEN = ("datajoint", "pose_pipeline.schema")


def _modules() -> list[Path]:
    files = []
    for name in PURE:
        path = PACKAGE / name
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _imported(path: Path, package: str | None = None) -> list[str]:
    """Absolute names of every module ``path`` imports, anywhere in the file (function bodies too); relative
    imports resolve against ``package`` (default: the package ``path`` is in)."""
    package = package or ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_wrapper_imports_the_database(path):
    bad = [name for name in _imported(path) if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}: wrappers must not reach up into the database"


def test_the_check_sees_relative_imports(tmp_path):
    """The scan resolves ``from ..schema import x`` inside a subpackage (else the test above could not fail)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..schema.dlc_models import fetch_model\n")
    assert "pose_pipeline.schema.dlc_models" in _imported(probe, package="pose_pipeline.dlc")
    assert "pose_pipeline.resolvers" in _imported(PACKAGE / "dlc" / "estimator.py")


def test_importing_the_wrappers_loads_no_database_code():
    code = (
        "import sys; import pose_pipeline.keypoints, pose_pipeline.detection, pose_pipeline.tracking, "
        "pose_pipeline.privacy, pose_pipeline.dlc.estimator; "
        "print(sorted(m for m in sys.modules if m == 'datajoint' or m.startswith('pose_pipeline.schema')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
