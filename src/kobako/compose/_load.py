"""From compose files to a :class:`Project`: find, read, interpolate, check, canonicalise, merge, resolve.

Each file is read (PyYAML, safe loader), interpolated with the environment (the process's over the
``.env`` file's), checked against ``_schema``, and canonicalised (short syntaxes to long ones, lists to
maps) so files merge as the compose specification says: mappings merge key by key; sequences append,
``ports`` unique by (host_ip, target, published, protocol) and ``volumes`` by target; ``command``,
``entrypoint`` and ``healthcheck.test`` are replaced.  Relative paths are taken from the project directory
(the first file's, or ``--project-directory``).  Then references are resolved and checked (networks,
volumes, depends_on, ``service:`` network modes, cycles) and services whose profiles are not enabled set aside.
"""

from __future__ import annotations

import copy
import os
import sys
from dataclasses import dataclass, field

from kobako.compose import _schema
from kobako.compose._errors import ComposeError
from kobako.compose._interp import chain_lookup, interpolate, parse_env_file
from kobako.compose.model import Project, normalize_project_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml",
                  "docker-compose.override.yml")
_REPLACED = ("command", "entrypoint")
_VALID_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_RESTART = ("no", "always", "on-failure", "unless-stopped")


@dataclass
class LoadOptions:
    files: list[str] = field(default_factory=list)
    project_name: str | None = None
    project_directory: str | None = None
    env_files: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    environ: dict[str, str] | None = None
    cwd: str | None = None
    stdin: Any = None
    warn: Callable[[str], None] | None = None
    # services named on the command line: their profiles count as enabled
    services: list[str] = field(default_factory=list)
    # --compatibility: compose v1's names (project_service_1, project_service images)
    compatibility: bool = False


def _warn_default(message: str) -> None:
    print(f"WARN[0000] {message}", file=sys.stderr)


def find_files(opts: LoadOptions, environ: dict[str, str]) -> list[str]:
    cwd = opts.cwd or os.getcwd()
    if opts.files:
        return [f if f == "-" else os.path.abspath(os.path.join(cwd, f)) for f in opts.files]
    if environ.get("COMPOSE_FILE"):
        sep = environ.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [os.path.abspath(os.path.join(cwd, f)) for f in environ["COMPOSE_FILE"].split(sep) if f]
    start = os.path.abspath(opts.project_directory or cwd)
    d = start
    while True:  # compose looks in the directory, then in its parents
        for name in DEFAULT_FILES:
            candidate = os.path.join(d, name)
            if os.path.isfile(candidate):
                found = [candidate]
                for override in OVERRIDE_FILES:
                    if os.path.isfile(os.path.join(d, override)):
                        found.append(os.path.join(d, override))
                        break
                return found
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    raise ComposeError("no configuration file provided: not found")


def _read_yaml(path: str, stdin: Any) -> Any:
    import yaml

    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise ComposeError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
    from kobako.compose._yaml import load

    try:
        return load(text)
    except yaml.YAMLError as exc:
        raise ComposeError(f"yaml: {path}: {exc}".replace("\n", " ")) from None


def _dotenv(paths: list[str], environ: dict[str, str], required: bool) -> dict[str, str]:
    values: dict[str, str] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            if required:
                raise ComposeError(f"couldn't find env file: {path}") from None
            continue
        except OSError as exc:
            raise ComposeError(f"failed to read {path}: {exc.strerror}") from None
        for k, v in parse_env_file(text, path, chain_lookup(environ, values)).items():
            if v is not None:
                values[k] = v
    return values


