"""Torch modules the registry's ``nf.<Name>`` calls refer to (what ``torch.nn`` lacks).

Each submodule registers its classes with :func:`nf_module`; the builder looks them up by name.
Generated code imports them from here.
"""

from __future__ import annotations

import importlib
import pkgutil

NF_MODULES: dict[str, type] = {}


def nf_module(cls: type) -> type:
    if cls.__name__ in NF_MODULES:
        raise ValueError(f"nf module {cls.__name__} is defined twice")
    NF_MODULES[cls.__name__] = cls
    return cls


for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
