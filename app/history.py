"""Undo/redo of graph changes: the graphs before (``past``) and after (``future``) the current one.

>>> h = History()
>>> h.record({"v": 1}, "first")
>>> h.undo({"v": 2})
({'v': 1}, 'first')
>>> h.redo({"v": 1})
({'v': 2}, 'first')
>>> h.redo({"v": 2}) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

LIMIT = 50


@dataclass
class History:
    past: list[tuple[dict, str]] = field(default_factory=list)  # (graph before a change, the change)
    future: list[tuple[dict, str]] = field(default_factory=list)  # (graph after an undone change, the change)
    limit: int = LIMIT

    def record(self, before: dict, label: str) -> None:
        """``before`` is the graph a change called ``label`` replaced; a new change ends redo."""
        self.past.append((before, label))
        del self.past[: -self.limit]
        self.future.clear()

    def undo(self, current: dict) -> tuple[dict, str] | None:
        """The graph before the last change (and the change's label), or None."""
        return self._shift(self.past, self.future, current)

    def redo(self, current: dict) -> tuple[dict, str] | None:
        """The graph after the last undone change (and its label), or None."""
        return self._shift(self.future, self.past, current)

    @staticmethod
    def _shift(source: list, target: list, current: dict) -> tuple[dict, str] | None:
        """Take the newest step off ``source``; ``current`` goes onto ``target`` under its label."""
        if not source:
            return None
        graph, label = source.pop()
        target.append((current, label))
        return graph, label