def load_project(opts: LoadOptions) -> Project:
    environ = dict(os.environ if opts.environ is None else opts.environ)
    warn = opts.warn or _warn_default
    cwd = opts.cwd or os.getcwd()
    # COMPOSE_* may come from the .env of the working (or given project) directory
    first_dir = os.path.abspath(os.path.join(cwd, opts.project_directory or "."))
    pre_env = _dotenv([os.path.join(first_dir, ".env")], environ, False) if not opts.env_files else \
        _dotenv([os.path.abspath(os.path.join(cwd, p)) for p in opts.env_files], environ, True)
    files = find_files(opts, {**pre_env, **environ})
    if opts.project_directory:
        project_dir = first_dir
    else:
        project_dir = os.path.dirname(files[0]) if files[0] != "-" else cwd
    if project_dir != first_dir and not opts.env_files:
        dotenv = _dotenv([os.path.join(project_dir, ".env")], environ, False)
    else:
        dotenv = pre_env
    env = {**dotenv, **environ}
    warned: set[str] = set()

    def warn_unset(name: str) -> None:
        if name not in warned:
            warned.add(name)
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')

    reader = _FileReader(chain_lookup(env), warn_unset, warn, env, opts.stdin, environ)
    merged: dict[str, Any] = {}
    for path in files:
        merged = merge(merged, reader.load(path, project_dir, []))
    name = _project_name(opts, env, merged, project_dir)
    return _resolve(merged, name, project_dir, [f for f in files], env, opts)


