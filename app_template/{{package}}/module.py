"""The application's module: what it provides, serves and listens to."""

from framework import Module

from {{package}}.commands import greet
from {{package}}.controllers import CounterRpc, GreetingController
from {{package}}.listeners import WorkerAnnouncer
from {{package}}.services import Greeter, VisitCounter


class MainModule(Module):
    name = "main"
    providers = [Greeter, VisitCounter]
    controllers = [GreetingController, CounterRpc]
    listeners = [WorkerAnnouncer]
    commands = [greet]
