"""Lazy package exports (PEP 562): a name's module is imported the first time the name is used.

Packages whose public names need torch use it, so that the command line (``--help``, ``runs``,
``report``) can import what it needs from them without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, modules: dict[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Return a package's ``(__getattr__, __dir__, names)`` for ``modules`` (module -> its public
    names, separated by spaces); ``names`` is the sorted list of them all.

    Use in a package's ``__init__``: ``__getattr__, __dir__, __all__ = lazy_exports(__name__,
    {...}, globals())``. A loaded name is cached in ``namespace`` (the package's globals).
    """
    exports = {name: module for module, names in modules.items() for name in names.split()}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__, sorted(exports)
