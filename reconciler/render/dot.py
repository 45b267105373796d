"""The dependency graph of a stack as Graphviz DOT."""

from __future__ import annotations

from reconciler.stack.resources import Stack


def render_dot(stack: Stack) -> str:
    lines = [f'digraph "{stack.name}" {{', "  rankdir=LR;", "  node [shape=box];"]
    for where in stack.order:
        lines.append(f'  "{where}";')
    for where in stack.order:
        for dependency in stack.dependencies.get(where, ()):
            lines.append(f'  "{where}" -> "{dependency}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
