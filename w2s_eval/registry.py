"""One registry shape for every kind of plug-in (methods today; tasks, paradigms and losses keep
their dict registries with the same lookup error).

A plug-in registers itself with a decorator, and an unknown name is a one-line error that lists
the valid ones (as lm-evaluation-harness's ``api/registry.py``)::

    METHODS = Registry("method")

    @METHODS.register("confident")
    class Confident(Method): ...

    METHODS.get("confident")  # the class; METHODS.get("nope") -> UserError listing the names
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from .errors import UserError, unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            setattr(item, "name", name)
            return item
        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            raise unknown_name(self.kind, name, self._items)
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(self._items)

    def items(self):
        return self._items.items()


def check_options(kind: str, name: str, config_class, options: dict) -> object:
    """``config_class(**options)`` with errors that name the plug-in and the bad option."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UserError(f"{kind} {name!r}: unknown option {unknown[0]!r}; valid options: "
                        f"{', '.join(sorted(fields)) or '(none)'}")
    return config_class(**options)
