"""Where the routing table comes from: the base file (or the packaged table), an optional overlay
(a file, or a directory of `*.yaml` such as a mounted ConfigMap, applied in name order), and the
key files the table reads through `*_FILE`. All of them are watched: a change to any reloads the
merged table (a rotated OpenAI key takes effect without a restart)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .routing import RoutingError, RoutingTable, merge_routes
from .watcher import yaml_files

PACKAGED_ROUTES = Path(__file__).parent / "data" / "routes.yaml"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{path}: cannot read: {exc.strerror}") from None


class RoutesSource:
    def __init__(self, base: Path | None, overlay: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.base = base
        self.overlay = overlay
        self._environ = environ
        self._reads: list[str] = []  # key files the last load read (or tried to)

    def _load(self, with_overlay: bool) -> RoutingTable:
        reads: list[str] = []
        try:
            files = yaml_files(self.overlay) if with_overlay else []
            overlays = [(str(path), _read(path)) for path in files]
            table = merge_routes(_read(self.base or PACKAGED_ROUTES), overlays, self._environ, reads)
        finally:
            self._reads = reads
        return table

    def load(self, _path: Path | None = None) -> RoutingTable:
        """Base and overlay merged; RoutingError naming the file and key when they do not merge."""
        return self._load(with_overlay=True)

    def load_base(self) -> RoutingTable:
        """The base alone: what the proxy starts on when the overlay does not merge at start."""
        return self._load(with_overlay=False)

    def watched(self) -> list[tuple[Path, bool]]:
        """(path, optional). A missing base is a swap in progress: wait for it. The overlay may come
        and go. A key file that goes missing is reloaded (and refused, the last good table staying),
        so that a table that stops reading it is not held back by it."""
        paths = [(self.base, False)] if self.base is not None else []
        if self.overlay is not None:
            paths.append((self.overlay, True))
        return paths + [(Path(p), True) for p in self._reads]
