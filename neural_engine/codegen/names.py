"""Safe pieces of generated source: identifiers, literals and comments made from user text.

Graph names, node ids, input names and string parameters come from the DSL or the canvas, so
they are never spliced into code as they are. Identifiers are rebuilt from ``[A-Za-z0-9_]``
(no keywords, no dunder names, no builtins); values are written only by :func:`literal`, which
accepts plain data and nothing else; text shown in comments goes through ``ascii()`` (no raw
newline can end the comment).

>>> Names().identifier("__import__('os').system('x')")
'import_os_system_x'
>>> class_name("my model"), literal(float("-inf")), literal((1,))
('MyModel', 'float("-inf")', '(1,)')
"""

from __future__ import annotations

import builtins
import keyword
import math
import re

from neural_engine.errors import ExportError
from neural_engine.layers.base import fmt_shape

_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUILTINS = frozenset(dir(builtins))


def is_safe_identifier(name: str) -> bool:
    """ASCII identifier, no keyword, no dunder, no builtin: safe as a name or an attribute."""
    return (
        _SAFE.fullmatch(name) is not None
        and not keyword.iskeyword(name)
        and not keyword.issoftkeyword(name)
        and not name.startswith("__")
        and name not in _BUILTINS
    )


def _clean(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_]", "_", text)).strip("_")


class Names:
    """Unique, safe Python identifiers for one scope; ``reserved`` names are never handed out."""

    def __init__(self, reserved=()):
        self.used: set[str] = set(reserved)

    def identifier(self, text: str, fallback: str = "n") -> str:
        name = _clean(str(text)) or fallback
        if not is_safe_identifier(name) or name[0].isdigit():
            name = f"{fallback}_{name}"
        return self._unique(name)

    def claim(self, name: str) -> str:
        """``name`` itself (a safe identifier chosen by the generator), made unique."""
        assert is_safe_identifier(name), name
        return self._unique(name)

    def _unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


def value_names(steps, outputs, inputs: dict[str, str], names: Names, key=str) -> dict[str, str]:
    """A variable per value of straight-line code: ``steps`` are (node id, source ids) in order.

    A value used exactly once, by the very next step (or by ``return`` after the last step), lives
    in one reused temporary (``x``); the others keep a name made from ``key(node id)``. Inputs keep
    their names from ``inputs``; ``x`` may be an input's name if step 0 alone reads it.
    """
    uses: dict[str, int] = {}
    for _, sources in steps:
        for s in sources:
            uses[s] = uses.get(s, 0) + 1
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    first = steps[0][1] if steps else ()
    free = {v for k, v in inputs.items() if uses.get(k, 0) == 1 and k in first}  # dead after step 0
    temp = next(t for t in ("x", "h", "y", "z") if t not in inputs.values() or t in free)
    names.used.add(temp)
    var = dict(inputs)
    for i, (node, _) in enumerate(steps):
        nxt = steps[i + 1][1] if i + 1 < len(steps) else outputs
        var[node] = temp if uses.get(node, 0) == 1 and node in nxt else names.identifier(key(node), "n")
    return var


def class_name(text: str, suffix: str = "") -> str:
    """CamelCase class name from user text (``"mnist cnn"`` -> ``MnistCnn``), always safe."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", str(text)) if w]
    name = "".join(w[0].upper() + w[1:] for w in words) + suffix
    if not name or name[0].isdigit() or not is_safe_identifier(name):
        name = "Net" + name
    return name


def literal(value) -> str:
    """Python source for a plain value (None, bool, int, float, str, tuple, list, dict).

    Anything else is refused rather than written with a repr that might not be valid code.
    """
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return 'float("nan")'
        if math.isinf(value):
            return 'float("inf")' if value > 0 else 'float("-inf")'
        return repr(value)
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise ExportError(
        f"cannot write a value of type {type(value).__name__} into generated code; "
        f"expected a number, string, bool, None or a tuple of them; received {value!r}"
    )


def comment_text(text) -> str:
    """User text for a ``#`` comment: ``ascii()`` escapes newlines and every non-ASCII character."""
    return ascii(str(text))


def searched_comment(graph) -> str:
    """Comment lines naming the search values written here at their defaults ("" when none).

    >>> from neural_engine.dsl import parse
    >>> print(searched_comment(parse('network N { input: (4,) layers: Dense(choice(2, 4)) }')))
    <BLANKLINE>
    # search values, written at their defaults (a sweep tries the others):
    #   dense_1.units = 2 (the first of HPO(choice(2, 4)))
    """
    from neural_engine.search import defaults_text

    lines = defaults_text(graph)
    if not lines:
        return ""
    return "\n# search values, written at their defaults (a sweep tries the others):\n" + "\n".join(
        f"#   {comment_text(line)[1:-1]}" for line in lines
    )


def batch_shape(shape, batch: str = "N") -> str:
    """``(N, 32, 26, 26)``: a shape with the batch axis first; unknown dims print ``?``."""
    return fmt_shape(shape).replace("(", f"({batch}, ", 1).replace(", )", ")").replace(",)", ")")
