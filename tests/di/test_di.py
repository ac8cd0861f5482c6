"""Provider forms, autowiring and the graph check done when the App is built."""

import asyncio
from typing import Optional

import pytest

from framework import App, Module, provide
from framework.di.errors import CircularDependency, DependencyError, MissingDependency, ScopeError


class Db:
    pass


class UserService:
    def __init__(self, db: Db) -> None:
        self.db = db


class UserController:
    def __init__(self, users: UserService) -> None:
        self.users = users


class Clock:
    def now(self) -> str:
        return "real"


class FixedClock(Clock):
    def now(self) -> str:
        return "fixed"


def test_a_class_is_autowired_from_its_init_type_hints() -> None:
    app = App(providers=[UserService, Db])
    service = app.get(UserService)
    assert isinstance(service.db, Db)
    assert service.db is app.get(Db)


def test_use_class_use_value_and_use_factory() -> None:
    given = FixedClock()

    def make_service(db: Db, clock: Clock) -> UserService:
        service = UserService(db)
        service.clock = clock
        return service

    app = App(providers=[Db, provide(Clock, use_value=given),
                         provide(UserService, use_factory=make_service)])
    service = app.get(UserService)
    assert service.clock is given and isinstance(service.db, Db)
    assert App(providers=[provide(Clock, use_class=FixedClock)]).get(Clock).now() == "fixed"


def test_provide_takes_exactly_one_way_to_build() -> None:
    with pytest.raises(TypeError, match="give one of use_class, use_value, use_factory, "
                                        "not use_class and use_value"):
        provide(Clock, use_class=FixedClock, use_value=FixedClock())
    with pytest.raises(TypeError, match="scope must be one of singleton, transient, request"):
        provide(Clock, scope="session")


def test_optional_dependency_gets_none_when_nothing_provides_it() -> None:
    class Reporter:
        def __init__(self, clock: Optional[Clock], db: Db | None) -> None:  # noqa: UP045
            self.clock, self.db = clock, db

    assert vars(App(providers=[Reporter]).get(Reporter)) == {"clock": None, "db": None}
    with_db = App(providers=[Reporter, Db]).get(Reporter)
    assert with_db.clock is None and isinstance(with_db.db, Db)


def test_parameters_with_defaults_are_left_alone_when_nothing_provides_them() -> None:
    class Pager:
        def __init__(self, db: Db, size: int = 20, clock: Clock = FixedClock()) -> None:
            self.db, self.size, self.clock = db, size, clock

    pager = App(providers=[Pager, Db]).get(Pager)
    assert pager.size == 20 and pager.clock.now() == "fixed"
    assert App(providers=[Pager, Db, Clock]).get(Pager).clock.now() == "real"


def test_missing_dependency_names_the_whole_chain_and_the_module() -> None:
    class DbModule(Module):
        providers = [Db]

    class AppModule(Module):
        providers = [UserService]
        controllers = [UserController]
        imports = [DbModule()]

    with pytest.raises(MissingDependency) as error:
        App(imports=[AppModule()])
    assert str(error.value) == ("UserController -> UserService -> Db: no provider for Db "
                                "(declared in AppModule? exported by DbModule?)")


def test_missing_dependency_names_the_chain_from_its_consumer_whatever_the_order() -> None:
    """DESIGN.md's example: the consumer declared after its service still starts the chain."""
    for providers in ([UserService, UserController], [UserController, UserService]):
        with pytest.raises(MissingDependency) as error:
            App(providers=providers)
        assert str(error.value) == ("UserController -> UserService -> Db: no provider for Db "
                                    "(declared in App? exported by an imported module?)")


class Report:
    def __init__(self, users: UserService) -> None:
        self.users = users


class ReportPage:
    def __init__(self, report: Report) -> None:
        self.report = report


def test_missing_dependency_names_the_longest_of_the_chains_reaching_it() -> None:
    def make_page(report: Report) -> ReportPage:
        return ReportPage(report)

    with pytest.raises(MissingDependency) as error:
        App(providers=[UserService, UserController, Report,
                       provide(ReportPage, use_factory=make_page)])
    assert str(error.value).startswith("ReportPage -> Report -> UserService -> Db: ")


