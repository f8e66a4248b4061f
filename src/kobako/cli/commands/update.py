"""kobako update [--memory] [--memory-swap] [--cpus] [--cpu-shares] [--cpu-period] [--cpu-quota]
[--pids-limit] [--restart] CONTAINER..."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-m", "--memory", help="Memory limit")
    p.add_argument("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
    p.add_argument("--memory-reservation", help="Memory soft limit")
    p.add_argument("--cpus", help="Number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period")
    p.add_argument("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
    p.add_argument("--restart", help="Restart policy to apply when a container exits")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def update_body(args: _args.Namespace) -> dict[str, Any]:
    from kobako.cli.commands._opts import nano_cpus, ram_in_bytes, restart_policy

    body: dict[str, Any] = {}
    if args.memory:
        body["Memory"] = ram_in_bytes(args.memory)
    if args.memory_swap:
        body["MemorySwap"] = -1 if args.memory_swap == "-1" else ram_in_bytes(args.memory_swap)
    if args.memory_reservation:
        body["MemoryReservation"] = ram_in_bytes(args.memory_reservation)
    if args.cpus:
        body["NanoCpus"] = nano_cpus(args.cpus)
    for attr, key in (("cpu_shares", "CpuShares"), ("cpu_period", "CpuPeriod"), ("cpu_quota", "CpuQuota"),
                      ("pids_limit", "PidsLimit")):
        if getattr(args, attr) is not None:
            body[key] = getattr(args, attr)
    if args.cpuset_cpus:
        body["CpusetCpus"] = args.cpuset_cpus
    if args.cpuset_mems:
        body["CpusetMems"] = args.cpuset_mems
    if args.restart:
        body["RestartPolicy"] = restart_policy(args.restart)
    if not body:
        raise CommandError("you must provide one or more flags when using this command", 1)
    return body


def run(args: _args.Namespace, client: Any) -> int:
    import sys

    body = update_body(args)

    def update(c: str) -> None:
        reply = client.json("POST", f"/containers/{c}/update", body=body)
        for w in (reply or {}).get("Warnings") or []:
            print(f"WARNING: {w}", file=sys.stderr)

    return for_each(args.containers, update)
