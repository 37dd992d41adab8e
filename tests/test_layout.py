"""The layering rules hold in the real tree, and the checker does catch each kind of breach."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT
from tests.import_rules import import_graph, violations


def test_engines_and_app_follow_the_import_rules():
    assert violations(REPO_ROOT) == []


def test_the_checker_sees_the_real_tree():
    graph = import_graph(REPO_ROOT)
    assert "engines.core.optim" in graph["engines.core.trainer"]
    assert "engines.io.checkpoint" in graph["engines.models.faces.model"]
    assert "gradio" in graph["app.ui"]


def write_tree(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


CLEAN = {
    "engines/__init__.py": "",
    "engines/io/__init__.py": "",
    "engines/io/files.py": "import json\n",
    "engines/core/__init__.py": "",
    "engines/core/optim.py": "from engines.io.files import json\n",
    "engines/models/__init__.py": "",
    "engines/models/gen.py": "from engines.core import optim\n",
    "engines/bench/__init__.py": "",
    "engines/bench/run.py": "from engines.models.gen import x\n",
    "app/__init__.py": "",
    "app/ui.py": "import gradio\nfrom engines.bench.run import x\n",
}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "engines/io/files.py",
            "def f():\n    from engines.core.optim import step\n",
            "engines.io may import only nothing else",
        ),
        ("engines/core/optim.py", "from engines.models.gen import G\n", "engines.core may import only ['engines.io']"),
        ("engines/models/gen.py", "from engines.bench import run\n", "engines.models may import only"),
        ("engines/core/optim.py", "import plotly.graph_objects as go\n", "engines never import the UI"),
        ("engines/bench/run.py", "from app import ui\n", "engines never import the UI"),
        ("engines/core/optim.py", "from . import losses\n", "import circle"),
    ],
)
def test_the_checker_reports_each_breach(tmp_path, name, text, message):
    write_tree(tmp_path, CLEAN)
    assert violations(tmp_path) == []
    write_tree(tmp_path, {name: text, "engines/core/losses.py": "from engines.core.optim import step\n"})
    found = violations(tmp_path)
    assert any(message in line for line in found), found
