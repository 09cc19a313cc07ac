"""The DSL corpus: realistic files in the styles users write (tests/dsl_corpus/), each naming its
expected outcome in a header comment, all checked the way the CLI checks them.

Header lines::

    # expect: ok
    # expect: error at LINE:COL: <part of the message> [| hint: <part of the hint>]
    # expect-warning: <part of a warning>          (any number)

An ``ok`` file parses, every network infers, and ``neuralforge check`` and ``summary --json``
succeed (a file with search values lists them with their defaults). An ``error`` file fails at
exactly that place with that message, and ``neuralforge check`` prints it without a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from neural_engine.cli import main
from neural_engine.dsl import parse_file
from neural_engine.errors import NeuralForgeError
from neural_engine.search import search_values
from neural_engine.shapes import propagate

CORPUS = sorted((Path(__file__).parent / "dsl_corpus").glob("*.neural"))
EXPECT = re.compile(
    r"^#\s*expect:\s*(?:(?P<ok>ok)|error at (?P<line>\d+):(?P<col>\d+):\s*(?P<message>.+?)"
    r"(?:\s*\|\s*hint:\s*(?P<hint>.+?))?)\s*$",
    re.MULTILINE,
)
WARNING = re.compile(r"^#\s*expect-warning:\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Expect:
    ok: bool
    line: int = 0
    column: int = 0
    message: str = ""
    hint: str | None = None
    warnings: tuple[str, ...] = ()


def expectation(text: str) -> Expect:
    found = EXPECT.findall(text)
    assert len(found) == 1, "a corpus file needs exactly one `# expect:` line"
    m = EXPECT.search(text)
    warnings = tuple(WARNING.findall(text))
    if m["ok"]:
        return Expect(True, warnings=warnings)
    return Expect(False, int(m["line"]), int(m["col"]), m["message"], m["hint"], warnings)


def check(text: str, file: str):
    parsed = parse_file(text, file)
    for graph in parsed.graphs.values():
        propagate(graph)
    return parsed


def test_the_corpus_covers_the_styles_users_write():
    assert len(CORPUS) >= 15
    outcomes = [expectation(p.read_text(encoding="utf-8")).ok for p in CORPUS]
    assert any(outcomes) and not all(outcomes)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_file(path: Path, capsys):
    text = path.read_text(encoding="utf-8")
    want = expectation(text)
    if want.ok:
        parsed = check(text, str(path))
        for fragment in want.warnings:
            assert any(fragment in str(w) for w in parsed.warnings), f"no warning with {fragment!r}"
        assert main(["check", str(path)]) == 0
        capsys.readouterr()
        assert main(["summary", str(path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["name"] == parsed.default.name and report["nodes"]
        assert set(report["search_values"]) == set(search_values(parsed.default))
        return
    with pytest.raises(NeuralForgeError) as info:
        check(text, str(path))
    err = info.value
    assert err.span is not None, f"unlocated error: {err}"
    assert (err.span.line, err.span.column) == (want.line, want.column), str(err)
    assert err.span.file == str(path)
    assert want.message in err.message, err.message
    if want.hint:
        assert want.hint in (err.hint or ""), err.hint
    assert main(["check", str(path)]) == 1
    printed = capsys.readouterr().err
    assert (
        printed.startswith(f"error: {path}:{want.line}:{want.column}: ")
        or f"\nerror: {path}:{want.line}:{want.column}: " in printed
    )
    assert "Traceback" not in printed
