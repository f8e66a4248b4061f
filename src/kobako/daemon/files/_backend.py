"""``FilesBackend``: the archive API (cp), export and commit, on top of the container manager.

Every look at a container's files happens in a helper process that has entered the container's
root first (see ``_helper``); kobakod itself only moves bytes between HTTP and the helper's pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from kobako.daemon.files._pathstat import container_abs_path
from kobako.errors import Conflict, InvalidArgument, KobakoError, NotFound, SystemError_
from kobako.mount import Mount

log = logging.getLogger("kobako.files")
_READ = 1 << 16


class ContainerFileNotFound(NotFound):
    def __init__(self, path: str, container: str) -> None:
        super().__init__(f"Could not find the file {path} in container {container}")


def readonly_mounts(mounts: list[Mount]) -> list[Mount]:
    """A read-only view of an active snapshot that never touches its work dir: an overlay's
    upper dir becomes its top lower dir; a bind mount gets ``ro``."""
    out = []
    for m in mounts:
        if m.type == "overlay":
            opts = dict(o.split("=", 1) if "=" in o else (o, "") for o in m.options)
            lowers = [opts["upperdir"]] if "upperdir" in opts else []
            lowers += opts.get("lowerdir", "").split(":") if opts.get("lowerdir") else []
            out.append(Mount("overlay", m.source, ("ro", "lowerdir=" + ":".join(lowers))))
        else:
            out.append(Mount(m.type, m.source, tuple(o for o in m.options if o != "rw") + ("ro",)))
    return out


class Helper:
    """One running ``_helper`` process and its first answer."""

    def __init__(self, proc: asyncio.subprocess.Process, answer: dict[str, Any]) -> None:
        self.proc = proc
        self.answer = answer

    async def chunks(self) -> AsyncIterator[bytes]:
        """The helper's stdout; the process is reaped (or killed, if the reader goes away)."""
        assert self.proc.stdout is not None
        try:
            while data := await self.proc.stdout.read(_READ):
                yield data
            await self.finish()
        finally:
            await self.kill()

    async def finish(self) -> None:
        assert self.proc.stderr is not None
        rest = await self.proc.stderr.read()
        code = await self.proc.wait()
        if code != 0:
            raise _error_from(rest.decode(errors="replace"), "", "")

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


def _error_from(text: str, path: str, container: str) -> KobakoError:
    line = text.strip().splitlines()[0] if text.strip() else ""
    try:
        err = json.loads(line)["error"]
    except (ValueError, KeyError, TypeError):
        return SystemError_(f"files helper failed: {text.strip()[-500:] or 'no output'}")
    kind, message = err.get("kind", ""), err.get("message", "")
    if kind == "PathNotFound" or (kind == "OSError" and err.get("errno") in (errno.ENOENT, errno.ENOTDIR)):
        return ContainerFileNotFound(path, container) if path else NotFound(message)
    if kind in ("NotADirectory", "InvalidArgument", "RuntimeFailure"):
        return InvalidArgument(message)
    if kind == "Conflict":
        return Conflict(message)
    return SystemError_(message)