class _FileReader:
    """Reads one compose file into canonical form (cached), and resolves ``extends``."""

    def __init__(self, lookup: Callable[[str], str | None], warn_unset: Callable[[str], None],
                 warn: Callable[[str], None], env: dict[str, str], stdin: Any, environ: dict[str, str]) -> None:
        self.lookup, self.warn_unset, self.warn, self.env, self.stdin = lookup, warn_unset, warn, env, stdin
        self.environ = environ
        self.cache: dict[tuple[str, str], dict[str, Any]] = {}

    def read(self, path: str, base: str) -> dict[str, Any]:
        """``path`` parsed, interpolated, checked and canonicalised; relative paths from ``base``."""
        key = (path, base)
        if key in self.cache and path != "-":
            return copy.deepcopy(self.cache[key])
        where = "(stdin)" if path == "-" else path
        raw = _read_yaml(path, self.stdin)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ComposeError(f"validating {where}: top-level object must be a mapping")
        raw = {k: v for k, v in raw.items() if not (isinstance(k, str) and k.startswith("x-"))}
        tree = interpolate(raw, self.lookup, self.warn_unset)
        checked = _schema.check_file(tree, where)
        if "version" in checked:
            self.warn(f"{where}: the attribute `version` is obsolete, it will be ignored, please remove it to "
                      "avoid potential confusion")
        canon = _canonical_file(checked, where, base, self.env)
        canon.setdefault("services", {})
        if "include" in checked:
            canon["include"] = checked["include"]
        self.cache[key] = canon
        return copy.deepcopy(canon)

    def load(self, path: str, base: str, including: list[str]) -> dict[str, Any]:
        """One file with its ``extends`` resolved and its ``include`` entries brought in.

        Each included file is loaded as compose loads it: relative paths from its own directory (or the
        entry's ``project_directory``), its own includes followed; a resource it brings that the
        including file also defines is an error, as in compose."""
        canon = self.read(path, base)
        canon["services"] = {name: self.extend(name, svc, canon["services"], path, [])
                             for name, svc in canon["services"].items()}
        entries = canon.pop("include", None) or []
        where = "(stdin)" if path == "-" else path
        here = os.getcwd() if path == "-" else os.path.dirname(path)
        for i, entry in enumerate(entries):
            if isinstance(entry, str):
                entry = {"path": entry}
            paths = entry.get("path")
            if not paths:
                raise ComposeError(f"validating {where}: include[{i}].path is required")
            paths = [paths] if isinstance(paths, str) else list(paths)
            files = [_abs(p, here, self.env) for p in paths]
            sub_base = _abs(entry["project_directory"], here, self.env) if entry.get("project_directory") \
                else os.path.dirname(files[0])
            # the included project's variables: its env_file (default: .env in its directory), then
            # the process environment over them
            env_files = entry.get("env_file")
            env_files = [env_files] if isinstance(env_files, str) else list(env_files or [])
            env_paths = [_abs(e, here, self.env) for e in env_files] or [os.path.join(sub_base, ".env")]
            sub_env = {**_dotenv(env_paths, self.environ, bool(env_files)), **self.environ}
            reader = _FileReader(chain_lookup(sub_env), self.warn_unset, self.warn, sub_env, self.stdin, self.environ)
            sub: dict[str, Any] = {}
            for f in files:
                if f in including or f == path:
                    raise ComposeError(f"include cycle: {' -> '.join(including + [path, f])}")
                sub = merge(sub, reader.load(f, sub_base, including + [path]))
            for section in ("services", "networks", "volumes", "secrets", "configs"):
                for key, value in (sub.get(section) or {}).items():
                    mine = canon.setdefault(section, {})
                    if key in mine and mine[key] != value:
                        raise ComposeError(f"{section}.{key} conflicts with imported resource (included by {where} "
                                           f"from {files[0]})")
                    mine[key] = value
        return canon

    def extend(self, name: str, svc: dict[str, Any], services: dict[str, Any], path: str,
               chain: list[tuple[str, str]]) -> dict[str, Any]:
        """``svc`` merged over the service it ``extends`` (that one's own ``extends`` first).

        A service from another file has its relative paths taken from that file's directory; its
        ``depends_on`` and ``volumes_from`` are never inherited (the compose specification's rule)."""
        ext = svc.get("extends")
        if ext is None:
            return svc
        svc = {k: v for k, v in svc.items() if k != "extends"}
        target = ext if isinstance(ext, str) else ext.get("service")
        if not target:
            raise ComposeError(f"services.{name}.extends.service is required")
        if isinstance(ext, dict) and ext.get("file"):
            if path == "-":
                base_dir = os.getcwd()
            else:
                base_dir = os.path.dirname(path)
            other = _abs(ext["file"], base_dir, self.env)
            base_services = self.read(other, os.path.dirname(other))["services"]
            base_path = other
        else:
            base_services, base_path = services, path
        if target not in base_services:
            raise ComposeError(f'cannot extend service "{name}" in {path}: service "{target}" not found in '
                               f"{base_path}")
        link = (base_path, target)
        if link in chain:
            trail = " -> ".join(f"{t}" for _, t in chain + [link])
            raise ComposeError(f"circular reference with extends: {trail}")
        base = self.extend(target, copy.deepcopy(base_services[target]), base_services, base_path, chain + [link])
        for key in ("depends_on", "volumes_from"):
            base.pop(key, None)
        merged: dict[str, Any] = merge({"services": {name: base}}, {"services": {name: svc}})["services"][name]
        return merged


def _project_name(opts: LoadOptions, env: dict[str, str], tree: dict[str, Any], project_dir: str) -> str:
    sources = (("--project-name", opts.project_name), ("COMPOSE_PROJECT_NAME", env.get("COMPOSE_PROJECT_NAME")),
               ("name", tree.get("name")))
    for source, value in sources:
        if value:
            if normalize_project_name(value) != value:
                raise ComposeError(f'invalid project name "{value}" ({source}): must consist only of lowercase '
                                   "alphanumeric characters, hyphens, and underscores as well as start with a "
                                   "letter or number")
            return value
    name = normalize_project_name(os.path.basename(project_dir.rstrip("/")) or "default")
    if not name:
        raise ComposeError(f"project name must not be empty (directory {project_dir!r} gives none); use -p")
    return name


