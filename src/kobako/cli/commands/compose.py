"""kobako compose [-f FILE]... [-p NAME] [--project-directory DIR] [--env-file F] [--profile P] COMMAND

docker compose (v2) on kobakod: the project model comes from ``kobako.compose`` (loading, interpolation,
validation) and every action is an Engine API call through the client.  Progress lines go to stderr
(`` Container app-web-1  Started``), results to stdout; bad files and unknown services exit 1.
"""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kobako.compose._project import Compose
    from kobako.compose.model import Project

SUBCOMMANDS = ("up", "down", "ps", "logs", "build", "pull", "config", "convert", "exec", "run", "stop", "start",
               "restart", "rm", "kill", "pause", "unpause", "top", "port", "images", "ls", "create", "version",
               "scale", "wait", "cp", "push", "attach", "events")


_SUMMARIES = (
    ("build", "Build or rebuild services"), ("config", "Parse, resolve and render compose file in canonical format"),
    ("cp", "Copy files/folders between a service container and the local filesystem"),
    ("create", "Creates containers for a service"), ("down", "Stop and remove containers, networks"),
    ("events", "Receive real time events from containers"), ("exec", "Execute a command in a running container"), ("images", "List images used by the created containers"),
    ("kill", "Force stop service containers"), ("logs", "View output from containers"),
    ("ls", "List running compose projects"), ("pause", "Pause services"),
    ("port", "Print the public port for a port binding"), ("ps", "List containers"),
    ("attach", "Attach local standard input, output, and error streams to a service's running container"),
    ("pull", "Pull service images"), ("push", "Push service images"), ("restart", "Restart service containers"),
    ("rm", "Removes stopped service containers"), ("run", "Run a one-off command on a service"),
    ("scale", "Scale services"), ("start", "Start services"), ("stop", "Stop services"),
    ("top", "Display the running processes"), ("unpause", "Unpause services"),
    ("up", "Create and start containers"), ("version", "Show the kobako compose version information"),
    ("wait", "Block until the first service container stops"),
)


def configure(p: _args.ArgumentParser) -> None:
    p.description = (p.description or "") + "\n\nCommands:\n" + "\n".join(
        f"  {name.ljust(9)}{text}" for name, text in _SUMMARIES)
    p.add_argument("-f", "--file", action="append", default=[], help="Compose configuration files")
    p.add_argument("-p", "--project-name", help="Project name")
    p.add_argument("--project-directory", help="Specify an alternate working directory")
    p.add_argument("--env-file", action="append", default=[], help="Specify an alternate environment file")
    p.add_argument("--profile", action="append", default=[], help="Specify a profile to enable")
    p.add_argument("--ansi", default="auto", help="Control when to print ANSI control characters (kobako prints none)")
    p.add_argument("--progress", default="auto", help="Set type of progress output (auto, plain or quiet)")
    p.add_argument("--compatibility", action="store_true",
                   help="Run compose in backward compatibility mode (v1 names: project_service_1)")
    p.add_argument("subcommand", choices=SUBCOMMANDS, metavar="COMMAND")
    p.add_argument("rest", nargs=_args.REMAINDER)


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.compose import ComposeError

    sub = {"convert": "config"}.get(args.subcommand, args.subcommand)
    p = _args.ArgumentParser(prog=f"kobako compose {sub}")
    configure_sub, action = _COMMANDS[sub]
    configure_sub(p)
    sub_args = p.parse_args(args.rest)
    try:
        code: int = action(args, sub_args, client)
    except ComposeError as exc:
        raise CommandError(exc.message, exc.code) from None
    return code


# -- shared ----------------------------------------------------------------------------------------
def _load(g: _args.Namespace, services: list[str] | None = None) -> Project:
    from kobako.compose._load import LoadOptions, load_project

    return load_project(LoadOptions(files=g.file, project_name=g.project_name,
                                    project_directory=g.project_directory, env_files=g.env_file,
                                    profiles=g.profile, services=services or [], compatibility=g.compatibility))


def _compose(g: _args.Namespace, client: Any, services: list[str] | None = None) -> Compose:
    from kobako.compose._project import Compose

    return Compose(client, _load(g, services), _progress(g), _auth)


def _auth(image: str) -> str:
    """X-Registry-Auth for an image's registry, from ``kobako login``'s store (as pull and push send)."""
    from kobako.cli.commands.login import registry_auth_header
    from kobako.cli.commands.pull import split_domain

    header: str = registry_auth_header(split_domain(image))
    return header


def _progress(g: _args.Namespace) -> Any:
    """Where progress lines go: stderr, or nowhere with ``--progress quiet``."""
    if g.progress == "quiet":
        import io

        return io.StringIO()
    if g.progress not in ("auto", "tty", "plain", "json"):
        raise CommandError(f"unsupported --progress value {g.progress!r}: auto, tty, plain or quiet")
    return sys.stderr


