"""What a reload loads afresh, and how: the app's own modules, imported again from disk.

A reload's new worker, just forked, forgets every module whose file lies in the app's
project directory, then imports the app again the way the command line found it (``--app
module:attr``, ``FW_APP``, ``app.py``, the script run as ``python app.py``, or the module
holding the App that was given to ``App.run``). fw itself,
installed packages and the standard library stay as the master imported them, and so do the
master's broker state and listening socket. How the master rolls its workers onto the
fresh code is master/rolling.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from framework.config import FrameworkConfig
from framework.errors import FrameworkError
from framework.server.abc import ReloadableApp, ServedApp
from framework.server.control.identity import ServerIdentity

__all__ = ["MASTER_FIELDS", "SCRIPT_MODULE", "AppSource", "ReloadError", "project_of_module",
           "server_identity", "worker_config"]

#: FrameworkConfig fields only the master acts on: a reloaded worker keeps the master's.
MASTER_FIELDS = ("host", "port", "workers", "reuse_port", "worker_timeout",
                 "graceful_shutdown_timeout", "broker_url", "broker_max_value_mb",
                 "control_socket", "log_level", "log_format")
#: A script run as ``python app.py`` is imported again under this name, so that its
#: ``if __name__ == "__main__":`` block does not run (multiprocessing's name for it).
SCRIPT_MODULE = "__mp_main__"
_INSTALLED = frozenset({"site-packages", "dist-packages"})
_NO_CACHE = os.path.join(os.devnull, "fw-reload")  # never a directory: no .pyc is read
# fw's own package directory (this file is framework/server/reloader.py)
_FW_DIRECTORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ReloadError(FrameworkError):
    """The app cannot be imported again (its module has no App under that name any more)."""


@dataclass(frozen=True)
class AppSource:
    """Where the app was found, so that a new worker can import it again from disk.

    ``module`` is importable by name, or empty for a script run as ``python app.py``
    (``script``, imported as ``__mp_main__``); ``attribute`` holds the App ("" when no
    module holds it as a module-level name: then a reload has nothing to import); ``root``
    is the project directory.
    """

    module: str
    attribute: str
    root: str
    script: str = ""

    @classmethod
    def found_at(cls, module_name: str, attribute: str) -> AppSource:
        """The app at ``module_name:attribute`` (the command line's ``--app``, ``FW_APP``,
        ``app.py``); its project is the directory of its top-level package or module."""
        top = sys.modules[module_name.partition(".")[0]]
        return cls(module_name, attribute, _project_of(top))

    @classmethod
    def of_main(cls, app: object) -> AppSource:
        """The app given to ``App.run``: the ``__main__`` module's when it holds it (``python
        app.py``, ``python -m package``), else the first imported module holding it (``python
        -c "import app; app.app.run()"``, a notebook, a process manager importing the app)."""
        main = sys.modules["__main__"]
        attribute = _name_of(app, main)
        spec = getattr(main, "__spec__", None)
        if attribute and spec is not None and spec.name != "__main__":  # python -m package
            return cls.found_at(spec.name, attribute)
        file: str | None = getattr(main, "__file__", None)  # none for python -c, a notebook
        script = os.path.abspath(file) if file else ""
        if attribute and script:
            return cls("", attribute, os.path.dirname(script), script)
        for name, module in list(sys.modules.items()):
            holder = _name_of(app, module) if module is not main else ""  # __mp_main__ too
            if holder:
                return cls.found_at(name, holder)
        return cls("", "", os.path.dirname(script) if script else os.getcwd(), script)

    def cannot_reload(self) -> str | None:
        """Why a reload cannot import the app again (one line), or None when it can."""
        if self.attribute:
            return None
        if self.script:
            return (f"cannot reload code: the app of {self.script} is no module-level name: "
                    "assign it to one (app = App(...)) for a reload to import it again")
        return ("cannot reload code: no module holds the app (it was built in python -c "
                "code, or a notebook), so a reload has nothing to import again; restart the "
                "server to change its code")

    def describe(self) -> str:
        return f"{self.script or self.module}:{self.attribute}"

    def identity(self, app_name: str, directory: str = "") -> ServerIdentity:
        """The identity of a server of the app named ``app_name`` found here."""
        return ServerIdentity.of(app_name, self.root, directory)

    def load(self, app_class: type[Any]) -> ReloadableApp:
        """The app, an ``app_class``, imported again from disk, its config read from the
        environment; errors are the import's own (SyntaxError, ImportError, ...)."""
        self.forget_app_modules()
        with _from_source():
            module = self._import_script() if self.script \
                else importlib.import_module(self.module)
        found = getattr(module, self.attribute, None)
        if not isinstance(found, app_class):
            kind = "nothing" if found is None else type(found).__name__
            raise ReloadError(f"{self.describe()} is not an fw App any more (found {kind})")
        app: ReloadableApp = found
        if not app.env_loaded:
            app.load_config_from_env()
        return app

    def forget_app_modules(self) -> list[str]:
        """Drop the app's modules from ``sys.modules`` (not ``__main__``); their names."""
        names = [name for name, module in list(sys.modules.items())
                 if name != "__main__" and self.is_app_module(module)]
        for name in names:
            del sys.modules[name]
        importlib.invalidate_caches()
        return names

    def is_app_module(self, module: ModuleType) -> bool:
        """True for a module loaded from a file of the project: neither fw nor an installed
        package (a virtualenv inside the project included)."""
        places = [module.__file__] if getattr(module, "__file__", None) else \
            list(getattr(module, "__path__", None) or [])
        return any(self._in_project(os.path.abspath(place)) for place in places if place)

    def _in_project(self, path: str) -> bool:
        if path == _FW_DIRECTORY or path.startswith(_FW_DIRECTORY + os.sep):
            return False
        relative = os.path.relpath(path, self.root)
        parts = relative.split(os.sep)
        return parts[0] != ".." and not _INSTALLED.intersection(parts)

    def _import_script(self) -> ModuleType:
        spec = importlib.util.spec_from_file_location(SCRIPT_MODULE, self.script)
        if spec is None or spec.loader is None:
            raise ReloadError(f"cannot import {self.script} again")
        module = importlib.util.module_from_spec(spec)
        sys.modules[SCRIPT_MODULE] = module
        spec.loader.exec_module(module)
        return module


