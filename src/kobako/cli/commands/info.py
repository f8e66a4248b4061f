"""kobako info [--format T]"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli._format import human_size, render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")


def run(args: _args.Namespace, client: Any) -> int:
    info = client.json("GET", "/info")
    if args.format:
        print(render(args.format, info))
        return 0
    lines = [
        "Server:",
        f" Containers: {info['Containers']}",
        f"  Running: {info['ContainersRunning']}",
        f"  Paused: {info['ContainersPaused']}",
        f"  Stopped: {info['ContainersStopped']}",
        f" Images: {info['Images']}",
        f" Server Version: {info['ServerVersion']}",
        f" Storage Driver: {info['Driver']}",
        f" Logging Driver: {info['LoggingDriver']}",
        f" Cgroup Driver: {info['CgroupDriver']}",
        f" Cgroup Version: {info['CgroupVersion']}",
        f" Default Runtime: {info['DefaultRuntime']}",
        f" Kernel Version: {info['KernelVersion']}",
        f" Operating System: {info['OperatingSystem']}",
        f" OSType: {info['OSType']}",
        f" Architecture: {info['Architecture']}",
        f" CPUs: {info['NCPU']}",
        f" Total Memory: {human_size(info['MemTotal'])}",
        f" Name: {info['Name']}",
        f" ID: {info['ID']}",
        f" Docker Root Dir: {info['DockerRootDir']}",
        f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}",
    ]
    print("\n".join(lines))
    return 0
