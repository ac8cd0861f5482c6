"""fw: a dependency-injection application framework with a multi-process server and a broker."""

from framework import http, jobs, rpc
from framework.app import App
from framework.config import FrameworkConfig
from framework.di.provider import provide
from framework.errors import FrameworkError
from framework.events import event_dispatcher
from framework.framework_module import FrameworkModule
from framework.module import Module
from framework.process import ProcessInfo, process_info

__all__ = ["App", "FrameworkConfig", "FrameworkError", "FrameworkModule", "Module", "ProcessInfo",
           "event_dispatcher", "http", "jobs", "process_info", "provide", "rpc"]
