"""Forking a worker from the master's running event loop, and what the child must undo.

The master forks from inside its asyncio loop. The child inherits that loop's epoll
instance (shared with the master: touching its registrations would break the master),
its signal wakeup fd and handlers, and the master's end of every sibling's pipe. So the
child never calls the old loop again: it forgets it as the running loop, closes its own
copies of the master's descriptors, resets signal handlers, asks the kernel for a signal
when the master dies, and later runs a fresh loop. It leaves with ``exit_child``, never by
unwinding the master's stack.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable
from typing import NoReturn

logger = logging.getLogger("framework.server")

# The signals the master handles; a child starts with their default dispositions.
MASTER_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGTTIN,
                  signal.SIGTTOU, signal.SIGCHLD, signal.SIGUSR2)
_PR_SET_PDEATHSIG = 1
_warned_about_threads = False


def fork_worker(close_in_child: Iterable[int]) -> int:
    """Fork; returns the child's pid in the master and 0 in the child.

    ``close_in_child`` are descriptors of the master (its pipe ends to other workers,
    its loop's selector) the child closes at once.
    """
    _warn_about_threads()
    close_in_child = list(close_in_child)
    # Objects frozen before the fork are never scanned by the child's garbage collector,
    # so the pages they live on stay shared with the master instead of being copied.
    gc.freeze()
    pid = os.fork()
    if pid:
        gc.unfreeze()
        return pid
    _forget_master_loop(close_in_child)
    return 0


def die_with_parent(signum: int, parent_pid: int) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signum)


def exit_child(code: int) -> NoReturn:
    """Leave the child process with ``code`` after flushing what it wrote."""
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - a broken handler must not keep the process alive
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _forget_master_loop(close_in_child: list[int]) -> None:
    # asyncio itself forgets the running loop in a child (its marker holds the pid)
    asyncio.set_event_loop(None)
    wakeup_fd = signal.set_wakeup_fd(-1)
    for signum in MASTER_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    if wakeup_fd != -1:
        close_in_child.append(wakeup_fd)
    for fd in close_in_child:
        try:
            os.close(fd)
        except OSError:
            pass


def _warn_about_threads() -> None:
    """Once per process: threads at fork time are the classic cause of hung children."""
    global _warned_about_threads
    others = [thread.name for thread in threading.enumerate()
              if thread is not threading.current_thread()]
    if others and not _warned_about_threads:
        _warned_about_threads = True
        logger.warning("forking a worker while the master runs other threads (%s): a thread "
                       "holding a lock at fork time can deadlock the worker; start threads "
                       "in workers, not in master-side listeners", ", ".join(others))
