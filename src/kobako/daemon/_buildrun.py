"""The daemon's ``RunStep`` for the builder: a RUN instruction's command in a container.

The container is an ordinary one (create, attach before start, wait, remove) made from the
build's intermediate image, network ``none`` unless the build asked for ``host``; its output
is relayed to the build stream as it comes. Its changes become a layer tar: on overlay, straight
from the snapshot's upper directory (the container has exited, so nothing changes under the
walk); on the copy driver, by the files backend's tree diff against the parent snapshot, in its
chrooted helper (``FilesBackend.diff_tar``), as ``commit`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import Callable
from typing import IO, Any

from kobako.api.stdcopy import StdcopyDecoder
from kobako.snapshots import diff_layer

_COPY_CHUNK = 1 << 20


class ContainerRunStep:
    def __init__(self, containers: Any, files: Any = None) -> None:
        self.containers = containers
        self._files = files

    async def create(self, image_id: str, *, argv: list[str], env: list[str], user: str, workdir: str,
                     network: str) -> str:
        body = {
            "Image": image_id, "Entrypoint": argv, "Cmd": None, "Env": env, "User": user,
            "WorkingDir": workdir, "Healthcheck": {"Test": ["NONE"]}, "AttachStdout": True, "AttachStderr": True,
            "Labels": {}, "HostConfig": {"NetworkMode": "host" if network == "host" else "none"},
        }
        created = await self.containers.create(body, None)
        return str(created["Id"])

    async def run(self, container_id: str, output: Callable[[bytes], None]) -> int:
        ours, theirs = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=theirs)
        out_reader, out_writer = await asyncio.open_connection(sock=ours)

        async def pump() -> None:
            decoder = StdcopyDecoder()
            while data := await out_reader.read(65536):
                for _stream, payload in decoder.feed(data):
                    output(payload)

        attach = asyncio.create_task(self.containers.attach(
            container_id, stdin=False, stdout=True, stderr=True, reader=reader, writer=writer))
        pumping = asyncio.create_task(pump())
        try:
            await asyncio.sleep(0)  # let attach register before start releases the process
            await self.containers.start(container_id)
            await attach
            writer.close()
            await pumping
            result = await self.containers.wait(container_id)
            return int(result["StatusCode"])
        finally:
            for task in (attach, pumping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            writer.close()
            out_writer.close()

    async def diff(self, container_id: str, out: IO[bytes]) -> None:
        c = self.containers.get(container_id)
        snapshotter = self.containers.images.snapshotter
        if snapshotter.overlay:
            await asyncio.to_thread(diff_layer, snapshotter.upper_dir(c.snapshot), out)
            return
        if self._files is None:
            from kobako.daemon.files import FilesBackend

            self._files = FilesBackend(self.containers, self.containers.images)
        spool = await self._files.diff_tar(container_id)
        try:
            await asyncio.to_thread(shutil.copyfileobj, spool, out, _COPY_CHUNK)
        finally:
            spool.close()

    async def remove(self, container_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.containers.remove(container_id, force=True, volumes=True)  # moby: RemoveVolume, as rm -v
