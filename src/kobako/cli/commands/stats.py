"""kobako stats [-a] [--no-stream] [--no-trunc] [--format T] [CONTAINER...]

Numbers as docker/cli ``cli/command/container/stats_helpers.go`` computes them: CPU % from
the deltas of the container's and the host's CPU time times the online CPUs; memory usage
without the inactive file cache; block I/O summed over devices.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from kobako.cli import _args
from kobako.cli._format import format_rows

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COLUMNS = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
           ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--format", help="Format output using a custom template ('table', 'json' or a Go template)")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


# -- go-units ---------------------------------------------------------------------------------
def _go_g(value: float, precision: int) -> str:
    text = f"{value:.{precision}g}"
    if "e" in text:  # Go's %g keeps large exponents as e+XX like Python; tiny values do not occur
        mant, exp = text.split("e")
        text = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    return text


def custom_size(size: float, base: float, units: list[str], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return _go_g(size, precision) + units[i]


def bytes_size(n: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (``1.5MiB``)."""
    return custom_size(n, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"], 4)


def human_size(n: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: decimal units (``2.13MB``); HumanSize uses precision 4."""
    return custom_size(n, 1000.0, ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"], precision)


# -- docker's arithmetic ------------------------------------------------------------------------
def cpu_percent(stats: dict[str, Any]) -> float:
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    cpu_delta = float((cpu.get("cpu_usage") or {}).get("total_usage", 0)) - \
        float((pre.get("cpu_usage") or {}).get("total_usage", 0))
    system_delta = float(cpu.get("system_cpu_usage", 0) or 0) - float(pre.get("system_cpu_usage", 0) or 0)
    online = float(cpu.get("online_cpus") or 0)
    if online == 0.0:
        online = float(len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []))
    if system_delta > 0.0 and cpu_delta > 0.0:
        return (cpu_delta / system_delta) * online * 100.0
    return 0.0


def memory_usage(mem: dict[str, Any]) -> float:
    usage = float(mem.get("usage", 0) or 0)
    st = mem.get("stats") or {}
    if "total_inactive_file" in st and st["total_inactive_file"] < usage:
        return usage - st["total_inactive_file"]
    if st.get("inactive_file", usage) < usage:
        return usage - st["inactive_file"]
    return usage


def block_io(blkio: dict[str, Any]) -> tuple[int, int]:
    read = write = 0
    for entry in (blkio or {}).get("io_service_bytes_recursive") or []:
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value", 0))
        elif op == "write":
            write += int(entry.get("value", 0))
    return read, write


def network_io(networks: dict[str, Any] | None) -> tuple[int, int]:
    rx = sum(int(n.get("rx_bytes", 0)) for n in (networks or {}).values())
    tx = sum(int(n.get("tx_bytes", 0)) for n in (networks or {}).values())
    return rx, tx


def stats_row(stats: dict[str, Any], container: str, no_trunc: bool = False) -> dict[str, str]:
    mem = stats.get("memory_stats") or {}
    usage, limit = memory_usage(mem), float(mem.get("limit", 0) or 0)
    rd, wr = block_io(stats.get("blkio_stats") or {})
    rx, tx = network_io(stats.get("networks"))
    cid = str(stats.get("id", ""))
    return {
        "Container": container,
        "ID": cid if no_trunc else cid[:12],
        "Name": str(stats.get("name", "")).lstrip("/") or "--",
        "CPUPerc": f"{cpu_percent(stats):.2f}%",
        "MemUsage": f"{bytes_size(usage)} / {bytes_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{human_size(rx, 3)} / {human_size(tx, 3)}",
        "BlockIO": f"{human_size(rd, 3)} / {human_size(wr, 3)}",
        "PIDs": str((stats.get("pids_stats") or {}).get("current", 0)),
    }


def _render(rows: list[dict[str, str]], fmt: str | None) -> str:
    if fmt == "json" or (fmt and fmt.strip() == "{{json .}}"):
        return "\n".join(json.dumps(r, separators=(",", ":"), sort_keys=True) for r in rows)
    return format_rows(fmt, rows, COLUMNS)


def _targets(args: _args.Namespace, client: Any) -> list[str]:
    if args.containers:
        return list(args.containers)
    items = client.json("GET", "/containers/json", query={"all": int(args.all)})
    return [c["Id"] for c in items]


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.client import Client, DaemonError

    targets = _targets(args, client)
    if args.no_stream:
        rows, failed = [], []
        for t in targets:
            try:
                obj = next(iter(client.jsonlines("GET", f"/containers/{t}/stats", query={"stream": 0})))
            except DaemonError as exc:
                failed.append(exc.message)
                continue
            rows.append(stats_row(obj, t, args.no_trunc))
        out = _render(rows, args.format)
        if out:
            print(out)
        for msg in failed:
            print(f"Error response from daemon: {msg}", file=sys.stderr)
        return 1 if failed else 0
    latest: dict[str, dict[str, str]] = {}
    errors: list[str] = []

    def follow(t: str) -> None:
        c = Client(client.host)
        try:
            for obj in c.jsonlines("GET", f"/containers/{t}/stats", query={"stream": 1}):
                latest[t] = stats_row(obj, t, args.no_trunc)
        except DaemonError as exc:
            errors.append(exc.message)
        except Exception:  # noqa: BLE001 - a dropped stream ends that row
            pass
        finally:
            c.close()

    for t in targets:
        threading.Thread(target=follow, args=(t,), daemon=True).start()
    tty = sys.stdout.isatty()
    while True:
        time.sleep(1.0)
        if errors and len(errors) == len(targets):
            print(f"Error response from daemon: {errors[0]}", file=sys.stderr)
            return 1
        rows = [latest[t] for t in targets if t in latest]
        out = _render(rows, args.format)
        sys.stdout.write(("\033[2J\033[H" if tty else "") + out + "\n")
        sys.stdout.flush()
