"""kobako.cli._args: the CLI's flag parser, checked against argparse on every command's own flags, and
on the docker behaviours where it deliberately differs from argparse."""

from __future__ import annotations

import argparse
import importlib
import io
import random
from contextlib import redirect_stdout
from typing import Any

import pytest

from kobako.cli import _args
from kobako.cli.commands import network, system, volume
from kobako.cli.main import COMMANDS


def _configures() -> list[tuple[str, Any, bool]]:
    """(name, configure function, add_help) of every command and subcommand parser."""
    out = []
    for name, (modname, _) in COMMANDS.items():
        m = importlib.import_module(modname)
        out.append((name, m.configure, getattr(m, "ADD_HELP", True)))
    for sub, (configure, _fn) in network._SUBS.items():
        out.append((f"network {sub}", configure, True))
    for sub in ("create", "ls", "inspect", "rm", "prune"):
        out.append((f"volume {sub}", getattr(volume, f"_configure_{sub}"), True))
    return out


CONFIGURES = _configures()


def _word(rng: random.Random) -> str:
    return rng.choice(["a", "busybox", "x=1", "K=V", "/tmp/f", "c0", "8080:80", "1.5", "ünï", "a b", ""])


def _value(rng: random.Random, arg: Any) -> str:
    if arg.choices:
        return str(rng.choice(list(arg.choices)))
    if arg.type is int:
        return str(rng.randint(0, 300))
    return _word(rng)


def _sample(rng: random.Random, p: _args.ArgumentParser) -> list[str] | None:
    """A command line both parsers must read the same (or None if this parser has no such lines)."""
    opts: list[list[str]] = []
    for a in p.options:
        if a.action == "help" or a.nargs == "?" or rng.random() < 0.6:
            continue
        for _ in range(rng.randint(1, 2) if a.action == "append" else 1):
            short = [f for f in a.flags if len(f) == 2]
            flag = rng.choice(a.flags)
            if not a.takes_value:
                opts.append([flag])
                continue
            v = _value(rng, a)
            form = rng.randrange(3)
            if form == 0 or (form == 2 and not short):
                opts.append([flag, v])
            elif form == 1 and flag.startswith("--"):
                opts.append([f"{flag}={v}"])
            elif short and v and not v.startswith("="):
                opts.append([short[0] + v])
            else:
                opts.append([flag, v])
    # cluster some single short flags: -i -t -> -it
    flat: list[str] = []
    for o in opts:
        prev = flat[-1] if flat else ""
        if (len(o) == 1 and len(o[0]) == 2 and o[0][1] != "-" and prev.startswith("-") and not prev.startswith("--")
                and all(not p.flag_map["-" + c].takes_value for c in prev[1:]) and rng.random() < 0.5):
            flat[-1] = prev + o[0][1]
        else:
            flat.extend(o)
    pos: list[str] = []
    remainder: list[str] = []
    for a in p.positionals:
        if a.nargs is None:
            pos.append(_value(rng, a) or "x")
        elif a.nargs == "?":
            if rng.random() < 0.5:
                pos.append(_value(rng, a) or "x")
        elif a.nargs in ("*", "+"):
            pos += [_value(rng, a) or "x" for _ in range(rng.randint(1 if a.nargs == "+" else 0, 3))]
        else:
            remainder = [rng.choice(["sh", "-c", "--help", "-it", "echo hi", "--rm", "x"])
                         for _ in range(rng.randint(0, 4))]
    if p.subparsers is not None:
        return None
    if remainder or (p.positionals and p.positionals[-1].nargs == _args.REMAINDER):
        return flat + pos + remainder
    # argparse reads flags on either side of the positionals (not in between)
    cut = rng.randint(0, len(flat))
    while cut < len(flat) and cut > 0 and not flat[cut].startswith("-"):
        cut += 1
    return flat[:cut] + pos + flat[cut:]


@pytest.mark.parametrize("name,configure,add_help", CONFIGURES, ids=[c[0] for c in CONFIGURES])
def test_same_result_as_argparse(name: str, configure: Any, add_help: bool) -> None:
    ours = _args.ArgumentParser(prog=f"kobako {name}", add_help=add_help)
    theirs = argparse.ArgumentParser(prog=f"kobako {name}", add_help=add_help)
    configure(ours)
    configure(theirs)
    rng = random.Random(name)
    checked = 0
    for _ in range(150):
        argv = _sample(rng, ours)
        if argv is None:
            break
        expected = vars(theirs.parse_args(argv))
        assert vars(ours.parse_args(argv)) == expected, argv
        checked += 1
    assert checked or ours.subparsers is not None


