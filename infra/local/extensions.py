"""Extensions from outside the package, on the local stack (`make dev`) and in the test helpers.

A team's extension runs locally with no core change: name it in ``PARLEY_EXTENSIONS`` (comma
separated) or in a config file (``PARLEY_EXTENSIONS_FILE``, default ``parley.local.toml`` in the
working directory, ``extensions = ["..."]``, paths relative to the file). Each name is one of:

- a folder holding ``handler.py`` (the folder a ``ParleyExtension(code=...)`` deploys), or a
  ``.py`` file: loaded by path, with its folder on ``sys.path`` so it may import its siblings;
- a folder that is a package (``__init__.py``): imported by name, its parent on ``sys.path``;
- an importable module (``standup.handler``, an installed distribution's).

The module's ``extension`` (or its only ``Extension``) is added to ``parley.topology``, so the
local stack provisions its rule, queue and DLQ, registers its manifest and dispatches to it exactly
as it does for a shipped extension. While the stack runs, its files are watched (mtimes): when one
changes the module is loaded again, its route rebuilt (the rule's pattern is updated in place, the
queue kept) and its manifest registered again; the stack's state (moto's tables, queues, installs,
the extension's own rows) is untouched. Code that fails to load keeps the previous version running.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.local.functions import provide
from infra.local.provision import Provisioned, provision_route
from parley import root, topology
from parley.extensions.sdk import Extension
from parley.observability import logger
from parley.routing import extension_route
from parley.settings import settings

ENV = "PARLEY_EXTENSIONS"
FILE_ENV = "PARLEY_EXTENSIONS_FILE"
DEFAULT_FILE = "parley.local.toml"
POLL_SECONDS = 1.0
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "cdk.out", "tests"})


class ExtensionLoadError(RuntimeError):
    """A named extension could not be found or loaded, or its module declares no ``Extension``."""


def configured(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> list[tuple[str, Path]]:
    """Each configured name, with the folder its relative paths are relative to."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    names = [(n.strip(), cwd) for n in environ.get(ENV, "").split(",") if n.strip()]
    file = Path(environ.get(FILE_ENV) or cwd / DEFAULT_FILE)
    if FILE_ENV in environ and not file.is_file():
        raise ExtensionLoadError(f"{FILE_ENV}={file}: no such file")
    if file.is_file():
        listed = tomllib.loads(file.read_text()).get("extensions", [])
        names += [(str(n), file.resolve().parent) for n in listed]
    return names


