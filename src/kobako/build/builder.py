"""The builder: a parsed Dockerfile and a build context become an image, step by step.

It follows dockerd's legacy builder (moby ``builder/dockerfile``): every instruction is a step
whose result is an image config (and, for RUN/COPY/ADD, one more layer), printed as
``Step N/M : …`` and `` ---> <id>``. Unlike it, stages nobody needs are skipped (BuildKit),
COPY/ADD write their layer tar directly (no container), and the cache key uses file contents
and metadata, never mtimes.

RUN needs containers, which belong to the daemon: it hands the builder a ``RunStep``.
Intermediate images exist only while the build needs them (a RUN's container, a
``COPY --from``); at the end, images and snapshots the build made are removed again except the
result, so a failed build leaves nothing behind. The cache keeps blobs, not images.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import posixpath
import re
import secrets
import shutil
import stat
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from kobako.build import _config as cfgops
from kobako.build._copy import CopyError, LayerWriter, Owner, Source, context_sources, is_archive_head, \
    source_digest, write_copy
from kobako.images._gzsink import LayerSink
from kobako.build._shell import ExpansionError, expand, split_words
from kobako.build._tree import LayerTree, split
from kobako.build.cache import BuildCache, cache_key
from kobako.build.dockerfile import Dockerfile, DockerfileError, Instruction, parse
from kobako.build.dockerignore import DockerIgnore
from kobako.errors import InvalidArgument, KobakoError, NoSuchImage
from kobako.images import StoredLayer, parse_reference
from kobako.images.bootstrap import goarch

if TYPE_CHECKING:
    from kobako.images import Image, ImageStore

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LAYER_MEDIA = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# moby builder/dockerfile/buildargs.go: usable without an ARG line, never in the history
BUILTIN_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                          "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
_CONFIG_MEMO = 256  # parsed configs the builder keeps (a few KB each; a long history, tens of KB)
_PARSED_MEMO = 16  # parsed Dockerfiles
_PARSED_MAX = 32 << 10  # the longest one remembered
_EXPAND = frozenset({"add", "copy", "env", "expose", "label", "stopsignal", "user", "volume", "workdir", "arg"})


class BuildError(KobakoError):
    """A build that failed; the message names the Dockerfile line when there is one."""


class RunStep(Protocol):
    """Running a RUN instruction's command: what the daemon lends the builder.

    ``create`` makes a container from an image in the store (network none unless asked),
    ``run`` starts it and streams its output to ``output`` until it exits (returns the exit
    code), ``diff`` writes its rootfs changes as an uncompressed layer tar (``.wh.`` whiteouts) to
    ``out``, a blocking file (write to it from a worker thread), ``remove`` deletes it and its
    snapshot.
    """

    async def create(self, image_id: str, *, argv: list[str], env: list[str], user: str, workdir: str,
                     network: str) -> str: ...
    async def run(self, container_id: str, output: Callable[[bytes], None]) -> int: ...
    async def diff(self, container_id: str, out: IO[bytes]) -> None: ...
    async def remove(self, container_id: str) -> None: ...


@dataclass
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    cache_from: list[str] = field(default_factory=list)
    network: str = ""
    quiet: bool = False
    pull: bool = False
    registry_auth: dict[str, str] = field(default_factory=dict)  # registry → X-Registry-Auth (X-Registry-Config)


# What the daemon gives the builder to fetch a base image: (reference, X-Registry-Auth or None) → Docker's
# pull progress objects; raises when the image cannot be pulled.
Puller = Callable[[str, "str | None"], AsyncIterator[dict[str, Any]]]


@dataclass
class _State:
    """A stage's image so far: config (with rootfs and history), layer descriptors, its digest.

    A state from the cache shares its config with the builder's memo of parsed configs
    (``shared``): it is read as is, and whoever changes it takes its own copy first (``own``)."""

    config: dict[str, Any]
    layers: list[dict[str, Any]]
    digest: str = ""
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    shared: bool = False

    def own(self) -> dict[str, Any]:
        """The config, copied first if it is the memo's; for changing it."""
        if self.shared:
            self.config = json.loads(json.dumps(self.config))
            self.shared = False
        return self.config

    @property
    def section(self) -> dict[str, Any]:
        """The container config section (read it; change it only after ``own``)."""
        sec = self.config.get("config")
        if sec is None:
            sec = self.own().setdefault("config", {})
        return sec  # type: ignore[no-any-return]

    @property
    def shell(self) -> list[str]:
        return list(self.section.get("Shell") or DEFAULT_SHELL)


@dataclass
class _Stage:
    index: int
    name: str
    base: str  # as written (expanded later)
    from_ins: Instruction
    body: list[Instruction]
    state: _State | None = None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


