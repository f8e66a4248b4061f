"""System routes: /version and /info (``/_ping`` comes with the server)."""

from __future__ import annotations

import os
import platform
from typing import Any

import kobako
from kobako.api.request import Request
from kobako.api.response import Response, json_response
from kobako.api.router import Router

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}


def arch() -> str:
    m = platform.machine()
    return _ARCH.get(m, m)


def version_info() -> dict[str, Any]:
    details = {
        "ApiVersion": kobako.API_VERSION,
        "MinAPIVersion": kobako.MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "python" + platform.python_version(),
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": platform.release(),
        "BuildTime": "",
    }
    return {
        "Platform": {"Name": f"kobako {kobako.__version__}"},
        "Components": [{"Name": "Engine", "Version": kobako.__version__, "Details": details}],
        "Version": kobako.__version__,
        **details,
    }


def add_system_routes(router: Router, system: Any) -> None:
    async def system_version(req: Request) -> Response:
        return json_response(version_info())

    async def system_info(req: Request) -> Response:
        return json_response(system.info())

    router.add("GET", "/version", system_version)
    router.add("GET", "/info", system_info)


def os_release() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def base_info() -> dict[str, Any]:
    return {
        "KernelVersion": platform.release(),
        "OperatingSystem": os_release(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem_total(),
        "ServerVersion": kobako.__version__,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "Runtimes": {"kobako": {"path": "kobako-runtime"}},
        "DefaultRuntime": "kobako",
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": None,
                    "Log": ["json-file"]},
        "ExperimentalBuild": False,
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=cgroupns"],
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Labels": [],
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "NEventsListener": 0,
        "OomKillDisable": False,
        "IPv4Forwarding": True,
        "BridgeNfIptables": False,
        "BridgeNfIp6tables": False,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "KernelMemory": False,
        "KernelMemoryTCP": False,
        "MemoryLimit": True,
        "SwapLimit": False,
        "Warnings": [],
    }
