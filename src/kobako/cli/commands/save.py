"""kobako save [-o FILE] [--format docker-archive|oci-archive] IMAGE...  (like docker save)

``--format`` takes podman's names for the same choice (``docker``/``oci`` for short); docker's CLI
has no such flag and always writes a docker-archive, which stays the default here.
"""

from __future__ import annotations

import os
import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
    p.add_argument("--format", default="docker-archive", metavar="FORMAT",
                   help="docker-archive (default; also an OCI image layout) or oci-archive (OCI layout only)")
    p.add_argument("images", nargs="+", metavar="IMAGE")


_FORMATS = ("docker-archive", "docker", "oci-archive", "oci")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.client import ClientError

    if args.format.lower() not in _FORMATS:
        raise CommandError(f"unsupported format {args.format!r}: use docker-archive or oci-archive")
    if not args.output and sys.stdout.isatty():
        raise CommandError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if args.output:
        parent = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(parent):
            raise CommandError(f"failed to save image: invalid output path: directory \"{parent}\" "
                               "does not exist")
    query = {"names": args.images, "format": args.format.lower()}
    chunks = client.stream("GET", "/images/get", query=query)
    tmp = args.output + ".kobako-tmp" if args.output else ""
    try:
        if not args.output:
            out = sys.stdout.buffer
            for data in chunks:
                out.write(data)
            out.flush()
            return 0
        with open(tmp, "wb") as f:
            for data in chunks:
                f.write(data)
        os.replace(tmp, args.output)
    except ClientError as exc:
        raise CommandError(f"failed to save image: the daemon's stream broke off ({exc})") from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
    return 0
