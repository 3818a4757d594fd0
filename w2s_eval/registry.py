"""One registry shape for every kind of plug-in: tasks, paradigms, losses, methods and conflicts.

A plug-in registers itself with a decorator (a class) or a call (an instance such as a ``Task``),
and an unknown name is a one-line error that lists the valid ones (as lm-evaluation-harness's
``api/registry.py``)::

    METHODS = Registry("method")

    @METHODS.register("confident")
    class Confident(Method): ...

    METHODS.get("confident")  # the class; METHODS.get("nope") -> UserError listing the names
    METHODS.names()           # for help texts and choices

A registry is also a mapping (name -> plug-in), so ``for name, item in REGISTRY.items()`` and a
test's ``monkeypatch.setitem(REGISTRY, name, replacement)`` work as on a dict.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Callable, Generic, TypeVar

from .errors import UserError, unknown_name

T = TypeVar("T")
_ERROR = object()  # get() without a default: an unknown name is an error


class Registry(MutableMapping, Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator (or call) that adds ``item`` under ``name``; a class gets ``name`` as an attribute."""
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            if isinstance(item, type):
                item.name = name
            return item
        return add

    def get(self, name: str, default=_ERROR) -> T:
        """The plug-in called ``name``; an unknown name is an error listing the valid ones, unless a
        ``default`` is given (then, as ``dict.get``, the default)."""
        if name in self._items:
            return self._items[name]
        if default is _ERROR:
            raise unknown_name(self.kind, name, self._items)
        return default

    def names(self) -> list[str]:
        return list(self._items)

    def choices(self) -> str:
        """The names as a help text shows them: ``a | b | c``."""
        return " | ".join(self._items)

    # -- the mapping protocol ------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self.get(name)  # an unknown name: the one-line error (a UserError, not a KeyError)

    def __setitem__(self, name: str, item: T):
        self._items[name] = item

    def __delitem__(self, name: str):
        del self._items[name]

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"


def check_options(kind: str, name: str, config_class, options: dict) -> object:
    """``config_class(**options)`` with errors that name the plug-in and the bad option."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UserError(f"{kind} {name!r}: unknown option {unknown[0]!r}; valid options: "
                        f"{', '.join(sorted(fields)) or '(none)'}")
    return config_class(**options)