class Builder:
    def __init__(self, images: ImageStore, cache: BuildCache, runner: RunStep | None, tmp_root: Path,
                 puller: Puller | None = None) -> None:
        self.images = images
        self.content = images.content
        self.cache = cache
        self.runner = runner
        self.tmp_root = Path(tmp_root)
        self.puller = puller
        # Parsed config blobs by digest, for cache hits: content-addressed, so never stale; shared
        # read-only with the states that use them (``_State.shared``), bounded.
        self._configs: dict[str, dict[str, Any]] = {}
        self._configs_lock = threading.Lock()
        self._parsed: dict[tuple[bytes, str], Dockerfile] = {}

    def parse(self, text: bytes, filename: str) -> Dockerfile:
        """``dockerfile.parse``, remembered by text (a parsed Dockerfile is immutable; a rebuild sends
        the same one again)."""
        key = (text, filename)
        df = self._parsed.get(key)
        if df is None:
            df = parse(text, filename)
            if len(text) > _PARSED_MAX:
                return df
            with self._configs_lock:
                if len(self._parsed) >= _PARSED_MEMO:
                    del self._parsed[next(iter(self._parsed))]
                self._parsed[key] = df
        return df

    def config_of(self, digest: str) -> dict[str, Any]:
        """The parsed config blob ``digest`` (NoSuchBlob if it is not in the store); read-only."""
        config = self._configs.get(digest)
        if config is None:
            config = json.loads(self.content.read(digest))
            with self._configs_lock:
                if len(self._configs) >= _CONFIG_MEMO:
                    del self._configs[next(iter(self._configs))]  # the oldest
                self._configs[digest] = config
        return config

    async def build(self, context: Path | LayerTree, opts: BuildOptions,
                    emit: Callable[[dict[str, Any]], None]) -> Image:
        """Build from ``context``: a directory, or a tree such as the daemon's ``TarTree``."""
        image_id, image = await self._build(context, opts, emit, want_image=True)
        assert image is not None
        return image

    async def build_id(self, context: Path | LayerTree, opts: BuildOptions,
                       emit: Callable[[dict[str, Any]], None]) -> str:
        """``build``, returning the image's id only: when the result already exists (a cached
        rebuild), its record is not loaded at all."""
        return (await self._build(context, opts, emit, want_image=False))[0]

    async def _build(self, context: Path | LayerTree, opts: BuildOptions, emit: Callable[[dict[str, Any]], None],
                     *, want_image: bool) -> tuple[str, Image | None]:
        job = _Job(self, context, opts, emit)
        try:
            image_id, image = await job.run()
            if image is None and want_image:
                image = self.images.get(image_id, protect=False)
            return image_id, image
        finally:
            await job.removals()  # containers first: they hold the intermediate images
            if job.added:
                await asyncio.to_thread(job.cleanup)


