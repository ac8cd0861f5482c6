"""FrameworkError, the root of every error fw raises, and DeclarationError.

Each fw error also keeps the built-in base its callers know (ConfigError is a ValueError,
LockTimeout a TimeoutError), so ``except FrameworkError`` catches everything fw raises and
the narrower ``except`` clauses keep working.
"""

from __future__ import annotations


class FrameworkError(Exception):
    """Something fw refused or could not do; the message says what, and what to do next."""


class DeclarationError(FrameworkError, TypeError):
    """The app declares one thing twice: a provider token, a route, an RPC method."""
