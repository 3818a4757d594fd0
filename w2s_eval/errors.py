"""User-facing errors: the CLI prints these as one clear line, without a traceback."""


class UserError(Exception):
    """A mistake in the user's input (flag, file, field, name) that they can fix."""


def unknown_name(kind: str, name: str, valid) -> UserError:
    """The error for an unknown task / gap / loss / model name, listing the valid ones."""
    return UserError(f"unknown {kind} {name!r}; valid choices: {', '.join(sorted(valid))}")
