"""The shape of a compose file, checked key by key (the subset of the compose specification kobako runs).

``check_file(tree, where)`` walks one parsed (and interpolated) file against ``FILE``: an unknown key
(other than ``x-*`` extensions, which are dropped) or a value of the wrong type raises ComposeError
``validating FILE: services.web.ports[1] must be a string, a number or a mapping``, naming the key path.
Scalars that interpolation turned into strings are cast back where the schema wants a number or a
boolean (``tty: "${TTY:-false}"``), as compose does.  The tree it returns is the checked copy.
"""

from __future__ import annotations

from kobako.compose._errors import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# -- spec constructors -------------------------------------------------------------------------------
STR, INT, BOOL, NUM, NULL, ANY_SCALAR = "string", "integer", "boolean", "number", "null", "scalar"


def List(item: Any) -> tuple[str, Any]:  # noqa: N802 - reads as a type
    return ("list", item)


def Map(value: Any) -> tuple[str, Any]:  # noqa: N802
    return ("map", value)


def Obj(**keys: Any) -> tuple[str, Any]:  # noqa: N802
    return ("obj", keys)


def OneOf(*specs: Any) -> tuple[str, Any]:  # noqa: N802
    return ("oneof", specs)


STRS = List(STR)
STR_OR_STRS = OneOf(STR, STRS)
SCALAR_MAP = Map(OneOf(STR, NUM, BOOL, NULL))
LIST_OR_MAP = OneOf(SCALAR_MAP, List(OneOf(STR, NUM)))
DURATION = OneOf(STR, NUM)
BYTES = OneOf(STR, INT)

BUILD = OneOf(STR, Obj(context=STR, dockerfile=STR, dockerfile_inline=STR, args=LIST_OR_MAP, target=STR,
                       labels=LIST_OR_MAP, cache_from=STRS, network=STR, pull=BOOL, no_cache=BOOL, shm_size=BYTES,
                       extra_hosts=LIST_OR_MAP, platforms=STRS, tags=STRS))
PORT = OneOf(STR, NUM, Obj(target=INT, published=OneOf(STR, INT), host_ip=STR, protocol=STR, mode=STR,
                           name=STR, app_protocol=STR))
VOLUME = OneOf(STR, Obj(type=STR, source=STR, target=STR, read_only=BOOL, consistency=STR,
                        bind=Obj(propagation=STR, create_host_path=BOOL, selinux=STR),
                        volume=Obj(nocopy=BOOL, subpath=STR), tmpfs=Obj(size=BYTES, mode=NUM)))
HEALTHCHECK = Obj(test=STR_OR_STRS, interval=DURATION, timeout=DURATION, retries=NUM, start_period=DURATION,
                  start_interval=DURATION, disable=BOOL)
RESOURCES = Obj(cpus=OneOf(STR, NUM), memory=BYTES, pids=INT)
DEPLOY = Obj(mode=STR, replicas=INT, labels=LIST_OR_MAP,
             resources=Obj(limits=RESOURCES,
                           reservations=Obj(cpus=OneOf(STR, NUM), memory=BYTES,
                                            devices=List(Map(OneOf(STR, NUM, BOOL, STRS))))),
             restart_policy=Obj(condition=STR, delay=DURATION, max_attempts=INT, window=DURATION))
SERVICE = Obj(
    image=STR, build=BUILD, command=OneOf(NULL, STR, STRS), entrypoint=OneOf(NULL, STR, STRS),
    environment=LIST_OR_MAP, env_file=OneOf(STR, List(OneOf(STR, Obj(path=STR, required=BOOL, format=STR)))),
    ports=List(PORT), expose=List(OneOf(STR, NUM)), volumes=List(VOLUME), tmpfs=STR_OR_STRS,
    networks=OneOf(STRS, Map(OneOf(NULL, Obj(aliases=STRS, ipv4_address=STR, ipv6_address=STR, priority=NUM,
                                             mac_address=STR)))),
    network_mode=STR,
    depends_on=OneOf(STRS, Map(Obj(condition=STR, restart=BOOL, required=BOOL))),
    restart=STR, labels=LIST_OR_MAP, healthcheck=HEALTHCHECK, working_dir=STR, user=STR, hostname=STR,
    domainname=STR, tty=BOOL, stdin_open=BOOL, init=BOOL, cap_add=STRS, cap_drop=STRS, privileged=BOOL,
    read_only=BOOL, extra_hosts=LIST_OR_MAP, dns=STR_OR_STRS, dns_search=STR_OR_STRS, dns_opt=STRS,
    stop_signal=STR, stop_grace_period=DURATION, ulimits=Map(OneOf(INT, Obj(soft=INT, hard=INT))),
    sysctls=LIST_OR_MAP, shm_size=BYTES, mem_limit=BYTES, memswap_limit=BYTES, mem_reservation=BYTES,
    cpus=OneOf(STR, NUM), cpu_shares=INT, pids_limit=INT, deploy=DEPLOY, container_name=STR, profiles=STRS,
    pull_policy=STR, platform=STR, scale=INT, security_opt=STRS, group_add=List(OneOf(STR, NUM)),
    secrets=List(OneOf(STR, Obj(source=STR, target=STR, uid=STR, gid=STR, mode=NUM))),
    configs=List(OneOf(STR, Obj(source=STR, target=STR, uid=STR, gid=STR, mode=NUM))),
    extends=OneOf(STR, Obj(service=STR, file=STR)), ipc=STR, pid=OneOf(STR, NULL), mac_address=STR, oom_score_adj=INT,
    logging=Obj(driver=STR, options=Map(OneOf(STR, NUM, NULL))),
)
NETWORK = OneOf(NULL, Obj(
    driver=STR, driver_opts=Map(OneOf(STR, NUM)), external=OneOf(BOOL, Obj(name=STR)), name=STR, internal=BOOL,
    attachable=BOOL, enable_ipv6=BOOL, labels=LIST_OR_MAP,
    ipam=Obj(driver=STR, config=List(Obj(subnet=STR, gateway=STR, ip_range=STR, aux_addresses=Map(STR))),
             options=Map(STR)),
))
VOLUME_TOP = OneOf(NULL, Obj(driver=STR, driver_opts=Map(OneOf(STR, NUM)), external=OneOf(BOOL, Obj(name=STR)),
                             name=STR, labels=LIST_OR_MAP))
