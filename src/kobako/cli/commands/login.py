"""kobako login [-u USER] [-p PASS | --password-stdin] [SERVER]

Credentials are checked by kobakod (``POST /auth``) and kept in Docker's config file
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``, base64 ``user:password`` under
``auths``), so kobako and the docker CLI share logins.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HUB_KEY = "https://index.docker.io/v1/"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def load_config() -> dict[str, Any]:
    try:
        obj = json.loads(config_path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CommandError(f"loading config file {config_path()}: {exc}") from None
    return obj if isinstance(obj, dict) else {}


def save_config(cfg: dict[str, Any]) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(server: str | None) -> str:
    """The ``auths`` key: Docker Hub's legacy URL, else the bare host[:port]."""
    if not server:
        return HUB_KEY
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return HUB_KEY
    return host


def credentials_for(domain: str) -> tuple[str, str] | None:
    """(user, password) stored for a registry domain (as in a reference: ``docker.io``, ``host:5000``)."""
    entry = (load_config().get("auths") or {}).get(server_key(domain))
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def registry_auth_header(domain: str) -> str:
    """``X-Registry-Auth``: base64url JSON credentials, ``e30=`` (``{}``) when anonymous."""
    creds = credentials_for(domain)
    obj: dict[str, str] = {}
    if creds is not None:
        obj = {"username": creds[0], "password": creds[1], "serveraddress": domain}
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-u", "--username", help="Username")
    p.add_argument("-p", "--password", help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.add_argument("server", nargs="?", help="Registry (default: Docker Hub)")


def run(args: _args.Namespace, client: Any) -> int:
    password = args.password
    if args.password_stdin:
        if password:
            raise CommandError("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    user = args.username
    if not user:
        if not sys.stdin.isatty():
            raise CommandError("Error: Cannot perform an interactive login from a non TTY device")
        user = input("Username: ").strip()
    if password is None:
        import getpass

        password = getpass.getpass("Password: ")
    if not user or not password:
        raise CommandError("Error: username and password are required")
    domain = server_key(args.server)
    serveraddress = args.server or HUB_KEY
    result = client.json("POST", "/auth", body={"username": user, "password": password,
                                                "serveraddress": serveraddress})
    cfg = load_config()
    cfg.setdefault("auths", {})[domain] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    save_config(cfg)
    print((result or {}).get("Status") or "Login Succeeded")
    return 0
