"""kobako registry serve|gc: run kobako's own registry (in this process, like ``docker-registry``).

This is the one command that does not talk to kobakod: it *is* a server, so it imports
kobako.registry lazily, only when run.
"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="COMMAND")
    s = sub.add_parser("serve", help="Serve the OCI distribution API")
    s.add_argument("--addr", default="127.0.0.1:5000", help="host:port to listen on (port 0: any free port)")
    s.add_argument("--root", default="/var/lib/kobako-registry", help="storage directory")
    s.add_argument("--htpasswd", help="htpasswd file: require Basic auth (bcrypt, {SHA})")
    s.add_argument("--token-realm", help="use the Docker token flow; 'self' = this registry's /token")
    s.add_argument("--token-service", default="kobako-registry", help="service name in tokens")
    s.add_argument("--token-secret", help="file holding the token signing secret (default: random)")
    s.add_argument("--tls-cert", help="certificate (PEM) to serve HTTPS")
    s.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    g = sub.add_parser("gc", help="Delete blobs no manifest references (run with the registry stopped)")
    g.add_argument("--root", default="/var/lib/kobako-registry", help="storage directory")
    g.add_argument("--dry-run", action="store_true", help="only report what would be deleted")
    g.add_argument("--delete-untagged", action="store_true", help="also delete manifests no tag reaches")


def run(args: _args.Namespace, client: Any) -> int:
    if args.action == "serve":
        from kobako.registry import ServeOptions, run_server

        if args.tls_cert and not args.tls_key:
            raise CommandError("--tls-cert needs --tls-key", 125)
        try:
            return int(run_server(ServeOptions(
                addr=args.addr, root=args.root, htpasswd=args.htpasswd, token_realm=args.token_realm,
                token_service=args.token_service, token_secret=args.token_secret,
                tls_cert=args.tls_cert, tls_key=args.tls_key)))
        except KeyboardInterrupt:
            return 0
        except OSError as exc:
            raise CommandError(f"kobako registry: {exc}") from None
    if args.action == "gc":
        from kobako.registry import RegistryStorage, collect

        result = collect(RegistryStorage(args.root), dry_run=args.dry_run, delete_untagged=args.delete_untagged)
        verb = "would delete" if args.dry_run else "deleted"
        for d in result.deleted:
            print(f"{verb} {d}")
        print(f"{len(result.marked)} blobs marked, {len(result.deleted)} {verb} ({result.freed} bytes)")
        return 0
    raise CommandError("Usage: kobako registry serve|gc [OPTIONS]", 1)