class _Job:
    def __init__(self, b: Builder, context: Path | LayerTree, opts: BuildOptions,
                 emit: Callable[[dict[str, Any]], None]) -> None:
        self.b = b
        self.images = b.images
        self.content = b.content
        self.context = context
        self.opts = opts
        self._emit = emit
        self.added: list[str] = []  # image ids this build added to the store
        self.step = 0
        self.total = 0
        self.consumed: set[str] = set()
        self.escape = "\\"
        self.ctx_tree = context if isinstance(context, LayerTree) else LayerTree([str(context)])
        self.ignore = DockerIgnore.from_text(self._read_context(".dockerignore")) \
            if self._is_file(".dockerignore") else DockerIgnore()
        self.stages: list[_Stage] = []
        self.result: str | None = None
        self.cache_sources: list[Image] | None = None  # the --cache-from images, looked up once
        self.removing: list[asyncio.Task[None]] = []  # RUN containers being removed meanwhile
        self.used_keys: list[str] = []  # cache records this build reused (touched once, at the end)

    # -- output -------------------------------------------------------------------------------
    def out(self, text: str) -> None:
        if not self.opts.quiet:
            self._emit({"stream": text})

    def begin(self, ins: Instruction) -> None:
        self.step += 1
        self.out(f"Step {self.step}/{self.total} : {ins.original}\n")

    # -- the whole build ----------------------------------------------------------------------
    async def run(self) -> tuple[str, Image | None]:
        """The result's id, and its image record when it had to be loaded or written anyway."""
        df = self._read_dockerfile()
        self.escape = df.escape
        meta, stages = self._split(df)
        self.stages = stages
        target = self._target(stages)
        needed = self._needed(stages, target, meta)
        self.total = len(meta) + sum(1 + len(s.body) for s in stages if s.index in needed)
        if self.opts.labels:
            self.total += 1
        for ins in meta:
            self.begin(ins)
        for stage in stages:
            if stage.index in needed:
                await self._build_stage(stage, meta)
            if stage is target:
                break
        assert target.state is not None
        state = target.state
        if self.opts.labels:
            text = " ".join(f'"{k}"="{v}"' for k, v in sorted(self.opts.labels.items()))
            self.step += 1
            self.out(f"Step {self.step}/{self.total} : LABEL {text}\n")
            labels = dict(self.opts.labels)

            def add_labels(s: dict[str, Any]) -> None:
                s["Labels"] = {**(s.get("Labels") or {}), **labels}

            state = await self._config_step(state, f"LABEL {text}", add_labels)
            self.out(f" ---> {_short(state.digest)}\n")
        unused = sorted(set(self.opts.build_args) - self.consumed - BUILTIN_ARGS)
        if unused:
            self.out(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        image: Image | None = None
        tags = self._finished(state)  # a rebuild's result is already an image: no thread hop
        if tags is None:
            image = await asyncio.to_thread(self._finish, state)
            image_id, tags = image.id, image.repo_tags
        else:
            image_id = state.digest
        self.result = image_id
        self._emit({"aux": {"ID": image_id}})
        if self.opts.quiet:
            self._emit({"stream": image_id + "\n"})  # as dockerd does for -q
        self.out(f"Successfully built {_short(image_id)}\n")
        for tag in self.opts.tags:
            ref = parse_reference(tag)
            if ref.digest is not None or ref.familiar() not in tags:  # else: already there
                ref = await asyncio.to_thread(self.images.tag, image_id, tag)
                image = None  # its tags changed
            self.out(f"Successfully tagged {ref.familiar()}\n")
        return image_id, image

    def _read_dockerfile(self) -> Dockerfile:
        name = self.opts.dockerfile or "Dockerfile"
        tree = self.ctx_tree
        rel = tree.resolve("/".join(split(name))) if split(name) else ""
        if not self._is_file(rel):
            if name == "Dockerfile" and self._is_file("dockerfile"):
                rel = "dockerfile"
            else:
                raise BuildError(f"Cannot locate specified Dockerfile: {name}")
        with tree.open(rel) as f:
            text = f.read()
        return self.b.parse(text, posixpath.basename(name) if not name.startswith(".dockerfile.") else "Dockerfile")

    def _read_context(self, rel: str) -> bytes:
        with self.ctx_tree.open(rel) as f:
            return f.read()

    def _is_file(self, rel: str) -> bool:
        st = self.ctx_tree.lstat(rel) if rel else None
        return st is not None and stat.S_ISREG(st.st_mode)

    def _split(self, df: Dockerfile) -> tuple[list[Instruction], list[_Stage]]:
        meta: list[Instruction] = []
        stages: list[_Stage] = []
        for ins in df.instructions:
            if ins.cmd == "from":
                name = ins.args[2].lower() if len(ins.args) == 3 else ""
                if name and any(s.name == name for s in stages):
                    raise ins.error(f"duplicate name {name}")
                if name and not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
                    raise ins.error(f"invalid name for build stage: {name!r}, name can't start with a number or "
                                    "contain symbols")
                stages.append(_Stage(len(stages), name, ins.args[0], ins, []))
            elif not stages:
                if ins.cmd != "arg":
                    raise ins.error("no build stage in current context: the first instruction must be FROM "
                                    "(only ARG may come before it)")
                meta.append(ins)
            else:
                stages[-1].body.append(ins)
        if not stages:
            raise DockerfileError(0, "no build stage in current context: the Dockerfile has no FROM")
        return meta, stages

    def _target(self, stages: list[_Stage]) -> _Stage:
        if not self.opts.target:
            return stages[-1]
        for s in stages:
            if s.name == self.opts.target.lower():
                return s
        raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")

    def _meta_env(self, meta: list[Instruction]) -> dict[str, str]:
        env: dict[str, str] = {}
        for ins in meta:
            for name, default in self._arg_pairs(ins, env):
                value = self.opts.build_args.get(name) if name in self.opts.build_args else default
                if name in self.opts.build_args:
                    self.consumed.add(name)
                if value is not None:
                    env[name] = value
                else:
                    env.pop(name, None)
        return env

    def _arg_pairs(self, ins: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        text_words = split_words(ins.rest, self.escape)
        for w in text_words:
            name, eq, default = w.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ins.error(f"invalid ARG name: {name!r}")
            out.append((name, self._expand(ins, default, env) if eq else None))
        return out

    def _needed(self, stages: list[_Stage], target: _Stage, meta: list[Instruction]) -> set[int]:
        env = self._meta_env(meta)
        self.meta_env = env
        by_name = {s.name: s.index for s in stages if s.name}

        def ref(word: str, upto: int) -> int | None:
            w = word.lower()
            if w in by_name and by_name[w] < upto:
                return by_name[w]
            if w.isdigit() and int(w) < upto:
                return int(w)
            return None

        deps: dict[int, set[int]] = {}
        for s in stages:
            d: set[int] = set()
            base = self._expand(s.from_ins, s.base, env)
            r = ref(base, s.index)
            if r is not None:
                d.add(r)
            for ins in s.body:
                frm = ins.flags.get("from") if ins.cmd == "copy" else None
                if frm:
                    r = ref(self._expand(ins, frm, env), s.index)
                    if r is not None:
                        d.add(r)
            deps[s.index] = d
        needed: set[int] = set()
        todo = [target.index]
        while todo:
            i = todo.pop()
            if i in needed:
                continue
            needed.add(i)
            todo.extend(deps[i])
        return needed

    # -- expansion ------------------------------------------------------------------------------
    def _expand(self, ins: Instruction, word: str, env: dict[str, str]) -> str:
        try:
            return expand(word, env, escape=self.escape)
        except ExpansionError as exc:
            raise ins.error(str(exc)) from None

    def _env(self, state: _State) -> dict[str, str]:
        """What ``$VAR`` sees in a stage: its ARGs that have a value, overridden by ENV."""
        env = {k: v for k, v in state.args.items() if v is not None}
        env.update(cfgops.env_dict(state.section))
        return env

    def _run_args(self, state: _State) -> list[tuple[str, str]]:
        """ARGs with a value that a RUN sees as environment (and that key its cache)."""
        envkeys = set(cfgops.env_dict(state.section))
        return sorted((k, v) for k, v in state.args.items() if v is not None and k not in envkeys)

    # -- stages ---------------------------------------------------------------------------------
    async def _build_stage(self, stage: _Stage, meta: list[Instruction]) -> None:
        ins = stage.from_ins
        self.begin(ins)
        base = self._expand(ins, stage.base, self.meta_env)
        if not base:
            raise ins.error(f"base name ({stage.base}) should not be blank")
        state = await self._from(ins, base)
        stage.state = state
        self.out(f" ---> {_short(state.digest)}\n")
        triggers = list(state.section.get("OnBuild") or [])
        if triggers:
            state.own()["config"]["OnBuild"] = None
            self.out(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            state.digest = await asyncio.to_thread(self._store_config, state.config)
            for text in triggers:
                try:
                    from kobako.build.dockerfile import parse_instruction

                    trig = parse_instruction(text, ins.line, self.escape)
                except DockerfileError as exc:
                    raise ins.error(f"invalid ONBUILD trigger {text!r}: {exc.detail}") from None
                state = await self._dispatch(stage, state, trig)
        for ins in stage.body:
            self.begin(ins)
            state = await self._dispatch(stage, state, ins)
            stage.state = state
            self.out(f" ---> {_short(state.digest)}\n")
        stage.state = state

    async def _from(self, ins: Instruction, base: str) -> _State:
        for s in self.stages_built():
            if s.name and s.name == base.lower():
                assert s.state is not None
                return _State(json.loads(json.dumps(s.state.config)), list(s.state.layers), s.state.digest)
        if base == "scratch":
            config: dict[str, Any] = {"architecture": goarch(), "os": "linux", "config": {"Env": [DEFAULT_PATH]},
                                      "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            state = _State(config, [])
            state.digest = await asyncio.to_thread(self._store_config, config)
            return state
        try:
            if self.opts.pull:
                raise NoSuchImage(base)  # --pull: always ask the registry first
            image = self.images.get(base)  # on the loop: one indexed SELECT and two small reads
        except NoSuchImage as exc:
            if self.b.puller is None:
                raise ins.error(f"pull access denied for {base} or no such image: {exc}") from None
            await self._pull(ins, base)
            try:
                image = await asyncio.to_thread(self.images.get, base)
            except NoSuchImage:
                raise ins.error(f"no such image after pulling {base}") from None
        except InvalidArgument as exc:
            raise ins.error(f"invalid reference format: {base}: {exc}") from None
        config = json.loads(json.dumps(image.config))
        for k in ("container_config", "container", "id", "parent", "docker_version"):
            config.pop(k, None)
        section = config.setdefault("config", {})
        if not any(e.startswith("PATH=") for e in section.get("Env") or []):
            section["Env"] = [DEFAULT_PATH, *(section.get("Env") or [])]
        config.setdefault("history", [])
        state = _State(config, [dict(layer) for layer in image.manifest["layers"]], image.id)
        if config != image.config:
            state.digest = await asyncio.to_thread(self._store_config, config)
        return state

    async def _pull(self, ins: Instruction, base: str) -> None:
        """dockerd's legacy builder: a base image that is not here (or every one, with --pull) is
        pulled, its progress shown in the build's output."""
        from kobako.images import parse_reference

        assert self.b.puller is not None
        domain = parse_reference(base).domain
        auth = self.opts.registry_auth.get(domain) or (
            self.opts.registry_auth.get("https://index.docker.io/v1/") if domain == "docker.io" else None)
        try:
            async for obj in self.b.puller(base, auth):
                if obj.get("error") or obj.get("errorDetail"):
                    raise ins.error(str((obj.get("errorDetail") or {}).get("message") or obj.get("error")))
                self._emit(obj)
        except DockerfileError:
            raise
        except Exception as exc:  # noqa: BLE001 - the registry's or the reference's error, named on the FROM line
            raise ins.error(f"pull access denied for {base}, repository does not exist or may require "
                            f"'docker login': {exc}") from None

    def stages_built(self) -> list[_Stage]:
        return self.stages

    # -- steps ----------------------------------------------------------------------------------
    async def _dispatch(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        try:
            handler = getattr(self, "_do_" + ins.cmd)
            new: _State = await handler(stage, state, ins)
            return new
        except (CopyError, InvalidArgument) as exc:
            if isinstance(exc, DockerfileError):
                raise
            prefix = f"{ins.cmd.upper()} failed: " if isinstance(exc, CopyError) else ""
            raise ins.error(prefix + str(exc)) from None

    async def _config_step(self, state: _State, text: str, change: Callable[[dict[str, Any]], Any],
                           extra: tuple[str, ...] = ()) -> _State:
        created_by = cfgops.nop(text)
        key = cache_key(state.digest, created_by, extra)
        hit = await self._cached(key, state, created_by, change)
        if hit is not None:
            return _State(hit[0], hit[1], hit[2], dict(state.args), shared=True)
        config = json.loads(json.dumps(state.config))
        change(config.setdefault("config", {}))
        config["created"] = _now()
        config.setdefault("history", []).append({"created": config["created"], "created_by": created_by,
                                                 "empty_layer": True})
        new = _State(config, list(state.layers), "", dict(state.args))
        new.digest = await asyncio.to_thread(self._store_config, config)
        await asyncio.to_thread(self.b.cache.put, key, new.digest, new.layers)
        return new

    async def _cached(self, key: str, state: _State, created_by: str,
                      change: Callable[[dict[str, Any]], Any] | None = None,
                      ) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
        """The step's result from the local cache, else from a ``--cache-from`` image; None: run it."""
        if self.opts.no_cache:
            return None
        # The local lookup runs on the event loop: one indexed SELECT on the open connection and a
        # small blob read, ≈ 0.1 ms, less than a worker-thread round trip (0.2-0.5 ms on a loaded
        # 2-core machine), and a cached build is nothing but these (as the image routes read the
        # store inline too). The --cache-from search, which may read many images, gets a thread.
        found = self._local(key, state)
        if found is None and self.opts.cache_from:
            found = await asyncio.to_thread(self._lookup, key, state, created_by, change)
        if found is not None:
            self.out(" ---> Using cache\n")
        return found

    def _local(self, key: str, state: _State) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
        hit = self.b.cache.get(key, known=[layer["digest"] for layer in state.layers], touch=False)
        if hit is None:
            return None
        self.used_keys.append(key)
        return self.b.config_of(hit.config_digest), hit.layers, hit.config_digest

    def _lookup(self, key: str, state: _State, created_by: str, change: Callable[[dict[str, Any]], Any] | None,
                ) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
        """A step the local cache missed, from the --cache-from images (then recorded locally)."""
        restored = self._from_cache_images(state, created_by, change)
        if restored is not None:
            self.b.cache.put(key, restored[2], restored[1])  # found locally from now on
        return restored

    def _cache_images(self) -> list[Image]:
        if self.cache_sources is None:
            self.cache_sources = []
            for ref in self.opts.cache_from:
                try:
                    self.cache_sources.append(self.images.get(ref))
                except (NoSuchImage, InvalidArgument):
                    continue  # as dockerd: a cache source that is not there is skipped
        return self.cache_sources

    def _from_cache_images(self, state: _State, created_by: str, change: Callable[[dict[str, Any]], Any] | None,
                           ) -> tuple[dict[str, Any], list[dict[str, Any]], str] | None:
        """moby ``image/cache``: a ``--cache-from`` image whose history and layers begin with the
        state's, and whose next history entry was made by this very step, supplies the step's result:
        that entry and (unless it is an empty layer) the image's next layer. The image itself when the
        entry is its last; afterwards only that image is consulted, as dockerd does."""
        history = list(state.config.get("history") or [])
        diff_ids = list((state.config.get("rootfs") or {}).get("diff_ids") or [])
        n = len(history)
        for target in self._cache_images():
            t_history = list(target.config.get("history") or [])
            t_diff_ids = target.diff_ids
            t_layers = list(target.manifest.get("layers") or [])
            if len(t_history) <= n or t_history[:n] != history or t_diff_ids[:len(diff_ids)] != diff_ids \
                    or len(t_layers) != len(t_diff_ids):
                continue
            entry = t_history[n]
            if entry.get("created_by", "") != created_by:
                continue
            if n == len(t_history) - 1:
                self.cache_sources = [target]
                return json.loads(json.dumps(target.config)), [dict(x) for x in t_layers], target.id
            config = json.loads(json.dumps(state.config))
            if change is not None:
                change(config.setdefault("config", {}))
            config["created"] = entry.get("created") or _now()
            config.setdefault("history", []).append(dict(entry))
            layers = list(state.layers)
            if not entry.get("empty_layer"):
                if len(diff_ids) >= len(t_diff_ids):
                    continue
                rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
                rootfs["diff_ids"] = [*diff_ids, t_diff_ids[len(diff_ids)]]
                layers.append(dict(t_layers[len(diff_ids)]))
            self.cache_sources = [target]
            return config, layers, self._store_config(config)
        return None

    def _store_config(self, config: dict[str, Any]) -> str:
        return str(self.content.write(_dumps(config)))

    # config-only instructions
    async def _do_env(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        pairs: list[tuple[str, str]] = []
        for k, v in zip(ins.args[::2], ins.args[1::2]):
            key = self._expand(ins, k, env)
            value = self._expand(ins, v, env)
            pairs.append((key, value))
            env[key] = value
        text = "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
        return await self._config_step(state, text, lambda s: cfgops.set_env(s, pairs))

    async def _do_label(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        pairs = [(self._expand(ins, k, env), self._expand(ins, v, env)) for k, v in zip(ins.args[::2], ins.args[1::2])]
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)

        def change(s: dict[str, Any]) -> None:
            s["Labels"] = {**(s.get("Labels") or {}), **dict(pairs)}

        return await self._config_step(state, text, change)

    async def _do_arg(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        parts: list[str] = []
        args = dict(state.args)
        for name, default in self._arg_pairs(ins, env):
            if name in self.opts.build_args:
                value: str | None = self.opts.build_args[name]
                self.consumed.add(name)
            elif default is not None:
                value = default
            else:
                value = self.meta_env.get(name)
            args[name] = value
            parts.append(name if default is None else f"{name}={default}")
        new = await self._config_step(state, "ARG " + " ".join(parts), lambda s: None)
        new.args = args
        return new

    async def _do_expose(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        words = [w for a in ins.args for w in self._expand(ins, a, env).split()]
        ports = cfgops.ports(ins, words)

        def change(s: dict[str, Any]) -> None:
            s["ExposedPorts"] = {**(s.get("ExposedPorts") or {}), **{p: {} for p in ports}}

        return await self._config_step(state, "EXPOSE " + " ".join(ports), change)

    async def _do_volume(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        vols = [self._expand(ins, a, env) for a in ins.args]
        if any(not v.strip() for v in vols) or not vols:
            raise ins.error("VOLUME specified can not be an empty string")

        def change(s: dict[str, Any]) -> None:
            s["Volumes"] = {**(s.get("Volumes") or {}), **{v: {} for v in vols}}

        return await self._config_step(state, "VOLUME " + json.dumps(vols), change)

    async def _do_user(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        user = self._expand(ins, ins.args[0], self._env(state))
        return await self._config_step(state, f"USER {user}", lambda s: s.update(User=user))

    async def _do_workdir(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        path = cfgops.workdir(state.section, self._expand(ins, ins.args[0], self._env(state)))
        return await self._config_step(state, f"WORKDIR {path}", lambda s: s.update(WorkingDir=path))

    async def _do_stopsignal(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        sig = self._expand(ins, ins.args[0], self._env(state))
        if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", sig.upper()):
            raise ins.error(f"Invalid signal: {sig}")
        return await self._config_step(state, f"STOPSIGNAL {sig}", lambda s: s.update(StopSignal=sig))

    async def _do_maintainer(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        who = ins.args[0]
        new = await self._config_step(state, f"MAINTAINER {who}", lambda s: None)
        if new.config.get("author") != who:
            new.own()["author"] = who
            new.digest = await asyncio.to_thread(self._store_config, new.config)
        return new

    async def _do_cmd(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        argv = cfgops.shell_or_exec(ins, state.shell)
        return await self._config_step(state, f"CMD {cfgops.json_text(argv)}", lambda s: s.update(Cmd=argv))

    async def _do_entrypoint(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        argv = cfgops.shell_or_exec(ins, state.shell)

        def change(s: dict[str, Any]) -> None:
            s["Entrypoint"] = argv or None
            s["Cmd"] = None  # as in moby: a new ENTRYPOINT resets an inherited CMD

        return await self._config_step(state, f"ENTRYPOINT {cfgops.json_text(argv)}", change)

    async def _do_shell(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        argv = list(ins.args)
        if not argv:
            raise ins.error("SHELL requires at least one argument")
        return await self._config_step(state, f"SHELL {cfgops.json_text(argv)}", lambda s: s.update(Shell=argv))

    async def _do_healthcheck(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        hc = cfgops.healthcheck(ins, state.shell)
        return await self._config_step(state, f"HEALTHCHECK {json.dumps(hc, sort_keys=True)}",
                                       lambda s: s.update(Healthcheck=hc))

    async def _do_onbuild(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        text = ins.args[0]

        def change(s: dict[str, Any]) -> None:
            s["OnBuild"] = [*(s.get("OnBuild") or []), text]

        return await self._config_step(state, f"ONBUILD {text}", change)

    # -- RUN ----------------------------------------------------------------------------------
    async def _do_run(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        if ins.flags.get("mount"):
            raise ins.error("RUN --mount is not supported by the legacy builder protocol")
        if ins.heredocs:
            marker = ins.rest.strip()
            if len(ins.heredocs) == 1 and re.fullmatch(r"<<-?[\"']?" + re.escape(ins.heredocs[0].name) + r"[\"']?",
                                                       marker):
                script = ins.heredocs[0].content
            else:
                script = marker + "\n" + "\n".join(h.raw for h in ins.heredocs) + "\n"
            argv = [*state.shell, script]
        else:
            argv = cfgops.shell_or_exec(ins, state.shell)
        if not argv:
            raise ins.error("RUN requires at least one argument")
        run_args = self._run_args(state)
        created_by = " ".join(argv)
        if run_args:
            created_by = f"|{len(run_args)} " + " ".join(f"{k}={v}" for k, v in run_args) + " " + created_by
        network = ins.flags.get("network") or self.opts.network
        key = cache_key(state.digest, "RUN " + created_by, ())
        hit = await self._cached(key, state, created_by)
        if hit is not None:
            return _State(hit[0], hit[1], hit[2], dict(state.args), shared=True)
        if self.b.runner is None:
            raise ins.error("RUN is not available: this builder has no container runtime")
        image = await asyncio.to_thread(self._materialize, state)
        section = state.section
        env = list(section.get("Env") or []) + [f"{k}={v}" for k, v in run_args]
        cid = await self.b.runner.create(image.id, argv=argv, env=env, user=section.get("User") or "",
                                         workdir=section.get("WorkingDir") or "/", network=network)
        try:
            self.out(f" ---> Running in {cid[:12]}\n")
            code = await self.b.runner.run(cid, lambda data: self.out(data.decode("utf-8", "replace")))
            if code != 0:
                shown = " ".join(argv) if not ins.json else json.dumps(argv)
                raise ins.error(f"The command '{shown}' returned a non-zero code: {code}")
            runner = self.b.runner
            layer = await self._layer_async(lambda out: runner.diff(cid, out))
        finally:
            # the next step does not need it gone: remove it meanwhile (awaited before the build ends)
            self.removing.append(asyncio.create_task(self.b.runner.remove(cid)))
            self.out(f"Removing intermediate container {cid[:12]}\n")
        return await self._layer_step(state, key, created_by, layer)

    async def removals(self) -> None:
        while self.removing:
            task = self.removing.pop()
            with contextlib.suppress(Exception):
                await task

    async def _layer_step(self, state: _State, key: str, created_by: str, layer: StoredLayer) -> _State:
        config = json.loads(json.dumps(state.config))
        config["created"] = _now()
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []}).setdefault("diff_ids", []).append(
            layer.diff_id)
        config.setdefault("history", []).append({"created": config["created"], "created_by": created_by})
        layers = [*state.layers, {"mediaType": LAYER_MEDIA, "size": layer.size, "digest": layer.digest}]
        new = _State(config, layers, "", dict(state.args))
        new.digest = await asyncio.to_thread(self._store_config, config)
        await asyncio.to_thread(self.b.cache.put, key, new.digest, layers)
        return new

    def _layer_from(self, write: Callable[[IO[bytes]], Any]) -> StoredLayer:
        """A layer whose tar ``write(out)`` produces (in this thread), gzipped into the store."""
        sink = LayerSink(self.content)
        try:
            write(sink)  # type: ignore[arg-type]
            return sink.commit()
        except BaseException:
            sink.abort()
            raise

    async def _layer_async(self, fill: Callable[[IO[bytes]], Awaitable[None]]) -> StoredLayer:
        """The same, for a producer that is a coroutine writing from worker threads."""
        sink = LayerSink(self.content)
        try:
            await fill(sink)  # type: ignore[arg-type]
            return await asyncio.to_thread(sink.commit)
        except BaseException:
            await asyncio.to_thread(sink.abort)
            raise

    # -- COPY / ADD -------------------------------------------------------------------------------
    async def _do_copy(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        return await self._copy(stage, state, ins, add=False)

    async def _do_add(self, stage: _Stage, state: _State, ins: Instruction) -> _State:
        return await self._copy(stage, state, ins, add=True)

    async def _copy(self, stage: _Stage, state: _State, ins: Instruction, *, add: bool) -> _State:
        env = self._env(state)
        words = list(ins.args)
        heredoc_names = {h.name: h for h in ins.heredocs}
        srcs_raw, dest_raw = words[:-1], words[-1]
        dest = self._expand(ins, dest_raw, env)
        if not dest:
            raise ins.error(f"{ins.cmd.upper()} requires a destination")
        dest_is_dir = dest.endswith("/") or dest.endswith("/.") or dest == "."
        dest_abs = dest if dest.startswith("/") else posixpath.join(state.section.get("WorkingDir") or "/", dest)
        chmod: int | None = None
        if ins.flags.get("chmod"):
            try:
                chmod = int(ins.flags["chmod"], 8)
                if not 0 <= chmod <= 0o7777:
                    raise ValueError
            except ValueError:
                raise ins.error(f"invalid chmod parameter: {ins.flags['chmod']!r}") from None
        chown = self._expand(ins, ins.flags.get("chown", ""), env)
        frm = self._expand(ins, ins.flags.get("from", ""), env) if not add else ""
        cleanup: list[Callable[[], None]] = []
        try:
            sources: list[Source] = []
            tree: LayerTree = self.ctx_tree
            what = "build context"
            keep_owner = False
            if frm:
                tree = await self._from_tree(stage, frm, ins)
                what = f"stage or image {frm}"
                keep_owner = True
            heredoc_words = []
            for w in srcs_raw:
                m = re.fullmatch(r"<<-?[\"']?([A-Za-z_][A-Za-z0-9_.-]*)[\"']?", w)
                if m and m.group(1) in heredoc_names:
                    h = heredoc_names[m.group(1)]
                    body = self._expand(ins, h.content, env) if h.expand else h.content
                    sources.append(Source(name=h.name, data=body.encode()))
                    heredoc_words.append(w)
                    continue
                src = self._expand(ins, w, env)
                if add and re.match(r"^https?://", src):
                    sources.append(await asyncio.to_thread(self._download, ins, src, cleanup))
                    continue
                excluded = None if frm else self._excluded
                found = await asyncio.to_thread(context_sources, tree, [src], excluded, keep_owner=keep_owner,
                                                what=what)
                if add:
                    found = [self._maybe_extract(s) for s in found]
                sources.extend(found)
            if not sources:
                raise CopyError("no source files were specified")
            if len(sources) > 1 and not dest_is_dir:
                raise ins.error(f"When using {ins.cmd.upper()} with more than one source file, the destination must "
                                "be a directory and end with a /")
            digest = await asyncio.to_thread(source_digest, sources)
            kind = "multi" if len(sources) > 1 else ("dir" if sources[0].is_dir() else "file")
            # moby's performCopy: "COPY --chown=1:1file:<hex> in /dest " (sic); --chmod likewise
            perms = (f"--chown={chown}" if chown else "") + (f"--chmod={ins.flags['chmod']}" if chmod is not None
                                                             else "")
            created_by = cfgops.nop(f"{ins.cmd.upper()} {perms}{kind}:{digest.removeprefix('sha256:')} in {dest} "
                                    ).replace("#(nop)  ", "#(nop) ")
            flags = json.dumps({k: v for k, v in sorted(ins.flags.items()) if k in ("chmod", "from", "link")})
            key = cache_key(state.digest, created_by, (flags, f"chown={chown}", f"dest={dest_abs}"))
            hit = await self._cached(key, state, created_by)
            if hit is not None:
                return _State(hit[0], hit[1], hit[2], dict(state.args), shared=True)
            image_tree = await self._state_tree(state, cleanup)
            owner = self._owner(ins, chown, image_tree) if chown else None

            def write(out: IO[bytes]) -> None:
                w = LayerWriter(image_tree, out)
                write_copy(w, sources, dest_abs, dest_is_dir, owner=owner, chmod=chmod)
                w.close()

            layer = await asyncio.to_thread(self._layer_from, write)
            return await self._layer_step(state, key, created_by, layer)
        finally:
            for fn in reversed(cleanup):
                with contextlib.suppress(Exception):
                    fn()

    def _excluded(self, path: str) -> bool:
        return bool(self.ignore.patterns) and self.ignore.excluded(path)

    def _maybe_extract(self, src: Source) -> Source:
        if src.tree is None or src.is_dir():
            return src
        st = src.stat()
        if st is None or not stat.S_ISREG(st.st_mode):
            return src
        with src.tree.open(src.path) as f:
            head = f.read(512)
        if is_archive_head(head):
            return Source(name=src.name, tree=src.tree, path=src.path, extract=True)
        return src

    def _download(self, ins: Instruction, url: str, cleanup: list[Callable[[], None]]) -> Source:
        import email.utils
        import urllib.error
        import urllib.parse
        import urllib.request

        self.b.tmp_root.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=self.b.tmp_root, prefix="add-")
        cleanup.append(lambda: os.unlink(path))
        mtime = 0
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, os.fdopen(fd, "wb") as f:  # noqa: S310
                shutil.copyfileobj(resp, f)
                lm = resp.headers.get("Last-Modified")
                if lm:
                    with contextlib.suppress(TypeError, ValueError):
                        mtime = int(email.utils.parsedate_to_datetime(lm).timestamp())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ins.error(f"ADD failed: fetching {url}: {getattr(exc, 'reason', exc)}") from None
        name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
        return Source(name=name, file=path, mode=0o600, mtime=mtime)

    def _owner(self, ins: Instruction, chown: str, tree: LayerTree) -> Owner:
        user, _, group = chown.partition(":")

        def lookup(name: str, file: str, what: str) -> int:
            if name.isdigit():
                return int(name)
            host = tree.host_path(tree.resolve(file))
            if host is not None:
                with open(host, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        fields = line.strip().split(":")
                        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
                            return int(fields[2])
            raise ins.error(f"unable to convert uid/gid chown string to host mapping: can't find {what} for "
                            f"{'user' if what == 'uid' else 'group'} {name}: no such "
                            f"{'user' if what == 'uid' else 'group'}: {name}")

        uid = lookup(user, "etc/passwd", "uid")
        if group:
            gid = lookup(group, "etc/group", "gid")
        elif user.isdigit():
            gid = uid
        else:
            gid = self._primary_gid(tree, user) or uid
        return Owner(uid, gid)

    @staticmethod
    def _primary_gid(tree: LayerTree, user: str) -> int | None:
        host = tree.host_path(tree.resolve("etc/passwd"))
        if host is None:
            return None
        with open(host, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) > 3 and fields[0] == user and fields[3].isdigit():
                    return int(fields[3])
        return None

    async def _from_tree(self, stage: _Stage, frm: str, ins: Instruction) -> LayerTree:
        for s in self.stages:
            if s.index < stage.index and (s.name == frm.lower() or str(s.index) == frm):
                if s.state is None:
                    raise ins.error(f"stage {frm} was not built")
                return await asyncio.to_thread(self._tree_of, s.state)
        if frm.isdigit():
            raise ins.error(f"invalid from flag value {frm}: refers to a stage that is not earlier in the Dockerfile")
        try:
            image = await asyncio.to_thread(self.images.get, frm)
        except (NoSuchImage, InvalidArgument):
            raise ins.error(f"invalid from flag value {frm}: No such image: {frm}") from None
        return await asyncio.to_thread(self._image_tree, image)

    async def _state_tree(self, state: _State, cleanup: list[Callable[[], None]]) -> LayerTree:
        return await asyncio.to_thread(self._tree_of, state)

    def _tree_of(self, state: _State) -> LayerTree:
        if not state.layers:
            return LayerTree([])
        return self._image_tree(self._materialize(state))

    def _image_tree(self, image: Image) -> LayerTree:
        top = self.images.unpack(image)
        if not top:
            return LayerTree([])
        return LayerTree.from_mounts(self.images.snapshotter.mounts(top))

    # -- images ---------------------------------------------------------------------------------
    def _finished(self, state: _State) -> tuple[str, ...] | None:
        """The tags of the image of ``state`` when it already exists (every step came from the
        cache), its cache records touched; None when it must be written (``_finish``, in a thread).
        Its blobs are not read again, so they need not join the build's lease."""
        if not state.digest:
            return None
        tags = self.images.tags_of(state.digest)
        if tags is None:
            return None
        if self.used_keys:
            self.b.cache.touch(self.used_keys)
        return tags

    def _finish(self, state: _State) -> Image:
        if self.used_keys:
            self.b.cache.touch(self.used_keys)
        return self._materialize(state)

    def _materialize(self, state: _State) -> Image:
        """The state as an image in the store (added if new, and remembered for cleanup)."""
        config_bytes = self.content.read(state.digest) if state.digest else _dumps(state.config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config_bytes),
                       "digest": state.digest},
            "layers": state.layers,
        }
        try:
            return self.images.get(state.digest)
        except NoSuchImage:
            pass
        image = self.images.add(_dumps(manifest), config_bytes)
        self.added.append(image.id)
        return image

    def cleanup(self) -> None:
        """Remove the intermediate images (and so their snapshots) this build added."""
        for image_id in reversed(self.added):
            if image_id == self.result:
                continue
            with contextlib.suppress(KobakoError):
                image = self.images.get(image_id)
                if not image.repo_tags:
                    self.images.remove(image_id)


def new_build_dir(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"ctx-{secrets.token_hex(8)}"
    path.mkdir(mode=0o700)
    return path
