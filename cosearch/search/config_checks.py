"""Reading a search config's fields, each checked, with one-line errors.

Every problem a config can have becomes a :class:`SearchConfigError` whose
message names the field (``config.search.episodes: ...``); the readers here
refuse missing fields, non-numbers, NaN and infinities, and values outside a
set. :mod:`cosearch.search.setup` builds a search's pieces with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosearch.errors import UserError


class SearchConfigError(UserError, ValueError):
    """A config that cannot run; the message is one line naming the field."""


def field_error(field: str, message: str) -> SearchConfigError:
    """The error of ``config.<field>``, one line."""
    return SearchConfigError(f"config.{field}: {message}")


def choice(config, field: str, value: str, allowed) -> str:
    """``value`` of ``field`` if it is one of ``allowed``."""
    if value not in allowed:
        raise field_error(field, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def leaves(node, prefix: str = ""):
    """(dotted name, value) of every leaf of a (nested) config."""
    for key in node.keys():
        value = node[key]
        name = f"{prefix}{key}"
        if hasattr(value, "keys"):
            yield from leaves(value, f"{name}.")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield f"{name}[{i}]", item
        else:
            yield name, value


def check_finite(c) -> None:
    """Refuse NaN and infinite numbers anywhere in the config."""
    for name, value in leaves(c):
        if isinstance(value, float) and not np.isfinite(value):
            raise field_error(name, f"must be a finite number, got {value}")


def value_at(c, field: str) -> Any:
    """The value of a dotted config field; a missing one is a user error."""
    node = c
    for part in field.split("."):
        if not hasattr(node, "keys") or part not in node.keys():
            raise field_error(field, "missing from the config")
        node = node[part]
    return node


def integer(c, field: str) -> int:
    """A dotted field's whole-number value (an integral float accepted)."""
    node = value_at(c, field)
    if isinstance(node, int | np.integer) and not isinstance(node, bool):
        return int(node)  # exact, however large
    value = finite(c, field)
    if value != int(value):
        raise field_error(field, f"must be a whole number, got {value:g}")
    return int(value)


def finite(c, field: str) -> float:
    """A dotted field's value as a finite float."""
    node = value_at(c, field)
    try:
        value = float(node)
    except (TypeError, ValueError):
        raise field_error(field, f"expected a number, got {node!r}") from None
    if not np.isfinite(value):
        raise field_error(field, f"must be a finite number, got {value}")
    return value
