"""Planning and applying a project against the Engine API (``up``, ``down``, ``start``, ``stop``, ...).

Everything goes through :class:`kobako.client.Client`.  Containers are found by the
``com.docker.compose.project`` label; a container is kept while its ``config-hash`` label equals the
service's hash (and its ``image`` label the image's current id), and recreated otherwise.  Progress
lines go to ``progress`` (stderr) in compose's plain form, `` Container app-web-1  Started``.
"""

from __future__ import annotations

import sys
import time

from kobako.client import DaemonError, stream_error
from kobako.compose import _convert
from kobako.compose._errors import ComposeError
from kobako.compose.model import (
    LABEL_CONFIG_HASH,
    LABEL_IMAGE,
    LABEL_NETWORK,
    LABEL_NUMBER,
    LABEL_ONEOFF,
    LABEL_PROJECT,
    LABEL_SERVICE,
    LABEL_VERSION,
    LABEL_VOLUME,
    COMPOSE_VERSION,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Any

    from kobako.client import Client
    from kobako.compose.model import Project


def _number(c: dict[str, Any]) -> int:
    try:
        return int(c["Labels"].get(LABEL_NUMBER, "0"))
    except ValueError:
        return 0


def _split_tag(image: str) -> tuple[str, str]:
    """``repo[:tag]`` as (repo, tag or ""); a registry's port is not a tag."""
    head, sep, tail = image.rpartition(":")
    return (head, tail) if sep and "/" not in tail else (image, "")


def short_name(c: dict[str, Any]) -> str:
    return str((c.get("Names") or ["/?"])[0]).lstrip("/")


class Compose:
    def __init__(self, client: Client, project: Project, progress: IO[str] | None = None,
                 auth: Callable[[str], str] | None = None) -> None:
        self.client = client
        self.project = project
        self.progress = progress or sys.stderr
        # image reference -> X-Registry-Auth value (the CLI's stored logins); none by default
        self.auth = auth
        self._image_ids: dict[str, str] = {}
        import threading

        self._lock = threading.Lock()

    # -- output -----------------------------------------------------------------------------------
    def event(self, kind: str, name: str, status: str) -> None:
        with self._lock:  # stops run in parallel
            self.progress.write(f" {kind} {name}  {status}\n")
            self.progress.flush()

    def warn(self, message: str) -> None:
        self.progress.write(f"WARN[0000] {message}\n")
        self.progress.flush()

    # -- queries ----------------------------------------------------------------------------------
    def containers(self, services: list[str] | None = None, *, all: bool = True,
                   oneoff: bool | None = False) -> list[dict[str, Any]]:
        """Project containers (sorted by service, then number); ``oneoff`` None for both kinds."""
        labels = [f"{LABEL_PROJECT}={self.project.name}"]
        if oneoff is not None:
            labels.append(f"{LABEL_ONEOFF}={'True' if oneoff else 'False'}")
        found = self.client.json("GET", "/containers/json", query={"all": all, "filters": {"label": labels}}) or []
        if services:
            found = [c for c in found if c["Labels"].get(LABEL_SERVICE) in services]
        found.sort(key=lambda c: (c["Labels"].get(LABEL_SERVICE, ""), _number(c), short_name(c)))
        return found

    def inspect(self, cid: str) -> dict[str, Any]:
        info: dict[str, Any] = self.client.json("GET", f"/containers/{cid}/json")
        return info

    def image_id(self, ref: str) -> str | None:
        if ref not in self._image_ids:
            try:
                self._image_ids[ref] = self.client.json("GET", f"/images/{ref}/json")["Id"]
            except DaemonError as exc:
                if exc.status != 404:
                    raise
                return None
        return self._image_ids[ref]

    def _resolve_services(self, services: list[str] | None) -> list[str]:
        for s in services or []:
            if s not in self.project.services:
                if s in self.project.disabled:
                    raise ComposeError(f'service "{s}" is not enabled by the active profiles')
                raise ComposeError(f"no such service: {s}")
        return list(services or [])

    # -- networks and volumes ---------------------------------------------------------------------
    def _existing(self, path: str) -> dict[str, Any] | None:
        """The object's inspect (``/networks/N``, ``/volumes/N``), None if there is none."""
        try:
            found: dict[str, Any] = self.client.json("GET", path)
            return found
        except DaemonError as exc:
            if exc.status == 404:
                return None
            raise

    def ensure_networks(self) -> None:
        for key, conf in self.project.networks.items():
            name = conf["name"]
            existing = self._existing(f"/networks/{name}")
            if conf.get("external"):
                if existing is None:
                    raise ComposeError(f'network {name} declared as external, but could not be found')
                continue
            if existing is not None:
                labels = existing.get("Labels") or {}
                if labels.get(LABEL_PROJECT) != self.project.name:
                    self.warn(f'a network with name {name} exists but was not created for project '
                              f'"{self.project.name}".\nSet `external: true` to use an existing network')
                continue
            self.event("Network", name, "Creating")
            body: dict[str, Any] = {
                "Name": name, "Driver": conf.get("driver") or "bridge", "CheckDuplicate": True,
                "Internal": bool(conf.get("internal")), "Attachable": bool(conf.get("attachable")),
                "EnableIPv6": bool(conf.get("enable_ipv6")),
                "Options": {k: str(v) for k, v in (conf.get("driver_opts") or {}).items()},
                "Labels": {**{str(k): str(v) for k, v in (conf.get("labels") or {}).items()},
                           LABEL_PROJECT: self.project.name, LABEL_NETWORK: key, LABEL_VERSION: COMPOSE_VERSION},
            }
            ipam = conf.get("ipam") or {}
            if ipam:
                body["IPAM"] = {"Driver": ipam.get("driver") or "default",
                                "Config": [{"Subnet": c.get("subnet", ""), "Gateway": c.get("gateway", ""),
                                            "IPRange": c.get("ip_range", ""),
                                            "AuxiliaryAddresses": c.get("aux_addresses") or {}}
                                           for c in ipam.get("config") or []],
                                "Options": ipam.get("options") or {}}
                for c in body["IPAM"]["Config"]:
                    for k in [k for k, v in c.items() if not v]:
                        del c[k]
            try:
                self.client.json("POST", "/networks/create", body=body)
            except DaemonError as exc:
                raise ComposeError(f"failed to create network {name}: Error response from daemon: "
                                   f"{exc.message}") from None
            self.event("Network", name, "Created")

    def ensure_volumes(self) -> None:
        used = {v["source"] for svc in self.project.services.values() for v in svc.get("volumes") or []
                if v["type"] == "volume" and v.get("source")}
        for key, conf in self.project.volumes.items():
            name = conf["name"]
            existing = self._existing(f"/volumes/{name}")
            if conf.get("external"):
                if existing is None and key in used:
                    raise ComposeError(f'external volume "{name}" not found')
                continue
            if existing is not None:
                if (existing.get("Labels") or {}).get(LABEL_PROJECT) != self.project.name:
                    self.warn(f'volume "{name}" already exists but was not created by Docker Compose. '
                              "Use `external: true` to use an existing volume")
                continue
            self.event("Volume", f'"{name}"', "Creating")
            self.client.json("POST", "/volumes/create", body={
                "Name": name, "Driver": conf.get("driver") or "local",
                "DriverOpts": {k: str(v) for k, v in (conf.get("driver_opts") or {}).items()},
                "Labels": {**{str(k): str(v) for k, v in (conf.get("labels") or {}).items()},
                           LABEL_PROJECT: self.project.name, LABEL_VOLUME: key, LABEL_VERSION: COMPOSE_VERSION},
            })
            self.event("Volume", f'"{name}"', "Created")

    # -- images -----------------------------------------------------------------------------------
    def build(self, services: list[str] | None = None, *, no_cache: bool = False, pull: bool = False,
              quiet: bool = False, build_args: dict[str, str] | None = None) -> None:
        for name in self._resolve_services(services) or self.project.ordered():
            svc = self.project.services[name]
            if svc.get("build"):
                self._build_one(name, no_cache=no_cache, pull=pull, quiet=quiet, build_args=build_args)

    def _build_one(self, service: str, *, no_cache: bool = False, pull: bool = False, quiet: bool = False,
                   build_args: dict[str, str] | None = None) -> None:
        import json

        # the context tar (with .dockerignore) as `kobako build` sends it: one client side of POST /build
        from kobako.build._sendctx import context_tar

        b = self.project.services[service]["build"]
        tag = self.project.image_name(service)
        context = b["context"]
        dockerfile = b.get("dockerfile") or "Dockerfile"
        df_path = dockerfile if dockerfile.startswith("/") else f"{context}/{dockerfile}"
        try:
            chunks, df_name = context_tar(context, df_path)
        except Exception as exc:  # noqa: BLE001 - ContextUnavailable, or an OSError of the walk
            raise ComposeError(f"failed to prepare the build context of service {service!r} ({context}): "
                               f"{exc}") from None
        query: dict[str, Any] = {"t": tag, "dockerfile": df_name, "rm": 1, "forcerm": 1}
        args = {k: ("" if v is None else str(v)) for k, v in (b.get("args") or {}).items()}
        args.update(build_args or {})
        if args:
            query["buildargs"] = json.dumps(args)
        labels = {**(b.get("labels") or {}), LABEL_PROJECT: self.project.name, LABEL_SERVICE: service}
        query["labels"] = json.dumps(labels)
        if b.get("target"):
            query["target"] = b["target"]
        if no_cache or b.get("no_cache"):
            query["nocache"] = 1
        if pull or b.get("pull"):
            query["pull"] = 1
        if b.get("network"):
            query["networkmode"] = b["network"]
        self.event("Service", service, "Building")
        for obj in self.client.jsonlines("POST", "/build", query=query, body=chunks,
                                         headers={"Content-Type": "application/x-tar"}):
            message = stream_error(obj)
            if message is not None:
                raise ComposeError(f"failed to solve: {message}" if "failed" not in message else message)
            if "stream" in obj and not quiet:
                self.progress.write(obj["stream"])
                self.progress.flush()
        self._image_ids.pop(tag, None)
        self.event("Service", service, "Built")

    def pull(self, services: list[str] | None = None, *, ignore_failures: bool = False,
             missing_only: bool = False) -> None:
        for name in self._resolve_services(services) or self.project.ordered():
            svc = self.project.services[name]
            if not svc.get("image"):
                continue
            if missing_only and self.image_id(svc["image"]):
                continue
            self._pull_one(name, ignore_failures=ignore_failures)

    def _pull_one(self, service: str, ignore_failures: bool = False) -> None:
        image = self.project.services[service]["image"]
        if "@" in image:
            query = {"fromImage": image}
        else:
            ref, tag = _split_tag(image)
            query = {"fromImage": ref, "tag": tag or "latest"}
        self.event("Image", image, "Pulling")
        headers = {"X-Registry-Auth": self.auth(image)} if self.auth else None
        try:
            for obj in self.client.jsonlines("POST", "/images/create", query=query, headers=headers):
                if (message := stream_error(obj)) is not None:
                    raise DaemonError(500, message)
        except DaemonError as exc:
            if ignore_failures:
                self.warn(f"{service} Error {exc.message}")
                return
            raise ComposeError(f"Error response from daemon: {exc.message}") from None
        self._image_ids.pop(image, None)
        self.event("Image", image, "Pulled")

    def push(self, services: list[str] | None = None, *, ignore_failures: bool = False) -> int:
        """Push the images of services that are built and named (compose's rule); the count pushed."""
        pushed = 0
        for name in self._resolve_services(services) or self.project.ordered():
            svc = self.project.services[name]
            if not svc.get("build") or not svc.get("image"):
                continue
            image = svc["image"]
            repo, tag = _split_tag(image)
            self.event("Image", image, "Pushing")
            headers = {"X-Registry-Auth": self.auth(image)} if self.auth else None
            try:
                for obj in self.client.jsonlines("POST", f"/images/{repo}/push", query={"tag": tag or None},
                                                 headers=headers):
                    if (message := stream_error(obj)) is not None:
                        raise DaemonError(500, message)
            except DaemonError as exc:
                if ignore_failures:
                    self.warn(f"{name} Error {exc.message}")
                    continue
                raise ComposeError(f"failed to push {image}: {exc.message}") from None
            self.event("Image", image, "Pushed")
            pushed += 1
        return pushed

    def ensure_images(self, services: list[str], *, build: bool = False, no_build: bool = False,
                      pull: str = "policy") -> None:
        """Build or pull what each service needs. ``pull`` (``up --pull``): always, missing, never, or
        policy (the service's ``pull_policy``, missing by default)."""
        for name in services:
            svc = self.project.services[name]
            image = self.project.image_name(name)
            policy = svc.get("pull_policy", "missing") if pull == "policy" else pull
            if svc.get("build") and not no_build and (build or policy == "build" or self.image_id(image) is None):
                self._build_one(name)
                continue
            if policy == "always" and svc.get("image") and not svc.get("build"):
                self._pull_one(name)
            elif self.image_id(image) is None:
                if svc.get("build") and no_build:
                    raise ComposeError(f"service {name!r} has no image {image!r} and --no-build was given")
                if policy == "never":
                    raise ComposeError(f"No such image: {image}")
                self._pull_one(name)

    # -- containers -------------------------------------------------------------------------------
    def _network_mode(self, service: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        svc = self.project.services[service]
        mode = svc.get("network_mode")
        if mode:
            if mode.startswith("service:"):
                target = mode[8:]
                running = self.containers([target])
                if not running:
                    raise ComposeError(f'service "{service}" depends on service "{target}" for its network, '
                                       "which has no container")
                return f"container:{running[0]['Id']}", []
            return str(mode), []
        nets = svc.get("networks") or {}
        ordered = sorted(nets, key=lambda n: (-int((nets[n] or {}).get("priority", 0)), n))
        eps = [(self.project.network_name(n), nets[n] or {}) for n in ordered]
        return eps[0][0], eps

    def create_container(self, service: str, number: int, *, name: str | None = None, oneoff: bool = False,
                         overrides: dict[str, Any] | None = None, quiet: bool = False) -> str:
        image = self.project.image_name(service)
        image_id = self.image_id(image) or ""
        labels = self.project.container_labels(service, number, oneoff=oneoff, image_id=image_id)
        if overrides and overrides.get("labels"):
            labels.update(overrides["labels"])
        mode, eps = self._network_mode(service)
        first = (eps[0][0], _convert.endpoint(service, eps[0][1], oneoff=oneoff)) if eps else None
        ov = dict(overrides or {})
        ov["oneoff"] = oneoff
        body = _convert.create_body(self.project, service, number, labels=labels, network_mode=mode,
                                    first_network=first, overrides=ov)
        cname = name or self.project.container_name(service, number)
        if not quiet:
            self.event("Container", cname, "Creating")
        try:
            created = self.client.json("POST", "/containers/create", query={"name": cname}, body=body)
        except DaemonError as exc:
            raise ComposeError(f"Error response from daemon: {exc.message}") from None
        cid = str(created["Id"])
        data_files = [f for f in self.project.file_mounts(service) if "data" in f]
        if data_files:
            status, _, reply = self.client.request("PUT", f"/containers/{cid}/archive", query={"path": "/"},
                                                   body=_convert.files_tar(data_files),
                                                   headers={"Content-Type": "application/x-tar"})
            if status >= 400:
                raise ComposeError(f"failed to copy secrets/configs into {cname}: {reply.decode(errors='replace')}")
        for net, conf in eps[1:]:
            try:
                self.client.json("POST", f"/networks/{net}/connect",
                                 body={"Container": cid,
                                       "EndpointConfig": _convert.endpoint(service, conf, oneoff=oneoff)})
            except DaemonError as exc:
                raise ComposeError(f"Error response from daemon: {exc.message}") from None
        if not quiet:
            self.event("Container", cname, "Created")
        return cid

    def _outdated(self, c: dict[str, Any], service: str) -> bool:
        labels = c["Labels"]
        if labels.get(LABEL_CONFIG_HASH) != self.project.config_hash(service):
            return True
        current = self.image_id(self.project.image_name(service))
        recorded = labels.get(LABEL_IMAGE, "")
        if current and recorded.startswith("sha256:") and recorded != current:
            return True
        mode = self.project.services[service].get("network_mode") or ""
        if mode.startswith("service:"):  # joined to a container that has since been replaced
            expected, _ = self._network_mode(service)
            return bool((self.inspect(c["Id"]).get("HostConfig") or {}).get("NetworkMode") != expected)
        return False

    def orphans(self) -> list[dict[str, Any]]:
        known = set(self.project.services) | set(self.project.disabled)
        return [c for c in self.containers(oneoff=None) if c["Labels"].get(LABEL_SERVICE) not in known]

    def handle_orphans(self, remove: bool) -> None:
        orphans = self.orphans()
        if not orphans:
            return
        if remove:
            for c in orphans:
                self._stop_remove(c, timeout=None)
        else:
            names = ", ".join(short_name(c) for c in orphans)
            self.warn(f"Found orphan containers ([{names}]) for this project. If you removed or renamed this "
                      "service in your compose file, you can run this command with the --remove-orphans flag "
                      "to clean it up.")

    def targets(self, services: list[str] | None, no_deps: bool = False) -> list[str]:
        """Services to act on, in dependency order: those named (all if none) and, unless ``no_deps``,
        what they depend on."""
        named = self._resolve_services(services)
        if no_deps and named:
            return [s for s in self.project.ordered() if s in named]
        return self.project.ordered(named or None)

    def create(self, services: list[str] | None = None, *, force_recreate: bool = False, no_recreate: bool = False,
               remove_orphans: bool = False, build: bool = False, no_build: bool = False,
               no_deps: bool = False, scale: dict[str, int] | None = None,
               pull: str = "policy") -> dict[str, list[str]]:
        """Networks, volumes, images and containers as the model says; the containers of each service."""
        targets = self.targets(services, no_deps)
        for name, n in (scale or {}).items():
            self._resolve_services([name])
            self.project.services[name]["scale"] = n
        self.handle_orphans(remove_orphans)
        self.ensure_images(targets, build=build, no_build=no_build, pull=pull)
        self.ensure_networks()
        self.ensure_volumes()
        result: dict[str, list[str]] = {}
        for service in targets:
            existing = self.containers([service])
            want = self.project.replicas(service)
            ids: list[str] = []
            for c in existing:
                n = _number(c)
                if n > want:
                    self._stop_remove(c, timeout=None)
                    continue
                recreate = force_recreate or (not no_recreate and self._outdated(c, service))
                ids.append(self._recreate(c, service, n) if recreate else c["Id"])
            have = {_number(c) for c in existing}
            for n in range(1, want + 1):
                if n not in have:
                    ids.append(self.create_container(service, n))
            result[service] = ids
        return result

    def _recreate(self, c: dict[str, Any], service: str, number: int) -> str:
        name = short_name(c)
        self.event("Container", name, "Recreate")
        if c["State"] in ("running", "paused", "restarting"):
            self.client.json("POST", f"/containers/{c['Id']}/stop", query=self._stop_query(service, None))
        self.client.json("POST", f"/containers/{c['Id']}/rename", query={"name": f"{c['Id'][:12]}_{name}"})
        try:
            cid = self.create_container(service, number, quiet=True)
        except BaseException:
            self.client.json("POST", f"/containers/{c['Id']}/rename", query={"name": name})
            raise
        self.client.json("DELETE", f"/containers/{c['Id']}", query={"force": True})
        self.event("Container", name, "Recreated")
        return cid

    def _stop_query(self, service: str | None, timeout: int | None) -> dict[str, Any]:
        if timeout is not None:
            return {"t": timeout}
        return {}

    def start(self, services: list[str] | None = None, *, wait_deps: bool = True,
              ids: dict[str, list[str]] | None = None, no_deps: bool = False) -> None:
        targets = self.targets(services, no_deps)
        if ids is None and not self.containers(targets):
            raise ComposeError("service(s) have no container to start" if services else "no containers to start")
        for service in targets:
            if wait_deps:
                self._wait_dependencies(service)
            for c in self.containers([service]):
                if c["State"] == "running":
                    if ids is not None:
                        self.event("Container", short_name(c), "Running")
                    continue
                if c["State"] == "paused":
                    continue
                self.event("Container", short_name(c), "Starting")
                try:
                    self.client.json("POST", f"/containers/{c['Id']}/start")
                except DaemonError as exc:
                    raise ComposeError(f"Error response from daemon: {exc.message}") from None
                self.event("Container", short_name(c), "Started")

    def _wait_dependencies(self, service: str) -> None:
        for dep, cond in (self.project.services[service].get("depends_on") or {}).items():
            if dep not in self.project.services:
                continue
            condition = cond.get("condition", "service_started")
            if condition == "service_started":
                continue
            for c in self.containers([dep]):
                self.event("Container", short_name(c), "Waiting")
                if condition == "service_healthy":
                    self._wait_healthy(c)
                    self.event("Container", short_name(c), "Healthy")
                else:
                    code = self._wait_exit(c)
                    if code != 0:
                        raise ComposeError(f'service "{dep}" didn\'t complete successfully: exit {code}')
                    self.event("Container", short_name(c), "Exited")

    def _wait_healthy(self, c: dict[str, Any], timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.inspect(c["Id"])
            state = info["State"]
            health = (state.get("Health") or {}).get("Status")
            if health is None and not (info["Config"].get("Healthcheck") or {}).get("Test"):
                raise ComposeError(f"dependency failed to start: container {short_name(c)} has no healthcheck "
                                   "configured")
            if health == "healthy":
                return
            if health == "unhealthy":
                raise ComposeError(f"dependency failed to start: container {short_name(c)} is unhealthy")
            if state.get("Status") in ("exited", "dead"):
                raise ComposeError(f"dependency failed to start: container {short_name(c)} exited "
                                   f"({state.get('ExitCode')})")
            if deadline is not None and time.monotonic() > deadline:
                raise ComposeError(f"timeout waiting for container {short_name(c)} to be healthy")
            time.sleep(0.2)

    def _wait_exit(self, c: dict[str, Any]) -> int:
        result = self.client.json("POST", f"/containers/{c['Id']}/wait")
        return int((result or {}).get("StatusCode", 0))

    def wait_running(self, services: list[str] | None = None, timeout: float | None = None) -> None:
        """``up --wait``: every container running, and healthy where it has a healthcheck."""
        for service in self.project.ordered(services or None):
            for c in self.containers([service]):
                info = self.inspect(c["Id"])
                if (info["Config"].get("Healthcheck") or {}).get("Test") not in (None, ["NONE"]):
                    self._wait_healthy(c, timeout)
                    self.event("Container", short_name(c), "Healthy")
                elif info["State"]["Status"] != "running":
                    raise ComposeError(f"container {short_name(c)} exited ({info['State'].get('ExitCode')})")

    # -- stop / remove -----------------------------------------------------------------------------
    def _stop_remove(self, c: dict[str, Any], timeout: int | None, volumes: bool = False,
                     client: Any = None) -> None:
        cl = client or self.client
        name = short_name(c)
        if c["State"] in ("running", "paused", "restarting"):
            self.event("Container", name, "Stopping")
            cl.json("POST", f"/containers/{c['Id']}/stop", query=self._stop_query(None, timeout))
            self.event("Container", name, "Stopped")
        self.event("Container", name, "Removing")
        try:
            cl.json("DELETE", f"/containers/{c['Id']}", query={"v": volumes, "force": True})
        except DaemonError as exc:
            if exc.status != 404:
                raise
        self.event("Container", name, "Removed")

    def _reverse(self, containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        order = {s: i for i, s in enumerate(self.project.ordered())}
        return sorted(containers,
                      key=lambda c: (-order.get(c["Labels"].get(LABEL_SERVICE, ""), len(order)), _number(c)))

    def in_stop_order(self, containers: list[dict[str, Any]], action: Callable[[dict[str, Any], Any], None]) -> None:
        """``action(container, client)`` for each container, dependents before what they depend on, and
        (as compose does) the containers of one such level at the same time, each on its own connection."""
        by_service: dict[str, list[dict[str, Any]]] = {}
        for c in containers:
            by_service.setdefault(c["Labels"].get(LABEL_SERVICE, ""), []).append(c)
        remaining = set(by_service)
        while remaining:
            needed = {d for s in remaining if s in self.project.services for d in self.project.dependencies(s)}
            batch = sorted(remaining - needed) or sorted(remaining)  # a cycle cannot happen; be safe anyway
            remaining -= set(batch)
            level = [c for s in batch for c in sorted(by_service[s], key=_number)]
            self._parallel(level, action)

    def _parallel(self, items: list[dict[str, Any]], action: Callable[[dict[str, Any], Any], None]) -> None:
        from kobako.client import Client

        if len(items) < 2 or not isinstance(self.client, Client):
            for c in items:
                action(c, self.client)
            return
        import threading

        errors: list[BaseException] = []

        def run(c: dict[str, Any]) -> None:
            try:
                with Client(self.client.host) as cl:
                    action(c, cl)
            except BaseException as exc:  # noqa: BLE001 - reported once all are done
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def stop(self, services: list[str] | None = None, timeout: int | None = None) -> None:
        services = self._resolve_services(services)

        def stop_one(c: dict[str, Any], cl: Any) -> None:
            if c["State"] in ("running", "paused", "restarting"):
                self.event("Container", short_name(c), "Stopping")
                cl.json("POST", f"/containers/{c['Id']}/stop", query=self._stop_query(None, timeout))
                self.event("Container", short_name(c), "Stopped")

        self.in_stop_order(self.containers(services or None), stop_one)

    def restart(self, services: list[str] | None = None, timeout: int | None = None) -> None:
        services = self._resolve_services(services)
        for service in self.project.ordered(services or None):
            if services and service not in services:
                continue
            for c in self.containers([service]):
                self.event("Container", short_name(c), "Restarting")
                self.client.json("POST", f"/containers/{c['Id']}/restart", query=self._stop_query(None, timeout))
                self.event("Container", short_name(c), "Started")

    def simple(self, action: str, services: list[str] | None = None, query: dict[str, Any] | None = None,
               states: tuple[str, ...] = ("running",), done: str = "") -> int:
        """kill, pause, unpause: one POST per container in one of ``states``; the count acted on."""
        n = 0
        for c in self._reverse(self.containers(self._resolve_services(services) or None)):
            if c["State"] not in states:
                continue
            self.event("Container", short_name(c), {"kill": "Killing", "pause": "Pausing"}.get(action, "Unpausing"))
            self.client.json("POST", f"/containers/{c['Id']}/{action}", query=query)
            self.event("Container", short_name(c), done)
            n += 1
        return n

    def remove(self, services: list[str] | None = None, *, stop: bool = False, volumes: bool = False) -> list[str]:
        services = self._resolve_services(services)
        removed = []
        for c in self._reverse(self.containers(services or None)):
            if c["State"] in ("running", "paused", "restarting"):
                if not stop:
                    continue
                self.event("Container", short_name(c), "Stopping")
                self.client.json("POST", f"/containers/{c['Id']}/stop")
                self.event("Container", short_name(c), "Stopped")
            self.event("Container", short_name(c), "Removing")
            self.client.json("DELETE", f"/containers/{c['Id']}", query={"v": volumes, "force": True})
            self.event("Container", short_name(c), "Removed")
            removed.append(short_name(c))
        return removed

    def down(self, *, volumes: bool = False, remove_orphans: bool = False, rmi: str | None = None,
             timeout: int | None = None) -> None:
        known = set(self.project.services) | set(self.project.disabled)
        everything = self.containers(oneoff=None)
        mine = [c for c in everything if c["Labels"].get(LABEL_SERVICE) in known]
        orphans = [c for c in everything if c["Labels"].get(LABEL_SERVICE) not in known]
        targets = mine + (orphans if remove_orphans else [])
        self.in_stop_order(targets, lambda c, cl: self._stop_remove(c, timeout, volumes=volumes, client=cl))
        if orphans and not remove_orphans:
            names = ", ".join(short_name(c) for c in orphans)
            self.warn(f"Found orphan containers ([{names}]) for this project. If you removed or renamed this "
                      "service in your compose file, you can run this command with the --remove-orphans flag "
                      "to clean it up.")
        for conf in self.project.networks.values():
            self._remove_owned("Network", "/networks", conf)
        if volumes:
            for conf in self.project.volumes.values():
                self._remove_owned("Volume", "/volumes", conf)
        if rmi:
            seen = set()
            for service, svc in {**self.project.services, **self.project.disabled}.items():
                if rmi == "local" and svc.get("image"):
                    continue
                image = self.project.image_name(service)
                if image in seen:
                    continue
                seen.add(image)
                try:
                    self.client.json("DELETE", f"/images/{image}")
                except DaemonError as exc:
                    if exc.status != 404:
                        self.warn(f"failed to remove image {image}: {exc.message}")
                    continue
                self.event("Image", image, "Removed")

    def _remove_owned(self, kind: str, path: str, conf: dict[str, Any]) -> None:
        """``down``: remove a network or volume of the project (not an external one, nor one of the same
        name another project or the user made); a failure to remove it is a warning, as compose's."""
        if conf.get("external"):
            return
        name = conf["name"]
        existing = self._existing(f"{path}/{name}")
        if existing is None or (existing.get("Labels") or {}).get(LABEL_PROJECT) != self.project.name:
            return
        self.event(kind, name, "Removing")
        try:
            self.client.json("DELETE", f"{path}/{name}")
        except DaemonError as exc:
            if exc.status != 404:
                self.warn(f"failed to remove {kind.lower()} {name}: {exc.message}")
                return
        self.event(kind, name, "Removed")

    def next_number(self, service: str) -> int:
        numbers = [_number(c) for c in self.containers([service], oneoff=None)]
        return max(numbers, default=0) + 1


def project_from_labels(client: Client, name: str, working_dir: str) -> Project:
    """A project rebuilt from what exists (compose's way when there is no file but ``-p``): a service
    for each ``com.docker.compose.service`` label, with the dependencies its label records, and the
    networks and volumes labelled with the project."""
    from kobako.compose.model import LABEL_DEPENDS_ON, Project

    flt = {"label": [f"{LABEL_PROJECT}={name}"]}
    services: dict[str, dict[str, Any]] = {}
    for c in client.json("GET", "/containers/json", query={"all": True, "filters": flt}) or []:
        svc = c["Labels"].get(LABEL_SERVICE)
        if not svc or svc in services:
            continue
        deps: dict[str, Any] = {}
        for item in filter(None, c["Labels"].get(LABEL_DEPENDS_ON, "").split(",")):
            dep, _, rest = item.partition(":")
            deps[dep] = {"condition": rest.partition(":")[0] or "service_started", "required": True}
        services[svc] = {"image": c.get("Image", ""), **({"depends_on": deps} if deps else {})}
    for svc in services.values():  # a dependency whose containers are gone is no longer known
        if "depends_on" in svc:
            svc["depends_on"] = {d: v for d, v in svc["depends_on"].items() if d in services}
    networks = {n["Labels"].get(LABEL_NETWORK, n["Name"]): {"name": n["Name"]}
                for n in client.json("GET", "/networks", query={"filters": flt}) or []}
    vols = (client.json("GET", "/volumes", query={"filters": flt}) or {}).get("Volumes") or []
    volumes = {v["Labels"].get(LABEL_VOLUME, v["Name"]): {"name": v["Name"]} for v in vols}
    return Project(name=name, working_dir=working_dir, config_files=[], services=services, networks=networks,
                   volumes=volumes)
