"""A thread that follows an S3 registry's pointer, so requests never wait on S3.

Every process on one registry serves a newly promoted version within S3_POLL_S plus
its download.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lib.registry import RegistryError, S3Registry

S3_POLL_S = 5.0


def start_watcher(
    uri: str,
    serving: Callable[[], str | None],
    switch: Callable[[], object],
    report: Callable[[str | None], None],
) -> threading.Thread:
    """Start a daemon thread that reads the pointer every S3_POLL_S.

    serving() is the version this process serves; switch() loads the one the pointer
    names when they differ; report(problem) gets why the registry cannot be read, or
    None once it can. The thread stops when the caller forgets it (see `is_current`).
    """
    thread = threading.Thread(
        target=_follow, args=(S3Registry(uri), serving, switch, report), name="registry-watch", daemon=True
    )
    thread.start()
    return thread


def _follow(
    registry: S3Registry,
    serving: Callable[[], str | None],
    switch: Callable[[], object],
    report: Callable[[str | None], None],
) -> None:
    me = threading.current_thread()
    while getattr(me, "keep_watching", True):
        time.sleep(S3_POLL_S)
        if not getattr(me, "keep_watching", True):
            return
        try:
            served = registry.served()
        except RegistryError as exc:
            report(str(exc))
            continue
        report(None)
        if served is not None and served != serving():
            switch()


def stop_watcher(thread: threading.Thread | None) -> None:
    """Ask a watcher to stop at its next wake-up (it holds nothing worth waiting for)."""
    if thread is not None:
        thread.keep_watching = False  # type: ignore[attr-defined]
