"""kobako build [OPTIONS] PATH | -   (like docker build with the legacy builder)

The context is sent as a tar stream (``kobako.build._sendctx``: filtered by its .dockerignore here on
the client; a Dockerfile outside the context is added under a private name). ``-`` reads a tar or a bare
Dockerfile from stdin.
"""

from __future__ import annotations

import posix  # not `os`: it (with posixpath, stat, _collections_abc) is ~2 ms of every build's start
import sys

from kobako.cli.main import CommandError
from kobako.client import stream_error
from kobako.client import _jsonc as json  # `json` imports `re`: milliseconds of every build

TYPE_CHECKING = False  # argparse and typing are not imported for annotations: start-up time
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--target", default="", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--cache-from", action="append", default=[], help="Images to consider as cache sources")
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success")
    p.add_argument("--iidfile", help="Write the image ID to the file")
    p.add_argument("--network", default="", help="Networking mode for the RUN instructions")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("--rm", default="true", help="Remove intermediate containers after a successful build")
    p.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("context", metavar="PATH | -")


def _pairs(items: list[str], what: str, env_fallback: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise CommandError(f"invalid {what}: {item!r}")
        if eq:
            out[key] = value
        elif env_fallback:
            got = posix.environ.get(key.encode())
            out[key] = None if got is None else got.decode("utf-8", "surrogateescape")
        else:
            out[key] = ""
    return out


def _context(root: str, dockerfile: str | None) -> tuple[Iterator[bytes], str]:
    from kobako.build._sendctx import ContextUnavailable, context_tar

    try:
        return context_tar(root, dockerfile)
    except ContextUnavailable as exc:
        raise CommandError(str(exc)) from None


def _chain(first: bytes, second: bytes, more: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from more


def run(args: argparse.Namespace, client: Any) -> int:
    query: dict[str, Any] = {"t": args.tag, "rm": 1, "forcerm": 1 if args.force_rm else 0}
    if args.context == "-":
        body: Any = sys.stdin.buffer
        query["dockerfile"] = args.file or "Dockerfile"
    else:
        chunks, name = _context(args.context, args.file)
        query["dockerfile"] = name
        first = next(chunks, b"")
        rest = next(chunks, None)
        if rest is None:
            body = first  # a small context: sent with the request head, in one write (Content-Length)
        else:
            body = _chain(first, rest, chunks)
    if args.build_arg:
        query["buildargs"] = json.dumps(_pairs(args.build_arg, "build-arg", True))
    if args.label:
        query["labels"] = json.dumps(_pairs(args.label, "label", False))
    if args.target:
        query["target"] = args.target
    if args.no_cache:
        query["nocache"] = 1
    if args.cache_from:
        query["cachefrom"] = json.dumps(args.cache_from)
    if args.network:
        query["networkmode"] = args.network
    if args.quiet:
        query["q"] = 1
    if args.pull:
        query["pull"] = 1
    if args.platform:
        query["platform"] = args.platform
    image_id = ""
    out = sys.stdout
    # shown as it arrives, with one flush per read from the daemon (not one write per line)
    for batch in client.jsonbatches("POST", "/build", query=query, body=body,
                                    headers={"Content-Type": "application/x-tar"}):
        for obj in batch:
            message = stream_error(obj)
            if message is not None:
                out.flush()
                raise CommandError(message, 1)
            if "stream" in obj and not args.quiet:
                out.write(obj["stream"])
            elif isinstance(obj.get("aux"), dict) and obj["aux"].get("ID"):
                image_id = obj["aux"]["ID"]
            elif obj.get("status"):
                out.write(obj["status"] + "\n")
        out.flush()
    if args.quiet and image_id:
        print(image_id)
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0
