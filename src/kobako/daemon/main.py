"""kobakod: the daemon.  Builds the backends, hands them to kobako.api.server, serves."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import kobako

log = logging.getLogger("kobakod")
DEFAULT_SOCK = "unix:///run/kobako/kobako.sock"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kobakod", description="The kobako daemon (Docker Engine API)")
    p.add_argument("-H", "--host", action="append", default=[], help="socket to listen on (repeatable)")
    p.add_argument("--data-root", default="/var/lib/kobako", help="root of persistent state")
    p.add_argument("--exec-root", default="/run/kobako", help="root of runtime state (sockets, shims)")
    p.add_argument("--cgroup-parent", default="/kobako", help="parent cgroup for containers")
    p.add_argument("--storage-driver", choices=["overlay", "copy"], default=None)
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="registry to reach over plain HTTP (loopback registries always may)")
    _network_args(p)
    _tls_args(p)
    p.add_argument("--userns-remap", default="", metavar="default|USER[:GROUP]|UID[:GID]",
                   help="run containers in a user namespace mapping root to this user's /etc/subuid range")
    p.add_argument("-D", "--debug", action="store_true")
    p.add_argument("-v", "--version", action="version", version=f"kobakod {kobako.__version__}")
    return p.parse_args(argv)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def _network_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--network-prefix", default="kb", metavar="PREFIX",
                   help="prefix of this daemon's links and rules (default bridge kobako0 for 'kb', else PREFIX0)")
    p.add_argument("--bip", help="the default bridge's address and prefix, e.g. 172.17.0.1/16")
    p.add_argument("--default-address-pool", action="append", default=[], metavar="base=CIDR,size=N",
                   help="address pool for new networks (repeatable; default: Docker's)")
    p.add_argument("--ip-forward", type=_bool, default=True, metavar="BOOL",
                   help="enable net.ipv4.ip_forward at start (default true, as dockerd)")
    p.add_argument("--dns-forward", type=_bool, default=True, metavar="BOOL",
                   help="embedded DNS: forward unknown names to the host's resolvers (default true)")
    p.add_argument("--big-tcp", type=_bool, default=None, metavar="BOOL",
                   help="IPv4 BIG TCP on container veths: 185000-byte GSO/GRO packets "
                        "(default: on with Linux >= 6.3)")


def _tls_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("TLS (TCP listeners)", "a tcp:// host needs --tlsverify (mutual TLS), as dockerd 27 "
                             "does; --tls=false allows plain TCP, on a loopback address only")
    g.add_argument("--tlsverify", nargs="?", const=True, default=None, type=_bool, metavar="BOOL",
                   help="serve TCP with TLS and require client certificates signed by --tlscacert")
    g.add_argument("--tls", nargs="?", const=True, default=None, type=_bool, metavar="BOOL",
                   help="--tls=false: plain TCP, loopback only (TLS without client certificates is refused)")
    for flag, name in (("--tlscacert", "ca.pem"), ("--tlscert", "cert.pem"), ("--tlskey", "key.pem")):
        g.add_argument(flag, metavar="PATH", help=f"default $DOCKER_CERT_PATH/{name} or ~/.docker/{name}")


def api_tls(args: argparse.Namespace) -> Any:
    """The TCP listeners' SSLContext (mutual TLS), None for plain TCP, or SystemExit with the reason."""
    tcp = [h for h in args.host if h.startswith(("tcp://", "http://"))]
    if args.tlsverify:
        from kobako.api.tls import default_cert_dir, mutual_tls_context
        from kobako.errors import InvalidArgument

        d = default_cert_dir()
        try:
            return mutual_tls_context(args.tlscacert or d / "ca.pem", args.tlscert or d / "cert.pem",
                                      args.tlskey or d / "key.pem")
        except InvalidArgument as exc:
            raise SystemExit(f"kobakod: {exc}") from None
    if not tcp:
        return None
    if args.tls is None and args.tlsverify is None:
        raise SystemExit(f"kobakod: refusing to listen on {tcp[0]} without TLS: give --tlsverify --tlscacert "
                         "--tlscert --tlskey (mutual TLS), or --tls=false for plain TCP on a loopback address")
    if args.tls:
        raise SystemExit("kobakod: --tls without --tlsverify would let any client in: kobako serves TCP with "
                         "client certificates only (--tlsverify)")
    return None  # --tls=false (or --tlsverify=false): plain TCP, which the server allows on loopback only


