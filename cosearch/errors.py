"""The errors a user's input can cause.

Every exception the project raises for a bad config, flag, file or
environment derives from :class:`UserError`; the launchers print those in
one line (``error: ...``, exit status 2). Any other exception is a bug and
keeps its traceback. The classes also derive from ``ValueError`` or
``RuntimeError`` where they did before, so existing ``except`` clauses
still catch them.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; its message is one line naming the cause."""


class InputError(UserError, ValueError):
    """A value a user gave (a flag, a config field, a text to parse) that
    cannot be used."""