class FilesBackend:
    def __init__(self, containers: Any, images: Any) -> None:
        self.containers = containers
        self.images = images
        self._locks: dict[str, asyncio.Lock] = {}

    # -- the helper -------------------------------------------------------------------------------
    def _where(self, c: Any, *, write: bool) -> dict[str, Any]:
        """How the helper reaches the container's root: its live root, or the snapshot mounted
        in a private mount namespace (read-only unless ``write``)."""
        if c.running and c.state.get("Pid"):
            return {"pid": int(c.state["Pid"]), "cid": c.id}
        mounts = self.images.snapshotter.mounts(c.snapshot)
        if not write:
            mounts = readonly_mounts(mounts)
        return {"mounts": [m.to_json() for m in mounts], "target": str(c.bundle / "rootfs")}

    async def _start(self, req: dict[str, Any], *, stdin: AsyncIterator[bytes] | None = None,
                     stdout: bool = False, path: str = "", name: str = "") -> Helper:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-m", "kobako.daemon.files._helper", json.dumps(req),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        helper = Helper(proc, {})
        try:
            if stdin is not None:
                await self._feed(proc, stdin)
            assert proc.stderr is not None
            line = await proc.stderr.readline()
            try:
                obj = json.loads(line)
            except ValueError:
                obj = {}
            if "ok" not in obj:
                rest = await proc.stderr.read()
                await proc.wait()
                raise _error_from((line + rest).decode(errors="replace"), path, name)
            helper.answer = obj["ok"]
            if not stdout:
                await helper.finish()
            return helper
        except BaseException:
            await helper.kill()
            raise

    @staticmethod
    async def _feed(proc: asyncio.subprocess.Process, body: AsyncIterator[bytes]) -> None:
        assert proc.stdin is not None
        try:
            async for chunk in body:
                proc.stdin.write(chunk)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the helper failed early; its answer says why
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.close()

    # -- archive ----------------------------------------------------------------------------------
    async def stat_path(self, ref: str, path: str) -> dict[str, Any]:
        c = self.containers.get(ref)
        req = {"op": "stat", "path": container_abs_path(path), **self._where(c, write=False)}
        helper = await self._start(req, path=path, name=ref)
        stat: dict[str, Any] = helper.answer["stat"]
        return stat

    async def archive(self, ref: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """(stat, tar chunks) of ``path``; errors before the first byte are raised here."""
        c = self.containers.get(ref)
        req = {"op": "get", "path": container_abs_path(path), **self._where(c, write=False)}
        helper = await self._start(req, stdout=True, path=path, name=ref)
        self.containers.emit(c, "archive-path", path=path)
        return helper.answer["stat"], helper.chunks()

    async def extract(self, ref: str, path: str, body: AsyncIterator[bytes], *,
                      no_overwrite_dir_non_dir: bool, copy_uid_gid: bool) -> None:
        c = self.containers.get(ref)
        if c.host_config.get("ReadonlyRootfs"):
            raise InvalidArgument("container rootfs is marked read-only")
        user = (c.config.get("User") or "") if copy_uid_gid else ""
        lock = self._locks.setdefault(c.id, asyncio.Lock())
        async with lock:
            req = {"op": "put", "path": container_abs_path(path), "no_overwrite": no_overwrite_dir_non_dir,
                   "user": user, **self._where(c, write=True)}
            await self._start(req, stdin=body, path=path, name=ref)
        self.containers.emit(c, "extract-to-dir", path=path)

    # -- export -----------------------------------------------------------------------------------
    async def export(self, ref: str) -> AsyncIterator[bytes]:
        c = self.containers.get(ref)
        helper = await self._start({"op": "export", **self._where(c, write=False)}, stdout=True)
        self.containers.emit(c, "export")
        return helper.chunks()

    # -- commit -----------------------------------------------------------------------------------
    async def commit(self, ref: str, *, repo: str = "", tag: str = "", author: str = "", comment: str = "",
                     pause: bool = True, changes: list[str] | None = None,
                     config: dict[str, Any] | None = None) -> str:
        from kobako.daemon.files._commit import commit_config, reference

        c = self.containers.get(ref)
        if c.state.get("Dead"):
            raise Conflict(f"You cannot commit container {c.id} which is Dead")
        if c.removed:
            raise Conflict(f"You cannot commit container {c.id} which is being removed")
        image_ref = reference(repo, tag)
        parent = await asyncio.to_thread(self.images.get, c.image_id)
        new_config = commit_config(parent.config, c.config, config, changes or [], author, comment)
        unpause = await self._pause(c) if pause else None
        try:
            spool = await self._diff(c)
        finally:
            if unpause is not None:
                await unpause()
        try:
            image = await asyncio.to_thread(self._store, parent, spool, new_config, image_ref)
        finally:
            spool.close()
        self.containers.emit(c, "commit", comment=comment, imageID=image.id, imageRef=image_ref or "")
        return str(image.id)

    async def _pause(self, c: Any) -> Any:
        """Freeze a running container for the commit; returns how to undo it (None: nothing to do)."""
        if not c.running or c.state.get("Paused"):
            return None
        pause = getattr(self.containers, "pause", None)
        if pause is not None:
            await pause(c.id)
            return lambda: self.containers.unpause(c.id)
        from pathlib import Path

        from kobako.runtime import cgroup_manager

        cg = cgroup_manager(f"{self.containers.cgroup_parent.rstrip('/')}/{c.id}", Path(self.containers.cgroup_root))
        await asyncio.to_thread(cg.freeze)
        return lambda: asyncio.to_thread(cg.thaw)

    async def diff_tar(self, ref: str) -> Any:
        """Public: a (stopped) container's changes as an uncompressed layer tar in a temporary file at
        offset 0, which the caller closes. The builder's RUN uses it on the copy storage driver."""
        return await self._diff(self.containers.get(ref))

    async def _diff(self, c: Any) -> Any:
        """The container's changes as an uncompressed layer tar, spooled to a temporary file."""
        import tempfile

        snap = self.images.snapshotter
        upper = str(snap.upper_dir(c.snapshot))
        if snap.overlay:
            req: dict[str, Any] = {"op": "diff", "root": upper}
        else:
            parent_key = snap.stat(c.snapshot).parent
            old = snap.mounts(parent_key)[0].source if parent_key else None
            common = os.path.commonpath([upper, old]) if old else upper
            req = {"op": "treediff", "root": common, "new": os.path.relpath(upper, common),
                   "old": os.path.relpath(old, common) if old else None}
        helper = await self._start(req, stdout=True)
        spool = tempfile.TemporaryFile(prefix="commit-", dir=self.containers.root)  # beside the data
        try:
            async for chunk in helper.chunks():
                await asyncio.to_thread(spool.write, chunk)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool

    def _store(self, parent: Any, spool: Any, config: dict[str, Any], ref: str | None) -> Any:
        import tarfile

        from kobako.images import derive_image

        with tarfile.open(fileobj=spool, mode="r|") as tf:
            empty = tf.next() is None
        spool.seek(0)
        if empty:
            config["history"][-1]["empty_layer"] = True
        return derive_image(self.images, parent, None if empty else spool, config, ref)
