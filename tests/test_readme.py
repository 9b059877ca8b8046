"""README.md's Python example runs and gives what its comments say."""

import ast
import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_cost_model_example_gives_its_commented_values():
    block = next(b for b in _python_blocks() if "layer_cost" in b)
    tree = ast.parse(block)
    scope: dict = {}
    values = []
    for node in tree.body:
        if isinstance(node, ast.Expr):
            values.append(
                eval(compile(ast.Expression(node.value), "README", "eval"), scope)
            )
        else:
            exec(compile(ast.Module([node], []), "README", "exec"), scope)
    comments = [
        line.split("#", 1)[1].strip() for line in block.splitlines() if "#" in line
    ]
    assert comments == ["27648 cycles, 'compute'", "48"]
    assert values == [(27648, "compute"), 48]
