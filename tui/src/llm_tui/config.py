"""Settings of the TUI: CLI > env > config file (`llm-tui/config.toml` in the user's config dir) > default."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import platformdirs
import tomli_w

DEFAULT_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    return Path(os.environ.get("LLM_TUI_CONFIG_DIR") or platformdirs.user_config_dir("llm-tui"))


def data_dir() -> Path:
    return Path(os.environ.get("LLM_TUI_DATA_DIR") or platformdirs.user_data_dir("llm-tui"))


@dataclass
class TuiConfig:
    url: str = DEFAULT_URL  # the proxy (make run, a port-forward, or the ingress)
    api_key: str = ""  # client key, when the proxy requires one
    theme: str = "textual-dark"
    last_model: str = ""  # remembered between starts
    extra_headers: dict[str, str] = field(default_factory=dict)  # sent with every chat request

    @property
    def path(self) -> Path:
        return config_dir() / "config.toml"

    def save(self) -> None:
        """Write the file (TOML) atomically; the API key is kept only if it came from the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, str | dict[str, str]] = {
            key: value
            for key, value in asdict(self).items()
            if isinstance(value, str) and (key != "api_key" or self._key_from_file)
        }
        if self.extra_headers:
            document["extra_headers"] = dict(self.extra_headers)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(document))
        tmp.replace(self.path)

    _key_from_file: bool = field(default=False, repr=False)


def load_config(url: str | None = None, api_key: str | None = None) -> TuiConfig:
    config = TuiConfig()
    path = config_dir() / "config.toml"
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError:
            data = {}
        for key in ("url", "api_key", "theme", "last_model"):
            if isinstance(data.get(key), str):
                setattr(config, key, data[key])
        if isinstance(data.get("extra_headers"), dict):
            config.extra_headers = {str(k): str(v) for k, v in data["extra_headers"].items()}
        config._key_from_file = bool(data.get("api_key"))
    if os.environ.get("LLM_PROXY_URL"):
        config.url = os.environ["LLM_PROXY_URL"]
    if os.environ.get("LLM_PROXY_API_KEY"):
        config.api_key = os.environ["LLM_PROXY_API_KEY"]
    if os.environ.get("LLM_TUI_EXTRA_HEADERS"):  # e.g. '{"X-Mock-Token-Delay-Ms": "40"}' for demos
        config.extra_headers.update(json.loads(os.environ["LLM_TUI_EXTRA_HEADERS"]))
    if url:
        config.url = url
    if api_key:
        config.api_key = api_key
    config.url = config.url.rstrip("/")
    return config