# -- canonical forms (per file, before merging) ---------------------------------------------------
def _as_map(value: Any, path: str, *, sep: str = "=", allow_none: bool = True) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: (None if v is None else _scalar_text(v)) for k, v in value.items()}
    out: dict[str, Any] = {}
    for i, item in enumerate(value):
        text = _scalar_text(item)
        k, eq, v = text.partition(sep)
        if not k:
            raise ComposeError(f"{path}[{i}]: invalid entry {text!r}")
        out[k] = v if eq else (None if allow_none else "")
    return out


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _abs(path: str, base: str, env: dict[str, str]) -> str:
    if path.startswith("~"):
        path = env.get("HOME", os.path.expanduser("~")) + path[1:]
    return os.path.normpath(os.path.join(base, path))


def parse_port(spec: Any, path: str) -> list[dict[str, Any]]:
    """Short port syntax to long entries: ``[[ip:][published[-range]]:]target[-range][/protocol]``."""
    if isinstance(spec, dict):
        entry = {"mode": spec.get("mode", "ingress"), "target": int(spec["target"])} if "target" in spec else None
        if entry is None:
            raise ComposeError(f"{path}.target is required")
        if spec.get("host_ip"):
            entry["host_ip"] = spec["host_ip"]
        if spec.get("published") not in (None, ""):
            entry["published"] = str(spec["published"])
        entry["protocol"] = spec.get("protocol", "tcp")
        if spec.get("name"):
            entry["name"] = spec["name"]
        if spec.get("app_protocol"):
            entry["app_protocol"] = spec["app_protocol"]
        return [entry]
    text = str(spec)
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        if proto not in ("tcp", "udp", "sctp"):
            raise ComposeError(f"{path}: invalid protocol {proto!r} in port {spec!r}")
    host_ip = ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise ComposeError(f"{path}: invalid port {spec!r}")
        host_ip, text = text[1:end], text[end + 2:]
        parts = text.split(":")
        if len(parts) == 1:
            parts = ["", parts[0]]
    else:
        parts = text.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        elif len(parts) > 3:
            raise ComposeError(f"{path}: invalid port {spec!r}")
    published, target = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
    targets = _port_range(target, spec, path)
    if published:
        pubs = _port_range(published, spec, path)
        if len(pubs) == 1 and len(targets) > 1:
            raise ComposeError(f"{path}: invalid port {spec!r}: a range of targets needs a range of published ports")
        if len(pubs) != len(targets):
            if len(targets) == 1:  # a published range for one target: compose keeps it as a range
                return [_port_entry(targets[0], published, host_ip, proto)]
            raise ComposeError(f"{path}: invalid port {spec!r}: ranges of different lengths")
        return [_port_entry(t, str(p), host_ip, proto) for t, p in zip(targets, pubs)]
    return [_port_entry(t, "", host_ip, proto) for t in targets]


def _port_range(text: str, spec: Any, path: str) -> list[int]:
    lo, dash, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if dash else a
    except ValueError:
        raise ComposeError(f"{path}: invalid port {spec!r}") from None
    if not (0 < a <= b <= 65535) and not (a == 0 and not dash):
        raise ComposeError(f"{path}: invalid port {spec!r}: out of range")
    return list(range(a, b + 1))


def _port_entry(target: int, published: str, host_ip: str, proto: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"mode": "ingress"}
    if host_ip:
        entry["host_ip"] = host_ip
    entry["target"] = target
    if published:
        entry["published"] = published
    entry["protocol"] = proto
    return entry


_BIND_OPTS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")


