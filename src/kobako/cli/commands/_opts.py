"""Flags shared by ``run`` and ``create``, turned into a ``POST /containers/create`` body."""

from __future__ import annotations

import os
import sys

from kobako.cli import _args
from kobako.cli.commands._env import env_list
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def ram_in_bytes(s: str) -> int:
    """go-units RAMInBytes: "64m", "1.5g", "1024" (binary units)."""
    import re  # here: `run` without -m/--memory-swap never needs it

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?)b?\s*", s.lower())
    if not m:
        raise CommandError(f"invalid size: '{s}'", 125)
    return int(float(m.group(1)) * _UNITS[m.group(2) or "b"])


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def go_duration_ns(s: str, flag: str) -> int:
    """Go ``time.ParseDuration`` ("30s", "1m30s", "500ms", "0"), in nanoseconds."""
    text = s.strip()
    if text in ("0", ""):
        return 0
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
        raise CommandError(f'invalid argument "{s}" for "{flag}" flag: time: invalid duration "{s}"', 125)
    return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def nano_cpus(value: str) -> int:
    try:
        return int(round(float(value) * 1e9))
    except ValueError:
        raise CommandError(f'invalid argument "{value}" for "--cpus" flag', 125) from None


def restart_policy(value: str) -> dict[str, Any]:
    """docker/cli ``opts.ParseRestartPolicy``: "no", "always", "unless-stopped", "on-failure[:N]"."""
    name, sep, count = value.partition(":")
    policy: dict[str, Any] = {"Name": name, "MaximumRetryCount": 0}
    if sep:
        if not count.strip().lstrip("-").isdigit():
            raise CommandError("invalid restart policy format: maximum retry count must be an integer", 125)
        policy["MaximumRetryCount"] = int(count)
    return policy


def healthcheck(args: _args.Namespace) -> dict[str, Any] | None:
    """docker/cli: ``--health-*`` → Config.Healthcheck; ``--no-healthcheck`` → Test ["NONE"]."""
    durations = {}
    for attr, key, flag in (("health_interval", "Interval", "--health-interval"),
                            ("health_timeout", "Timeout", "--health-timeout"),
                            ("health_start_period", "StartPeriod", "--health-start-period"),
                            ("health_start_interval", "StartInterval", "--health-start-interval")):
        raw = getattr(args, attr)
        if raw is not None:
            ns = go_duration_ns(raw, flag)
            if ns < 0:
                raise CommandError(f"{flag} cannot be negative", 125)
            durations[key] = ns
    retries = args.health_retries or 0
    have = bool(args.health_cmd or any(durations.values()) or retries)
    if args.no_healthcheck:
        if have:
            raise CommandError("--no-healthcheck conflicts with --health-* options", 125)
        return {"Test": ["NONE"]}
    if not have:
        return None
    if retries < 0:
        raise CommandError("--health-retries cannot be negative", 125)
    hc: dict[str, Any] = {"Test": ["CMD-SHELL", args.health_cmd] if args.health_cmd else None,
                          "Interval": 0, "Timeout": 0, "StartPeriod": 0, "StartInterval": 0, "Retries": retries}
    hc.update(durations)
    return hc


