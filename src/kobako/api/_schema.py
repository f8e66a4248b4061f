"""Typed decoding of request bodies, as dockerd's ``json.Unmarshal`` into Go structs does it.

A field of the wrong type is a 400 naming the field and the type (``cannot unmarshal string into
field HostConfig.Memory of type int64``), never a crash deeper in the engine; ``null`` anywhere is
the Go zero value (an absent field; ``""``/``0``/``false``/``{}`` inside a list or map); unknown fields
are kept and ignored, as Go ignores them.  Integers are int64 (no fractions, no overflow).

A schema is ``"str" | "int" | "bool" | "num" | "any" | "strslice"`` (a string or a list of strings,
Docker's ``StrSlice``) ``| ("list", S) | ("map", S) | {field: S}`` (a struct).
"""

from __future__ import annotations

from typing import Any

from kobako.errors import InvalidArgument

Schema = Any
_INT64 = (-(1 << 63), (1 << 63) - 1)

_ZERO: dict[str, Any] = {"str": "", "int": 0, "bool": False, "num": 0, "any": None, "strslice": []}

_GO_NAMES = {"str": "string", "int": "int64", "bool": "bool", "num": "float64", "strslice": "[]string"}


def _go_name(schema: Schema) -> str:
    if isinstance(schema, str):
        return _GO_NAMES.get(schema, "interface {}")
    if isinstance(schema, tuple):
        inner = _go_name(schema[1])
        return f"[]{inner}" if schema[0] == "list" else f"map[string]{inner}"
    return "struct"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _zero(schema: Schema) -> Any:
    if isinstance(schema, str):
        return _ZERO[schema]
    return {} if isinstance(schema, dict) or schema[0] == "map" else []


def decode(value: Any, schema: Schema, path: str = "") -> Any:
    """``value`` checked against ``schema``; nulls replaced by zero values (fields: dropped)."""
    if value is None:
        return _zero(schema)
    if isinstance(schema, str):
        return _scalar(value, schema, path)
    if isinstance(schema, tuple):
        kind, inner = schema
        if kind == "list":
            if not isinstance(value, list):
                raise _mismatch(value, schema, path)
            return [decode(v, inner, path) for v in value]
        if not isinstance(value, dict):
            raise _mismatch(value, schema, path)
        return {k: decode(v, inner, f"{path}[{k}]") for k, v in value.items()}
    if not isinstance(value, dict):
        raise _mismatch(value, schema, path)
    out: dict[str, Any] = {}
    for key, v in value.items():
        sub = schema.get(key)
        if sub is None:
            out[key] = v  # unknown: Go ignores it, and so does the engine
        elif v is not None:
            out[key] = decode(v, sub, f"{path}.{key}" if path else key)
    return out


def _scalar(value: Any, schema: str, path: str) -> Any:
    if schema == "any":
        return value
    if schema == "str":
        if isinstance(value, str):
            return value
    elif schema == "bool":
        if isinstance(value, bool):
            return value
    elif schema == "int":
        if isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]:
            return value
    elif schema == "num":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif schema == "strslice":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [_scalar(v, "str", path) if v is not None else "" for v in value]
    raise _mismatch(value, schema, path)


def _mismatch(value: Any, schema: Schema, path: str) -> InvalidArgument:
    where = f" into field {path}" if path else ""
    return InvalidArgument(f"invalid JSON: cannot unmarshal {_json_kind(value)}{where} of type {_go_name(schema)}")


# -- Docker Engine API request objects (the fields the engine reads) -----------------------------
_STRS = ("list", "str")
_STRMAP = ("map", "str")
_EMPTYMAP = ("map", "any")
_THROTTLE = ("list", {"Path": "str", "Rate": "int"})

HEALTHCHECK = {"Test": "strslice", "Interval": "int", "Timeout": "int", "Retries": "int", "StartPeriod": "int",
               "StartInterval": "int"}

CONTAINER_CONFIG: dict[str, Schema] = {
    "Hostname": "str", "Domainname": "str", "User": "str", "AttachStdin": "bool", "AttachStdout": "bool",
    "AttachStderr": "bool", "ExposedPorts": _EMPTYMAP, "Tty": "bool", "OpenStdin": "bool", "StdinOnce": "bool",
    "Env": _STRS, "Cmd": "strslice", "Healthcheck": HEALTHCHECK, "ArgsEscaped": "bool", "Image": "str",
    "Volumes": _EMPTYMAP, "WorkingDir": "str", "Entrypoint": "strslice", "NetworkDisabled": "bool",
    "MacAddress": "str", "OnBuild": _STRS, "Labels": _STRMAP, "StopSignal": "str", "StopTimeout": "int",
    "Shell": "strslice",
}

RESOURCES: dict[str, Schema] = {
    "CpuShares": "int", "Memory": "int", "NanoCpus": "int", "CgroupParent": "str", "BlkioWeight": "int",
    "BlkioWeightDevice": ("list", {"Path": "str", "Weight": "int"}), "BlkioDeviceReadBps": _THROTTLE,
    "BlkioDeviceWriteBps": _THROTTLE, "BlkioDeviceReadIOps": _THROTTLE, "BlkioDeviceWriteIOps": _THROTTLE,
    "CpuPeriod": "int", "CpuQuota": "int", "CpuRealtimePeriod": "int", "CpuRealtimeRuntime": "int",
    "CpusetCpus": "str", "CpusetMems": "str",
    "Devices": ("list", {"PathOnHost": "str", "PathInContainer": "str", "CgroupPermissions": "str"}),
    "DeviceCgroupRules": _STRS, "DeviceRequests": ("list", "any"), "KernelMemory": "int", "KernelMemoryTCP": "int",
    "MemoryReservation": "int", "MemorySwap": "int", "MemorySwappiness": "int", "OomKillDisable": "bool",
    "Init": "bool", "PidsLimit": "int", "Ulimits": ("list", {"Name": "str", "Soft": "int", "Hard": "int"}),
    "CpuCount": "int", "CpuPercent": "int", "IOMaximumIOps": "int", "IOMaximumBandwidth": "int",
}