def parse_volume(spec: Any, path: str, base: str, env: dict[str, str]) -> dict[str, Any]:
    """Short volume syntax (``src:dst[:opts]``, ``dst``) or a long entry, canonicalised."""
    if isinstance(spec, dict):
        v = dict(spec)
        kind = v.get("type")
        if kind not in ("volume", "bind", "tmpfs", "npipe", "image", "cluster"):
            raise ComposeError(f"{path}.type must be one of volume, bind, tmpfs (got {kind!r})")
        if not v.get("target"):
            raise ComposeError(f"{path}.target is required")
        if kind == "bind":
            if not v.get("source"):
                raise ComposeError(f"{path}.source is required for a bind mount")
            v["source"] = _abs(v["source"], base, env)
        return v
    text = str(spec)
    parts = text.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    if len(parts) > 3:
        raise ComposeError(f"{path}: invalid volume specification {text!r}")
    source, target = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    if not source or not target or not target.startswith("/"):
        raise ComposeError(f"{path}: invalid volume specification {text!r}")
    is_bind = source.startswith((".", "/", "~"))
    entry: dict[str, Any] = {"type": "bind" if is_bind else "volume",
                             "source": _abs(source, base, env) if is_bind else source, "target": target}
    for opt in opts:
        if opt == "ro":
            entry["read_only"] = True
        elif opt == "rw":
            entry["read_only"] = False
        elif opt == "nocopy" and not is_bind:
            entry["volume"] = {"nocopy": True}
        elif opt in _BIND_OPTS and is_bind:
            entry.setdefault("bind", {})["propagation"] = opt
        elif opt in ("z", "Z") and is_bind:
            entry.setdefault("bind", {})["selinux"] = opt
        elif opt in ("cached", "delegated", "consistent"):
            entry["consistency"] = opt
        else:
            raise ComposeError(f"{path}: invalid mode {opt!r} in volume {text!r}")
    if is_bind:
        entry.setdefault("bind", {})["create_host_path"] = True
    return entry


