"""A summary of a big sharing diagram: runs of calls that share nothing drawn as one box.

A model of hundreds of calls (a 600-layer chain, MobileNet, one layer called 500 times)
makes a drawing nobody can read, and takes seconds to render. What the diagram teaches is
which calls read a common variable. So, in data-flow order:

- consecutive calls that read only variables of their own (or none) become one box,
  ``"conv … pool · 120 calls"``, and their variables one box, ``"240 own variables"``;
- consecutive calls that read exactly the same variables (one layer called 500 times)
  become one box, ``"d[1] … d[500] · 500 calls"``, joined once to each variable they read;
- every other call and every shared or tied variable keeps its own box.

Pure data in, data out: nodes and edges of :mod:`helpers.diagram` (duck-typed).

Example:
    >>> from helpers.diagram import DiagramEdge, DiagramNode
    >>> calls = [DiagramNode(f"call:{i}", "call", f"d{i}", "Dense · reads 6 params", 6)
    ...          for i in range(3)]
    >>> variables = [DiagramNode(f"variable:{i}", "own", f"d{i}/kernel", "(2, 3)", 6)
    ...              for i in range(3)]
    >>> edges = [DiagramEdge(f"variable:{i}", f"call:{i}", "own") for i in range(3)]
    >>> calls, variables, edges = summarise(calls, variables, edges)
    >>> [(n.label, n.detail) for n in calls + variables]
    [('d0 … d2', '3 calls sharing nothing · read 18 params'), ('3 own variables', '18 params')]
"""

from __future__ import annotations

from dataclasses import replace

__all__ = ["summarise", "SUMMARY_ABOVE"]

#: Diagrams with more calls than this are drawn as a summary unless asked otherwise.
SUMMARY_ABOVE = 60


def _params(n: int) -> str:
    return f"{n:,} param" + ("" if n == 1 else "s")


def _runs(calls: list, reads: dict[str, frozenset], own: set[str]) -> list[list]:
    """Consecutive calls that read only own variables, or exactly the same variables."""
    runs: list[list] = []
    for call in calls:
        mine = reads[call.key]
        if runs:
            last = runs[-1][-1]
            theirs = reads[last.key]
            if (mine <= own and theirs <= own) or (mine and mine == theirs):
                runs[-1].append(call)
                continue
        runs.append([call])
    return runs


def _merged_call(run: list, key: str, reads: dict[str, frozenset], own: set[str]):
    """The one node drawn for a run of calls (the call itself when the run has one)."""
    if len(run) == 1:
        return replace(run[0], key=key)
    alike = bool(reads[run[0].key]) and not reads[run[0].key] <= own
    read = run[0].params if alike else sum(c.params for c in run)
    if alike:
        detail = f"{len(run)} calls · each reads {_params(read)}"
    else:
        detail = f"{len(run)} calls sharing nothing · " + (
            f"read {_params(read)}" if read else "no variables"
        )
    return replace(
        run[0], key=key, label=f"{run[0].label} … {run[-1].label}", detail=detail, params=read
    )


def summarise(calls: list, variables: list, edges: list) -> tuple[list, list, list]:
    """``(calls, variables, edges)`` with each run of calls merged (see the module)."""
    by_call: dict[str, set[str]] = {c.key: set() for c in calls}
    readers: dict[str, set[str]] = {v.key: set() for v in variables}
    for edge in edges:
        by_call[edge.call].add(edge.variable)
        readers[edge.variable].add(edge.call)
    own = {v.key for v in variables if v.kind == "own"}
    reads = {key: frozenset(vs) for key, vs in by_call.items()}
    runs = _runs(calls, reads, own)

    new_calls, call_of = [], {}
    for run in runs:
        key = f"call:{len(new_calls)}"
        new_calls.append(_merged_call(run, key, reads, own))
        for call in run:
            call_of[call.key] = key

    merged_runs = {call_of[r[0].key] for r in runs if len(r) > 1}
    group_of: dict[str, str] = {}  # an own variable of a merged run -> that run's call key
    members: dict[str, list] = {}
    for variable in variables:
        callers = readers[variable.key]
        if variable.kind == "own" and len(callers) == 1:
            target = call_of[next(iter(callers))]
            if target in merged_runs:
                group_of[variable.key] = target
                members.setdefault(target, []).append(variable)

    new_variables, variable_of = [], {}
    for variable in variables:  # in the order drawn; a group where its first member was
        target = group_of.get(variable.key)
        if target is not None and members[target][0] is not variable:
            variable_of[variable.key] = variable_of[members[target][0].key]
            continue
        key = f"variable:{len(new_variables)}"
        if target is None:
            node = replace(variable, key=key)
        else:
            group = members[target]
            params = sum(m.params for m in group)
            node = replace(
                variable,
                key=key,
                label=f"{len(group)} own variables" if len(group) > 1 else variable.label,
                detail=_params(params) if len(group) > 1 else variable.detail,
                params=params,
                paths=tuple(p for m in group for p in m.paths),
            )
        new_variables.append(node)
        variable_of[variable.key] = key
    new_edges, seen = [], set()
    for edge in edges:
        pair = (variable_of[edge.variable], call_of[edge.call])
        if pair not in seen:
            seen.add(pair)
            new_edges.append(replace(edge, variable=pair[0], call=pair[1]))
    return new_calls, new_variables, new_edges
