"""Hot reload of a file-backed value (the routing table, the knowledge pack, client keys).

The kubelet updates a mounted ConfigMap or Secret by writing a new timestamped directory and
swapping the `..data` symlink atomically; the file we are given (`routes.yaml -> ..data/routes.yaml`)
never changes in place. So we poll: `os.stat` follows the links, and a new (real path, inode,
mtime, size) of any watched file means a new version. A directory's signature is that of its
`*.yaml` files. A version that fails to load is logged and counted, and the last good value stays
in force. Readers take `current` once per request, so a request finishes on the value it started
with.

A value may depend on several files (the routes: base, overlay, key files read through `*_FILE`).
`watched` then lists them as `(path, optional)`: a required file that is missing is a swap in
progress (wait for it), an optional one may come and go (the overlay).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("llm_proxy.reload")

Signature = tuple[object, ...] | None
Snapshot = tuple[tuple[str, Signature], ...]


def _signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        try:
            names = sorted(n for n in os.listdir(path) if n.endswith(".yaml") and not n.startswith("."))
        except OSError:
            return None
        return (os.path.realpath(path), tuple((n, _signature(path / n)) for n in names))
    return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)


def yaml_files(path: Path | None) -> list[Path]:
    """The overlay files at `path`: the file itself, or a directory's `*.yaml` in name order
    (hidden entries, such as the kubelet's `..data`, skipped); none when it does not exist."""
    if path is None:
        return []
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.name.endswith(".yaml") and not p.name.startswith("."))
    return [path] if path.exists() else []


class Reloadable(Generic[T]):
    def __init__(
        self,
        name: str,
        path: Path | None,
        load: Callable[[Path | None], T],
        on_result: Callable[[str, str], None] = lambda name, result: None,
        *,
        watched: Callable[[], Sequence[tuple[Path, bool]]] | None = None,
        fallback: Callable[[], T] | None = None,
    ) -> None:
        """`watched` lists the files the value depends on (default: `path`, required). When the
        first load fails, `fallback` (if given) supplies a degraded value and the error is reported
        like a failed reload; without one the first load must succeed (no last good value yet)."""
        self.name = name
        self.path = path
        self._load = load
        self._on_result = on_result
        self._watched = watched or (lambda: [(path, False)] if path is not None else [])
        self.last_error: str | None = None
        try:
            self.current: T = load(path)
        except Exception as exc:
            if fallback is None:
                raise
            self.current = fallback()
            self._failed(exc)
        self._snapshot = self._take()

    def _take(self) -> Snapshot | None:
        """Signatures of the watched files; None while a required one is missing."""
        snapshot = []
        for path, optional in self._watched():
            signature = _signature(path)
            if signature is None and not optional:
                return None
            snapshot.append((str(path), signature))
        return tuple(snapshot)

    def _failed(self, exc: Exception) -> None:
        self.last_error = str(exc)
        log.error("reload of %s from %s failed; keeping the previous version: %s", self.name, self.path, exc)
        self._on_result(self.name, "error")

    def check(self) -> bool:
        """Reload if a watched file changed; True when a new value took effect."""
        snapshot = self._take()
        if snapshot is None or snapshot == self._snapshot:
            return False  # a missing file mid-swap is not a change; wait for the new one
        self._snapshot = snapshot
        try:
            value = self._load(self.path)
        except Exception as exc:  # any loader error keeps the last good value
            self._failed(exc)
            return False
        finally:
            # The load may have read other files (a new `*_FILE`): watch those from now on. When
            # the set is unchanged, the signatures from before the load stay, so a file changed
            # during the load is seen on the next check.
            after = self._take()
            if after is not None and [p for p, _ in after] != [p for p, _ in snapshot]:
                self._snapshot = after
        self.current = value
        self.last_error = None
        log.info("reloaded %s from %s", self.name, self.path)
        self._on_result(self.name, "success")
        return True

    @property
    def has_files(self) -> bool:
        return bool(self._watched())

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            # File reads are small; doing them on the loop avoids a thread hop per poll.
            self.check()
