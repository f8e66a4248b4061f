"""Containers: create, start, wait, stop, kill, remove, attach; live restore of running shims.

Everything here runs on kobakod's event loop; disk work (unpacking, snapshot set-up, removal)
goes to threads.  Each container has one monitor task while it runs: it holds a ``wait``
request on the shim and records the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal as signals
from pathlib import Path
from typing import Any

from kobako.errors import (
    Conflict,
    InvalidArgument,
    KobakoError,
    NoSuchContainer,
    NotModified,
    RuntimeFailure,
    SystemError_,
    Unavailable,
)
from kobako.fsutil import atomic_write_json, read_json
from kobako.ids import new_id
from kobako.shim import ShimConfig, exit_path

from ._names import random_name, validate_name
from ._nsmodes import check as check_ns_modes
from ._nsmodes import join as join_ns_modes
from ._record import Container, now_rfc3339, parse_rfc3339
from ._health import HealthMonitor, validate_healthcheck
from ._restart import RestartManager, is_none, validate_policy
from ._spec import build_spec, command_of, default_memory_swap, merge_config, merge_update, update_resources
from .._events import EventBus
from .._spawn import Spawner, shim_call, shim_connect

log = logging.getLogger("kobako.containers")


def parse_signal(sig: str | int | None, default: int = signals.SIGKILL) -> int:
    if sig is None or sig == "":
        return default
    if isinstance(sig, int) or str(sig).isdigit():
        n = int(sig)
        if n <= 0 or n >= 65:
            raise InvalidArgument(f"Invalid signal: {sig}")
        return n
    name = str(sig).upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {sig}") from None


class _PendingAttach:
    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.go: asyncio.Future[bool] = loop.create_future()
        self.ready: asyncio.Future[None] = loop.create_future()


class ContainerManager:
    def __init__(self, *, data_root: Path, exec_root: Path, images: Any, spawner: Spawner,
                 cgroup_parent: str = "/kobako", cgroup_root: str = "/sys/fs/cgroup",
                 events: EventBus | None = None, volumes: Any = None, network: Any = None,
                 userns_remap: Any = None) -> None:
        from ._mounts import ContainerMounts

        self.userns_remap = userns_remap  # --userns-remap: a kobako.daemon._userns.Remap, or None

        self.root = data_root / "containers"
        self.exec_root = exec_root
        self.images = images
        self.spawner = spawner
        self.cgroup_parent = cgroup_parent
        self.cgroup_root = cgroup_root
        self.events = events or EventBus()
        self.containers: dict[str, Container] = {}
        self.names: dict[str, str] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._pending: dict[str, list[_PendingAttach]] = {}
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._starting: set[str] = set()
        self._restarts: dict[str, RestartManager] = {}
        self._restart_tasks: dict[str, asyncio.Task[None]] = {}
        self.mounts = ContainerMounts(volumes, self)  # volumes: a kobako.volumes.LocalVolumeStore
        from ._netjoin import NetJoin

        # network: a kobako.network.NetworkManager; without one, containers get a netns with only lo
        self.netjoin = NetJoin(network, self) if network is not None else None
        self.health = HealthMonitor(self._run_probe, lambda c, action: self.emit(c, action),
                                    lambda c: asyncio.to_thread(c.save))
        self.root.mkdir(parents=True, exist_ok=True)

    # -- lookup ------------------------------------------------------------------------------
    def get(self, ref: str) -> Container:
        ref = ref.lstrip("/") if ref.startswith("/") else ref
        if ref in self.containers:
            return self.containers[ref]
        if ref in self.names:
            return self.containers[self.names[ref]]
        if ref:
            hits = [c for cid, c in self.containers.items() if cid.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NoSuchContainer(ref)

    def image_in_use(self, image_id: str) -> Any:
        from kobako.images import ImageUser

        users = [c for c in self.containers.values() if c.image_id == image_id]
        if not users:
            return None
        running = [c for c in users if c.running]
        c = (running or users)[0]
        return ImageUser(c.id, running=bool(running))

    # -- notifications --------------------------------------------------------------------------
    def emit(self, c: Container, action: str, **extra: str) -> None:
        """Publish a container event with Docker's attributes (image, name, the container's labels)."""
        attrs = {str(k): str(v) for k, v in (c.config.get("Labels") or {}).items()}
        attrs.update(image=c.image_ref, name=c.name, **extra)
        self.events.publish("container", action, c.id, attrs)

    def _notify(self, c: Container) -> None:
        ev = self._events.pop(c.id, None)
        if ev is not None:
            ev.set()

    async def _changed(self, c: Container) -> None:
        ev = self._events.setdefault(c.id, asyncio.Event())
        await ev.wait()

    # -- create ---------------------------------------------------------------------------------
    async def create(self, body: dict[str, Any], name: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidArgument("container config must be a JSON object")
        image_ref = body.get("Image")
        if not image_ref or not isinstance(image_ref, str):
            raise InvalidArgument("config.Image: an image name is required")
        host_config = body.get("HostConfig") or {}
        if not isinstance(host_config, dict):
            raise InvalidArgument("HostConfig must be a JSON object")
        if name:
            name = validate_name(name)
            if name in self.names:
                other = self.names[name]
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container "{other}". '
                    "You have to remove (or rename) that container to be able to reuse that name."
                )
        image = await asyncio.to_thread(self.images.get, image_ref)
        config_body = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        cfg = merge_config(config_body, image.config)
        cfg["Image"] = image_ref
        argv = command_of(cfg)
        cid = new_id()
        name = name or random_name(self.names)
        if not cfg.get("Hostname"):
            # --network host: the host's name, as dockerd gives
            cfg["Hostname"] = os.uname().nodename if host_config.get("NetworkMode") == "host" else cid[:12]
        # The docker CLI sends "default" and empty values; store what they mean here.
        if self.netjoin is not None:
            net_settings = self.netjoin.prepare(cfg, host_config, body.get("NetworkingConfig"))
        elif host_config.get("NetworkMode") in (None, "", "default"):
            host_config["NetworkMode"] = "none"
        log_config = host_config.get("LogConfig") or {}
        host_config["LogConfig"] = {"Type": log_config.get("Type") or "json-file",
                                    "Config": log_config.get("Config") or {}}
        host_config["RestartPolicy"] = validate_policy(host_config.get("RestartPolicy"))
        if host_config.get("AutoRemove") and not is_none(host_config["RestartPolicy"]):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        validate_healthcheck(cfg.get("Healthcheck"))
        default_memory_swap(host_config)
        check_ns_modes(host_config, self.get)  # ShmSize, PidMode, IpcMode
        build_spec(cid, cfg, host_config, self.cgroup_parent, self.userns_remap)  # validates resources now, not at start
        mount_points = self.mounts.plan(cfg, host_config)
        root = self.root / cid
        c = Container(
            id=cid, name=name, created=now_rfc3339(), path=argv[0], args=argv[1:], config=cfg,
            host_config=host_config, image_id=image.id, image_ref=image_ref, snapshot=cid, root=root,
            mount_points=mount_points,
        )
        if self.netjoin is not None:
            c.network_settings = net_settings
        self.names[name] = cid
        try:
            await self.mounts.create_volumes(c)
            await asyncio.to_thread(self._prepare_rootfs, c, image)
        except BaseException:
            del self.names[name]
            await self.mounts.forget(c)
            await asyncio.to_thread(self._remove_files, c)
            raise
        self.containers[cid] = c
        self.emit(c, "create")
        from ._security import security_warnings

        return {"Id": cid, "Warnings": security_warnings(host_config)}

    def _prepare_rootfs(self, c: Container, image: Any) -> None:
        c.root.mkdir(parents=True)
        (c.bundle / "rootfs").mkdir(parents=True)
        top = self.images.unpack(image)
        self.images.snapshotter.prepare(c.snapshot, top)
        c.save()  # the record last: a crash before this leaves no half container

    def _remove_files(self, c: Container) -> None:
        with contextlib.suppress(KobakoError, OSError):
            self.images.snapshotter.remove(c.snapshot)
        shutil.rmtree(c.root, ignore_errors=True)
        exit_path(self.exec_root, c.id).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the shim's own stderr (spawner), of no use once the container is gone
            os.unlink(os.path.join(self.exec_root, "shims", f"{c.id}.log"))

    # -- start ------------------------------------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        if c.id in self._starting:
            raise NotModified("container is already running")
        c.check_can_start()
        self._starting.add(c.id)
        try:
            # A manual start: a fresh restart manager, the count and the manual stop forgotten (moby
            # containerStart with resetRestartManager).
            self._reset_restart_manager(c)
            c.restart_count = 0
            c.manually_stopped = False
            await self._start(c)
        finally:
            self._starting.discard(c.id)

    async def _run_probe(self, c: Container, argv: list[str], timeout: float) -> tuple[int, bytes]:
        """A healthcheck probe: ``argv`` in the container as its user, env and workdir (the exec path)."""
        from ._probe import run_in_container

        c.check_can_exec()
        return await run_in_container(self, c, argv, timeout)

    def _restart_manager(self, c: Container) -> RestartManager:
        rm = self._restarts.get(c.id)
        if rm is None:
            rm = self._restarts[c.id] = RestartManager(c.host_config.get("RestartPolicy"), c.restart_count)
        return rm

    def _reset_restart_manager(self, c: Container) -> None:
        rm = self._restarts.pop(c.id, None)
        if rm is not None:
            rm.cancel()
        task = self._restart_tasks.pop(c.id, None)
        if task is not None:
            task.cancel()

    async def _start(self, c: Container) -> None:
        spec = build_spec(c.id, c.config, c.host_config, self.cgroup_parent, self.userns_remap)
        try:
            join_ns_modes(spec, c.host_config, self.get)  # --pid/--ipc container:X, X running
            await self.mounts.attach(c, spec)  # volumes, binds, tmpfs: released again in _on_exit/_start_failed
            if self.netjoin is not None:
                await self.netjoin.setup(c, spec)  # sandbox, endpoints, ports: undone in _on_exit/_start_failed
        except KobakoError as exc:
            # moby: a start that fails records its error (and an --rm container is removed: `docker run
            # --rm` waits for that removal after a failed start).
            await self._start_failed(c, exc)
            raise
        except BaseException:
            await self.mounts.detach(c)
            raise
        mounts = await asyncio.to_thread(self.images.snapshotter.mounts, c.snapshot)
        await asyncio.to_thread(atomic_write_json, c.bundle / "config.json", spec)
        log_cfg = (c.host_config.get("LogConfig") or {}).get("Config") or {}
        cfg = ShimConfig(
            id=c.id,
            bundle=str(c.bundle),
            exec_root=str(self.exec_root),
            log_path=str(c.log_path),
            tty=bool(c.config.get("Tty")),
            open_stdin=bool(c.config.get("OpenStdin")),
            stdin_once=bool(c.config.get("StdinOnce")),
            rootfs_mounts=tuple(mounts),
            cgroup_root=self.cgroup_root,
            log_max_size=_parse_size(log_cfg.get("max-size", "0")),
            log_max_files=int(log_cfg.get("max-file", "1") or 1),
            console_size=tuple(c.host_config.get("ConsoleSize") or (0, 0)),  # type: ignore[arg-type]
        )
        try:
            pid = await self.spawner.spawn(cfg)
        except RuntimeFailure as exc:
            await self._start_failed(c, exc)
            raise
        pending = self._pending.pop(c.id, [])
        for p in pending:
            if not p.go.done():
                p.go.set_result(True)
        if pending:
            await asyncio.wait([asyncio.ensure_future(p.ready) for p in pending], timeout=5)
        try:
            await shim_call(self.exec_root, c.id, {"op": "start"})
        except KobakoError as exc:
            with contextlib.suppress(KobakoError):
                await shim_call(self.exec_root, c.id, {"op": "kill", "signal": 9})
            await self._start_failed(c, exc)
            raise
        c.set_running(pid)
        self.mounts.started(c)
        c.manually_restarted = False
        self.health.init(c)
        await asyncio.to_thread(c.save)
        self._notify(c)
        self.emit(c, "start")
        self._monitors[c.id] = asyncio.create_task(self._monitor(c))

    async def _start_failed(self, c: Container, exc: KobakoError) -> None:
        kind = getattr(exc, "kind", "")
        code = 127 if kind == "ExecNotFound" else 126 if kind == "ExecNotExecutable" else 128
        for p in self._pending.pop(c.id, []):
            if not p.go.done():
                p.go.set_result(False)
        c.set_start_failed(code, str(exc))
        await self.mounts.detach(c)
        if self.netjoin is not None:
            await self.netjoin.teardown(c)
        await asyncio.to_thread(c.save)
        self._notify(c)
        if c.host_config.get("AutoRemove"):
            await self._remove(c)

    # -- exit -------------------------------------------------------------------------------------
    async def _monitor(self, c: Container) -> None:
        info: dict[str, Any] | None = None
        try:
            info = await shim_call(self.exec_root, c.id, {"op": "wait"})
        except (KobakoError, OSError, json.JSONDecodeError) as exc:
            # A shim that finished just as we asked has already written its exit file.
            info = self._read_exit_file(c)
            if info is None:
                log.warning("container %s: lost its shim (%s)", c.id[:12], exc)
        except asyncio.CancelledError:
            return
        finally:
            self._monitors.pop(c.id, None)
        await self._on_exit(c, info)

    def _read_exit_file(self, c: Container) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = read_json(exit_path(self.exec_root, c.id))
            return obj
        except (OSError, ValueError):
            return None

    async def _on_exit(self, c: Container, info: dict[str, Any] | None, restoring: bool = False) -> None:
        """moby ``handleContainerExit``: record the exit, then restart (policy) or stay exited."""
        self.health.stop(c)
        await self.mounts.detach(c)
        if self.netjoin is not None:
            await self.netjoin.teardown(c)  # the process is gone: its addresses and ports are free again
        if info is None:
            code, finished, oom, error = 255, None, False, "container shim disappeared; exit status unknown"
        else:
            code, finished, oom, error = (int(info["exit_code"]), info.get("finished_at"),
                                          bool(info.get("oom_killed")), "")
        ran_for = parse_rfc3339(finished or now_rfc3339()) - parse_rfc3339(c.state["StartedAt"])
        delay = None
        if not c.removing and not restoring:  # at daemon start, restore() applies the policy itself
            delay = self._restart_manager(c).should_restart(code, c.manually_stopped, ran_for)
        if delay is not None:
            c.restart_count += 1
            c.set_restarting(code, finished, oom)
        else:
            c.set_exited(code, finished, oom, error)
        await asyncio.to_thread(c.save)
        exit_path(self.exec_root, c.id).unlink(missing_ok=True)
        self._notify(c)
        if c.state.get("OOMKilled"):
            self.emit(c, "oom")
        self.emit(c, "die", exitCode=str(code), execDuration=str(int(max(ran_for, 0))))
        if delay is not None:
            self._restart_tasks[c.id] = asyncio.create_task(self._restart_after(c, delay))
        elif c.host_config.get("AutoRemove") and not c.manually_restarted:
            await self._remove(c)

    async def _restart_after(self, c: Container, delay: float) -> None:
        """The restart manager's wait, then a start that keeps the count (state "restarting" meanwhile)."""
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if self._restart_tasks.get(c.id) is asyncio.current_task():
                del self._restart_tasks[c.id]
            return
        if not c.restarting or c.removed:
            self._restart_tasks.pop(c.id, None)
            return
        self._starting.add(c.id)
        try:
            await self._start(c)
        except KobakoError as exc:
            log.warning("container %s: restart failed: %s", c.id[:12], exc)
            if c.restarting:
                c.set_stopped_from_restarting()
                await asyncio.to_thread(c.save)
                self._notify(c)
        finally:
            self._starting.discard(c.id)
            if self._restart_tasks.get(c.id) is asyncio.current_task():
                del self._restart_tasks[c.id]

    async def _cancel_restart(self, c: Container) -> None:
        """A stop/kill/rm of a container waiting to restart: it stays exited (moby ExitOnNext)."""
        self._restart_manager(c).cancel()
        task = self._restart_tasks.pop(c.id, None)
        if task is not None:
            if c.id in self._starting:
                # The restart's start is under way: let it finish; the caller then signals the
                # process it made (a start is never cut in half).
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(task)
            else:
                task.cancel()
        if c.restarting:
            c.set_stopped_from_restarting()
            await asyncio.to_thread(c.save)
            self._notify(c)

    # -- wait ---------------------------------------------------------------------------------------
    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        c = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidArgument(f"invalid condition: \"{condition}\"")
        seq = c.exit_seq
        while True:
            if condition == "removed":
                if c.removed:
                    break
            elif condition == "next-exit":
                if c.exit_seq > seq:
                    break
            elif (not c.running and c.id not in self._starting) or c.exit_seq > seq:
                break
            await self._changed(c)
        # A failed start is reported by the start request itself (State.Error keeps it for inspect);
        # repeating it here would make the docker CLI print it twice.
        return {"StatusCode": int(c.state["ExitCode"]), "Error": None}

    # -- signals ------------------------------------------------------------------------------------
    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        """moby ``killWithSignal``: a stop-like signal cancels restarts and thaws a paused container."""
        signo = parse_signal(sig)
        c = self.get(ref)
        c.check_can_kill()
        seq = c.exit_seq
        await self._signal(c, signo)
        if signo == signals.SIGKILL and c.alive:
            # moby ``kill``: wait (up to 10 s) for the exit, so `kill` then `inspect` sees it exited.
            await self._wait_exit(c, seq, 10)

    async def _signal(self, c: Container, signo: int) -> None:
        stop_sig = c.config.get("StopSignal")
        stop_like = signo == signals.SIGKILL or not stop_sig or parse_signal(stop_sig) == signo
        c.manually_stopped = True
        await asyncio.to_thread(c.save)
        if stop_like:
            await self._cancel_restart(c)
        if not c.alive:
            return  # it was restarting: cancelling the restart was the whole job
        with contextlib.suppress(Unavailable):
            await shim_call(self.exec_root, c.id, {"op": "kill", "signal": signo})
        if stop_like and c.paused:
            # The signal is queued in the frozen tasks; thawing delivers it (moby: task.Resume).
            await self._thaw(c)
        self.emit(c, "kill", signal=str(signo))

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        if not c.running:
            raise NotModified("container is already stopped")
        await self._stop(c, timeout, sig)

    async def _stop(self, c: Container, timeout: int | None = None, sig: str | None = None) -> None:
        """moby ``containerStop``: the stop signal, ``timeout`` seconds, then SIGKILL."""
        stop_sig = parse_signal(sig or c.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            timeout = 10 if timeout is None else int(timeout)
        seq = c.exit_seq
        await self._signal(c, stop_sig)
        if c.alive and not await self._wait_exit(c, seq, None if timeout < 0 else timeout):
            await self._signal(c, signals.SIGKILL)
            await self._wait_exit(c, seq, None)
        self.emit(c, "stop")

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        """moby ``containerRestart``: stop when running (paused too), start, event "restart"."""
        c = self.get(ref)
        if c.running:
            c.manually_restarted = True
            await self._stop(c, timeout, sig)
        await self.start(c.id)
        self.emit(c, "restart")

    # -- pause ----------------------------------------------------------------------------------------
    def _cgroup(self, c: Container) -> Any:
        from kobako.runtime import cgroup_manager

        return cgroup_manager(f"{self.cgroup_parent.rstrip('/')}/{c.id}", Path(self.cgroup_root))

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        c.check_can_pause()
        try:
            await asyncio.to_thread(self._cgroup(c).freeze)
        except (OSError, TimeoutError) as exc:
            raise SystemError_(f"cannot pause container {c.id}: {exc}") from None
        c.set_paused(True)
        self.health.stop(c)
        await asyncio.to_thread(c.save)
        self._notify(c)
        self.emit(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        c.check_can_unpause()
        await self._thaw(c)

    async def _thaw(self, c: Container) -> None:
        try:
            await asyncio.to_thread(self._cgroup(c).thaw)
        except (OSError, TimeoutError) as exc:
            raise SystemError_(f"Cannot unpause container {c.id}: {exc}") from None
        if not c.paused:
            return
        c.set_paused(False)
        self.health.resume(c)
        await asyncio.to_thread(c.save)
        self._notify(c)
        self.emit(c, "unpause")

    # -- rename / update -------------------------------------------------------------------------------
    async def rename(self, ref: str, new_name: str) -> None:
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        c = self.get(ref)
        if new_name.lstrip("/") == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        try:
            name = validate_name(new_name)
        except InvalidArgument as exc:
            raise InvalidArgument(f"Error when allocating new name: {exc}") from None
        if name in self.names:
            raise Conflict(
                f'Error when allocating new name: Conflict. The container name "/{name}" is already in use by '
                f'container "{self.names[name]}". You have to remove (or rename) that container to be able '
                "to reuse that name."
            )
        old = c.name
        self.names[name] = c.id
        c.name = name
        try:
            await asyncio.to_thread(c.save)
        except BaseException:
            c.name = old
            del self.names[name]
            raise
        if self.names.get(old) == c.id:
            del self.names[old]
        self.emit(c, "rename", oldName="/" + old)

    async def update(self, ref: str, body: dict[str, Any]) -> dict[str, Any]:
        """moby ``ContainerUpdate``: resources into HostConfig and the live cgroup; the restart policy."""
        from ._spec import resources

        if not isinstance(body, dict):
            raise InvalidArgument("update config must be a JSON object")
        c = self.get(ref)
        c.check_can_update()
        new_hc = merge_update(c.host_config, body)
        try:
            resources(new_hc)  # the same validation as create
        except InvalidArgument as exc:
            raise InvalidArgument(f"Cannot update container {c.id}: {exc}") from None
        changed = update_resources(body, new_hc)
        old_hc = c.host_config
        c.host_config = new_hc
        if c.alive and changed:
            try:
                await asyncio.to_thread(self._cgroup(c).update, changed)
            except OSError as exc:
                c.host_config = old_hc
                raise SystemError_(f"Cannot update container {c.id}: {exc}") from None
        await asyncio.to_thread(c.save)
        if (body.get("RestartPolicy") or {}).get("Name"):
            self._restart_manager(c).set_policy(new_hc["RestartPolicy"])
        self.emit(c, "update")
        return {"Warnings": []}

    async def _wait_exit(self, c: Container, seq: int, timeout: float | None) -> bool:
        async def until_exit() -> None:
            while c.exit_seq == seq and c.running:
                await self._changed(c)

        try:
            await asyncio.wait_for(until_exit(), timeout)
            return True
        except TimeoutError:
            return False

    async def resize(self, ref: str, h: int, w: int) -> None:
        c = self.get(ref)
        if not c.alive:
            raise Conflict(f"container {c.id} is not running")
        await shim_call(self.exec_root, c.id, {"op": "resize", "h": h, "w": w})

    # -- remove ---------------------------------------------------------------------------------------
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        c.check_can_remove(force, ref)
        if c.running:
            # moby cleanupContainer: SIGKILL (which thaws a paused container, and cancels a pending
            # restart), then wait for the exit.
            seq = c.exit_seq
            c.set_removing()
            try:
                await self._signal(c, signals.SIGKILL)
                if c.alive:
                    await self._wait_exit(c, seq, 10)
            except BaseException:
                c.removing = False
                raise
        if c.removed:
            return
        await self._remove(c, volumes)

    async def _remove(self, c: Container, volumes: bool = False) -> None:
        if c.removed or c.id not in self.containers:
            return
        self._reset_restart_manager(c)
        self._restarts.pop(c.id, None)
        self.health.stop(c)
        c.set_removing()
        c.removed = True
        self.containers.pop(c.id, None)
        if self.names.get(c.name) == c.id:
            del self.names[c.name]
        if self.netjoin is not None:
            await self.netjoin.teardown(c)
        await asyncio.to_thread(self._remove_files, c)
        self._notify(c)
        self.emit(c, "destroy")
        # moby: rm -v, and --rm containers, take their anonymous volumes along
        await self.mounts.remove(c, volumes or bool(c.host_config.get("AutoRemove")))

    # -- attach ---------------------------------------------------------------------------------------
    async def attach(self, ref: str, *, stdin: bool, stdout: bool, stderr: bool,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     detach_keys: str | None = None) -> None:
        """Relay a hijacked client connection to the shim's stream (stdcopy or raw tty bytes)."""
        from ._stream import parse_detach_keys, relay

        c = self.get(ref)
        keys = parse_detach_keys(detach_keys) if c.config.get("Tty") else None
        pending: _PendingAttach | None = None
        if not c.alive:
            # Attached before start (docker run, docker start -a): wait for the next start.
            pending = _PendingAttach()
            self._pending.setdefault(c.id, []).append(pending)
            if not await pending.go:
                return
        try:
            sreader, swriter = await shim_connect(self.exec_root, c.id)
        except Unavailable:
            if pending:
                pending.ready.set_result(None)
            return
        try:
            req = {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}
            swriter.write(json.dumps(req).encode() + b"\n")
            await swriter.drain()
            await sreader.readline()  # the shim's ack: the stream is registered
            if pending:
                pending.ready.set_result(None)
                pending = None
            if await relay(reader, writer, sreader, swriter, stdin=stdin, detach_keys=keys):
                self.emit(c, "detach")
        finally:
            if pending and not pending.ready.done():
                pending.ready.set_result(None)
            swriter.close()

    # -- logs -------------------------------------------------------------------------------------------
    async def logs(self, ref: str, *, stdout: bool, stderr: bool, follow: bool, tail: str,
                   since: str | None, until: str | None, timestamps: bool) -> tuple[bool, Any]:
        """Returns (tty, async iterator of chunks): raw bytes with a tty, stdcopy frames without."""
        from ._logs import LogOptions, follow as follow_log, read_existing

        c = self.get(ref)
        tty = bool(c.config.get("Tty"))
        opts = LogOptions(stdout=stdout, stderr=stderr, follow=follow, tail=tail, since=since,
                          until=until, timestamps=timestamps, tty=tty)
        existing, offset = await asyncio.to_thread(read_existing, c.log_path, opts)

        async def gen() -> Any:
            for chunk in existing:
                yield chunk
            if follow and (c.running or c.id in self._starting):
                async for chunk in follow_log(c.log_path, offset, opts,
                                              lambda: c.running or c.id in self._starting,
                                              lambda: self._changed(c)):
                    yield chunk

        return tty, gen()

    # -- restore ------------------------------------------------------------------------------------------
    async def restore(self) -> None:
        """Reconnect to live shims, record exits that happened while kobakod was down, then start what
        the restart policies say (moby ``restore``: ``always``, ``unless-stopped`` not stopped by hand,
        ``on-failure`` after a failure under its limit; only containers that were started before)."""
        for d in sorted(self.root.iterdir()) if self.root.exists() else []:
            if not (d / "config.v2.json").exists():
                shutil.rmtree(d, ignore_errors=True)  # a create that crashed before its record
                continue
            try:
                c = Container.load(d)
            except (OSError, ValueError, KeyError) as exc:
                log.error("container %s: unreadable record: %s", d.name, exc)
                continue
            self.containers[c.id] = c
            self.names[c.name] = c.id
            if c.restarting:
                # kobakod died while a restart was pending: the process is gone, its exit recorded.
                c.set_stopped_from_restarting()
                await asyncio.to_thread(c.save)
                continue
            if not c.running:
                continue
            try:
                await shim_call(self.exec_root, c.id, {"op": "state"})
            except (KobakoError, OSError):
                await self._on_exit(c, self._read_exit_file(c), restoring=True)
                continue
            if self.netjoin is not None:
                await self.netjoin.restore(c)  # before the monitor, which may see the exit at once
            self._monitors[c.id] = asyncio.create_task(self._monitor(c))
            if not c.paused:
                self.health.init(c)
        await self.mounts.restore()  # running containers hold their volumes again
        for c in list(self.containers.values()):
            if c.running or c.state.get("StartedAt", "").startswith("0001-") or c.removed:
                continue
            ran_for = parse_rfc3339(c.state["FinishedAt"]) - parse_rfc3339(c.state["StartedAt"])
            probe = RestartManager(c.host_config.get("RestartPolicy"), c.restart_count)
            if probe.should_restart(int(c.state["ExitCode"]), c.manually_stopped, ran_for) is None:
                continue
            try:
                await self.start(c.id)
            except KobakoError as exc:
                log.error("container %s: restart at daemon start failed: %s", c.id[:12], exc)

    async def shutdown(self) -> None:
        for task in list(self._monitors.values()) + list(self._restart_tasks.values()):
            task.cancel()
        self._monitors.clear()
        self._restart_tasks.clear()
        self.health.shutdown()


def _parse_size(s: str) -> int:
    s = str(s).strip().lower()
    if not s or s == "0" or s == "-1":
        return 0
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    if s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    if s.endswith("b"):
        s = s[:-1]
    return int(s)
