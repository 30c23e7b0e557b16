#!/usr/bin/env python3
"""scripts/import-circles.py [SRC] — the crate's import circles: the graph of its top-level
modules (src/NAME.rs and src/NAME/), an edge for every `crate::NAME` path in a module's
code (test modules left out: what follows a `#[cfg(test)]` module at the end of a file,
and the files of a `#[cfg(test)] mod NAME;`),
and each strongly connected component of more than one module, with the places that make
its edges. Exits 1 when there is a circle, 0 when there is none.
"""
import collections
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
edges = collections.defaultdict(list)  # (from, to) -> ["file:line", ...]
modules = set()


def test_only(root):
    """The files and folders of modules declared `#[cfg(test)] mod NAME;`."""
    found = set()
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            # A module's children live in the folder named after it (or in its own
            # folder for mod.rs, lib.rs and main.rs).
            stem = name.removesuffix(".rs")
            home = folder if stem in ("mod", "lib", "main") else os.path.join(folder, stem)
            lines = open(path, encoding="utf-8").read().split("\n")
            for line, nxt in zip(lines, lines[1:]):
                m = re.match(r"(?:pub(?:\(crate\))? )?mod (\w+);", nxt)
                if line.strip() == "#[cfg(test)]" and m:
                    found.add(os.path.join(home, m.group(1) + ".rs"))
                    found.add(os.path.join(home, m.group(1)))
    return found


skipped = test_only(root)
for folder, _, files in os.walk(root):
    if any(folder == s or folder.startswith(s + os.sep) for s in skipped):
        continue
    for name in sorted(files):
        if not name.endswith(".rs"):
            continue
        path = os.path.join(folder, name)
        if path in skipped:
            continue
        rel = os.path.relpath(path, root)
        top = rel.split("/")[0].removesuffix(".rs")
        if top in ("main", "lib"):
            continue
        modules.add(top)
        lines = open(path, encoding="utf-8").read().split("\n")
        for i, line in enumerate(lines):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if line.startswith("#[cfg(test)]") and re.match(r"(pub(\(crate\))? )?mod \w+ \{", nxt):
                break
            code = line.split("//")[0]
            used = re.findall(r"\bcrate::(\w+)", code)
            for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
                used += re.findall(r"(?:^|,)\s*(\w+)", group)
            for to in used:
                if to not in (top, "self"):
                    edges[(top, to)].append(f"{rel}:{i + 1}")

graph = collections.defaultdict(set)
for a, b in edges:
    if b in modules:
        graph[a].add(b)

# Tarjan's strongly connected components.
index, low, stack, on_stack, components = {}, {}, [], set(), []


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(graph[v]):
        if w not in index:
            visit(w)
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
        components.append(sorted(component))


sys.setrecursionlimit(10_000)
for v in sorted(modules):
    if v not in index:
        visit(v)
circles = [c for c in components if len(c) > 1]
print(f"{len(modules)} modules, {sum(len(v) for v in graph.values())} edges, {len(circles)} circle(s)")
for c in circles:
    print("circle:", " ".join(c))
    for a in c:
        for b in sorted(graph[a] & set(c)):
            places = edges[(a, b)]
            print(f"  {a} -> {b}: {', '.join(places[:4])}{', …' if len(places) > 4 else ''}")
sys.exit(1 if circles else 0)