def network_config(args: argparse.Namespace, data_root: Path, exec_root: Path) -> Any:
    from kobako.network import NetworkConfig, PoolSpec

    prefix = args.network_prefix
    if not prefix or len(prefix) > 8 or not prefix.replace("-", "").isalnum():
        raise SystemExit("kobakod: --network-prefix must be 1-8 letters or digits")
    kw: dict[str, Any] = {}
    if args.default_address_pool:
        kw["pools"] = tuple(PoolSpec.parse(x) for x in args.default_address_pool)
        kw["randomize_subnets"] = True  # parallel daemons on one pool rarely race for the same block
    big = args.big_tcp if args.big_tcp is not None else _kernel_at_least(6, 3)
    return NetworkConfig(data_root=data_root / "network", netns_root=exec_root / "netns", prefix=prefix,
                         bip=args.bip, ip_forward=args.ip_forward, dns_forward=args.dns_forward,
                         big_tcp=BIG_TCP_SIZE if big else 0, **kw)


BIG_TCP_SIZE = 185_000  # the kernel documentation's (and Cilium's) IPv4 BIG TCP size


def _kernel_at_least(major: int, minor: int) -> bool:
    """IPv4 BIG TCP (IFLA_GSO/GRO_IPV4_MAX_SIZE) came with Linux 6.3."""
    try:
        parts = os.uname().release.split(".")
        return (int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)) >= (major, minor)
    except (ValueError, IndexError):
        return False


class SystemBackend:
    def __init__(self, containers: Any, store: Any, data_root: Path, driver: str) -> None:
        self.userns = getattr(containers, "userns_remap", None) is not None
        self.containers = containers
        self.store = store
        self.data_root = data_root
        self.driver = driver

    def info(self) -> dict[str, Any]:
        from kobako.api.routes.system import base_info

        cs = list(self.containers.containers.values())
        info = base_info()
        info.update(
            ID=_daemon_id(self.data_root),
            Name=os.uname().nodename,
            Containers=len(cs),
            ContainersRunning=sum(1 for c in cs if c.status == "running"),
            ContainersPaused=sum(1 for c in cs if c.status == "paused"),
            ContainersStopped=sum(1 for c in cs if c.status not in ("running", "paused")),
            Images=len(self.store.list()),
            Driver=self.driver,
            DriverStatus=[["Backing Filesystem", "extfs"]],
            DockerRootDir=str(self.data_root),
            CgroupVersion="2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1",
            SystemTime=_now(),
        )
        if self.userns:  # dockerd lists it when --userns-remap is on
            info["SecurityOptions"] = [*info.get("SecurityOptions", []), "name=userns"]
        return info


def _now() -> str:
    from kobako.daemon.containers._record import now_rfc3339

    return now_rfc3339()


def _daemon_id(data_root: Path) -> str:
    p = data_root / "engine-id"
    try:
        return p.read_text().strip()
    except FileNotFoundError:
        import uuid

        from kobako.fsutil import atomic_write

        ident = str(uuid.uuid4())
        atomic_write(p, ident.encode())
        return ident


def _remove_empty_cgroups(parent: str, root: Path = Path("/sys/fs/cgroup")) -> None:
    """At shutdown with nothing running, leave no empty cgroup parent behind (best effort)."""
    rel = parent.strip("/")
    if not rel:
        return
    dirs = [root / rel] if (root / "cgroup.controllers").exists() else [h / rel for h in root.iterdir()]
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            pass


