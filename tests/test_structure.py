"""The package's shape holds: imports only run down the layers, never in a cycle.

    cli → stages (train, evaluation, generation, export, pipeline, tokenizer) → tasks
        → models / data / metrics → config, outputs, writable → errors

Every import counts, at module top or inside a function: a function-level import is a dependency
all the same. A module may import its own layer or any layer below it, never one above.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "llmkit"

LAYERS: list[tuple[str, ...]] = [  # bottom first
    ("llmkit", "llmkit.errors"),
    ("llmkit.config", "llmkit.outputs", "llmkit.writable"),
    ("llmkit.models", "llmkit.data", "llmkit.metrics"),
    ("llmkit.tasks",),
    (
        "llmkit.train",
        "llmkit.evaluation",
        "llmkit.generation",
        "llmkit.export",
        "llmkit.pipeline",
        "llmkit.tokenizer",
    ),
    ("llmkit.cli", "llmkit.__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The llmkit module an import names (a module, or the package that holds the name)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every llmkit module `module` imports, anywhere in its source."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            # `from llmkit.x import y` imports module llmkit.x.y when y is one
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for name in names:
            if name == "llmkit" or name.startswith("llmkit."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _layer(module: str) -> int:
    best, depth = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best is not None, f"{module} is in no layer; add it to LAYERS"
    return best


def _unit(module: str) -> str:
    """The package-level unit of a module: llmkit.train.loop → llmkit.train."""
    return ".".join(module.split(".")[:2])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path, or None."""
    visiting, done = set(), set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        visiting.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in visiting:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in done:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        visiting.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_every_module_is_in_a_layer():
    for module in _modules():
        _layer(module)


def test_no_import_runs_up_the_layers():
    upward = [
        f"{source} (layer {_layer(source)}) imports {target} (layer {_layer(target)})"
        for source, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) > _layer(source)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_module_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_no_package_import_cycle():
    """Packages of one layer may import each other, but never both ways round."""
    packages: dict[str, set[str]] = {}
    for source, targets in _graph().items():
        if _unit(source) == "llmkit":
            continue
        deps = {_unit(t) for t in targets if _unit(t) not in ("llmkit", _unit(source))}
        packages.setdefault(_unit(source), set()).update(deps)
    cycle = _cycle(packages)
    assert cycle is None, "package import cycle: " + " → ".join(cycle)


def test_the_check_sees_a_function_level_upward_import(tmp_path):
    """The walker must see imports inside functions, where the old upward ones hid."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from llmkit.train.loop import train\n", encoding="utf-8")
    modules = _modules()
    assert _imports("llmkit.models.m", source, modules) == {"llmkit.train.loop"}


MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_files_and_functions_stay_small():
    """Files of at most 400 lines and functions of at most 60 (def line to last line)."""
    too_big = []
    for module, path in _modules().items():
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_FILE_LINES:
            too_big.append(f"{module}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{module}.{node.name} (line {node.lineno}): {length} lines")
    assert not too_big, "over the size limits:\n" + "\n".join(too_big)
