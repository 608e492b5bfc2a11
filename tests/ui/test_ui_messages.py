"""Every Chinese word the page shows comes from qa/messages.py (issue #22): a Chinese string literal in qa/ui/*.py
that is not a docstring and not on the allow-list below fails here, so new page text goes to one place."""
from __future__ import annotations

import ast
import re
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "qa" / "ui"
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# (module, constant): Chinese strings that are not messages (a search run to warm the model up)
ALLOWED = {("service.py", "WARM_UP_QUERY")}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def chinese_literals(source: str, module: str) -> list[tuple[int, str]]:
    """(line, text) of each Chinese string constant outside docstrings and allowed constants."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and (module, t.id) in ALLOWED for t in node.targets):
            skip |= {id(n) for n in ast.walk(node.value)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
            and HAN.search(node.value)]


def test_page_text_lives_in_qa_messages():
    found = [f"qa/ui/{path.name}:{line}: {text[:40]!r}"
             for path in sorted(UI.glob("*.py"))
             for line, text in chinese_literals(path.read_text(encoding="utf-8"), path.name)]
    assert not found, "Chinese text belongs in qa/messages.py:\n" + "\n".join(found)


def test_the_check_sees_f_strings_and_javascript_but_not_docstrings_or_allowed_constants():
    source = '''"""模块说明"""
WARM_UP_QUERY = "借款"
def f(n):
    """函数说明"""
    return f"共 {n} 篇"
JS = """label.textContent = '清除记录';"""
'''
    assert sorted({line for line, _ in chinese_literals(source, "service.py")}) == [5, 6]
    assert sorted({line for line, _ in chinese_literals(source, "other.py")}) == [2, 5, 6]


def test_the_page_script_carries_its_words_from_qa_messages():
    from qa import messages
    from qa.ui.assets import JS

    for text in messages.SCRIPT_TEXT.values():
        assert text in JS
