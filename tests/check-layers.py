#!/usr/bin/env python3
"""The style suite's layering check (README, "Layout").

Every C file of cohortd includes only headers of its own layer and the layers below it;
no header includes itself around a circle; no two modules (a .c and its .h) of different
folders use each other, directly or around a circle (within a folder, an object's header and
the files that work on it may); and only virt/ (and cohort-tool, which is the provisioner
without the daemon) calls libvirt. Exits 1 and names each offending line."""
import os
import re
import sys

# lowest first: a layer may include its own and those before it
LAYERS = ["common", "store", "virt", "work", "lifecycle", "service", "api", "top"]
LIBVIRT_LAYERS = {"virt"}
LIBVIRT_FILES = {"daemon/cohort-tool.c"}
LIBVIRT_CALL = re.compile(r"\bvir[A-Z][A-Za-z]*\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    parts = path.split("/")
    if parts[0] == "common":
        return "common"
    if parts[0] == "daemon":
        return parts[1] if len(parts) > 2 else "top"
    return None


def main(top):
    files = {}
    for folder in ("common", "daemon"):
        for root, _, names in os.walk(os.path.join(top, folder)):
            for name in names:
                if name.endswith((".c", ".h")):
                    path = os.path.relpath(os.path.join(root, name), top)
                    files[path] = layer_of(path)
    headers = {}
    for path in files:
        if path.endswith(".h"):
            headers.setdefault(os.path.basename(path), []).append(path)
    problems = []
    graph = {}  # module -> modules of other folders it uses
    headers_graph = {}  # header -> headers it includes
    for path, layer in sorted(files.items()):
        with open(os.path.join(top, path), encoding="utf-8") as f:
            text = f.read()
        rank = LAYERS.index(layer)
        for match in INCLUDE.finditer(text):
            name = match.group(1)
            line = text.count("\n", 0, match.start()) + 1
            if name == "config.h":
                continue
            found = headers.get(name)
            if found is None:
                continue  # a system or library header
            if len(found) > 1:
                problems.append(f"{path}:{line}: \"{name}\" is in {' and '.join(found)}")
                continue
            target = found[0]
            if path.endswith(".h"):
                headers_graph.setdefault(path, set()).add(target)
            module, target_module = os.path.splitext(path)[0], os.path.splitext(target)[0]
            if module != target_module and os.path.dirname(path) != os.path.dirname(target):
                graph.setdefault(module, set()).add(target_module)
            target_layer = files[target]
            if LAYERS.index(target_layer) > rank:
                problems.append(
                    f"{path}:{line}: {layer}/ includes \"{name}\" of {target_layer}/, a layer "
                    f"above it (layers from the bottom: {', '.join(LAYERS)})")
        if layer not in LIBVIRT_LAYERS and path not in LIBVIRT_FILES:
            for match in LIBVIRT_CALL.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path}:{line}: calls libvirt ({match.group(0).strip()}): only "
                                "virt/ does")
    def circles(edges, what):
        state = {}
        stack = []

        def visit(node):
            state[node] = "open"
            stack.append(node)
            for nxt in sorted(edges.get(node, [])):
                if state.get(nxt) == "open":
                    cycle = stack[stack.index(nxt):] + [nxt]
                    problems.append(f"include circle ({what}): " + " -> ".join(cycle))
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[node] = "done"

        for node in sorted(edges):
            if node not in state:
                visit(node)

    circles(headers_graph, "headers")
    circles(graph, "modules of different folders, each a .c/.h pair")
    # cohort_store_prepare() lends a statement of the store's cache: g_autoptr(CohortStmt)
    # gives it back; g_autoptr(sqlite3_stmt) would finalize it under the cache
    for path in sorted(files):
        if not path.startswith("daemon/store/") or "migrations" in path:
            continue
        with open(os.path.join(top, path), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if "g_autoptr(sqlite3_stmt)" in line and "cohort_store_prepare" in line:
                    problems.append(f"{path}:{number}: a cached statement in "
                                    "g_autoptr(sqlite3_stmt): use g_autoptr(CohortStmt)")
            f.seek(0)
            text = f.read()
        for name in re.findall(r"g_autoptr\(sqlite3_stmt\)\s+(\w+)", text):
            if re.search(r"\b" + name + r"\s*=\s*cohort_store_prepare\b", text):
                problems.append(f"{path}: '{name}' is a g_autoptr(sqlite3_stmt) given a "
                                "cohort_store_prepare() statement: use g_autoptr(CohortStmt)")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering problem(s)")
        return 1
    print(f"{len(files)} files in {len(set(files.values()))} layers: every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