def configure_create(p: _args.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    p.add_argument("--name", help="Assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="Set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="Read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-h", "--hostname", help="Container host name")
    p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    p.add_argument("-m", "--memory", help="Memory limit")
    p.add_argument("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    p.add_argument("--cpus", help="Number of CPUs")
    p.add_argument("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
    p.add_argument("-l", "--label", action="append", default=[], help="Set meta data on a container")
    p.add_argument("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    p.add_argument("--stop-signal", help="Signal to stop the container")
    p.add_argument("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
    p.add_argument("--log-opt", action="append", default=[], help="Log driver options")
    p.add_argument("--restart", default="no", help="Restart policy to apply when a container exits")
    p.add_argument("--health-cmd", help="Command to run to check health")
    p.add_argument("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
    p.add_argument("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
    p.add_argument("--health-retries", type=int, help="Consecutive failures needed to report unhealthy")
    p.add_argument("--health-start-period", help="Start period for the container to initialize before "
                   "starting health-retries countdown (ms|s|m|h) (default 0s)")
    p.add_argument("--health-start-interval", help="Time between running the check during the start period "
                   "(ms|s|m|h) (default 0s)")
    p.add_argument("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
    p.add_argument("-a", "--attach", action="append", default=[], help="Attach to STDIN, STDOUT or STDERR")
    p.add_argument("-v", "--volume", action="append", default=[], help="Bind mount a volume")
    p.add_argument("--mount", action="append", default=[], help="Attach a filesystem mount to the container")
    p.add_argument("--tmpfs", action="append", default=[], help="Mount a tmpfs directory")
    p.add_argument("--volumes-from", action="append", default=[],
                   help="Mount volumes from the specified container(s)")
    from kobako.cli.commands._secopt import add_security_flags

    add_security_flags(p)
    from kobako.cli.commands._netopt import add_network_flags

    add_network_flags(p)
    p.add_argument("--help", action="help", help="Print usage")
    p.add_argument("image")
    p.add_argument("command", nargs=_args.REMAINDER)


def create_body(args: _args.Namespace) -> dict[str, Any]:
    env = env_list(args.env_file, args.env)
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    attach = {a.lower() for a in args.attach}
    detach = getattr(args, "detach", False)
    host_config: dict[str, Any] = {"AutoRemove": bool(args.rm), "ReadonlyRootfs": bool(args.read_only),
                                   "NetworkMode": "default"}
    if args.memory:
        host_config["Memory"] = ram_in_bytes(args.memory)
    if args.memory_swap:
        host_config["MemorySwap"] = -1 if args.memory_swap == "-1" else ram_in_bytes(args.memory_swap)
    if args.cpus:
        host_config["NanoCpus"] = nano_cpus(args.cpus)
    host_config["RestartPolicy"] = restart_policy(args.restart or "no")
    if args.rm and host_config["RestartPolicy"]["Name"] not in ("", "no"):
        raise CommandError("Conflicting options: cannot specify both --restart and --rm", 125)
    if args.pids_limit is not None:
        host_config["PidsLimit"] = args.pids_limit
    if args.log_opt:
        host_config["LogConfig"] = {"Type": "json-file",
                                    "Config": dict(o.partition("=")[::2] for o in args.log_opt)}
    _mount_flags(args, host_config)
    from kobako.cli.commands._secopt import security_flags

    security_flags(args, host_config)
    if args.tty and os.isatty(1):
        import shutil

        size = shutil.get_terminal_size()
        host_config["ConsoleSize"] = [size.lines, size.columns]
    body: dict[str, Any] = {
        "Image": args.image,
        "Cmd": list(args.command) or None,
        "Env": env or None,
        "Labels": labels,
        "Tty": bool(args.tty),
        "OpenStdin": bool(args.interactive),
        "StdinOnce": bool(args.interactive) and not detach,
        "AttachStdin": bool(args.interactive) and not detach,
        "AttachStdout": not detach and (not attach or "stdout" in attach),
        "AttachStderr": not detach and (not attach or "stderr" in attach),
        "HostConfig": host_config,
    }
    if args.workdir:
        body["WorkingDir"] = args.workdir
    if args.hostname:
        body["Hostname"] = args.hostname
    if args.user:
        body["User"] = args.user
    if args.entrypoint is not None:
        body["Entrypoint"] = [args.entrypoint] if args.entrypoint else [""]
    if args.stop_signal:
        body["StopSignal"] = args.stop_signal
    if args.stop_timeout is not None:
        body["StopTimeout"] = args.stop_timeout
    hc = healthcheck(args)
    if hc is not None:
        body["Healthcheck"] = hc
    if getattr(args, "volume", None):
        from kobako.cli.commands._mountopt import split_volumes

        volumes = split_volumes(args.volume)[1]
        if volumes:
            body["Volumes"] = volumes
    from kobako.cli.commands._netopt import network_flags

    network_flags(args, host_config, body)
    return body


def _mount_flags(args: _args.Namespace, host_config: dict[str, Any]) -> None:
    """-v, --mount, --tmpfs, --volumes-from → HostConfig (anonymous -v go to Config.Volumes)."""
    if not (getattr(args, "volume", None) or getattr(args, "mount", None) or getattr(args, "tmpfs", None)
            or getattr(args, "volumes_from", None)):
        return
    from kobako.cli.commands._mountopt import parse_mount, split_volumes, tmpfs_map

    binds = split_volumes(args.volume)[0]
    if binds:
        host_config["Binds"] = binds
    if args.mount:
        host_config["Mounts"] = [parse_mount(m) for m in args.mount]
    if args.tmpfs:
        host_config["Tmpfs"] = tmpfs_map(args.tmpfs)
    if args.volumes_from:
        host_config["VolumesFrom"] = list(args.volumes_from)


def create_container(client: Any, args: _args.Namespace) -> str:
    from kobako.client import DaemonError

    body = create_body(args)
    query = {"name": args.name} if args.name else None
    try:
        reply = client.json("POST", "/containers/create", query=query, body=body)
    except DaemonError as exc:
        if exc.status != 404 or "No such image" not in exc.message:
            raise
        print(f"Unable to find image '{args.image}' locally", file=sys.stderr)
        for obj in client.jsonlines("POST", "/images/create", query={"fromImage": args.image}):
            if obj.get("error"):
                raise CommandError(f"kobako: Error response from daemon: {obj['error']}", 125) from None
        reply = client.json("POST", "/containers/create", query=query, body=body)
    for w in reply.get("Warnings") or []:
        print(f"WARNING: {w}", file=sys.stderr)
    return str(reply["Id"])