@contextlib.contextmanager
def _from_source() -> Iterator[None]:
    """Imports compile the source and cache nothing: a cached .pyc is trusted when the
    source's size and mtime (whole seconds) match, which a quick edit can leave alike."""
    prefix, dont_write = sys.pycache_prefix, sys.dont_write_bytecode
    sys.pycache_prefix, sys.dont_write_bytecode = _NO_CACHE, True
    try:
        yield
    finally:
        sys.pycache_prefix, sys.dont_write_bytecode = prefix, dont_write


def _name_of(app: object, module: ModuleType) -> str:
    """The module-level name under which ``module`` holds ``app``, or ""."""
    names = getattr(module, "__dict__", None) or {}
    return next((name for name, value in list(names.items())
                 if value is app and not name.startswith("__")), "")


def _project_of(top: ModuleType) -> str:
    """The directory holding a top-level module or package; for a package installed in
    site-packages, the package's own directory."""
    location = top.__file__ or next(iter(getattr(top, "__path__", None) or []), "")
    return _holder_of(location, is_package=hasattr(top, "__path__"))


def project_of_module(module_name: str) -> str | None:
    """The project of the module named ``module_name``, found without running it (its
    code may be broken); None when no such module is on the path."""
    try:
        spec = importlib.util.find_spec(module_name.partition(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or [])
    location = spec.origin if spec.has_location and spec.origin else next(iter(locations), "")
    if not location:
        return None
    return _holder_of(location, is_package=spec.submodule_search_locations is not None)


def _holder_of(location: str, is_package: bool) -> str:
    path = Path(os.path.abspath(location))
    package_directory = path.parent if path.name == "__init__.py" else path
    holder = package_directory.parent if is_package else path.parent
    if holder.name in _INSTALLED:
        return str(package_directory)
    return str(holder)


def server_identity(app: ServedApp, source: AppSource | None) -> ServerIdentity:
    """What a server of ``app`` answers on its control socket: its project is ``source``'s
    (without one, the App.run caller's), its directory the working one."""
    return (source or AppSource.of_main(app)).identity(app.name, os.getcwd())


def worker_config(master: FrameworkConfig, fresh: FrameworkConfig) -> FrameworkConfig:
    """A reloaded worker's config: the fresh app's, but the master's MASTER_FIELDS."""
    return dataclasses.replace(fresh, **{name: getattr(master, name) for name in MASTER_FIELDS})
