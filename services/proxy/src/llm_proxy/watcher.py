"""Hot reload of a file-backed value (the routing table, the knowledge pack, client keys).

The kubelet updates a mounted ConfigMap by writing a new timestamped directory and swapping
the `..data` symlink atomically; the file we are given (`routes.yaml -> ..data/routes.yaml`)
never changes in place. So we poll: `os.stat` follows the links, and a new (inode, mtime,
size) of the real file means a new version. A version that fails to load is logged and
counted, and the last good value stays in force. Readers take `current` once per request, so
a request finishes on the value it started with.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("llm_proxy.reload")


def _signature(path: Path) -> tuple[str, int, int, int] | None:
    try:
        st = os.stat(path)
        return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


class Reloadable(Generic[T]):
    def __init__(
        self,
        name: str,
        path: Path | None,
        load: Callable[[Path | None], T],
        on_result: Callable[[str, str], None] = lambda name, result: None,
    ) -> None:
        self.name = name
        self.path = path
        self._load = load
        self._on_result = on_result
        self.current: T = load(path)  # the first load must succeed: no last good value yet
        self._signature = _signature(path) if path else None
        self.last_error: str | None = None

    def check(self) -> bool:
        """Reload if the file changed; True when a new value took effect."""
        if self.path is None:
            return False
        signature = _signature(self.path)
        if signature is None or signature == self._signature:
            return False  # a missing file mid-swap is not a change; wait for the new one
        self._signature = signature
        try:
            value = self._load(self.path)
        except Exception as exc:  # any loader error keeps the last good value
            self.last_error = str(exc)
            log.error("reload of %s from %s failed; keeping the previous version: %s", self.name, self.path, exc)
            self._on_result(self.name, "error")
            return False
        self.current = value
        self.last_error = None
        log.info("reloaded %s from %s", self.name, self.path)
        self._on_result(self.name, "success")
        return True

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # File reads are small; doing them on the loop avoids a thread hop per poll.
            self.check()