def _lock(data_root: Path) -> int:
    fd = os.open(data_root / "kobakod.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"kobakod: another kobakod is using {data_root}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


async def serve(args: argparse.Namespace) -> None:
    from kobako.api.routes.containers import add_container_routes
    from kobako.api.routes.images import add_image_routes
    from kobako.api.routes.system import add_system_routes
    from kobako.api import Router, Server, add_ping_routes
    from kobako.content import LocalContentStore
    from kobako.daemon._events import EventBus
    from kobako.daemon._images import ImagesBackend
    from kobako.daemon._spawn import Spawner
    from kobako.daemon.containers import ContainerManager
    from kobako.images import ImageStore
    from kobako.snapshots import CopySnapshotter, OverlaySnapshotter, default_snapshotter

    data_root = Path(args.data_root)
    exec_root = Path(args.exec_root)
    for d in (data_root, exec_root):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o711)
    lock_fd = _lock(data_root)
    remap = getattr(args, "remap", None)  # --userns-remap, resolved by main()
    content = LocalContentStore(data_root / "content")
    snap_root = data_root / "snapshots"
    if args.storage_driver == "copy":
        snapshotter: Any = CopySnapshotter(snap_root / "copy")
    elif args.storage_driver == "overlay":
        snapshotter = OverlaySnapshotter(snap_root / "overlay")
    else:
        snapshotter = default_snapshotter(snap_root)
    driver = "overlay" if isinstance(snapshotter, OverlaySnapshotter) else "copy"
    store = ImageStore(data_root / "images", content=content, snapshotter=snapshotter)
    spawner = Spawner()
    spawner.start()
    events = EventBus()
    from kobako.volumes import LocalVolumeStore

    volume_store = LocalVolumeStore(data_root / "volumes")
    from kobako.network import NetworkManager

    networks = NetworkManager(network_config(args, data_root, exec_root))
    await networks.start()  # bridges up before any container (re)starts
    containers = ContainerManager(data_root=data_root, exec_root=exec_root, images=store, spawner=spawner,
                                  cgroup_parent=args.cgroup_parent, events=events, volumes=volume_store,
                                  network=networks, userns_remap=remap)
    await containers.restore()
    await networks.reconcile()  # what belongs to no running container goes (after a crash too)
    images = ImagesBackend(store, containers, insecure_registries=tuple(args.insecure_registry))
    router = Router()
    add_ping_routes(router)
    add_system_routes(router, SystemBackend(containers, store, data_root, driver))
    from kobako.daemon.containers._exec import ExecManager

    execs = ExecManager(containers)
    add_container_routes(router, containers, exec_ids=execs.running_ids)
    add_image_routes(router, images)
    from kobako.api.routes.exec import add_exec_routes

    add_exec_routes(router, execs)
    from kobako.api.routes.observe import add_observe_routes
    from kobako.daemon.observe import Observer

    add_observe_routes(router, Observer(containers=containers, images=store, events=events,
                                        cgroup_parent=args.cgroup_parent))
    from kobako.api.routes.files import add_file_routes
    from kobako.daemon.files import FilesBackend

    add_file_routes(router, FilesBackend(containers, store))
    from kobako.api.routes.networks import add_network_routes
    from kobako.daemon.containers._netjoin import NetworksBackend

    add_network_routes(router, NetworksBackend(networks, containers))
    from kobako.api.routes.volumes import add_volume_routes, add_volume_usage
    from kobako.daemon._volumes import VolumesBackend

    volumes_backend = VolumesBackend(volume_store, containers)
    add_volume_routes(router, volumes_backend)
    add_volume_usage(router, volumes_backend)
    from kobako.api.routes.build import add_build_routes
    from kobako.build import BuildBackend
    from kobako.daemon._buildrun import ContainerRunStep

    def pull_base(ref: str, auth: str | None) -> Any:
        return images.pull(ref, "", auth)

    add_build_routes(router, BuildBackend(store, data_root / "build", ContainerRunStep(containers), pull_base))
    server = Server(router, ssl=getattr(args, "api_ssl", None))
    hosts = args.host or [DEFAULT_SOCK]
    await server.start(hosts)
    log.info("kobakod %s serving on %s (data root %s, storage %s)", kobako.__version__, ", ".join(hosts),
             data_root, driver)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("kobakod shutting down; containers keep running")
    await server.close()
    await execs.shutdown()
    await containers.shutdown()
    await networks.shutdown()  # bridges, rules, netns files go when no container runs
    spawner.close()
    if not any(c.running for c in containers.containers.values()):
        _remove_empty_cgroups(args.cgroup_parent)
    for h in hosts:
        if h.startswith("unix://"):
            Path(h[len("unix://"):]).unlink(missing_ok=True)
    os.close(lock_fd)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if os.geteuid() != 0:
        print("kobakod: must run as root", file=sys.stderr)
        return 1
    try:
        args.api_ssl = api_tls(args)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 1
    args.remap = None
    if args.userns_remap:
        from kobako.daemon._userns import resolve as resolve_remap
        from kobako.errors import KobakoError

        try:
            args.remap = resolve_remap(args.userns_remap)
        except KobakoError as exc:
            print(f"kobakod: {exc}", file=sys.stderr)
            return 1
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