def _parser() -> _args.ArgumentParser:
    p = _args.ArgumentParser(prog="kobako exec")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("--name")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs=_args.REMAINDER)
    return p


def test_docker_flag_forms() -> None:
    p = _parser()
    ns = p.parse_args(["-ite", "K=V", "-eA=1", "-e=B=2", "--env=C", "--name=x", "-n", "-1", "c0", "sh"])
    assert (ns.interactive, ns.tty, ns.env, ns.name, ns.last) == (True, True, ["K=V", "A=1", "B=2", "C"], "x", -1)
    assert p.parse_args(["--name", "-dash", "c0"]).name == "-dash"  # a value may start with "-"
    assert p.parse_args(["--tty=false", "-i=true", "c0"]).tty is False
    assert p.parse_args(["-i=1", "c0"]).interactive is True


def test_remainder_takes_everything_after_the_container() -> None:
    p = _parser()
    ns = p.parse_args(["-i", "c0", "sh", "-c", "--name", "-t", "--help"])
    assert ns.container == "c0" and ns.command == ["sh", "-c", "--name", "-t", "--help"] and not ns.tty
    assert p.parse_args(["c0", "--", "ls", "--", "-l"]).command == ["ls", "--", "-l"]
    assert p.parse_args(["--", "c0", "-t"]).command == ["-t"]
    assert p.parse_args(["c0"]).command == []


def test_flags_and_positionals_mix() -> None:
    p = _args.ArgumentParser(prog="kobako rm")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("containers", nargs="+")
    ns = p.parse_args(["c1", "-f", "c2"])  # argparse refuses this one; docker takes it
    assert ns.containers == ["c1", "c2"] and ns.force
    assert p.parse_args(["--", "-weird-name"]).containers == ["-weird-name"]


def test_default_list_is_not_mutated() -> None:
    p = _parser()
    first = p.parse_args(["-e", "A", "c0"])
    second = p.parse_args(["c0"])
    assert first.env == ["A"] and second.env == []


def test_errors_have_docker_messages_and_codes() -> None:
    p = _parser()
    cases = [
        (["--bogus", "c0"], "unknown flag: --bogus", 125),
        (["-x", "c0"], "unknown shorthand flag: 'x' in -x", 125),
        (["-n", "abc", "c0"], 'invalid argument "abc" for "-n, --last" flag: strconv.ParseInt', 125),
        (["--tty=maybe", "c0"], 'invalid argument "maybe" for "-t, --tty" flag', 125),
        (["c0", "--name"], None, None),  # after the container: the command's own
        (["--name"], "flag needs an argument: --name", 125),
        ([], '"kobako exec" requires at least 1 argument.', 1),
    ]
    for argv, message, code in cases:
        if message is None:
            assert p.parse_args(argv).command == ["--name"]
            continue
        with pytest.raises(_args.UsageError) as info:
            p.parse_args(argv)
        assert message in str(info.value) and info.value.code == code, argv
        assert "See 'kobako exec --help'." in str(info.value)
    q = _args.ArgumentParser(prog="kobako ps")
    q.add_argument("-a", "--all", action="store_true")
    with pytest.raises(_args.UsageError, match='"kobako ps" accepts no arguments.') as info:
        q.parse_args(["extra"])
    assert info.value.code == 1
    r = _args.ArgumentParser(prog="kobako rename")
    r.add_argument("old")
    r.add_argument("new")
    with pytest.raises(_args.UsageError, match='"kobako rename" requires exactly 2 arguments.'):
        r.parse_args(["a"])
    with pytest.raises(_args.UsageError, match='"kobako rename" requires exactly 2 arguments.'):
        r.parse_args(["a", "b", "c"])


def test_choices() -> None:
    p = _args.ArgumentParser(prog="kobako inspect")
    p.add_argument("--type", choices=["container", "image"])
    p.add_argument("names", nargs="+")
    assert p.parse_args(["--type", "image", "x"]).type == "image"
    with pytest.raises(_args.UsageError, match='invalid argument "volume" for "--type" flag: must be one of'):
        p.parse_args(["--type=volume", "x"])
    s = _args.ArgumentParser(prog="kobako system")
    s.add_argument("subcommand", choices=system.SUBS)
    s.add_argument("rest", nargs=_args.REMAINDER)
    assert vars(s.parse_args(["df", "-v"])) == {"subcommand": "df", "rest": ["-v"]}
    with pytest.raises(_args.UsageError, match="'kobako system nope' is not a valid command") as info:
        s.parse_args(["nope"])
    assert info.value.code == 1


