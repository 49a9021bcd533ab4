"""Undo a side effect of pytest's importlib mode on the repository's package folders."""

from __future__ import annotations

import importlib
import sys


def prefer_installed_package(name: str) -> None:
    """Put the installed package NAME back in `sys.modules` for a pipeline's own tests.

    Importing `<pipeline>/tests/conftest.py`, pytest registers the folder `<pipeline>/` as a
    namespace package of the same name as the installed package (`<pipeline>/src/<pipeline>`),
    which then hides it. Call this at the top of the pipeline's conftest.
    """
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) is None:
        del sys.modules[name]
    importlib.import_module(name)
