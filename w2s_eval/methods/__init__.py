"""The W2S methods, one plug-in each (``base.py`` says what a method is and how to add one).

Every module of this folder is imported here, so a method registers itself by being a file in it.
"""

import importlib
import pkgutil

from .base import METHODS, Method, MethodContext, TrainingSet, no_hidden_states

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "Method", "MethodContext", "TrainingSet", "get_method", "make_method", "no_hidden_states", "parse_method_spec"]


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


def parse_method_spec(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:option=value:option=value`` (values read as YAML) -> (name, options), so
    a sweep can cross variants of one method: ``--methods naive,reliability,reliability:variant=reweight``."""
    import yaml

    from ..errors import UserError

    name, *parts = spec.split(":")
    options = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise UserError(f"method {spec!r}: expected NAME or NAME:OPTION=VALUE[:OPTION=VALUE...], e.g. "
                            f"reliability:variant=reweight")
        if key in options:
            raise UserError(f"method {spec!r}: option {key!r} is given twice; give it once")
        try:
            options[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
            raise UserError(f"method {spec!r}: the value of {key!r} is not valid YAML ({problem})") from None
    make_method(name, options)  # an unknown name or option fails here, naming it
    return name, options
