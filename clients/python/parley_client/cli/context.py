"""What every command gets: where the stack is, who is signed in, and a client built on demand."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from parley_client.client import AsyncClient, Client

DEFAULT_URL = "http://127.0.0.1:8000"


class UsageError(Exception):
    """The command cannot run as asked (exit 1), e.g. nobody is signed in."""


def config_path() -> Path:
    if explicit := os.environ.get("PARLEY_CONFIG"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parley" / "config.json"


@dataclass
class Config:
    """``{"url": <last stack signed in to>, "tokens": {<url>: {"token", "user_id", "name", ...}}}``."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the config file {path}: {exc}") from exc
        return cls(path, data if isinstance(data, dict) else {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        # a token is a credential: the file is the user's alone from its first byte
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(self.data, out, indent=2)
        temporary.replace(self.path)

    def signed_in(self, url: str) -> dict[str, Any] | None:
        entry = self.data.get("tokens", {}).get(url)
        return entry if isinstance(entry, dict) else None

    def remember(self, url: str, entry: dict[str, Any]) -> None:
        self.data["url"] = url
        self.data.setdefault("tokens", {})[url] = entry


@dataclass
class Context:
    url: str
    config: Config
    out: IO[str] = field(default_factory=lambda: sys.stdout)

    @classmethod
    def of(cls, url: str | None) -> Context:
        config = Config.load()
        chosen = url or os.environ.get("PARLEY_URL") or config.data.get("url") or DEFAULT_URL
        return cls(str(chosen).rstrip("/"), config)

    def token(self) -> str:
        if explicit := os.environ.get("PARLEY_TOKEN"):
            return explicit
        entry = self.config.signed_in(self.url)
        if entry is None or not entry.get("token"):
            raise UsageError(f"not signed in to {self.url}: run `parley login USER` first")
        return str(entry["token"])

    def client(self) -> Client:
        return Client(self.url, token=self.token())

    def async_client(self) -> AsyncClient:
        return AsyncClient(self.url, token=self.token())

    def print(self, *parts: object) -> None:
        print(*parts, file=self.out, flush=True)

    def print_json(self, value: Any, *, indent: int | None = None) -> None:
        self.print(json.dumps(value, indent=indent, ensure_ascii=False, default=str))
