"""Who consumes whom among an App's declarations: the chain a missing dependency is named by.

The chain runs from a provider nothing depends on to the one that lacks something
(``UserController -> UserService -> Db``), whatever order the providers were declared and
built in, and it is the longest such chain, so the consumer a reader knows comes first.
"""

from __future__ import annotations

from collections.abc import Iterable

from framework.di.autowire import dependencies_of
from framework.di.errors import DependencyError
from framework.di.provider import Declaration


def longest_consumer_chain(declaration: Declaration,
                           declarations: Iterable[Declaration]) -> list[Declaration]:
    """``declaration`` preceded by its longest chain of consumers among ``declarations``.

    Exact when the consumers form no cycle; a cycle is cut where it would come round.
    """
    consumers = _consumers(declarations)
    longest: dict[Declaration, list[Declaration]] = {}

    def chain(current: Declaration, on_path: frozenset[Declaration]) -> list[Declaration]:
        if current not in longest:
            best: list[Declaration] = []
            for consumer in consumers.get(current, ()):
                if consumer not in on_path:
                    candidate = chain(consumer, on_path | {consumer})
                    if len(candidate) > len(best):
                        best = candidate
            longest[current] = [*best, current]
        return longest[current]

    return chain(declaration, frozenset({declaration}))


def _consumers(declarations: Iterable[Declaration]) -> dict[Declaration, list[Declaration]]:
    """For each declaration, the declarations whose constructor or factory asks for it."""
    consumers: dict[Declaration, list[Declaration]] = {}
    for consumer in dict.fromkeys(declarations):
        if consumer.spec.kind == "value":
            continue
        try:
            dependencies = dependencies_of(consumer.spec.target)
        except DependencyError:
            continue  # its own error is raised when it is built
        for dependency in dependencies:
            provider = consumer.lookup(dependency.token)
            if provider is not None:
                consumers.setdefault(provider, []).append(consumer)
    return consumers
