#!/usr/bin/env python3
"""test_layers.py — the include graph of core/ points one way.

Reads the `#include "..."` lines of core/*.c and core/*.h, takes x.c and x.h
as one node, and checks that
  1. the graph has no cycle (apart from KNOWN_CYCLE_EDGES below),
  2. the connection layer (conn, tls, listener, worker) includes no
     protocol header (PROTOCOL_HEADERS; apart from KNOWN_PROTOCOL_INCLUDES),
  3. a protocol's library header is included only by that protocol's .c
     (PROTOCOL_LIBRARIES), so no other file compiles against it,
and prints the layer order it found (lowest first; a node's layer is one
more than the highest layer it includes).

    test_layers.py [CORE_DIR]      # default: core/ next to tests/
    test_layers.py --git REV       # the tree of commit REV (e.g. main)
"""
import os
import re
import subprocess
import sys

PROTOCOL_HEADERS = {"h1.h", "h2.h", "negotiate.h", "stream.h", "filesend.h"}
CONNECTION_LAYER = {"conn", "tls", "listener", "worker"}

# Includes that still break the rules, each for a reason that another
# change removes; delete an entry when its include goes away (the test
# then keeps it away). None is left: conn.c and stream.c stopped including
# filesend.h once file ranges became blocks of the connection's own queue
# (issue 8 section 1, the write-path part).
KNOWN_CYCLE_EDGES = set()
KNOWN_PROTOCOL_INCLUDES = set()

# <header> -> the one file that may include it.
PROTOCOL_LIBRARIES = {"llhttp.h": "h1.c", "nghttp2/nghttp2.h": "h2.c"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)


def node(name):
    return os.path.splitext(os.path.basename(name))[0]


def read_tree_dir(core):
    files = {}
    for f in sorted(os.listdir(core)):
        if f.endswith((".c", ".h")):
            with open(os.path.join(core, f), encoding="utf-8", errors="replace") as fh:
                files[f] = fh.read()
    return files


def read_tree_git(rev, repo):
    out = subprocess.run(["git", "-C", repo, "ls-tree", "--name-only", rev, "core/"],
                         check=True, capture_output=True, text=True).stdout.split()
    files = {}
    for path in out:
        f = os.path.basename(path)
        if f.endswith((".c", ".h")):
            files[f] = subprocess.run(["git", "-C", repo, "show", "%s:%s" % (rev, path)],
                                      check=True, capture_output=True, text=True).stdout
    return files


def include_graph(files):
    """{node: set(node)}, and [(file, header)] of every include of core's own."""
    graph = {node(f): set() for f in files}
    includes = []
    for f, text in files.items():
        for inc in INCLUDE.findall(text):
            if inc not in files:  # the SDK's, llhttp's, ...
                continue
            includes.append((f, inc))
            if node(inc) != node(f):
                graph[node(f)].add(node(inc))
    return graph, includes


def strongly_connected(graph):
    """Tarjan's algorithm: the components with more than one node."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def layers(graph):
    """{node: layer} of an acyclic graph."""
    memo = {}

    def layer(v):
        if v not in memo:
            memo[v] = 0
            memo[v] = 1 + max((layer(w) for w in graph[v]), default=-1)
        return memo[v]

    for v in graph:
        layer(v)
    return memo


def check(files):
    graph, includes = include_graph(files)
    problems = []
    for a, b in sorted(KNOWN_CYCLE_EDGES):
        if b not in graph.get(a, ()):
            problems.append("known exception %s -> %s no longer exists: delete it from "
                            "KNOWN_CYCLE_EDGES" % (a, b))
    pruned = {v: {w for w in ws if (v, w) not in KNOWN_CYCLE_EDGES} for v, ws in graph.items()}
    for comp in strongly_connected(pruned):
        edges = ["%s -> %s" % (v, w) for v in comp for w in sorted(pruned[v]) if w in comp]
        problems.append("include cycle among %s: %s" % (", ".join(comp), "; ".join(edges)))
    for f, inc in sorted(includes):
        if node(f) in CONNECTION_LAYER and inc in PROTOCOL_HEADERS:
            if (f, inc) in KNOWN_PROTOCOL_INCLUDES:
                continue
            problems.append("%s includes the protocol header %s" % (f, inc))
    for f, text in sorted(files.items()):
        for lib in SYSTEM_INCLUDE.findall(text):
            if lib in PROTOCOL_LIBRARIES and PROTOCOL_LIBRARIES[lib] != f:
                problems.append("%s includes <%s>, which only %s may" % (f, lib, PROTOCOL_LIBRARIES[lib]))
    for f, inc in sorted(KNOWN_PROTOCOL_INCLUDES):
        if (f, inc) not in includes:
            problems.append("known exception %s includes %s no longer exists: delete it from "
                            "KNOWN_PROTOCOL_INCLUDES" % (f, inc))
    if not strongly_connected(pruned):
        by_layer = {}
        for v, n in layers(pruned).items():
            by_layer.setdefault(n, []).append(v)
        print("layers of core/ (lowest first; known exceptions left out: %s):"
              % (", ".join("%s -> %s" % e for e in sorted(KNOWN_CYCLE_EDGES)) or "none"))
        for n in sorted(by_layer):
            print("  %2d: %s" % (n, " ".join(sorted(by_layer[n]))))
    return problems


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    if len(argv) > 2 and argv[1] == "--git":
        files = read_tree_git(argv[2], repo)
    else:
        files = read_tree_dir(argv[1] if len(argv) > 1 else os.path.join(repo, "core"))
    problems = check(files)
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print("ok: no include cycle; conn, tls, listener and worker include no protocol header; "
              "llhttp and nghttp2 stay in h1.c and h2.c")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