def test_optional_value_flag_takes_a_value_only_with_equals() -> None:
    from kobako.cli.commands import commit

    p = _args.ArgumentParser(prog="kobako commit")
    commit.configure(p)
    assert vars(p.parse_args(["-p", "c0", "img"])) == {"author": "", "change": [], "message": "", "pause": True,
                                                       "container": "c0", "reference": "img"}
    assert p.parse_args(["--pause=false", "c0"]).pause is False
    assert p.parse_args(["-p=0", "c0"]).pause is False
    with pytest.raises(_args.UsageError, match='strconv.ParseBool: parsing "maybe"'):
        p.parse_args(["--pause=maybe", "c0"])


def test_subparsers() -> None:
    from kobako.cli.commands import builder, registry

    p = _args.ArgumentParser(prog="kobako registry")
    registry.configure(p)
    ns = p.parse_args(["serve", "--addr", "127.0.0.1:0", "--tls-cert=c"])
    assert (ns.action, ns.addr, ns.root, ns.tls_cert, ns.htpasswd) == (
        "serve", "127.0.0.1:0", "/var/lib/kobako-registry", "c", None)
    assert vars(p.parse_args(["gc", "--dry-run"])) == {"action": "gc", "root": "/var/lib/kobako-registry",
                                                      "dry_run": True, "delete_untagged": False}
    assert p.parse_args([]).action is None
    b = _args.ArgumentParser(prog="kobako builder")
    builder.configure(b)
    assert vars(b.parse_args(["prune", "-af"])) == {"action": "prune", "force": True, "all": True}
    with pytest.raises(_args.UsageError, match="'kobako builder nope' is not a valid command"):
        b.parse_args(["nope"])


def test_help_is_made_only_when_asked() -> None:
    from kobako.cli.commands import ps, pull

    p = _args.ArgumentParser(prog="kobako ps", description="List containers")
    ps.configure(p)
    q = _args.ArgumentParser(prog="kobako pull")
    pull.configure(q)
    buf = io.StringIO()
    with redirect_stdout(buf), pytest.raises(SystemExit) as info:
        p.parse_args(["-a", "--help"])
    assert info.value.code == 0
    text = buf.getvalue()
    assert text.startswith("Usage:  kobako ps [OPTIONS]\n\nList containers\n\nOptions:\n")
    assert "  -a, --all " in text and "  -n, --last int " in text and "  -f, --filter list " in text
    assert "      --format string " in text
    assert "--all-tags" not in q.format_help()  # help=SUPPRESS


def test_unsupported_uses_fail_loudly() -> None:
    p = _args.ArgumentParser()
    with pytest.raises(TypeError):
        p.add_argument("--x", action="extend")
    with pytest.raises(TypeError):
        p.add_argument("--y", nargs="+")
    with pytest.raises(TypeError):
        p.add_argument("pos", action="store_true")
    p.add_argument("--z")
    with pytest.raises(TypeError):
        p.add_argument("--z")


def test_command_using_more_of_argparse_falls_back_to_it() -> None:
    from types import SimpleNamespace

    from kobako.cli.main import build_parser

    def configure(p: Any) -> None:
        p.add_argument("--item", action="extend", nargs="+", default=[])

    parser = build_parser("x", SimpleNamespace(configure=configure))
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.parse_args(["--item", "a", "b"]).item == ["a", "b"]
    ours = build_parser("ps", importlib.import_module("kobako.cli.commands.ps"))
    assert isinstance(ours, _args.ArgumentParser)


def test_exec_requires_container_and_command_like_docker() -> None:
    import importlib

    from kobako.cli.main import build_parser

    p = build_parser("exec", importlib.import_module("kobako.cli.commands.exec"))
    with pytest.raises(_args.UsageError, match='"kobako exec" requires at least 2 arguments.') as info:
        p.parse_args([])
    assert info.value.code == 1
    assert p.parse_args(["c1", "ls", "-l"]).command == ["ls", "-l"]
