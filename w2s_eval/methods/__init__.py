"""The W2S methods, one plug-in each (``base.py`` says what a method is and how to add one).

Every module of this folder is imported here, so a method registers itself by being a file in it.
"""

import importlib
import pkgutil

from .base import METHODS, Method, MethodContext, TrainingSet

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "Method", "MethodContext", "TrainingSet", "get_method", "make_method"]


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)


def make_method(name: str, options: dict | None = None) -> Method:
    """The method ``name`` with its options (a mapping of its Config's fields), checked."""
    from ..errors import UserError
    from ..registry import check_options

    cls = METHODS.get(name)
    options = options or {}
    if cls.Config is None:
        if options:
            raise UserError(f"method {name!r} takes no options; got {', '.join(sorted(options))}")
        return cls()
    return cls(check_options("method", name, cls.Config, options))