def _project_only(g: _args.Namespace, client: Any) -> Compose:
    """For commands that work on what exists (down, ps, logs, ...): with no compose file but ``-p``,
    compose rebuilds the project from the labels of what exists, and so does kobako."""
    from kobako.compose import ComposeError
    from kobako.compose._project import Compose, project_from_labels

    try:
        return Compose(client, _load(g), _progress(g))
    except ComposeError as exc:
        if not g.project_name or "no configuration file provided" not in exc.message:
            raise
        import os

        return Compose(client, project_from_labels(client, g.project_name, os.getcwd()), _progress(g))


def _timeout(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise CommandError(f'invalid argument "{value}" for "-t, --timeout" flag: strconv.ParseInt: parsing '
                           f'"{value}": invalid syntax', 125) from None


# -- up / create -----------------------------------------------------------------------------------
def _cfg_up(p: _args.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: Run containers in the background")
    p.add_argument("--build", action="store_true", help="Build images before starting containers")
    p.add_argument("--no-build", action="store_true", help="Don't build an image, even if it's policy")
    p.add_argument("--force-recreate", action="store_true", help="Recreate containers even if unchanged")
    p.add_argument("--no-recreate", action="store_true", help="If containers already exist, don't recreate them")
    p.add_argument("--no-start", action="store_true", help="Don't start the services after creating them")
    p.add_argument("--no-deps", action="store_true", help="Don't start linked services")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("--wait", action="store_true", help="Wait for services to be running|healthy")
    p.add_argument("--wait-timeout", type=int, default=None, help="Maximum duration to wait for the project")
    p.add_argument("--abort-on-container-exit", action="store_true", help="Stops all containers if any container was stopped")
    p.add_argument("--exit-code-from", default=None, help="Return the exit code of the selected service container")
    p.add_argument("--no-log-prefix", action="store_true", help="Don't print prefix in logs")
    p.add_argument("-t", "--timeout", default=None, help="Shutdown timeout in seconds")
    p.add_argument("--pull", default="policy", choices=("always", "missing", "never", "policy"),
                   help='Pull image before running ("always"|"missing"|"never"|"policy")')
    p.add_argument("--attach-dependencies", action="store_true", help="Automatically attach to log output of dependent services")
    p.add_argument("--scale", action="append", default=[], help="Scale SERVICE to NUM instances (SERVICE=NUM)")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _cfg_create(p: _args.ArgumentParser) -> None:
    p.add_argument("--build", action="store_true", help="Build images before starting containers")
    p.add_argument("--no-build", action="store_true", help="Don't build an image, even if it's policy")
    p.add_argument("--force-recreate", action="store_true", help="Recreate containers even if unchanged")
    p.add_argument("--no-recreate", action="store_true", help="If containers already exist, don't recreate them")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _scale(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, eq, num = item.partition("=")
        if not eq or not num.isdigit():
            raise CommandError(f"invalid scale value {item!r}: want SERVICE=NUM")
        out[name] = int(num)
    return out


def _check_exclusive(a: _args.Namespace) -> None:
    if a.force_recreate and a.no_recreate:
        raise CommandError("--force-recreate and --no-recreate are incompatible")
    if a.build and a.no_build:
        raise CommandError("--build and --no-build are incompatible")


def _create(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _check_exclusive(a)
    c = _compose(g, client, a.services)
    c.create(a.services, force_recreate=a.force_recreate, no_recreate=a.no_recreate,
             remove_orphans=a.remove_orphans, build=a.build, no_build=a.no_build)
    return 0


def _up(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _check_exclusive(a)
    if a.detach and (a.abort_on_container_exit or a.exit_code_from):
        raise CommandError("--abort-on-container-exit and --exit-code-from cannot be combined with --detach")
    c = _compose(g, client, a.services)
    services = list(a.services)
    ids = c.create(services, force_recreate=a.force_recreate, no_recreate=a.no_recreate,
                   remove_orphans=a.remove_orphans, build=a.build, no_build=a.no_build, no_deps=a.no_deps,
                   scale=_scale(a.scale), pull=a.pull)
    if a.no_start:
        return 0
    if a.detach:
        c.start(services, ids=ids, wait_deps=not a.no_deps, no_deps=a.no_deps)
        if a.wait:
            c.wait_running(services, a.wait_timeout)
        return 0
    return _attach_up(c, services, ids, a)


def _attach_up(c: Compose, services: list[str], ids: dict[str, list[str]], a: _args.Namespace) -> int:
    import threading

    from kobako.client import Client
    from kobako.compose._logs import LogPrinter, display_name, follow_all

    project = c.project
    c.start(services, ids=ids, wait_deps=not a.no_deps, no_deps=a.no_deps)
    targets = []
    # as compose: the services named are attached to, their dependencies only with --attach-dependencies
    attach_to = c.targets(services, a.no_deps or not a.attach_dependencies) if services else c.targets(None)
    for svc_name in attach_to:
        for cont in c.containers([svc_name]):
            name = cont["Names"][0].lstrip("/")
            targets.append((cont["Id"], display_name(project.name, name), svc_name))
    printer = LogPrinter([t[1] for t in targets], prefix=not a.no_log_prefix)
    finished: list[tuple[str, str, int]] = []
    done = threading.Event()
    lock = threading.Lock()
    host = c.client.host

    def ended(cid: str, name: str) -> None:
        code = 0
        try:
            with Client(host) as cl:
                info = cl.json("GET", f"/containers/{cid}/json")
                code = int(info["State"].get("ExitCode", 0))
        except Exception:  # noqa: BLE001 - removed meanwhile
            pass
        printer.message(f"{name} exited with code {code}")
        with lock:
            finished.append((cid, name, code))
            if len(finished) == len(targets) or a.abort_on_container_exit or \
                    (a.exit_code_from and any(t[0] == cid and t[2] == a.exit_code_from for t in targets)):
                done.set()

    if not targets:
        return 0
    try:
        printer.message("Attaching to " + ", ".join(t[1] for t in targets))
        ttys = {cid: bool(c.inspect(cid)["Config"].get("Tty")) for cid, _, _ in targets}
        follow_all(lambda: Client(host), [(cid, name, ttys[cid]) for cid, name, _ in targets], printer,
                   follow=True, on_end=ended)
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        sys.stderr.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        sys.stderr.flush()
        c.stop(services or None, _timeout(a.timeout))
        return 130
    if a.abort_on_container_exit or a.exit_code_from:
        sys.stderr.write("Aborting on container exit...\n")
        c.stop(services or None, _timeout(a.timeout))
        if a.exit_code_from:
            for cid, name, svc in targets:
                if svc == a.exit_code_from:
                    return int(c.inspect(cid)["State"].get("ExitCode", 0))
        return finished[0][2] if finished else 0
    return 0


# -- down / stop / start / restart / rm / kill / pause / unpause -----------------------------------
def _cfg_down(p: _args.ArgumentParser) -> None:
    p.add_argument("-v", "--volumes", action="store_true", help="Remove named volumes and anonymous volumes")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("--rmi", choices=("local", "all"), default=None, help='Remove images used by services ("local" or "all")')
    p.add_argument("-t", "--timeout", default=None, help="Specify a shutdown timeout in seconds")


def _down(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    c = _project_only(g, client)
    c.down(volumes=a.volumes, remove_orphans=a.remove_orphans, rmi=a.rmi, timeout=_timeout(a.timeout))
    return 0


def _cfg_services_timeout(p: _args.ArgumentParser) -> None:
    p.add_argument("-t", "--timeout", default=None, help="Specify a shutdown timeout in seconds")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _cfg_services(p: _args.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _stop(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client).stop(a.services, _timeout(a.timeout))
    return 0


def _start(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client).start(a.services)
    return 0


def _restart(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client).restart(a.services, _timeout(a.timeout))
    return 0


def _cfg_rm(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Don't ask to confirm removal")
    p.add_argument("-s", "--stop", action="store_true", help="Stop the containers, if required, before removing")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove any anonymous volumes attached to containers")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _rm(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    c = _compose(g, client)
    stopped = [x for x in c.containers(a.services or None) if x["State"] not in ("running", "paused", "restarting")]
    if not a.stop and not stopped:
        sys.stderr.write("No stopped containers\n")
        return 0
    if not a.force and not a.stop:
        names = ", ".join(x["Names"][0].lstrip("/") for x in stopped)
        if not sys.stdin.isatty():
            raise CommandError(f"Going to remove {names}\n"
                               "refusing to remove containers without -f when stdin is not a terminal")
        sys.stderr.write(f"Going to remove {names}\n? Are you sure? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    c.remove(a.services, stop=a.stop, volumes=a.volumes)
    return 0


def _cfg_kill(p: _args.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="SIGKILL", help="SIGNAL to send to the container")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _kill(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    c = _compose(g, client)
    if a.remove_orphans:
        c.handle_orphans(True)
    if not c.simple("kill", a.services, query={"signal": a.signal}, states=("running", "paused", "restarting"),
                    done="Killed"):
        raise CommandError("no container to kill")
    return 0


def _pause(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client).simple("pause", a.services, states=("running",), done="Paused")
    return 0


def _unpause(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client).simple("unpause", a.services, states=("paused",), done="Unpaused")
    return 0


# -- ps / ls / images / top / port -----------------------------------------------------------------
def _cfg_ps(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all stopped containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.add_argument("--services", action="store_true", help="Display services")
    p.add_argument("--format", default="table", help="Format the output: table or json")
    p.add_argument("--status", action="append", default=[], help="Filter services by status")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("services_", nargs="*", metavar="SERVICE")


def _publishers(c: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"URL": p.get("IP", ""), "TargetPort": p.get("PrivatePort", 0), "PublishedPort": p.get("PublicPort", 0),
             "Protocol": p.get("Type", "tcp")} for p in c.get("Ports") or []]


def _ps(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.cli._format import ago, table
    from kobako.client._jsonc import dumps
    from kobako.compose.model import LABEL_PROJECT, LABEL_SERVICE

    c = _project_only(g, client)
    services = c._resolve_services(a.services_) if c.project.services else a.services_
    # as compose: one-off (`run`) containers are listed only with --all
    found = c.containers(services or None, all=a.all or bool(a.status), oneoff=None if a.all else False)
    if a.status:
        found = [x for x in found if x["State"] in a.status]
    if a.services:
        seen = []
        for x in found:
            s = x["Labels"].get(LABEL_SERVICE, "")
            if s not in seen:
                seen.append(s)
        if seen:
            print("\n".join(seen))
        return 0
    if a.quiet:
        for x in found:
            print(x["Id"])
        return 0
    if a.format == "json":
        for x in found:
            info = c.inspect(x["Id"])
            health = ((info.get("State") or {}).get("Health") or {}).get("Status", "")
            obj = {"ID": x["Id"], "Name": x["Names"][0].lstrip("/"), "Names": x["Names"][0].lstrip("/"),
                   "Image": x.get("Image", ""), "Command": x.get("Command", ""),
                   "Project": x["Labels"].get(LABEL_PROJECT, ""), "Service": x["Labels"].get(LABEL_SERVICE, ""),
                   "Created": x.get("Created", 0), "CreatedAt": x.get("Created", 0), "State": x.get("State", ""),
                   "Status": x.get("Status", ""), "Health": health,
                   "ExitCode": int((info.get("State") or {}).get("ExitCode", 0)),
                   "Publishers": _publishers(x), "Labels": ",".join(f"{k}={v}" for k, v in x["Labels"].items()),
                   "RunningFor": ago(x.get("Created", 0)),
                   "Networks": ",".join(((x.get("NetworkSettings") or {}).get("Networks") or {}).keys())}
            print(dumps(obj, separators=(",", ":")))
        return 0
    if a.format not in ("table", ""):
        raise CommandError(f"unsupported format {a.format!r}: table or json")
    from kobako.cli.commands._netopt import ports_text

    rows = [["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]]
    for x in found:
        cmd = x.get("Command", "")
        if not a.no_trunc and len(cmd) > 20:
            cmd = cmd[:19] + "…"
        rows.append([x["Names"][0].lstrip("/"), x.get("Image", ""), dumps(cmd, ensure_ascii=False),
                     x["Labels"].get(LABEL_SERVICE, ""), ago(x.get("Created", 0)), x.get("Status", ""),
                     ports_text(x.get("Ports") or []) if x.get("Ports") else ""])
    print(table(rows))
    return 0


def _cfg_ls(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all stopped Compose projects")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display project names")
    p.add_argument("--format", default="table", help="Format the output: table or json")
    p.add_argument("--filter", action="append", default=[], help="Filter output based on conditions (name=...)")


def _ls(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.cli._format import table
    from kobako.client._jsonc import dumps
    from kobako.compose.model import LABEL_CONFIG_FILES, LABEL_PROJECT

    found = client.json("GET", "/containers/json", query={"all": True, "filters": {"label": [LABEL_PROJECT]}}) or []
    projects: dict[str, dict[str, Any]] = {}
    for x in found:
        name = x["Labels"][LABEL_PROJECT]
        p = projects.setdefault(name, {"states": {}, "files": x["Labels"].get(LABEL_CONFIG_FILES, "")})
        p["states"][x["State"]] = p["states"].get(x["State"], 0) + 1
    for f in a.filter:
        k, _, v = f.partition("=")
        if k != "name":
            raise CommandError(f"invalid filter {k!r}")
        projects = {n: p for n, p in projects.items() if v in n}
    out = []
    for name in sorted(projects):
        states = projects[name]["states"]
        if not a.all and "running" not in states:
            continue
        status = ", ".join(f"{s}({n})" for s, n in sorted(states.items()))
        out.append({"Name": name, "Status": status, "ConfigFiles": projects[name]["files"]})
    if a.quiet:
        for o in out:
            print(o["Name"])
    elif a.format == "json":
        print(dumps(out, separators=(",", ":")))
    else:
        print(table([["NAME", "STATUS", "CONFIG FILES"]] + [[o["Name"], o["Status"], o["ConfigFiles"]] for o in out]))
    return 0


def _cfg_images(p: _args.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.add_argument("--format", default="table", help="Format the output: table or json")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _images(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.cli._format import human_size, table
    from kobako.client._jsonc import dumps

    c = _compose(g, client)
    rows = []
    for x in c.containers(c._resolve_services(a.services) or None):
        info = c.inspect(x["Id"])
        try:
            img = client.json("GET", f"/images/{info['Image']}/json")
        except Exception:  # noqa: BLE001 - image removed under a container
            img = {"Id": info["Image"], "RepoTags": [], "Size": 0}
        ref = x.get("Image", "")
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        rows.append({"ContainerName": x["Names"][0].lstrip("/"), "Repository": repo or ref, "Tag": tag or "latest",
                     "ID": img["Id"], "Size": int(img.get("Size", 0))})
    if a.quiet:
        for r in {r["ID"]: r for r in rows}.values():
            print(r["ID"].removeprefix("sha256:")[:12])
    elif a.format == "json":
        print(dumps(rows, separators=(",", ":")))
    else:
        print(table([["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]] +
                    [[r["ContainerName"], r["Repository"], r["Tag"], r["ID"].removeprefix("sha256:")[:12],
                      human_size(r["Size"])] for r in rows]))
    return 0


def _cfg_top(p: _args.ArgumentParser) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _top(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands.top import tabwrite

    c = _compose(g, client)
    first = True
    for x in c.containers(c._resolve_services(a.services) or None, all=False):
        top = client.json("GET", f"/containers/{x['Id']}/top")
        if not first:
            print()
        first = False
        print(x["Names"][0].lstrip("/"))
        print(tabwrite([top["Titles"]] + top["Processes"]), end="")
    return 0


def _cfg_port(p: _args.ArgumentParser) -> None:
    p.add_argument("--protocol", default="tcp", help="tcp or udp")
    p.add_argument("--index", type=int, default=1, help="Index of the container if service has multiple replicas")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("private_port", metavar="PRIVATE_PORT")


def _port(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    c = _compose(g, client)
    target = _container_of(c, a.service, a.index)
    info = c.inspect(target["Id"])
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = ports.get(f"{a.private_port}/{a.protocol}")
    if not bindings:
        raise CommandError(f"no port {a.private_port}/{a.protocol} for container {target['Names'][0].lstrip('/')}: "
                           "not published")
    b = bindings[0]
    print(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
    return 0


def _container_of(c: Compose, service: str, index: int = 1) -> dict[str, Any]:
    from kobako.compose._project import _number

    c._resolve_services([service])
    for x in c.containers([service], all=True):
        if _number(x) == index:
            if x["State"] != "running":
                raise CommandError(f"service \"{service}\" is not running")
            return x
    raise CommandError(f"service \"{service}\" is not running")


# -- logs ------------------------------------------------------------------------------------------
def _cfg_logs(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--no-log-prefix", action="store_true", help="Don't print prefix in logs")
    p.add_argument("--since", default=None, help="Show logs since timestamp or relative (e.g. 42m)")
    p.add_argument("--no-color", action="store_true", help="Produce monochrome output")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _logs(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.client import Client
    from kobako.compose._logs import LogPrinter, display_name, follow_all

    c = _project_only(g, client)
    services = c._resolve_services(a.services) if c.project.services else a.services
    found = c.containers(services or None, oneoff=None)
    since = None
    if a.since:
        from kobako.cli._time import get_timestamp

        try:
            since = get_timestamp(a.since)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
    targets = []
    for x in found:
        tty = bool(c.inspect(x["Id"])["Config"].get("Tty"))
        targets.append((x["Id"], display_name(c.project.name, x["Names"][0].lstrip("/")), tty))
    printer = LogPrinter([t[1] for t in targets], prefix=not a.no_log_prefix)
    host = client.host
    threads = follow_all(lambda: Client(host), targets, printer, follow=a.follow, tail=a.tail,
                         timestamps=a.timestamps, since=since)
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        return 130
    return 0


# -- build / pull / config -------------------------------------------------------------------------
def _cfg_build(p: _args.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("-q", "--quiet", action="store_true", help="Don't print anything to STDOUT")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables for services")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _build(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    args = {}
    for item in a.build_arg:
        k, eq, v = item.partition("=")
        if not eq:
            import os

            if k not in os.environ:
                continue
            v = os.environ[k]
        args[k] = v
    _compose(g, client, a.services).build(a.services, no_cache=a.no_cache, pull=a.pull, quiet=a.quiet,
                                          build_args=args)
    return 0


def _cfg_pull(p: _args.ArgumentParser) -> None:
    p.add_argument("--ignore-pull-failures", action="store_true", help="Pull what it can and ignores images with pull failures")
    p.add_argument("-q", "--quiet", action="store_true", help="Pull without printing progress information")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _pull(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client, a.services).pull(a.services, ignore_failures=a.ignore_pull_failures)
    return 0


def _cfg_config(p: _args.ArgumentParser) -> None:
    p.add_argument("--services", action="store_true", help="Print the service names, one per line")
    p.add_argument("--volumes", action="store_true", help="Print the volume names, one per line")
    p.add_argument("--networks", action="store_true", help="Print the network names, one per line")
    p.add_argument("--profiles", action="store_true", help="Print the profile names, one per line")
    p.add_argument("--images", action="store_true", help="Print the image names, one per line")
    p.add_argument("--hash", default=None, help="Print the service config hash, one per line ('*' for all)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only validate the configuration")
    p.add_argument("--format", default="yaml", help="Format the output: yaml or json")
    p.add_argument("-o", "--output", default=None, help="Save to file (default to stdout)")
    p.add_argument("services_", nargs="*", metavar="SERVICE")


def _config(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    project = _load(g, a.services_)
    if a.quiet:
        return 0
    if a.services:
        print("\n".join(project.ordered()))
        return 0
    if a.volumes:
        if project.volumes:
            print("\n".join(sorted(project.volumes)))
        return 0
    if a.networks:
        if project.networks:
            print("\n".join(sorted(project.networks)))
        return 0
    if a.profiles:
        every = {**project.services, **project.disabled}.values()
        names = sorted({p for s in every for p in s.get("profiles") or []})
        if names:
            print("\n".join(names))
        return 0
    if a.images:
        print("\n".join(project.image_name(s) for s in project.ordered()))
        return 0
    if a.hash:
        wanted = project.ordered() if a.hash == "*" else a.hash.split(",")
        for s in wanted:
            if s not in project.services:
                raise CommandError(f"no such service: {s}")
            print(f"{s} {project.config_hash(s)}")
        return 0
    data = project.to_dict()
    if a.services_:
        keep = set(project.with_dependencies(a.services_))
        data["services"] = {k: v for k, v in data["services"].items() if k in keep}
    if a.format == "json":
        import json

        text = json.dumps(data, indent=4) + "\n"
    elif a.format == "yaml":
        import yaml

        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    else:
        raise CommandError(f"unsupported format {a.format!r}: yaml or json")
    if a.output:
        from kobako.fsutil import atomic_write

        atomic_write(a.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


# -- exec / run ------------------------------------------------------------------------------------
def _cfg_exec(p: _args.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: Run command in the background")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="Disable pseudo-TTY allocation")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-w", "--workdir", default=None, help="Path to workdir directory for this command")
    p.add_argument("-u", "--user", default=None, help="Run the command as this user")
    p.add_argument("--privileged", action="store_true", help="Give extended privileges to the process")
    p.add_argument("--index", type=int, default=1, help="Index of the container if service has multiple replicas")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=_args.REMAINDER, metavar="COMMAND")


def _exec(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    if not a.command:
        raise CommandError('"kobako compose exec" requires at least 2 arguments.')
    c = _compose(g, client)
    target = _container_of(c, a.service, a.index)
    from kobako.cli.commands import exec as exec_cmd

    tty = not a.no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    argv = ["-i"] if not a.detach else ["-d"]
    if tty:
        argv.append("-t")
    for e in a.env:
        argv += ["-e", e]
    if a.workdir:
        argv += ["-w", a.workdir]
    if a.user:
        argv += ["-u", a.user]
    if a.privileged:
        argv.append("--privileged")
    p = _args.ArgumentParser(prog="kobako exec")
    exec_cmd.configure(p)
    code: int = exec_cmd.run(p.parse_args([*argv, target["Id"], *a.command]), client)
    return code


def _cfg_run(p: _args.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    p.add_argument("--name", default=None, help="Assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("-l", "--label", action="append", default=[], help="Add or override a label")
    p.add_argument("--entrypoint", default=None, help="Override the entrypoint of the image")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="Disable pseudo-TTY allocation")
    p.add_argument("-u", "--user", default=None, help="Run as specified username or uid")
    p.add_argument("-w", "--workdir", default=None, help="Working directory inside the container")
    p.add_argument("--no-deps", action="store_true", help="Don't start linked services")
    p.add_argument("-P", "--service-ports", action="store_true", help="Run command with the service's ports published")
    p.add_argument("--build", action="store_true", help="Build image before starting container")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs=_args.REMAINDER, metavar="COMMAND")


def _run(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    import secrets
    import shlex

    c = _compose(g, client, [a.service])
    project = c.project
    c._resolve_services([a.service])
    if not a.no_deps:
        deps = [d for d in project.with_dependencies([a.service]) if d != a.service]
        if deps:
            ids = c.create(deps, remove_orphans=a.remove_orphans)
            c.start(deps, ids=ids)
    c.ensure_images([a.service], build=a.build)
    c.ensure_networks()
    c.ensure_volumes()
    svc = project.services[a.service]
    tty = not a.no_tty and sys.stdin.isatty() and sys.stdout.isatty() if not a.detach else bool(svc.get("tty"))
    overrides: dict[str, Any] = {
        "env": list(a.env), "tty": tty, "stdin_open": not a.detach, "attach_stdin": not a.detach,
        "attach": not a.detach, "no_ports": not a.service_ports, "auto_remove": False,
        "labels": dict(item.partition("=")[::2] for item in a.label),
    }
    if a.command:
        overrides["command"] = a.command
    if a.entrypoint is not None:
        overrides["entrypoint"] = shlex.split(a.entrypoint) if a.entrypoint else [""]
    if a.user:
        overrides["user"] = a.user
    if a.workdir:
        overrides["working_dir"] = a.workdir
    number = c.next_number(a.service)
    sep = project.separator
    name = a.name or f"{project.name}{sep}{a.service}{sep}run{sep}{secrets.token_hex(6)}"
    saved_name = svc.pop("container_name", None)
    try:
        cid = c.create_container(a.service, number, name=name, oneoff=True, overrides=overrides, quiet=True)
    finally:
        if saved_name is not None:
            svc["container_name"] = saved_name
    if a.detach:
        client.json("POST", f"/containers/{cid}/start")
        print(name)
        return 0
    from kobako.cli.commands import start as start_cmd

    p = _args.ArgumentParser(prog="kobako start")
    start_cmd.configure(p)
    try:
        code: int = start_cmd.run(p.parse_args(["-a", "-i", cid]), client)
    finally:
        if a.rm:
            try:
                client.json("DELETE", f"/containers/{cid}", query={"force": True, "v": True})
            except Exception:  # noqa: BLE001 - already gone
                pass
    return code


def _cfg_version(p: _args.ArgumentParser) -> None:
    p.add_argument("--short", action="store_true", help="Shows only Compose's version number")
    p.add_argument("-f", "--format", default="pretty", help="Format the output: pretty or json")


def _version(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.compose.model import COMPOSE_VERSION

    if a.short:
        print(COMPOSE_VERSION)
    elif a.format == "json":
        print('{"version":"v%s"}' % COMPOSE_VERSION)
    else:
        print(f"kobako compose version v{COMPOSE_VERSION}")
    return 0


# -- scale / wait / cp ------------------------------------------------------------------------------
def _cfg_scale(p: _args.ArgumentParser) -> None:
    p.add_argument("--no-deps", action="store_true", help="Don't start linked services")
    p.add_argument("pairs", nargs="+", metavar="SERVICE=REPLICAS")


def _scale_cmd(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    scale = _scale(a.pairs)
    c = _compose(g, client, list(scale))
    ids = c.create(list(scale), scale=scale, no_deps=a.no_deps)
    c.start(list(scale), ids=ids, wait_deps=not a.no_deps, no_deps=a.no_deps)
    return 0


def _cfg_wait(p: _args.ArgumentParser) -> None:
    p.add_argument("--down-project", action="store_true", help="Drops project when the first container stops")
    p.add_argument("services", nargs="+", metavar="SERVICE")


def _wait(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    """As compose: block until a container of the services exits; its exit code is ours."""
    import queue
    import threading

    from kobako.client import Client

    c = _compose(g, client)
    found = c.containers(c._resolve_services(a.services))
    if not found:
        raise CommandError("no containers for the given services")
    results: queue.Queue[tuple[str, int]] = queue.Queue()
    host = client.host

    def wait_one(cid: str) -> None:
        try:
            with Client(host) as cl:
                results.put((cid, int((cl.json("POST", f"/containers/{cid}/wait") or {}).get("StatusCode", 0))))
        except Exception:  # noqa: BLE001 - removed while waited on
            results.put((cid, 1))

    for x in found:
        threading.Thread(target=wait_one, args=(x["Id"],), daemon=True).start()
    try:
        _, code = results.get()
    except KeyboardInterrupt:
        return 130
    if a.down_project:
        c.down()
    return code


def _cfg_cp(p: _args.ArgumentParser) -> None:
    p.add_argument("--index", type=int, default=0, help="Index of the container if service has multiple replicas")
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("source", metavar="SRC")
    p.add_argument("destination", metavar="DEST")


def _cp(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    """``SERVICE:PATH`` on either side becomes the service's container (``--index``, default the first)."""
    from kobako.cli.commands import cp as cp_cmd
    from kobako.compose._project import _number

    c = _compose(g, client)

    def resolve(arg: str) -> tuple[str, bool]:
        service, sep, path = arg.partition(":")
        if not sep or service.startswith((".", "/")) or service == "-":
            return arg, False
        found = c.containers(c._resolve_services([service]))
        if a.index:
            found = [x for x in found if _number(x) == a.index]
        if not found:
            raise CommandError(f"no container found for service \"{service}\"")
        return f"{found[0]['Id']}:{path}", True

    src, in_src = resolve(a.source)
    dst, in_dst = resolve(a.destination)
    if in_src == in_dst:
        raise CommandError("copying between services is not supported" if in_src else
                           "one of SRC or DEST must be SERVICE:PATH")
    argv = [*(["-a"] if a.archive else []), *(["-L"] if a.follow_link else []), src, dst]
    p = _args.ArgumentParser(prog="kobako cp")
    cp_cmd.configure(p)
    code: int = cp_cmd.run(p.parse_args(argv), client)
    return code


def _cfg_push(p: _args.ArgumentParser) -> None:
    p.add_argument("--ignore-push-failures", action="store_true", help="Push what it can and ignores images with push failures")
    p.add_argument("-q", "--quiet", action="store_true", help="Push without printing progress information")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _push(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    _compose(g, client, a.services).push(a.services, ignore_failures=a.ignore_push_failures)
    return 0


def _cfg_attach(p: _args.ArgumentParser) -> None:
    p.add_argument("--index", type=int, default=1, help="Index of the container if service has multiple replicas")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="Proxy all received signals to the process")
    p.add_argument("--detach-keys", default=None, help="Override the key sequence for detaching from a container")
    p.add_argument("service", metavar="SERVICE")


def _attach(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands import attach as attach_cmd

    c = _compose(g, client)
    target = _container_of(c, a.service, a.index)
    argv = [*(["--no-stdin"] if a.no_stdin else []), f"--sig-proxy={a.sig_proxy}",
            *(["--detach-keys", a.detach_keys] if a.detach_keys else []), target["Id"]]
    p = _args.ArgumentParser(prog="kobako attach")
    attach_cmd.configure(p)
    code: int = attach_cmd.run(p.parse_args(argv), client)
    return code


def _cfg_events(p: _args.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="Output events as a stream of json objects")
    p.add_argument("services", nargs="*", metavar="SERVICE")


def _events(g: _args.Namespace, a: _args.Namespace, client: Any) -> int:
    """The daemon's container events for the project's containers, one line each (or JSON)."""
    import datetime

    from kobako.client._jsonc import dumps
    from kobako.compose.model import LABEL_PROJECT, LABEL_SERVICE

    c = _project_only(g, client)
    services = c._resolve_services(a.services) if c.project.services else a.services
    flt = {"type": ["container"], "label": [f"{LABEL_PROJECT}={c.project.name}"]}
    try:
        for ev in client.jsonlines("GET", "/events", query={"filters": flt}):
            attrs = (ev.get("Actor") or {}).get("Attributes") or {}
            service = attrs.get(LABEL_SERVICE, "")
            if services and service not in services:
                continue
            nanos = int(ev.get("timeNano") or int(ev.get("time", 0)) * 1_000_000_000)
            when = datetime.datetime.fromtimestamp(nanos / 1e9, datetime.timezone.utc)
            cid = (ev.get("Actor") or {}).get("ID") or ev.get("id", "")
            action = ev.get("Action") or ev.get("status", "")
            shown = {k: attrs[k] for k in ("image", "name") if k in attrs}
            if a.json:
                print(dumps({"time": when.isoformat().replace("+00:00", "Z"), "type": "container",
                             "service": service, "id": cid, "action": action, "attributes": shown},
                            separators=(",", ":")), flush=True)
            else:
                extra = " (" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")" if shown else ""
                print(f"{when.strftime('%Y-%m-%d %H:%M:%S.%f')} container {action} {cid}{extra}", flush=True)
    except KeyboardInterrupt:
        return 130
    return 0


_COMMANDS = {
    "up": (_cfg_up, _up), "create": (_cfg_create, _create), "down": (_cfg_down, _down),
    "stop": (_cfg_services_timeout, _stop), "start": (_cfg_services, _start),
    "restart": (_cfg_services_timeout, _restart), "rm": (_cfg_rm, _rm), "kill": (_cfg_kill, _kill),
    "pause": (_cfg_services, _pause), "unpause": (_cfg_services, _unpause), "ps": (_cfg_ps, _ps),
    "ls": (_cfg_ls, _ls), "images": (_cfg_images, _images), "top": (_cfg_top, _top), "port": (_cfg_port, _port),
    "logs": (_cfg_logs, _logs), "build": (_cfg_build, _build), "pull": (_cfg_pull, _pull),
    "config": (_cfg_config, _config), "exec": (_cfg_exec, _exec), "run": (_cfg_run, _run),
    "version": (_cfg_version, _version), "scale": (_cfg_scale, _scale_cmd), "wait": (_cfg_wait, _wait),
    "cp": (_cfg_cp, _cp), "push": (_cfg_push, _push), "attach": (_cfg_attach, _attach),
    "events": (_cfg_events, _events),
}
