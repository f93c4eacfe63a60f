"""The package's layers hold: the import contracts in pyproject.toml are kept, and no
module imports, however indirectly, a module that imports it back.

Both read the import graph of the source tree (grimp), which counts imports inside
functions and under ``TYPE_CHECKING``: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

import hermes_nb

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept() -> None:
    """``lint-imports`` with the ``[tool.importlinter]`` contracts of pyproject.toml."""
    assert Path(hermes_nb.__file__).resolve().parent == ROOT / "hermes_nb"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Contracts: 4 kept, 0 broken." in report, report


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's components with more than one module, each sorted (iterative: no
    recursion limit on a deep import chain)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.find_modules_directly_imported_by(target)))))
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _one_cycle(graph: grimp.ImportGraph, component: list[str]) -> str:
    """A shortest cycle through the component's first module, with line numbers."""
    first = component[0]
    members = set(component)
    loops = []
    for nxt in graph.find_modules_directly_imported_by(first) & members:
        chain = graph.find_shortest_chain(importer=nxt, imported=first)
        if chain is not None:
            loops.append((first, *chain))
    loop = min(loops, key=len)
    steps = []
    for importer, imported in zip(loop, loop[1:], strict=False):
        lines = sorted({d["line_number"] for d in graph.get_import_details(importer=importer, imported=imported)})
        steps.append(f"    {importer} -> {imported} (line {', '.join(map(str, lines))})")
    return "\n".join(steps)


def test_strongly_connected_finds_a_cycle_and_only_it() -> None:
    """The component search itself, on a small graph: a -> b -> c -> a, c -> d."""
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
    assert _strongly_connected(graph) == [["p.a", "p.b", "p.c"]]
    assert _one_cycle(graph, ["p.a", "p.b", "p.c"]).splitlines() == [
        "    p.a -> p.b (line 1)",
        "    p.b -> p.c (line 1)",
        "    p.c -> p.a (line 1)",
    ]


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(
        "hermes_nb",
        include_external_packages=False,
        exclude_type_checking_imports=False,
        cache_dir=None,
    )
    assert "hermes_nb.kernel.magics" in graph.modules  # the tree was read
    cycles = _strongly_connected(graph)
    report = "\n\n".join(
        f"modules that import each other: {', '.join(c)}\n  for example:\n{_one_cycle(graph, c)}"
        for c in cycles
    )
    assert not cycles, "import cycles in hermes_nb:\n\n" + report