MOUNT = {
    "Target": "str", "Source": "str", "Type": "str", "ReadOnly": "bool", "Consistency": "str",
    "BindOptions": {"Propagation": "str", "NonRecursive": "bool", "CreateMountpoint": "bool",
                    "ReadOnlyNonRecursive": "bool", "ReadOnlyForceRecursive": "bool"},
    "VolumeOptions": {"NoCopy": "bool", "Labels": _STRMAP, "Subpath": "str",
                      "DriverConfig": {"Name": "str", "Options": _STRMAP}},
    "TmpfsOptions": {"SizeBytes": "int", "Mode": "int", "Options": "any"},
}

HOST_CONFIG: dict[str, Schema] = {
    **RESOURCES,
    "Binds": _STRS, "ContainerIDFile": "str", "LogConfig": {"Type": "str", "Config": _STRMAP},
    "NetworkMode": "str", "PortBindings": ("map", ("list", {"HostIp": "str", "HostPort": "str"})),
    "RestartPolicy": {"Name": "str", "MaximumRetryCount": "int"}, "AutoRemove": "bool", "VolumeDriver": "str",
    "VolumesFrom": _STRS, "ConsoleSize": ("list", "int"), "Annotations": _STRMAP, "CapAdd": "strslice",
    "CapDrop": "strslice", "CgroupnsMode": "str", "Dns": _STRS, "DnsOptions": _STRS, "DnsSearch": _STRS,
    "ExtraHosts": _STRS, "GroupAdd": _STRS, "IpcMode": "str", "Cgroup": "str", "Links": _STRS,
    "OomScoreAdj": "int", "PidMode": "str", "Privileged": "bool", "PublishAllPorts": "bool",
    "ReadonlyRootfs": "bool", "SecurityOpt": _STRS, "StorageOpt": _STRMAP, "Tmpfs": _STRMAP, "UTSMode": "str",
    "UsernsMode": "str", "ShmSize": "int", "Sysctls": _STRMAP, "Runtime": "str", "Isolation": "str",
    "Mounts": ("list", MOUNT), "MaskedPaths": _STRS, "ReadonlyPaths": _STRS,
}

ENDPOINT_SETTINGS: dict[str, Schema] = {
    "IPAMConfig": {"IPv4Address": "str", "IPv6Address": "str", "LinkLocalIPs": _STRS},
    "Links": _STRS, "Aliases": _STRS, "MacAddress": "str", "DriverOpts": _STRMAP, "NetworkID": "str",
    "EndpointID": "str", "Gateway": "str", "IPAddress": "str", "IPPrefixLen": "int", "IPv6Gateway": "str",
    "GlobalIPv6Address": "str", "GlobalIPv6PrefixLen": "int", "DNSNames": _STRS,
}

CONTAINER_CREATE: dict[str, Schema] = {
    **CONTAINER_CONFIG,
    "HostConfig": HOST_CONFIG,
    "NetworkingConfig": {"EndpointsConfig": ("map", ENDPOINT_SETTINGS)},
}

CONTAINER_UPDATE: dict[str, Schema] = {**RESOURCES, "RestartPolicy": HOST_CONFIG["RestartPolicy"]}

EXEC_CONFIG: dict[str, Schema] = {
    "AttachStdin": "bool", "AttachStdout": "bool", "AttachStderr": "bool", "ConsoleSize": ("list", "int"),
    "DetachKeys": "str", "Tty": "bool", "Env": _STRS, "Cmd": "strslice", "Privileged": "bool", "User": "str",
    "WorkingDir": "str",
}

EXEC_START: dict[str, Schema] = {"Detach": "bool", "Tty": "bool", "ConsoleSize": ("list", "int")}

NETWORK_CREATE: dict[str, Schema] = {
    "Name": "str", "CheckDuplicate": "bool", "Driver": "str", "Scope": "str", "Internal": "bool",
    "Attachable": "bool", "Ingress": "bool", "ConfigOnly": "bool", "ConfigFrom": {"Network": "str"},
    "IPAM": {"Driver": "str", "Options": _STRMAP,
             "Config": ("list", {"Subnet": "str", "IPRange": "str", "Gateway": "str", "AuxiliaryAddresses": _STRMAP})},
    "EnableIPv4": "bool", "EnableIPv6": "bool", "Options": _STRMAP, "Labels": _STRMAP,
}

NETWORK_CONNECT: dict[str, Schema] = {"Container": "str", "EndpointConfig": ENDPOINT_SETTINGS}
NETWORK_DISCONNECT: dict[str, Schema] = {"Container": "str", "Force": "bool"}
VOLUME_CREATE: dict[str, Schema] = {"Name": "str", "Driver": "str", "DriverOpts": _STRMAP, "Labels": _STRMAP,
                                    "ClusterVolumeSpec": "any"}