def test_missing_dependency_nobody_declares() -> None:
    with pytest.raises(MissingDependency) as error:
        App(providers=[UserService])
    assert str(error.value) == ("UserService -> Db: no provider for Db "
                                "(declared in App? exported by an imported module?)")


class A:
    def __init__(self, b: "B") -> None:
        self.b = b


class B:
    def __init__(self, a: A) -> None:
        self.a = a


class C:
    def __init__(self, a: A) -> None:
        self.a = a


def test_a_cycle_fails_at_build_with_the_loop() -> None:
    with pytest.raises(CircularDependency) as error:
        App(providers=[A, B])
    assert str(error.value) == "A -> B -> A"
    with pytest.raises(CircularDependency) as error:
        App(providers=[C, A, B])
    assert str(error.value) == "C -> A -> B -> A"


class Node:
    def __init__(self, parent: "Node") -> None:
        self.parent = parent


def test_a_self_dependency_is_a_cycle_not_a_recursion_error() -> None:
    with pytest.raises(CircularDependency, match="^Node -> Node$"):
        App(providers=[Node])


def test_a_parameter_without_type_hint_is_a_clear_error_not_a_type_error() -> None:
    class Untyped:
        def __init__(self, thing) -> None:  # noqa: ANN001
            self.thing = thing

    with pytest.raises(DependencyError, match="parameter 'thing' of Untyped has no type hint"):
        App(providers=[Untyped])


def test_an_unresolvable_string_annotation_is_a_clear_error() -> None:
    class Broken:
        def __init__(self, ghost: "Ghost") -> None:  # noqa: F821
            self.ghost = ghost

    with pytest.raises(DependencyError, match="cannot read the type hints of Broken: "
                                              "name 'Ghost' is not defined"):
        App(providers=[Broken])


def test_generator_factories_are_resources_torn_down_in_reverse_order() -> None:
    events: list[str] = []

    class Pool:
        pass

    def open_db() -> object:
        events.append("open db")
        yield Db()
        events.append("close db")

    def open_pool(db: Db) -> object:
        events.append("open pool")
        yield Pool()
        events.append("close pool")

    async def open_clock(pool: Pool) -> object:
        events.append("open clock")
        yield FixedClock()
        events.append("close clock")

    async def main() -> None:
        app = App(providers=[provide(Db, use_factory=open_db),
                             provide(Pool, use_factory=open_pool),
                             provide(Clock, use_factory=open_clock)])
        assert events == []
        await app.startup()
        assert app.get(Clock).now() == "fixed"
        assert events == ["open db", "open pool", "open clock"]
        await app.shutdown()
        assert events[3:] == ["close clock", "close pool", "close db"]

    asyncio.run(main())


def test_an_async_factory_is_awaited_at_startup_and_needed_before_use() -> None:
    async def connect(db: Db) -> Clock:
        await asyncio.sleep(0)
        return FixedClock()

    app = App(providers=[Db, provide(Clock, use_factory=connect)])
    with pytest.raises(ScopeError, match="Clock comes from an async factory: "
                                         r"`await app.startup\(\)` first"):
        app.get(Clock)
    asyncio.run(app.startup())
    assert app.get(Clock).now() == "fixed"


def test_a_resource_is_rebuilt_after_shutdown() -> None:
    opened: list[Db] = []

    def open_db() -> object:
        db = Db()
        opened.append(db)
        yield db

    app = App(providers=[provide(Db, use_factory=open_db)])
    first = app.get(Db)
    asyncio.run(app.shutdown())
    assert app.get(Db) is not first and len(opened) == 2


def test_a_resource_cannot_be_request_scoped() -> None:
    def open_db() -> object:
        yield Db()

    with pytest.raises(ScopeError, match="a generator or async factory is a resource"):
        App(providers=[provide(Db, use_factory=open_db, scope="request")])


def test_get_of_an_unknown_token_names_it() -> None:
    with pytest.raises(MissingDependency, match="no provider for Clock"):
        App().get(Clock)