def _canonical_service(svc: dict[str, Any], path: str, base: str, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in svc.items():
        kp = f"{path}.{key}"
        if key == "build":
            b = {"context": value} if isinstance(value, str) else dict(value)
            b.setdefault("context", ".")
            if "args" in b:
                b["args"] = _as_map(b["args"], kp + ".args")
            if "labels" in b:
                b["labels"] = _as_map(b["labels"], kp + ".labels", allow_none=False)
            out[key] = b
        elif key in ("environment",):
            out[key] = _as_map(value, kp)
        elif key in ("labels", "sysctls"):
            out[key] = _as_map(value, kp, allow_none=False)
        elif key == "extra_hosts":
            if isinstance(value, dict):
                out[key] = {k: str(v) for k, v in value.items()}
            else:
                hosts: dict[str, str] = {}
                for i, item in enumerate(value):
                    text = str(item)
                    sep = "=" if "=" in text else ":"
                    h, _, ip = text.partition(sep)
                    if not h or not ip:
                        raise ComposeError(f"{kp}[{i}]: invalid extra host {text!r} (want host:ip)")
                    hosts[h] = ip
                out[key] = hosts
        elif key in ("dns", "dns_search", "tmpfs"):
            out[key] = [value] if isinstance(value, str) else list(value)
        elif key == "env_file":
            items = [value] if isinstance(value, str) else value
            out[key] = [{"path": _abs(i, base, env), "required": True} if isinstance(i, str)
                        else {"path": _abs(i["path"], base, env), "required": i.get("required", True)} for i in items]
        elif key == "ports":
            out[key] = [e for i, p in enumerate(value) for e in parse_port(p, f"{kp}[{i}]")]
        elif key == "expose":
            out[key] = [str(x) for x in value]
        elif key == "volumes":
            out[key] = [parse_volume(v, f"{kp}[{i}]", base, env) for i, v in enumerate(value)]
        elif key in ("secrets", "configs"):
            out[key] = [{"source": v} if isinstance(v, str) else dict(v) for v in value]
        elif key == "networks":
            if isinstance(value, list):
                out[key] = {n: None for n in value}
            else:
                out[key] = dict(value)
        elif key == "depends_on":
            if isinstance(value, list):
                out[key] = {n: {"condition": "service_started", "required": True} for n in value}
            else:
                deps = {}
                for n, c in value.items():
                    cond = c.get("condition", "service_started")
                    if cond not in _VALID_CONDITIONS:
                        raise ComposeError(f"{kp}.{n}.condition must be one of {', '.join(_VALID_CONDITIONS)}")
                    deps[n] = {"condition": cond, "required": c.get("required", True)}
                    if "restart" in c:
                        deps[n]["restart"] = c["restart"]
                out[key] = deps
        elif key == "ulimits":
            out[key] = {n: ({"soft": v, "hard": v} if isinstance(v, int) else dict(v)) for n, v in value.items()}
        elif key in ("command", "entrypoint"):
            out[key] = _shell_words(value, kp) if isinstance(value, str) else value
        elif key == "healthcheck":
            hc = dict(value)
            if isinstance(hc.get("test"), str):
                hc["test"] = ["CMD-SHELL", hc["test"]]
            out[key] = hc
        elif key == "restart":
            name = value.split(":", 1)[0]
            if name not in _RESTART:
                raise ComposeError(f"{kp}: invalid restart policy {value!r}")
            out[key] = value
        else:
            out[key] = value
    return out


def _shell_words(text: str, path: str) -> list[str]:
    import shlex

    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ComposeError(f"{path}: {exc}") from None


def _canonical_file(tree: dict[str, Any], where: str, base: str, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in tree.items() if k not in ("services", "version")}
    try:
        out["services"] = {name: _canonical_service(svc or {}, f"services.{name}", base, env)
                           for name, svc in (tree.get("services") or {}).items()}
    except ComposeError as exc:
        raise ComposeError(f"validating {where}: {exc.message}") from None
    for top in ("secrets", "configs"):
        if top in tree:
            section = {}
            for k, v in (tree[top] or {}).items():
                v = dict(v or {})
                sources = [s for s in ("file", "environment", "content", "external") if v.get(s) not in (None, False)]
                if len(sources) != 1:
                    raise ComposeError(f"validating {where}: {top}.{k} needs exactly one of file, environment, "
                                       "content (or external)")
                if "file" in v:
                    v["file"] = _abs(v["file"], base, env)
                if v.get("external"):
                    raise ComposeError(f"validating {where}: {top}.{k}: external {top} need swarm mode, "
                                       "which kobako does not have")
                section[k] = v
            out[top] = section
    for top in ("networks", "volumes"):
        if top in tree:
            section = {}
            for k, v in (tree[top] or {}).items():
                v = dict(v or {})
                if "labels" in v:
                    v["labels"] = _as_map(v["labels"], f"{top}.{k}.labels", allow_none=False)
                section[k] = v
            out[top] = section
    return out


# -- merging -------------------------------------------------------------------------------------
def merge(base: Any, over: Any, path: str = "") -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            child = f"{path}.{k}" if path else k
            if k in out:
                out[k] = _merge_key(out[k], v, child, k)
            else:
                out[k] = v
        return out
    if isinstance(base, list) and isinstance(over, list):
        return base + [v for v in over if v not in base]
    return over


def _merge_key(base: Any, over: Any, path: str, key: str) -> Any:
    in_service = path.startswith("services.") and path.count(".") == 2
    if in_service and key in _REPLACED:
        return over
    if in_service and key == "healthcheck" and isinstance(base, dict) and isinstance(over, dict):
        merged = merge(base, {k: v for k, v in over.items() if k != "test"}, path)
        if "test" in over:
            merged["test"] = over["test"]
        return merged
    if in_service and key == "ports":
        return _merge_unique(base, over,
                             lambda p: (p.get("host_ip"), p["target"], p.get("published"), p.get("protocol")))
    if in_service and key == "volumes":
        return _merge_unique(base, over, lambda v: v["target"])
    return merge(base, over, path)


def _merge_unique(base: list[Any], over: list[Any], key: Callable[[Any], Any]) -> list[Any]:
    out = list(base)
    index = {key(v): i for i, v in enumerate(out)}
    for v in over:
        k = key(v)
        if k in index:
            out[index[k]] = merge(out[index[k]], v) if isinstance(v, dict) else v
        else:
            index[k] = len(out)
            out.append(v)
    return out


# -- resolution ----------------------------------------------------------------------------------
def _resolve(tree: dict[str, Any], name: str, project_dir: str, files: list[str], env: dict[str, str],
             opts: LoadOptions) -> Project:
    services: dict[str, dict[str, Any]] = tree.get("services") or {}
    if not services:
        raise ComposeError("no service selected" if tree.get("services") is not None else
                           "empty compose file: no services defined")
    profiles = set(opts.profiles)
    if not profiles and env.get("COMPOSE_PROFILES"):
        profiles = {p for p in env["COMPOSE_PROFILES"].split(",") if p}
    enabled: dict[str, dict[str, Any]] = {}
    disabled: dict[str, dict[str, Any]] = {}
    for sname, svc in services.items():
        svc_profiles = svc.get("profiles") or []
        on = not svc_profiles or "*" in profiles or bool(profiles & set(svc_profiles)) or sname in opts.services
        (enabled if on else disabled)[sname] = svc
    # dependencies of enabled services are enabled with them (compose activates them)
    changed = True
    while changed:
        changed = False
        for svc in list(enabled.values()):
            for dep in (svc.get("depends_on") or {}):
                if dep in disabled:
                    enabled[dep] = disabled.pop(dep)
                    changed = True
    networks_decl: dict[str, Any] = tree.get("networks") or {}
    volumes_decl: dict[str, Any] = tree.get("volumes") or {}
    used_networks: set[str] = set()
    used_volumes: set[str] = set()
    used_files: dict[str, set[str]] = {}
    for sname, svc in {**enabled, **disabled}.items():
        is_enabled = sname in enabled
        if not svc.get("image") and not svc.get("build"):
            raise ComposeError(f'service "{sname}" has neither an image nor a build context specified: '
                               "invalid compose project")
        if "build" in svc:
            b = svc["build"]
            b["context"] = _abs(b["context"], project_dir, env) if "://" not in b["context"] else b["context"]
            b.setdefault("dockerfile", "Dockerfile")
        _resolve_environment(svc, env, sname)
        mode = svc.get("network_mode")
        if mode and svc.get("networks"):
            raise ComposeError(f'service "{sname}" declares mutually exclusive `network_mode` and `networks`: '
                               "invalid compose project")
        if not mode:
            svc.setdefault("networks", {"default": None})
            for net, conf in svc["networks"].items():
                if net not in networks_decl and net != "default":
                    raise ComposeError(f'service "{sname}" refers to undefined network {net}: '
                                       "invalid compose project")
                if is_enabled:
                    used_networks.add(net)
                if conf is not None:
                    conf = dict(conf)
                    svc["networks"][net] = conf
        elif mode.startswith("service:") and mode[8:] not in services:
            raise ComposeError(f'service "{sname}" refers to undefined service {mode[8:]} in network_mode: '
                               "invalid compose project")
        for i, vol in enumerate(svc.get("volumes") or []):
            if vol["type"] == "volume" and vol.get("source"):
                if vol["source"] not in volumes_decl:
                    raise ComposeError(f'service "{sname}" refers to undefined volume {vol["source"]}: '
                                       "invalid compose project")
                if is_enabled:
                    used_volumes.add(vol["source"])
        for kind in ("secrets", "configs"):
            declared = tree.get(kind) or {}
            for ref in svc.get(kind) or []:
                if ref["source"] not in declared:
                    raise ComposeError(f'service "{sname}" refers to undefined {kind[:-1]} {ref["source"]}: '
                                       "invalid compose project")
                if is_enabled:
                    used_files.setdefault(kind, set()).add(ref["source"])
        for dep, cond in list((svc.get("depends_on") or {}).items()):
            if dep not in services:
                if cond.get("required", True):
                    raise ComposeError(f'service "{sname}" depends on undefined service "{dep}": '
                                       "invalid compose project")
                warn = opts.warn or _warn_default  # required: false - compose only warns
                warn(f'service "{sname}" depends on undefined service "{dep}" (not required): ignored')
                del svc["depends_on"][dep]
    _check_cycles(services)
    networks: dict[str, dict[str, Any]] = {}
    for key in sorted(set(networks_decl) | ({"default"} if "default" in used_networks else set())):
        conf = dict(networks_decl.get(key) or {})
        ext = conf.get("external")
        if isinstance(ext, dict):  # the old form external: {name: x}
            conf["name"] = ext.get("name") or conf.get("name")
            conf["external"] = True
        conf["name"] = conf.get("name") or (key if conf.get("external") else f"{name}_{key}")
        if key in used_networks:  # as compose: resources no enabled service uses are left out
            networks[key] = conf
    volumes: dict[str, dict[str, Any]] = {}
    for key, raw in volumes_decl.items():
        if key not in used_volumes:
            continue
        conf = dict(raw or {})
        ext = conf.get("external")
        if isinstance(ext, dict):
            conf["name"] = ext.get("name") or conf.get("name")
            conf["external"] = True
        conf["name"] = conf.get("name") or (key if conf.get("external") else f"{name}_{key}")
        volumes[key] = conf
    names_seen: dict[str, str] = {}
    for sname, svc in enabled.items():
        cname = svc.get("container_name")
        if cname:
            if cname in names_seen:
                raise ComposeError(f'services "{names_seen[cname]}" and "{sname}" have the same container_name '
                                   f'"{cname}": invalid compose project')
            names_seen[cname] = sname
    secrets = {k: v for k, v in (tree.get("secrets") or {}).items() if k in used_files.get("secrets", set())}
    configs = {k: v for k, v in (tree.get("configs") or {}).items() if k in used_files.get("configs", set())}
    for kind, section in (("secrets", secrets), ("configs", configs)):
        for key, conf in section.items():
            if "environment" in conf and env.get(conf["environment"]) is None:
                raise ComposeError(f'environment variable "{conf["environment"]}" of {kind[:-1]} "{key}" is not set')
            if "file" in conf and not os.path.exists(conf["file"]):
                raise ComposeError(f'{kind[:-1]} file {conf["file"]} not found: invalid compose project')
    return Project(name=name, working_dir=project_dir, config_files=files, services=enabled, networks=networks,
                   volumes=volumes, disabled=disabled, environment=env, secrets=secrets, configs=configs,
                   separator="_" if opts.compatibility else "-")


def _resolve_environment(svc: dict[str, Any], env: dict[str, str], sname: str) -> None:
    """env_file entries read in (``environment`` wins), and bare keys taken from the environment."""
    merged: dict[str, Any] = {}
    for entry in svc.get("env_file") or []:
        try:
            with open(entry["path"], encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            if entry.get("required", True):
                path = entry["path"]
                raise ComposeError(f"env file {path} not found: stat {path}: no such file or directory") from None
            continue
        for k, v in parse_env_file(text, entry["path"], chain_lookup(env)).items():
            merged[k] = env.get(k) if v is None else v
    merged.update(svc.get("environment") or {})
    for k, v in list(merged.items()):
        if v is None and k in env:
            merged[k] = env[k]
    if merged or "environment" in svc:
        svc["environment"] = merged
    svc.pop("env_file", None)


def _check_cycles(services: dict[str, dict[str, Any]]) -> None:
    state: dict[str, int] = {}

    def deps(n: str) -> list[str]:
        svc = services[n]
        out = list((svc.get("depends_on") or {}).keys())
        mode = svc.get("network_mode") or ""
        if mode.startswith("service:"):
            out.append(mode[8:])
        return out

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = trail[trail.index(n):] + [n]
            raise ComposeError("dependency cycle detected: " + " -> ".join(cycle))
        state[n] = 1
        for d in deps(n):
            if d in services:
                visit(d, trail + [n])
        state[n] = 2

    for n in sorted(services):
        visit(n, [])
