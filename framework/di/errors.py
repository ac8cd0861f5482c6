"""Errors of the container: users catch them, and their messages say what to do next."""

from framework.errors import FrameworkError


class DependencyError(FrameworkError):
    """The provider graph cannot be built or a service cannot be resolved."""


class MissingDependency(DependencyError):
    """No provider is visible for a dependency: ``A -> B -> Db: no provider for Db (...)``."""


class CircularDependency(DependencyError):
    """Services depend on each other in a loop: ``A -> B -> A``."""


class ScopeError(DependencyError):
    """A service is resolved where its scope does not exist, or outlives one it depends on."""
