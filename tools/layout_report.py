"""Module sizes, import cycles and function-level imports of the ``workbench`` package.

    python tools/layout_report.py            # a table, then the cycles (none, we hope)
    python tools/layout_report.py --check    # exit 1 on a cycle or a module over the size limit

Imports are read with ``ast`` (nothing is imported). An edge ``a -> b`` is a
module-level ``import``/``from`` of ``b`` in ``a`` outside ``if TYPE_CHECKING:``;
imports inside functions are counted apart, since they are how a real cycle
is broken (each should say so) or how an optional dependency stays lazy.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "workbench"
#: Modules longer than this are reported by --check (the issue's "none over ~400 lines" for the state).
SIZE_LIMIT = 800


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(importer: str, is_package: bool, node: ast.ImportFrom | ast.Import) -> list[str]:
    """Absolute ``workbench.*`` module names an import statement refers to."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.startswith("workbench")]
    base_parts = importer.split(".") if is_package else importer.split(".")[:-1]
    if node.level:
        base_parts = base_parts[: len(base_parts) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if not base.startswith("workbench"):
        return []
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _in_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def scan(path: Path, modules: set[str]) -> tuple[set[str], list[tuple[int, str]]]:
    """(module-level imports, [(line, target)] of imports inside functions)."""
    name = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top: set[str] = set()
    inner: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _in_type_checking(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                targets = [t for t in resolve(name, is_package, child) if t in modules and t != name]
                submodules = [t for t in targets[1:]] if isinstance(child, ast.ImportFrom) else []
                targets = submodules or targets[:1] if isinstance(child, ast.ImportFrom) else targets
                if in_function:
                    inner.extend((child.lineno, t) for t in targets)
                else:
                    top.update(targets)
                continue
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top, inner


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            strong(v)
    return found


def package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges without those from a package's ``__init__`` to its own submodules (re-exports, not cycles)."""
    return {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 on a cycle or an oversized module")
    args = parser.parse_args()
    files = sorted(ROOT.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph: dict[str, set[str]] = {}
    runtime: dict[str, set[str]] = {}
    inner_total = 0
    print(f"{'module':<40} {'lines':>6} {'inner imports':>14}")
    oversized = []
    for f in files:
        top, inner = scan(f, modules)
        name = module_name(f)
        graph[name] = top
        runtime[name] = top | {t for _, t in inner}
        lines = len(f.read_text(encoding="utf-8").splitlines())
        inner_total += len(inner)
        if lines > SIZE_LIMIT:
            oversized.append(name)
        print(f"{name:<40} {lines:>6} {len(inner):>14}")
    found = cycles(package_edges(graph))
    lazy = [c for c in cycles(package_edges(runtime)) if c not in found]
    print(f"\n{len(files)} modules, largest {max(len(f.read_text().splitlines()) for f in files)} lines; "
          f"{inner_total} imports of sibling modules inside functions; "
          f"{len(found)} import cycle(s){': ' if found else ''}{'; '.join(' <-> '.join(c) for c in found)}; "
          f"{len(lazy)} more through imports inside functions{': ' if lazy else ''}"
          f"{'; '.join(' <-> '.join(c) for c in lazy)}")
    if args.check and (found or oversized):
        if oversized:
            print(f"over {SIZE_LIMIT} lines: {', '.join(oversized)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
