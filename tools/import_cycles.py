"""Find an import loop between modules of Utskick, from import-linter's own graph.

The layers contract rules out loops between packages; this finds loops between files, which
a contract on packages cannot see (`a.x -> a.y -> a.x`). It prints the loop and exits 1 if
there is one, so `make lint` fails on a new one.
"""

from __future__ import annotations

import graphlib
import sys

import grimp


def main() -> int:
    """Print the first loop found (or the count of modules) and return 1 if there is one."""
    imports = grimp.build_graph("utskick")
    sorter = graphlib.TopologicalSorter(
        {module: imports.find_modules_directly_imported_by(module) for module in imports.modules}
    )
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        print("import loop:", " -> ".join(error.args[1]))
        return 1
    print(f"{len(imports.modules)} modules, no import loop between them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
