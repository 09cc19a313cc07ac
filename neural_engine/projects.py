"""Architecture versions: each save of a graph is a JSON document ``projects/<name>/v<N>.json`` in
the store (local directory or ``s3://``), with its parent version, message, author and time.

Versions are immutable: a save never overwrites one (the store's create-if-absent write decides
between two saves racing for the same number, and the loser takes the next).

>>> import tempfile
>>> from neural_engine.data.storage import open_storage
>>> from neural_engine.dsl import parse
>>> store = open_storage(tempfile.mkdtemp())
>>> g = parse('network N { input: (4,) layers: Dense(8) Output(2) }')
>>> v1 = save_version("demo", g, "first", storage=store)
>>> wider = parse('network N { input: (4,) layers: Dense(16) Output(2) }')
>>> v2 = save_version("demo", wider, "wider", parent=1, storage=store)
>>> [(v.number, v.parent, v.message) for v in versions("demo", storage=store)]
[(1, None, 'first'), (2, 1, 'wider')]
>>> load_project_ref("demo@v2", storage=store).ref
'demo@v2'
>>> diff_versions("demo", 1, 2, storage=store).lines()
['~ dense_1 (Dense): units 8 -> 16']
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from neural_engine.data.storage import Storage, open_storage
from neural_engine.diff import GraphDiff, diff_graphs
from neural_engine.errors import ValidationError
from neural_engine.ir import Graph
from neural_engine.settings import settings

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VERSION_FILE = re.compile(r"^v(\d+)\.json$")


@dataclass(frozen=True)
class Version:
    project: str
    number: int
    parent: int | None
    message: str
    user: str
    created: float  # seconds since the epoch
    graph: Graph

    def to_json(self) -> dict:
        return {
            "project": self.project,
            "version": self.number,
            "parent": self.parent,
            "message": self.message,
            "user": self.user,
            "created": self.created,
            "graph": self.graph.to_json(),
        }

    @staticmethod
    def from_json(doc: dict) -> Version:
        return Version(
            doc["project"],
            int(doc["version"]),
            doc.get("parent"),
            doc.get("message", ""),
            doc.get("user", "unknown"),
            float(doc.get("created", 0)),
            Graph.from_json(doc["graph"]),
        )

    @property
    def ref(self) -> str:
        """``name@vN``: how training (``--project``) and the dashboard name this version."""
        return f"{self.project}@v{self.number}"

    @property
    def label(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))
        return f"v{self.number} · {self.message or '(no message)'} · {self.user} · {when}"


def check_name(project: str) -> str:
    if not NAME.match(project or ""):
        raise ValidationError(
            f"a project name must be 1-64 letters, digits, '_', '-' or '.', starting with a "
            f"letter or digit; received {project!r}",
            hint="e.g. mnist-cnn or resnet_cifar",
        )
    return project


def _key(project: str, number: int) -> str:
    return f"projects/{check_name(project)}/v{number}.json"


def projects(storage: Storage | None = None) -> list[str]:
    """Names of the projects that have at least one version."""
    storage = storage or open_storage()
    return sorted(
        {k.split("/")[1] for k in storage.list("projects/") if VERSION_FILE.match(k.rsplit("/", 1)[-1])}
    )


def version_numbers(project: str, storage: Storage) -> list[int]:
    keys = storage.list(f"projects/{check_name(project)}/")
    return sorted(int(m.group(1)) for k in keys if (m := VERSION_FILE.match(k.rsplit("/", 1)[-1])))


def versions(project: str, storage: Storage | None = None) -> list[Version]:
    """Every version of ``project``, oldest first."""
    storage = storage or open_storage()
    return [load_version(project, n, storage=storage) for n in version_numbers(project, storage)]


def load_version(project: str, number: int | None = None, storage: Storage | None = None) -> Version:
    """Version ``number`` of ``project`` (default: the latest)."""
    storage = storage or open_storage()
    numbers = version_numbers(project, storage)
    if not numbers:
        raise ValidationError(
            f"project {project!r} must have a saved version; it has none",
            hint="save the graph first (Canvas → Save version)",
        )
    number = numbers[-1] if number is None else number
    if number not in numbers:
        raise ValidationError(
            f"version {number} of {project!r} must exist; versions are {', '.join(f'v{n}' for n in numbers)}"
        )
    return Version.from_json(json.loads(storage.read(_key(project, number))))


def load_project_ref(ref: str, storage: Storage | None = None) -> Version:
    """The version ``ref`` names: ``name@vN``, or ``name`` for the latest.

    >>> load_project_ref("demo@latest")
    Traceback (most recent call last):
    neural_engine.errors.ValidationError: a version reference must be NAME or NAME@vN, e.g. mnist-cnn@v3; received 'demo@latest'
    """
    name, _, number = ref.partition("@")
    if number and not re.fullmatch(r"v\d+", number):
        raise ValidationError(
            f"a version reference must be NAME or NAME@vN, e.g. mnist-cnn@v3; received {ref!r}"
        )
    return load_version(name, int(number[1:]) if number else None, storage=storage)


def save_version(
    project: str,
    graph: Graph,
    message: str = "",
    parent: int | None = None,
    storage: Storage | None = None,
    user: str | None = None,
) -> Version:
    """Save ``graph`` as the next version of ``project``; ``parent`` is the version it was edited from."""
    storage = storage or open_storage()
    numbers = version_numbers(project, storage)
    if parent is not None and parent not in numbers:
        raise ValidationError(f"the parent version must exist in {project!r}; received v{parent}")
    for number in range((numbers[-1] if numbers else 0) + 1, (numbers[-1] if numbers else 0) + 100):
        version = Version(
            project, number, parent, message.strip(), user or settings().user, time.time(), graph
        )
        if storage.create(_key(project, number), json.dumps(version.to_json(), indent=1).encode()):
            return version
    raise ValidationError(
        f"saving {project!r} must find a free version number; 100 concurrent saves took them"
    )


def diff_versions(project: str, a: int, b: int, storage: Storage | None = None) -> GraphDiff:
    """What changed from version ``a`` to version ``b``."""
    storage = storage or open_storage()
    return diff_graphs(load_version(project, a, storage).graph, load_version(project, b, storage).graph)
