"""Cost of resolving a request-scoped graph: hand-written, dependency-injector, fw, injector, lagom.

The graph: Controller -> Service -> (Repo -> Session [one per request], Clock [singleton]).
One resolution is one request: for fw, open a request scope and resolve Controller; for the
others, Session is built anew by each resolution. Run: ``python -m bench.di``.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

import injector
import lagom
from dependency_injector import providers

from framework import App, Module, provide


class Clock:
    pass


class Session:
    pass


class Repo:
    def __init__(self, session: Session) -> None:
        self.session = session


class Service:
    def __init__(self, repo: Repo, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock


class Controller:
    def __init__(self, service: Service) -> None:
        self.service = service


def hand_written() -> Callable[[], Controller]:
    clock = Clock()
    return lambda: Controller(Service(Repo(Session()), clock))


def raw_dependency_injector() -> Callable[[], Controller]:
    clock = providers.Singleton(Clock)
    session = providers.Factory(Session)
    repo = providers.Factory(Repo, session=session)
    service = providers.Factory(Service, repo=repo, clock=clock)
    return providers.Factory(Controller, service=service)


class BenchModule(Module):
    providers = [Clock, provide(Session, scope="request"), provide(Repo, scope="transient"),
                 provide(Service, scope="transient")]
    controllers = [Controller]


def fw() -> Callable[[], Controller]:
    app = App(imports=[BenchModule()])

    def one_request() -> Controller:
        with app.request_scope():
            return app.get(Controller)
    return one_request


def with_injector() -> Callable[[], Controller]:
    for cls in (Repo, Service, Controller):
        injector.inject(cls.__init__)

    def configure(binder: injector.Binder) -> None:
        binder.bind(Clock, to=Clock, scope=injector.singleton)
    container = injector.Injector([configure])
    return lambda: container.get(Controller)


def with_lagom() -> Callable[[], Controller]:
    container = lagom.Container()
    container[Clock] = lagom.Singleton(Clock)
    return lambda: container[Controller]


CONTENDERS = {
    "hand-written": hand_written,
    "dependency-injector (raw)": raw_dependency_injector,
    "fw": fw,
    "injector": with_injector,
    "lagom": with_lagom,
}


def check(resolve: Callable[[], Controller]) -> None:
    """Every contender builds the same graph: a new Session per request, one Clock."""
    first, second = resolve(), resolve()
    assert isinstance(first.service.repo.session, Session)
    assert first.service.repo.session is not second.service.repo.session
    assert first.service.clock is second.service.clock


def measure(resolve: Callable[[], Controller], repeat: int) -> float:
    """Best of ``repeat`` runs of at least 0.2 s each, in microseconds per resolution."""
    timer = timeit.Timer(resolve)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs; the best one counts")
    args = parser.parse_args()
    timings = {}
    for name, make in CONTENDERS.items():
        resolve = make()
        check(resolve)
        timings[name] = measure(resolve, args.repeat)
    hand = timings["hand-written"]
    print(f"{'contender':28s} {'µs/resolution':>14s} {'x hand-written':>15s}")
    for name, micros in timings.items():
        print(f"{name:28s} {micros:14.2f} {micros / hand:15.1f}")
    raw, fw_cost, injector_cost = (timings["dependency-injector (raw)"], timings["fw"],
                                   timings["injector"])
    print(f"\nfw / dependency-injector (raw) = {fw_cost / raw:.2f} (target <= 1.3)")
    print(f"injector / fw = {injector_cost / fw_cost:.1f} (target >= 5)")


if __name__ == "__main__":
    main()
