"""No function in src/bricksync over MAX_LINES lines without a reason written beside it (issue 15):
a `# long: why` comment on the line above its `def` (or its first decorator)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "bricksync"
MAX_LINES = 60


def long_functions_without_reason(source: str) -> list[tuple[str, int, int]]:
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            if length > MAX_LINES and not any("# long:" in lines[i - 1] for i in range(max(first - 1, 1), first + 1)):
                found.append((node.name, node.lineno, length))
    return found


def test_no_long_function_without_a_reason() -> None:
    problems = [f"{path.relative_to(SRC)}:{line} {name}: {length} lines, no '# long: why' above it"
                for path in sorted(SRC.rglob("*.py"))
                for name, line, length in long_functions_without_reason(path.read_text())]
    assert problems == []


def test_the_check_can_fail() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    assert long_functions_without_reason(f"def f():\n{body}\n") == [("f", 1, MAX_LINES + 1)]
    assert long_functions_without_reason(f"# long: a table\ndef f():\n{body}\n") == []
    short = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))
    assert long_functions_without_reason(f"def f():\n{short}\n") == []  # exactly MAX_LINES: fine