SECRET = Obj(file=STR, environment=STR, content=STR, external=OneOf(BOOL, Obj(name=STR)), name=STR,
             labels=LIST_OR_MAP, driver=STR, driver_opts=Map(OneOf(STR, NUM)), template_driver=STR)
FILE = Obj(version=OneOf(STR, NUM), name=STR, services=Map(SERVICE), networks=Map(NETWORK),
           volumes=Map(VOLUME_TOP), secrets=Map(SECRET), configs=Map(SECRET), include=List(OneOf(STR, Obj(path=STR_OR_STRS, project_directory=STR, env_file=STR_OR_STRS))))

_NAMES = {STR: "a string", INT: "an integer", BOOL: "a boolean", NUM: "a number", NULL: "null"}
_TRUE = ("true", "yes", "y", "on", "1")
_FALSE = ("false", "no", "n", "off", "0")


def _describe(spec: Any) -> str:
    if isinstance(spec, str):
        return _NAMES.get(spec, spec)
    kind, arg = spec
    if kind == "list":
        return "a list"
    if kind in ("map", "obj"):
        return "a mapping"
    names: list[str] = []
    for s in arg:
        d = _describe(s)
        if d not in names:
            names.append(d)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


class _Mismatch(Exception):
    pass


def _scalar(value: Any, spec: str) -> Any:
    if spec == STR:
        if isinstance(value, str):
            return value
    elif spec == NULL:
        if value is None:
            return None
    elif spec == BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
    elif spec == INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
    elif spec == NUM:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value) if value.strip().lstrip("-").isdigit() else float(value)
            except ValueError:
                pass
    raise _Mismatch


def check(value: Any, spec: Any, path: str) -> Any:
    """``value`` checked against ``spec`` (cast where allowed); ComposeError naming ``path`` otherwise."""
    if isinstance(spec, str):
        try:
            return _scalar(value, spec)
        except _Mismatch:
            raise ComposeError(f"{path} must be {_describe(spec)}") from None
    kind, arg = spec
    if kind == "oneof":
        # strings cast to numbers/booleans only when no branch takes the string as it is
        for strict in (True, False):
            for s in arg:
                if strict and isinstance(s, str) and s not in (STR, NULL) and isinstance(value, str):
                    continue
                if not _fits_shape(value, s):
                    continue
                try:
                    return check(value, s, path)
                except ComposeError:
                    if not isinstance(s, str):
                        raise  # the container type fitted: the error is inside it
        raise ComposeError(f"{path} must be {_describe(spec)}")
    if kind == "list":
        if not isinstance(value, list):
            raise ComposeError(f"{path} must be a list")
        return [check(v, arg, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, dict):
        raise ComposeError(f"{path} must be a mapping")
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str):
            raise ComposeError(f"{path} has a non-string key {k!r}")
        if k.startswith("x-"):
            continue
        child = f"{path}.{k}" if path else k
        if kind == "map":
            out[k] = check(v, arg, child)
        elif k not in arg:
            raise ComposeError(f"{path or '(root)'} additional properties '{k}' not allowed")
        else:
            out[k] = check(v, arg[k], child)
    return out


def _fits_shape(value: Any, spec: Any) -> bool:
    """Whether ``value`` is the right kind of node for ``spec`` (scalar, list or mapping)."""
    if isinstance(spec, str):
        return not isinstance(value, (list, dict))
    kind = spec[0]
    if kind == "list":
        return isinstance(value, list)
    if kind in ("map", "obj"):
        return isinstance(value, dict)
    return True


def check_file(tree: Any, where: str) -> dict[str, Any]:
    """One compose file checked against ``FILE``; errors start ``validating WHERE:``."""
    if tree is None:
        tree = {}
    if not isinstance(tree, dict):
        raise ComposeError(f"validating {where}: top-level object must be a mapping")
    try:
        checked: dict[str, Any] = check(tree, FILE, "")
    except ComposeError as exc:
        raise ComposeError(f"validating {where}: {exc.message}") from None
    return checked