@dataclass
class Source:
    """Where one extension's code is: a file loaded by path, or a module imported by name."""

    named: str
    watched: Path
    file: Path | None = None
    module: str | None = None

    @classmethod
    def resolve(cls, named: str, base: Path) -> Source:
        path = (base / named).expanduser()
        if path.is_dir() and (path / "handler.py").is_file():
            return cls(named, path.resolve(), file=(path / "handler.py").resolve())
        if path.is_dir() and (path / "__init__.py").is_file():
            _importable(path.resolve().parent)
            return cls(named, path.resolve(), module=path.name)
        if path.is_file() and path.suffix == ".py":
            return cls(named, path.resolve().parent, file=path.resolve())
        spec = importlib.util.find_spec(named) if "/" not in named else None
        if spec is None or spec.origin is None:
            raise ExtensionLoadError(f"{named!r} is neither a folder, a .py file nor an importable module")
        origin = Path(spec.origin).resolve()
        return cls(named, origin.parent if origin.name == "__init__.py" else origin, module=named)

    def files(self) -> dict[Path, float]:
        """The watched files and their mtimes."""
        if self.watched.is_file():
            return {self.watched: self.watched.stat().st_mtime}
        found: dict[Path, float] = {}
        for path in self.watched.rglob("*.py"):
            parts = set(path.relative_to(self.watched).parts[:-1])
            if not parts & SKIPPED_DIRS and not any(p.startswith(".") for p in parts):
                found[path] = path.stat().st_mtime
        return found

    @property
    def folder(self) -> Path:
        return self.watched if self.watched.is_dir() else self.watched.parent

    def forget(self) -> None:
        """Drop the modules loaded from under the watched path, so the next import reads the files."""
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None)
            if origin and Path(origin).resolve().is_relative_to(self.folder):
                del sys.modules[name]

    def load(self) -> ModuleType:
        """Import afresh: edits to a helper module are picked up too."""
        self.forget()
        if self.module is not None:
            return importlib.import_module(self.module)
        assert self.file is not None
        _importable(self.file.parent)
        name = "parley_local_ext_" + hashlib.sha1(str(self.file).encode()).hexdigest()[:10]
        spec = importlib.util.spec_from_file_location(name, self.file)
        if spec is None or spec.loader is None:
            raise ExtensionLoadError(f"cannot load {self.file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module


def _importable(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def extension_of(module: ModuleType) -> Extension[Any]:
    declared = getattr(module, "extension", None)
    if isinstance(declared, Extension):
        return declared
    found = [v for v in vars(module).values() if isinstance(v, Extension)]
    if len(found) != 1:
        raise ExtensionLoadError(f"{module.__name__} must declare one Extension as `extension`")
    return found[0]


@dataclass
class LocalExtension:
    """One loaded extension, deployed into the topology and served in-process."""

    source: Source
    extension: Extension[Any]
    mtimes: dict[Path, float] = field(default_factory=dict)

    @classmethod
    def load(cls, source: Source) -> LocalExtension:
        mtimes = source.files()
        try:
            module = source.load()
        except Exception as exc:  # whatever the author's module raises on import
            raise ExtensionLoadError(f"{source.named}: {type(exc).__name__}: {exc}") from exc
        return cls(source, extension_of(module), mtimes)

    def deploy(self) -> LocalExtension:
        """Deploy as a shipped extension is: a route in the topology, a handler the dispatcher and the
        hooks find by its function name, and the ports its ``handler.py`` would hand it."""
        topology.add_extension(self.extension.manifest)
        self.extension.use(root.extension_runtime)
        provide(self.function, self.extension.lambda_handler)
        return self

    @property
    def function(self) -> str:
        function = self.extension.manifest.document().target.function
        assert function is not None
        return function

    def changed(self) -> bool:
        return self.source.files() != self.mtimes


def load_all(names: Sequence[tuple[str, Path]]) -> list[LocalExtension]:
    return [LocalExtension.load(Source.resolve(named, base)).deploy() for named, base in names]


@contextmanager
def loaded(names: Sequence[tuple[str, Path]] | None = None) -> Iterator[list[LocalExtension]]:
    """Deploy the configured extensions for the time of a block (the test helpers' provisioning)."""
    path = list(sys.path)
    extensions: list[LocalExtension] = []
    try:
        extensions = load_all(configured() if names is None else names)
        yield extensions
    finally:
        for local in extensions:
            topology.remove_extension(local.extension.id)
            local.source.forget()
        sys.path[:] = path


class Reloader:
    """Watch the loaded extensions' files; reload one when they change, keeping the stack's state."""

    def __init__(
        self,
        extensions: list[LocalExtension],
        provisioned: Provisioned,
        *,
        report: Callable[[str], None] = print,
    ) -> None:
        self.extensions = extensions
        self._provisioned = provisioned
        self._report = report

    def check(self) -> list[str]:
        """Reload what changed since the last look; the ids reloaded."""
        reloaded = []
        for n, local in enumerate(self.extensions):
            if not local.changed():
                continue
            local.mtimes = local.source.files()
            try:
                fresh = LocalExtension.load(local.source)
                if fresh.extension.id != local.extension.id:
                    raise ExtensionLoadError(f"its id changed to {fresh.extension.id!r}: restart to rename")
            except ExtensionLoadError as exc:
                logger.error(
                    "extension reload failed", extra={"source": local.source.named, "error": str(exc)}
                )
                self._report(f"reload of {local.source.named} failed, the previous code still runs: {exc}")
                continue
            self._rebuild(fresh.deploy())
            self.extensions[n] = fresh
            reloaded.append(fresh.extension.id)
            self._report(f"reloaded extension {fresh.extension.id} from {local.source.named}")
        return reloaded

    def _rebuild(self, fresh: LocalExtension) -> None:
        manifest = fresh.extension.manifest
        route = extension_route(manifest.document(), reserved_concurrency=manifest.reserved_concurrency)
        provision_route(settings(), route, self._provisioned)
        root.registry().register(manifest.document())

    def run(self, stopping: threading.Event) -> None:
        while not stopping.wait(POLL_SECONDS):
            try:
                self.check()
            except Exception:
                logger.exception("extension watcher failed")
