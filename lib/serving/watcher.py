"""A thread that follows an S3 registry's pointer, so requests never wait on S3.

Every process on one registry serves a newly promoted version within S3_POLL_S plus
its download.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lib.registry import RegistryError, S3Registry

S3_POLL_S = 5.0


class RegistryWatcher:
    """Reads the pointer every S3_POLL_S until stopped.

    serving() is the version this process serves; switch() loads the one the pointer
    names when they differ; report(problem) gets why the registry cannot be read, or
    None once it can.
    """

    def __init__(
        self,
        uri: str,
        serving: Callable[[], str | None],
        switch: Callable[[], object],
        report: Callable[[str | None], None],
    ) -> None:
        self._registry = S3Registry(uri)
        self._serving, self._switch, self._report = serving, switch, report
        self._stopped = threading.Event()
        threading.Thread(target=self._follow, name="registry-watch", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _follow(self) -> None:
        while not self._stopped.wait(S3_POLL_S):
            try:
                served = self._registry.served()
            except RegistryError as exc:
                self._report(str(exc))
                continue
            self._report(None)
            if served is not None and served != self._serving():
                self._switch()
