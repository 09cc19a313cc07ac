"""Where one export's files go: a folder of its own, or a model file the user named.

- **A folder** (``Layout.folder(directory, format)``, ``neuralforge export`` without ``-o`` and
  what a run records under ``export/<format>/``): ``model.onnx`` (``model.pt2``, ``model.pt``),
  the variants ``model.fp16.onnx``…, ``report.json``, ``report.md``, ``serving/``.
- **A named file** (``Layout.beside(path, format)``, ``-o m.onnx``): the model exactly at ``path``,
  the rest in its folder (or ``directory``, ``--out-dir``) named after its stem — ``m.fp16.onnx``,
  ``m.report.json``, ``m.report.md``, ``m-serving/`` — so two exports in one folder do not collide.

Files that fail their checks go to ``rejected/`` in either layout (the model path is left empty).

>>> lay = Layout.beside("out/m.onnx", "onnx")
>>> [str(p) for p in (lay.model, lay.variant("fp16"), lay.report_json, lay.serving)]
['out/m.onnx', 'out/m.fp16.onnx', 'out/m.report.json', 'out/m-serving']
>>> [str(p) for p in (Layout.folder("x", "pt2").model, Layout.folder("x", "pt2").report_md)]
['x/model.pt2', 'x/report.md']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neural_engine.errors import ExportError

SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2", "torchscript": ".pt"}  # format -> its model file's suffix


@dataclass(frozen=True)
class Layout:
    model: Path  # the primary model file
    directory: Path  # the reports, variants, serving bundles and rejected/
    named: bool = False  # True: those are named after the model's stem (a folder shared with others)

    @staticmethod
    def folder(directory, format: str) -> Layout:
        """A folder of the export's own: ``model<suffix>``, ``report.json``, ``serving/``…"""
        directory = Path(directory)
        return Layout(directory / f"model{SUFFIXES[format]}", directory)

    @staticmethod
    def beside(model, format: str, directory=None) -> Layout:
        """The model at ``model`` (its suffix must be the format's); the rest beside it, or in
        ``directory``, named after its stem."""
        model = Path(model)
        check_suffix(model, format)
        return Layout(model, Path(directory) if directory else model.parent, named=True)

    @staticmethod
    def of(format: str, directory=None, model_file=None) -> Layout:
        """``beside(model_file, …)`` when a model file is named, else ``folder(directory, …)``."""
        if model_file is not None:
            return Layout.beside(model_file, format, directory)
        if directory is None:
            raise ExportError("an export needs a folder or a model file to write; received neither")
        return Layout.folder(directory, format)

    def _name(self, name: str, sep: str = ".") -> str:
        return f"{self.model.stem}{sep}{name}" if self.named else name

    @property
    def report_json(self) -> Path:
        return self.directory / self._name("report.json")

    @property
    def report_md(self) -> Path:
        return self.directory / self._name("report.md")

    @property
    def serving(self) -> Path:
        return self.directory / self._name("serving", "-")

    @property
    def rejected(self) -> Path:
        return self.directory / "rejected"

    def variant(self, name: str) -> Path:
        """An ONNX variant's file (``fp16``, ``int8-dynamic``, ``int8-static``)."""
        return self.directory / f"{self.model.stem}.{name}.onnx"

    def relative(self, path: Path) -> str:
        """``path`` as the report names it: relative to the folder, else as it is."""
        path = Path(path)
        try:
            return str(path.relative_to(self.directory))
        except ValueError:
            return str(path)


def check_suffix(model: Path, format: str) -> None:
    """The model file's suffix must be the format's (``.onnx``, ``.pt2``, ``.pt``)."""
    expected = SUFFIXES[format]
    if model.suffix == expected:
        return
    fits = [f for f, s in SUFFIXES.items() if s == model.suffix]
    raise ExportError(
        f"-o must name a {expected} file for --format {format}; received {str(model)!r}",
        hint=f"write {model.with_suffix(expected).name}"
        + (f", or export with --format {fits[0]}" if fits else "")
        + " (-o is the model file; --out-dir chooses the folder of the reports)",
    )
