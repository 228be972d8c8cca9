"""Template expansion for the pipeline files, small and strict, so tests can look at the jobs a run gets.

Azure Pipelines expands `${{ }}` template expressions when it compiles a run: `${{ each x in
parameters.p }}` and `${{ if ... }}` / `${{ else }}` as keys (in a sequence: their items are
spliced in; in a mapping: their keys merged), `${{ insert }}`, and `${{ <expr> }}` inside strings
(learn.microsoft.com/azure/devops/pipelines/process/templates, "Template expressions"). This
module evaluates exactly the expressions the repository's files use: a name (a loop variable or
`parameters.x`), a quoted string, `replace(a, 'b', 'c')`, `join(' ', parameters.x)`, `eq(a, b)`,
`not(a)`. Anything else raises, so a new construct fails the tests until it is understood here;
runtime macros `$(...)` and `$[ ... ]` are left as they are.

GitHub Actions: a matrix whose list is `${{ fromJSON(vars.X || '<json>') }}` (the one form the
workflow uses) becomes one job per entry, `${{ matrix.target }}` substituted in its strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _split_args(text: str) -> list[str]:
    args, depth, quoted, current = [], 0, False, ""
    for ch in text:
        if ch == "'" and depth == 0:
            quoted = not quoted
        if ch == "(" and not quoted:
            depth += 1
        if ch == ")" and not quoted:
            depth -= 1
        if ch == "," and depth == 0 and not quoted:
            args.append(current.strip())
            current = ""
            continue
        current += ch
    return [*args, current.strip()] if current.strip() else args


def evaluate(expr: str, scope: dict[str, Any]) -> Any:
    """One Azure template expression; KeyError/ValueError for anything not listed in the module doc."""
    expr = expr.strip()
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1].replace("''", "'")
    call = re.fullmatch(r"(\w+)\((.*)\)", expr)
    if call:
        name, args = call.group(1), [evaluate(a, scope) for a in _split_args(call.group(2))]
        if name == "replace" and len(args) == 3:
            return str(args[0]).replace(str(args[1]), str(args[2]))
        if name == "join" and len(args) == 2:
            return str(args[0]).join(str(x) for x in args[1])
        if name == "eq" and len(args) == 2:
            return str(args[0]).lower() == str(args[1]).lower()
        if name == "not" and len(args) == 1:
            return not _truthy(args[0])
        raise ValueError(f"template function not understood here: {expr}")
    if expr.startswith("parameters."):
        return scope["parameters"][expr[len("parameters."):]]
    if re.fullmatch(r"\w+", expr):
        return scope[expr]
    raise ValueError(f"template expression not understood here: {expr}")


def _truthy(value: Any) -> bool:
    return value not in (False, None, "", "False", "false", 0)


def _string(text: str, scope: dict[str, Any]) -> Any:
    whole = EXPR.fullmatch(text)
    if whole:
        return evaluate(whole.group(1), scope)
    return EXPR.sub(lambda m: _format(evaluate(m.group(1), scope)), text)


def _format(value: Any) -> str:
    return str(value) if not isinstance(value, bool) else ("True" if value else "False")


def _directive(key: str) -> tuple[str, str] | None:
    match = re.fullmatch(r"\$\{\{\s*(each|if|elseif|else|insert)\b\s*(.*?)\s*\}\}", key)
    return (match.group(1), match.group(2)) if match else None


def _chain(kind: str, arg: str, scope: dict[str, Any], taken: bool) -> tuple[bool, bool]:
    """(this branch is taken, one of its if/elseif/else chain is) for an `if`, `elseif` or `else`."""
    if kind == "if":
        chosen = _truthy(evaluate(arg, scope))
        return chosen, chosen
    chosen = not taken and (kind == "else" or _truthy(evaluate(arg, scope)))
    return chosen, taken or chosen


def expand(node: Any, scope: dict[str, Any]) -> Any:  # long: one walk, each directive where it may stand
    """The node as Azure Pipelines compiles it with `scope` (its `parameters`, loop variables)."""
    if isinstance(node, str):
        return _string(node, scope)
    if isinstance(node, list):
        out: list[Any] = []
        taken = False  # an earlier ${{ if }} of this chain matched
        for item in node:
            directive = _directive(next(iter(item))) if isinstance(item, dict) and len(item) == 1 else None
            if directive is None:
                out.append(expand(item, scope))
                continue
            kind, arg = directive
            body = next(iter(item.values()))
            if kind == "each":
                var, _, source = arg.partition(" in ")
                for value in evaluate(source, scope):
                    out.extend(expand(body, {**scope, var.strip(): value}))
                continue
            if kind == "insert":
                raise ValueError("insert not understood here in a sequence")
            chosen, taken = _chain(kind, arg, scope, taken)
            if chosen:
                out.extend(expand(body, scope))
        return out
    if isinstance(node, dict):
        result: dict[str, Any] = {}
        taken = False
        for key, value in node.items():
            directive = _directive(str(key))
            if directive is None:
                result[str(_string(str(key), scope))] = expand(value, scope)
                continue
            kind, arg = directive
            if kind == "insert":
                result.update(expand(value, scope) or {})
                continue
            chosen, taken = _chain(kind, arg, scope, taken)
            if chosen:
                result.update(expand(value, scope))
        return result
    return node


def defaults(pipeline: dict) -> dict[str, Any]:
    """The pipeline's parameters with their defaults (typed as the YAML gives them)."""
    return {p["name"]: p.get("default") for p in pipeline.get("parameters") or []}


# --- GitHub Actions --------------------------------------------------------------------------------

MATRIX_LIST = re.compile(r"^\$\{\{\s*fromJSON\(vars\.(\w+) \|\| '(.*)'\)\s*\}\}$")


def matrix_values(expression: str, variables: dict[str, str]) -> list[Any]:
    """The list a `${{ fromJSON(vars.X || '<json>') }}` matrix entry gives with these repository variables."""
    match = MATRIX_LIST.match(expression)
    if not match:
        raise ValueError(f"matrix expression not understood here: {expression}")
    return json.loads(variables.get(match.group(1)) or match.group(2))


def matrix_jobs(job: dict, variables: dict[str, str]) -> list[dict]:
    """One copy of the job per value of its one matrix dimension, `${{ matrix.<dim> }}` substituted."""
    matrix = job["strategy"]["matrix"]
    (dim, expression), = matrix.items()
    jobs = []
    for value in matrix_values(expression, variables):
        text = json.dumps(job).replace("${{ matrix." + dim + " }}", str(value))
        jobs.append(json.loads(text))
    return jobs
