"""The package structure as docs/architecture.md measures it: arrows against the layers, circles, largest module.

``python bench/structure.py [ROOT]`` reads the import statements (also those inside functions) of
``hr_assets`` and ``hr_api`` under ROOT (default: this checkout) and prints the counts. An arrow counts
against the layers when a module imports from a higher layer, ``hr_assets`` imports ``hr_api``, ``hr_api``
imports above the local layer, or one route module imports another.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("hr_assets", "hr_api")
# Layers of docs/architecture.md, the most specific prefix first; the API is apart (API_LAYER).
LAYERS: tuple[tuple[str, float], ...] = (
    ("hr_assets.settings", 0),
    ("hr_assets.warehouse", 1),
    ("hr_assets.local.instance", 4),
    ("hr_assets.local.backfill", 4),
    ("hr_assets.local.dagster_storage", 4),
    ("hr_assets.local.alerts", 4),
    ("hr_assets.local", 2),
    ("hr_assets.localdb", 2),
    # The study's rules (due days, flags, statuses): plain Python over the warehouse's wear records, which the
    # API applies as the CLI does; they import only settings and the warehouse.
    ("hr_assets.domain.study", 2),
    ("hr_assets.domain", 3),
    ("hr_assets.sources", 3),
    ("hr_assets.cli", 5),
    ("hr_api", 6),
    # The flat root of hr_assets before it was grouped (9cf5ba3), so that the figures compare.
    ("hr_assets.encryption", 1),
    ("hr_assets.transform", 3),
    ("hr_assets.quality", 3),
    ("hr_assets.planning", 3),
    ("hr_assets.ingest", 3),
    ("hr_assets.roster", 3),
    ("hr_assets.user_day", 3),
)
API_LAYER = 6
# What the API may import from hr_assets: settings, the warehouse, local operations without Dagster.
API_MAY_IMPORT_BELOW = 3
# The enrolment app (its own process, which writes) may use the domain and the OAuth protocol too, never Dagster.
ENROL_APP = "hr_api.enrol"
ENROL_MAY_IMPORT_BELOW = 4
# Arrows allowed against the layers, each with its reason. The export download loads the export's writers
# (pyarrow, polars) inside the route, when a download is asked for: `import hr_api.main` stays without them.
ALLOWED = {
    ("hr_api.routes.export", "hr_assets.domain.export"),
    ("hr_api.routes.export", "hr_assets.domain.export_runner"),
}
# Modules not named above (defs, resources, definitions, and the old flat root) are Dagster's layer.
DAGSTER_LAYER = 4


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def layer(module: str) -> float:
    for prefix, number in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return number
    return DAGSTER_LAYER


def arrows(found: dict[str, Path]) -> set[tuple[str, str]]:
    def resolve(name: str) -> str | None:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name or None

    edges = set()
    for name, path in found.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import submodule` is an arrow to the submodule, not to the package.
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in found]
                targets = subs or [node.module]
            for target in targets:
                resolved = resolve(target) if target.split(".")[0] in PACKAGES else None
                if resolved and resolved != name:
                    edges.add((name, resolved))
    return edges


def against_layers(source: str, target: str) -> bool:
    if (source, target) in ALLOWED:
        return False
    if source.startswith("hr_api.routes.") and target.startswith("hr_api.routes."):
        return True
    if layer(source) == API_LAYER:
        below = ENROL_MAY_IMPORT_BELOW if source.startswith(ENROL_APP) else API_MAY_IMPORT_BELOW
        return not target.startswith("hr_api") and layer(target) >= below
    return layer(target) > layer(source)


def circles(found: dict[str, Path], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, list[str]] = {m: [] for m in found}
    for source, target in edges:
        graph[source].append(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in found:
        if module not in index:
            visit(module)
    return components


def main(root: Path) -> None:
    found = modules(root)
    edges = arrows(found)
    wrong = sorted(edge for edge in edges if against_layers(*edge))
    loops = circles(found, edges)
    lines = {name: len(path.read_text().splitlines()) for name, path in found.items()}
    largest = max(lines, key=lines.__getitem__)
    print(f"{len(found)} modules, {len(edges)} import arrows, {len(wrong)} against the layers, {len(loops)} circles")
    for source, target in wrong:
        print(f"  against the layers: {source} -> {target}")
    for loop in loops:
        print(f"  circle: {' <-> '.join(loop)}")
    print(f"largest module: {largest} ({lines[largest]} lines)")


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)  # the import graph is walked recursively
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
