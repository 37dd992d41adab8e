"""The layering rules of ``engines/`` and ``app/``, read from the source (every import, also inside functions).

Rules (``../shared/STYLE.md``, "Our shape"):
- ``engines.io`` imports no other engines package;
- ``engines.core`` imports only ``engines.io`` (and itself);
- ``engines.models`` imports only ``engines.core`` and ``engines.io`` (and itself);
- ``engines.bench`` / ``engines.train`` / ``engines.invert`` may import all of engines;
- nothing in ``engines`` imports ``app`` or a UI library (gradio, plotly);
- no import circles among the modules of ``engines`` and ``app``.
"""

from __future__ import annotations

import ast
from pathlib import Path

UI_LIBRARIES = ("gradio", "plotly")
# package -> the engines packages it may import (besides itself)
ALLOWED = {
    "engines.io": set(),
    "engines.core": {"engines.io"},
    "engines.models": {"engines.core", "engines.io"},
}
PACKAGES = ("engines.io", "engines.core", "engines.models", "engines.bench", "engines.train")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an AST imports, relative imports resolved, ``from a import b`` as ``a.b`` too."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path, top_levels=("engines", "app")) -> dict[str, set[str]]:
    """Module -> the project modules it imports, for every ``.py`` under ``root/<top_level>``."""
    files = {}
    for top in top_levels:
        for path in sorted((root / top).rglob("*.py")):
            files[module_name(root, path)] = path
    graph = {}
    for module, path in files.items():
        names = imported_names(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py")
        graph[module] = {name for name in names if name in files and name != module}
        graph[module] |= {name for name in names if name.split(".")[0] in UI_LIBRARIES}
    return graph


def package_of(module: str) -> str | None:
    return next((package for package in PACKAGES if module == package or module.startswith(package + ".")), None)


def violations(root: Path) -> list[str]:
    """Human-readable breaches of the rules above (empty when the tree is clean)."""
    graph = import_graph(root)
    found = []
    for module, imports in sorted(graph.items()):
        if not module.startswith("engines"):
            continue
        own = package_of(module)
        for name in sorted(imports):
            if name.split(".")[0] in UI_LIBRARIES or name.split(".")[0] == "app":
                found.append(f"{module} imports {name}: engines never import the UI")
                continue
            target = package_of(name)
            if own in ALLOWED and target not in (own, None) and target not in ALLOWED[own]:
                found.append(f"{module} imports {name}: {own} may import only {sorted(ALLOWED[own]) or 'nothing else'}")
    found += [f"import circle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative path per strongly connected component with more than one module."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for neighbour in graph.get(node, ()):
            if neighbour not in graph:
                continue
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result
