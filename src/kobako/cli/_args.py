"""Command-line flags parsed the docker (pflag) way, behind argparse's calling convention.

Commands describe their flags with ``p.add_argument(...)`` exactly as for argparse, but this parser
costs a fraction of argparse's start-up (argparse imports ``re`` and ``gettext``, and builds a
``HelpFormatter`` for every ``add_argument``): an argument is a small record, and help text is made
only for ``--help``.  The subset kobako uses, and no more: actions ``store``, ``store_true``,
``store_false``, ``store_const``, ``append``, ``count``, ``help``; ``nargs`` ``None``/``?`` (options and
positionals), ``*``/``+``/``REMAINDER`` (positionals); ``type``, ``default``, ``dest``, ``choices``,
``metavar``, ``help`` (``SUPPRESS`` hides a flag), ``required``; ``add_subparsers``/``add_parser``.
Anything else is a ``TypeError`` at ``add_argument`` time, so an unsupported use fails in the tests.

Where argparse and docker differ, this follows docker:

* ``--name x``, ``--name=x``, ``-n x``, ``-nx``, ``-n=x``, combined short flags ``-it``, ``-ite K=V``;
  a flag's value is the next argument even when it starts with ``-`` (``--pids-limit -1``);
  boolean flags take an explicit value only with ``=`` (``--rm=false``, ``-d=true``); no abbreviations.
* flags and positionals mix (``rm c1 -f c2``), except that in a command with a ``REMAINDER``
  positional (run, create, exec, ...) everything after the positionals before it goes to it untouched,
  so a container's own ``-c``/``--help`` reach the container;
* ``--`` ends the flags;
* errors raise :class:`UsageError`: an unknown flag or a bad value exits 125 (``unknown flag: --x``,
  ``invalid argument "x" for "-n, --last" flag: ...``), a wrong number of arguments exits 1
  (``"kobako rm" requires at least 1 argument.``), each followed by ``See 'PROG --help'.``
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

REMAINDER = "..."
SUPPRESS = "==SUPPRESS=="
_VALUE_ACTIONS = ("store", "append")
_ACTIONS = ("store", "store_true", "store_false", "store_const", "append", "count", "help")
_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


class ArgumentTypeError(Exception):
    """Raised by a ``type=`` callable: its message is shown as is."""


class UsageError(Exception):
    """Bad command line: ``str(exc)`` is the message to print, ``code`` the exit status."""

    def __init__(self, message: str, code: int = 125) -> None:
        super().__init__(message)
        self.code = code


class Namespace:
    """The parsed values as attributes (like ``argparse.Namespace``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and vars(self) == vars(other)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


class Argument:
    """One ``add_argument``: an option (``flags`` non-empty) or a positional."""

    __slots__ = ("action", "choices", "const", "default", "dest", "flags", "help", "metavar", "nargs",
                 "required", "type")

    def __init__(self, flags: list[str], dest: str, action: str, nargs: str | None, const: Any, default: Any,
                 type: Callable[[str], Any] | None, choices: Sequence[Any] | None, required: bool,
                 help: str | None, metavar: str | None) -> None:
        self.flags = flags
        self.dest = dest
        self.action = action
        self.nargs = nargs
        self.const = const
        self.default = default
        self.type = type
        self.choices = choices
        self.required = required
        self.help = help
        self.metavar = metavar

    @property
    def takes_value(self) -> bool:
        return self.action in _VALUE_ACTIONS and self.nargs is None

    @property
    def name(self) -> str:
        """How messages name it: ``-n, --last`` or ``CONTAINER``."""
        return ", ".join(self.flags) if self.flags else (self.metavar or self.dest.upper())


class _Subparsers:
    def __init__(self, parent: ArgumentParser, dest: str | None, metavar: str | None) -> None:
        self.parent = parent
        self.dest = dest
        self.metavar = metavar or "COMMAND"
        self.parsers: dict[str, ArgumentParser] = {}
        self.helps: dict[str, str] = {}

    def add_parser(self, name: str, help: str | None = None, description: str | None = None,
                   add_help: bool = True) -> ArgumentParser:
        p = ArgumentParser(prog=f"{self.parent.prog} {name}", description=description or help, add_help=add_help)
        self.parsers[name] = p
        self.helps[name] = help or ""
        return p


class ArgumentParser:
    def __init__(self, prog: str | None = None, description: str | None = None, add_help: bool = True) -> None:
        self.prog = prog or "kobako"
        self.description = description
        self.options: list[Argument] = []
        self.positionals: list[Argument] = []
        self.flag_map: dict[str, Argument] = {}
        self.subparsers: _Subparsers | None = None
        self.min_args: int | None = None  # docker's RequiresMinArgs when a REMAINDER counts (exec: 2)
        if add_help:
            self.add_argument("-h", "--help", action="help", help="Print usage")

    # -- describing ---------------------------------------------------------------------------
    def add_argument(self, *names: str, action: str = "store", nargs: str | None = None, const: Any = None,
                     default: Any = None, type: Callable[[str], Any] | None = None,
                     choices: Sequence[Any] | None = None, required: bool = False, help: str | None = None,
                     metavar: str | None = None, dest: str | None = None) -> Argument:
        if action not in _ACTIONS:
            raise TypeError(f"unsupported action {action!r}")
        if not names:
            raise TypeError("add_argument() needs a name")
        flags = [n for n in names if n.startswith("-")]
        if flags and len(flags) != len(names):
            raise TypeError(f"mixed option and positional names: {names}")
        if flags:
            if nargs not in (None, "?") or (nargs == "?" and action != "store"):
                raise TypeError(f"unsupported nargs {nargs!r} for option {flags[0]}")
            for f in flags:
                if f in self.flag_map:
                    raise TypeError(f"conflicting option string: {f}")
                if not f.startswith("--") and len(f) != 2:
                    raise TypeError(f"a short option is one character: {f}")
            if dest is None:
                long = next((f for f in flags if f.startswith("--")), flags[0])
                dest = long.lstrip("-").replace("-", "_")
        else:
            if len(names) != 1 or dest is not None:
                raise TypeError("a positional has one name and no dest")
            if action != "store" or nargs not in (None, "?", "*", "+", REMAINDER):
                raise TypeError(f"unsupported positional {names[0]!r}")
            if self.positionals and self.positionals[-1].nargs == REMAINDER:
                raise TypeError("nothing may follow a REMAINDER positional")
            if nargs == REMAINDER and any(p.nargs is not None for p in self.positionals):
                raise TypeError("only single positionals may precede a REMAINDER one")
            dest = names[0]
        if action in ("store_true", "store_false"):
            const, default = action == "store_true", (action != "store_true") if default is None else default
        arg = Argument(flags, dest, action, nargs, const, default, type, choices, required, help, metavar)
        if flags:
            self.options.append(arg)
            for f in flags:
                self.flag_map[f] = arg
        else:
            self.positionals.append(arg)
        return arg

    def add_subparsers(self, dest: str | None = None, metavar: str | None = None, title: str | None = None,
                       help: str | None = None) -> _Subparsers:
        if self.subparsers is not None or any(p.nargs is not None for p in self.positionals):
            raise TypeError("unsupported subparsers layout")
        self.subparsers = _Subparsers(self, dest, metavar)
        return self.subparsers

    # -- parsing ------------------------------------------------------------------------------
    def error(self, message: str, code: int = 125) -> NoReturn:
        raise UsageError(f"{message}\nSee '{self.prog} --help'.", code)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Namespace | None = None) -> Namespace:
        argv = list(sys.argv[1:] if args is None else args)
        ns = namespace if namespace is not None else Namespace()
        for a in self.options:
            if a.action != "help" and not hasattr(ns, a.dest):
                setattr(ns, a.dest, a.default)
        # A command with a REMAINDER positional (run, exec, ...) stops reading flags once the positionals
        # before it are in; one with subcommands hands everything from the subcommand's name on to it.
        remainder = bool(self.positionals) and self.positionals[-1].nargs == REMAINDER
        stop_at = len(self.positionals) - 1 if remainder else len(self.positionals) if self.subparsers else -1
        values: list[str] = []
        rest: list[str] | None = None
        seen: set[str] = set()
        flags_done = False
        i = 0
        while i < len(argv):
            if remainder and stop_at and len(values) == stop_at:
                rest = argv[i + 1 :] if argv[i] == "--" and not flags_done else argv[i:]
                break
            a = argv[i]
            i += 1
            if flags_done or a == "-" or not a.startswith("-"):
                if len(values) == stop_at:  # the subcommand (or a REMAINDER with nothing before it)
                    rest = argv[i - 1 :]
                    break
                values.append(a)
            elif a == "--":
                flags_done = True
            elif a.startswith("--"):
                name, eq, value = a.partition("=")
                arg = self.flag_map.get(name)
                if arg is None:
                    self.error(f"unknown flag: {name}")
                if arg.takes_value and not eq:
                    if i >= len(argv):
                        self.error(f"flag needs an argument: {name}")
                    value = argv[i]
                    i += 1
                self._apply(ns, arg, value if (eq or arg.takes_value) else None, seen)
            else:
                i = self._short_cluster(ns, a, argv, i, seen)
        for a in self.options:
            if a.required and a.dest not in seen:
                self.error(f'required flag(s) "{a.flags[-1].lstrip("-")}" not set')
            if a.dest not in seen and isinstance(a.default, str) and a.type is not None:
                setattr(ns, a.dest, self._convert(a, a.default))
        self._assign_positionals(ns, values, rest)
        return ns

    def _short_cluster(self, ns: Namespace, a: str, argv: list[str], i: int, seen: set[str]) -> int:
        j = 1
        while j < len(a):
            name = "-" + a[j]
            arg = self.flag_map.get(name)
            if arg is None:
                self.error(f"unknown shorthand flag: '{a[j]}' in {a}")
            tail = a[j + 1 :]
            if arg.takes_value:
                if tail:
                    value = tail[1:] if tail.startswith("=") else tail
                elif i < len(argv):
                    value, i = argv[i], i + 1
                else:
                    self.error(f"flag needs an argument: '{a[j]}' in -{a[j]}")
                self._apply(ns, arg, value, seen)
                return i
            if tail.startswith("="):
                self._apply(ns, arg, tail[1:], seen)
                return i
            self._apply(ns, arg, None, seen)
            j += 1
        return i

    def _apply(self, ns: Namespace, arg: Argument, value: str | None, seen: set[str]) -> None:
        """One occurrence of an option; ``value`` None when none was given (flags, ``nargs="?"``)."""
        action = arg.action
        if action == "help":
            self.print_help()
            raise SystemExit(0)
        if action in ("store_true", "store_false"):
            if value is None:
                result: Any = arg.const
            elif value in _TRUE or value in _FALSE:
                result = (value in _TRUE) == (action == "store_true")
            else:
                self.error(f'invalid argument "{value}" for "{arg.name}" flag: strconv.ParseBool: '
                           f'parsing "{value}": invalid syntax')
        elif action == "store_const":
            if value is not None:
                self.error(f'flag takes no value: {arg.flags[-1]}')
            result = arg.const
        elif action == "count":
            if value is not None:
                self.error(f'flag takes no value: {arg.flags[-1]}')
            result = (getattr(ns, arg.dest, None) or 0) + 1
        elif value is None:  # nargs="?" without a value
            result = arg.const
        else:
            result = self._convert(arg, value)
            if action == "append":
                previous = getattr(ns, arg.dest, None)
                result = [*(previous or []), result]  # a copy: the default list is never mutated
        seen.add(arg.dest)
        setattr(ns, arg.dest, result)

    def _convert(self, arg: Argument, value: str) -> Any:
        result: Any = value
        if arg.type is not None:
            try:
                result = arg.type(value)
            except ArgumentTypeError as exc:
                self.error(str(exc))
            except (TypeError, ValueError):
                if arg.type is int:
                    reason = f'strconv.ParseInt: parsing "{value}": invalid syntax'
                else:
                    reason = f"invalid {getattr(arg.type, '__name__', 'value')} value"
                self.error(f'invalid argument "{value}" for "{arg.name}" flag: {reason}')
        if arg.choices is not None and result not in arg.choices:
            if arg.flags:
                choices = ", ".join(str(c) for c in arg.choices)
                self.error(f'invalid argument "{value}" for "{arg.name}" flag: must be one of {choices}')
            self.error(f"'{self.prog} {value}' is not a valid command: choose from "
                       + ", ".join(str(c) for c in arg.choices), 1)
        return result

    def _assign_positionals(self, ns: Namespace, values: list[str], rest: list[str] | None) -> None:
        plain = [p for p in self.positionals if p.nargs != REMAINDER]
        minimum = [0 if p.nargs in ("?", "*") else 1 for p in plain]
        n = len(values)
        pos = 0
        for k, p in enumerate(plain):
            left, need_after = n - pos, sum(minimum[k + 1 :])
            if p.nargs is None or p.nargs == "?":
                take = 1 if left > need_after or (p.nargs is None and left > 0) else 0
            else:
                take = max(left - need_after, 0)
            if take < minimum[k]:
                self._count_error(n)
            chunk = values[pos : pos + take]
            pos += take
            if p.nargs is None:
                setattr(ns, p.dest, self._convert(p, chunk[0]))
            elif p.nargs == "?":
                setattr(ns, p.dest, self._convert(p, chunk[0]) if chunk else p.default)
            elif chunk or p.nargs == "+":
                setattr(ns, p.dest, [self._convert(p, v) for v in chunk])
            else:
                setattr(ns, p.dest, p.default if p.default is not None else [])
        if pos < n:
            self._count_error(n)
        if self.positionals and self.positionals[-1].nargs == REMAINDER:
            setattr(ns, self.positionals[-1].dest, list(rest or []))
        elif self.subparsers is not None:
            self._subcommand(ns, rest)

    def _subcommand(self, ns: Namespace, rest: list[str] | None) -> None:
        sub = self.subparsers
        assert sub is not None
        if not rest:
            if sub.dest:
                setattr(ns, sub.dest, None)
            return
        name, *more = rest
        parser = sub.parsers.get(name)
        if parser is None:
            self.error(f"'{self.prog} {name}' is not a valid command: choose from {', '.join(sub.parsers)}", 1)
        if sub.dest:
            setattr(ns, sub.dest, name)
        parser.parse_args(more, ns)

    def _count_error(self, n: int) -> NoReturn:
        lo = self.min_args or sum(0 if p.nargs in ("?", "*", REMAINDER) else 1 for p in self.positionals)
        unbounded = any(p.nargs in ("*", "+", REMAINDER) for p in self.positionals)
        hi = len([p for p in self.positionals if p.nargs != REMAINDER])
        if n < lo:
            if unbounded or lo != hi:
                what = f"requires at least {lo} argument{'s' if lo != 1 else ''}."
            else:
                what = f"requires exactly {lo} argument{'s' if lo != 1 else ''}."
        elif hi == 0:
            what = "accepts no arguments."
        elif lo == hi:
            what = f"requires exactly {lo} argument{'s' if lo != 1 else ''}."
        else:
            what = f"requires at most {hi} argument{'s' if hi != 1 else ''}."
        self.error(f'"{self.prog}" {what}', 1)

    # -- help ---------------------------------------------------------------------------------
    def format_usage(self) -> str:
        words = [f"Usage:  {self.prog}"]
        if any(a.action != "help" and a.help != SUPPRESS for a in self.options):
            words.append("[OPTIONS]")
        for p in self.positionals:
            m = p.metavar or p.dest.upper()
            words.append({None: m, "?": f"[{m}]", "*": f"[{m}...]", "+": f"{m} [{m}...]",
                          REMAINDER: f"[{m}...]"}[p.nargs])
        if self.subparsers is not None:
            words.append(self.subparsers.metavar)
        return " ".join(words)

    def format_help(self) -> str:
        lines = [self.format_usage(), ""]
        if self.description:
            lines += [self.description, ""]
        if self.subparsers is not None and self.subparsers.parsers:
            lines.append("Commands:")
            width = max(len(n) for n in self.subparsers.parsers) + 2
            lines += [f"  {n.ljust(width)}{h}" for n, h in self.subparsers.helps.items()]
            lines.append("")
        rows = []
        for a in self.options:
            if a.help == SUPPRESS:
                continue
            short = [f for f in a.flags if not f.startswith("--")]
            long = [f for f in a.flags if f.startswith("--")]
            text = ", ".join(short + long[:1]) if short else "    " + ", ".join(long[:1] or a.flags)
            if a.takes_value:
                text += " " + (a.metavar or ("list" if a.action == "append" else
                                             "int" if a.type is int else "string"))
            rows.append((text, a.help or ""))
        if rows:
            width = max(len(t) for t, _ in rows) + 3
            lines.append("Options:")
            lines += [f"  {t.ljust(width)}{h}".rstrip() for t, h in rows]
            lines.append("")
        return "\n".join(lines)

    def print_help(self, file: Any = None) -> None:
        (file or sys.stdout).write(self.format_help() + "\n")
