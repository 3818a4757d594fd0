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

Each registry checks what is registered (``check``: a method must subclass ``Method``, a paradigm's
model class must have the trainable-model interface, ...), so a malformed plug-in fails when it
registers, naming itself, not in the middle of a run.

**Plug-ins from other packages** register through entry points, as lm-evaluation-harness and
pytest take theirs: a package declares, in its ``pyproject.toml``::

    [project.entry-points."w2s_eval.methods"]
    my_method = "my_package.my_method"          # a module that registers itself with @METHODS.register
    # or: my_method = "my_package.my_method:MyMethod"   # an object, registered under the entry point's name

The groups are ``w2s_eval.tasks``, ``w2s_eval.paradigms``, ``w2s_eval.losses``, ``w2s_eval.methods``
and ``w2s_eval.conflicts``. They are read once, the first time a registry is looked up; a plug-in
that fails to import is a one-line error naming its entry point.
"""

from __future__ import annotations

import types
from collections.abc import MutableMapping
from typing import Callable, Generic, TypeVar

from .errors import UserError, unknown_name

T = TypeVar("T")
_ERROR = object()  # get() without a default: an unknown name is an error


class Registry(MutableMapping, Generic[T]):
    def __init__(self, kind: str, check: Callable[[str, T], None] | None = None, group: str | None = None):
        """``kind``: what is registered, for messages; ``check(name, item)`` raises TypeError on an item
        that is not a plug-in of this kind; ``group``: the entry-point group of other packages' plug-ins."""
        self.kind, self.check, self.group = kind, check, group
        self._items: dict[str, T] = {}
        self._plugins_loaded = group is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator (or call) that adds ``item`` under ``name``; a class gets ``name`` as an attribute."""
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if self.check is not None:
                self.check(name, item)
            self._items[name] = item
            if isinstance(item, type):
                item.name = name
            return item
        return add

    def _all(self) -> dict[str, T]:
        """Every plug-in, other packages' (entry points) included."""
        if not self._plugins_loaded:
            self._plugins_loaded = True  # first: a plug-in's import may look the registry up
            self._load_plugins()
        return self._items

    def _load_plugins(self):
        from importlib.metadata import entry_points

        for entry in entry_points(group=self.group):
            try:
                item = entry.load()
            except Exception as exc:  # any import failure of someone else's package: one line naming it
                raise UserError(f"{self.kind} plug-in {entry.name!r} (entry point {entry.value!r} in group "
                                f"{self.group}) failed to load: {type(exc).__name__}: {exc}") from None
            # A module registers its plug-ins itself when imported; an object is registered here.
            if not isinstance(item, types.ModuleType) and entry.name not in self._items:
                self.register(entry.name)(item)

    def get(self, name: str, default=_ERROR) -> T:
        """The plug-in called ``name``; an unknown name is an error listing the valid ones, unless a
        ``default`` is given (then, as ``dict.get``, the default)."""
        items = self._all()
        if name in items:
            return items[name]
        if default is _ERROR:
            raise unknown_name(self.kind, name, items)
        return default

    def names(self) -> list[str]:
        return list(self._all())

    def choices(self) -> str:
        """The names as a help text shows them: ``a | b | c``."""
        return " | ".join(self._all())

    # -- the mapping protocol ------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self.get(name)  # an unknown name: the one-line error (a UserError, not a KeyError)

    def __setitem__(self, name: str, item: T):
        self._items[name] = item

    def __delitem__(self, name: str):
        del self._items[name]

    def __contains__(self, name) -> bool:
        return name in self._all()

    def __iter__(self):
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._all())})"


def check_options(kind: str, name: str, config_class, options: dict) -> object:
    """``config_class(**options)`` with errors that name the plug-in and the bad option (a
    ``config.Settings`` class checks each option's type and declared bounds)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise UserError(f"{kind} {name!r}: unknown option {unknown[0]!r}; valid options: "
                        f"{', '.join(sorted(fields)) or '(none)'}")
    try:
        return config_class(**options)
    except UserError as exc:
        raise UserError(f"{kind} {name!r}: {exc}") from None


def subclass_check(base: type) -> Callable[[str, object], None]:
    """A registry ``check``: the item is a subclass of ``base``."""
    def check(name: str, item):
        if not (isinstance(item, type) and issubclass(item, base)):
            raise TypeError(f"{name!r}: expected a subclass of {base.__module__}.{base.__qualname__}, got {item!r}")
    return check


def instance_check(base: type) -> Callable[[str, object], None]:
    """A registry ``check``: the item is an instance of ``base``."""
    def check(name: str, item):
        if not isinstance(item, base):
            raise TypeError(f"{name!r}: expected a {base.__module__}.{base.__qualname__}, got {type(item).__name__}")
    return check
