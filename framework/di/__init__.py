"""fw's container on dependency-injector: provider specs, autowiring, scopes and errors."""

from framework.di.errors import CircularDependency, DependencyError, MissingDependency, ScopeError
from framework.di.provider import ProviderSpec, provide
from framework.di.scope import RequestScope

__all__ = ["CircularDependency", "DependencyError", "MissingDependency", "ProviderSpec",
           "RequestScope", "ScopeError", "provide"]
