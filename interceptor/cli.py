"""The ``interceptor`` command.

Every subcommand takes ``-c/--config FILE`` before or after its own arguments; the default is
``$INTERCEPTOR_CONFIG``, then ``./interceptor.yaml``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from interceptor import __version__
from interceptor import config as config_mod


def _add_config(p: argparse.ArgumentParser, top: bool = False) -> None:
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=None if top else argparse.SUPPRESS,
        help="config file (default: $INTERCEPTOR_CONFIG, then ./interceptor.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interceptor", description="A Layer-7 access gateway.")
    parser.add_argument("--version", action="version", version=f"interceptor {__version__}")
    _add_config(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="serve in the foreground")
    _add_config(p)
    p = sub.add_parser("check", help="validate the config and report the first error with its line and key")
    _add_config(p)
    p = sub.add_parser("demo", help="seed a demo database, write a demo config and run the gateway on it")
    _add_config(p)
    p.add_argument("--dir", default=".interceptor-demo", help="where the demo keeps its files (default: %(default)s)")
    p.add_argument("--port", type=int, default=15432, help="gateway port for PostgreSQL (default: %(default)s)")
    p.add_argument("--setup-only", action="store_true", help="seed and write the config, then exit")

    token = sub.add_parser("token", help="gateway tokens")
    tsub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = tsub.add_parser("new", help="print a fresh token once, with the hash line to paste into the config")
    _add_config(p)
    p.add_argument("name", help="identity name")
    p.add_argument("--kind", default="agent", choices=["agent", "human", "service"])
    p.add_argument("--group", action="append", default=[], help="group (repeatable)")
    p.add_argument("--json", action="store_true")

    audit = sub.add_parser("audit", help="the audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = asub.add_parser("verify", help="check the hash chain and name the first bad line")
    _add_config(p)
    p.add_argument("path", nargs="?", help="audit log (default: audit_log from the config)")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "demo":
            from interceptor.demo import run_demo

            return int(run_demo(args))
        if args.command == "token":
            return int(cmd_token_new(args))
        if args.command == "audit":
            return cmd_audit_verify(args)
    except config_mod.ConfigError as e:
        print(f"interceptor: {e}", file=sys.stderr)
        return 2
    return 2


def _load(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(config_mod.default_path(args.config))


def cmd_check(args: argparse.Namespace) -> int:
    from twisted.internet.task import Clock

    from interceptor.pipeline import Pipeline, PluginLoadError, load_plugins, new_plugin_manager

    path = config_mod.default_path(args.config)
    try:
        cfg = config_mod.load(path)
        pm = new_plugin_manager()
        load_plugins(pm, cfg.plugins, cfg.disabled_plugins)
        Pipeline(pm).configure(cfg, Clock())  # plugins validate their settings; nothing is started
    except (config_mod.ConfigError, PluginLoadError) as e:
        print(f"{e}", file=sys.stderr)
        return 1
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
        return 1
    print(f"{path}: ok ({len(cfg.identities)} identities, {len(cfg.connections)} connections)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor

    from interceptor import logs
    from interceptor.service import Gateway

    path = config_mod.default_path(args.config)
    cfg = config_mod.load(path)
    logs.start(cfg.log_level, cfg.log_format)
    gateway = Gateway(cfg, reactor)
    gateway.install_signal_handlers(path)
    reactor.callWhenRunning(gateway.startService)
    reactor.addSystemEventTrigger("before", "shutdown", gateway.stopService)
    reactor.run()
    return 0


def cmd_token_new(args: argparse.Namespace) -> int:
    from interceptor.identity import hash_token, new_token

    token = new_token()
    hashed = hash_token(token)
    entry = {"name": args.name, "kind": args.kind, "groups": args.group, "token_hash": hashed}
    if args.json:
        print(json.dumps({"token": token, "identity": entry}))
        return 0
    groups = ", ".join(args.group)
    print(f"token (shown once, give it to {args.name}): {token}")
    print("paste this under identities: in the config:")
    print(f'  - {{name: {args.name}, kind: {args.kind}, groups: [{groups}], token_hash: "{hashed}"}}')
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from interceptor.audit import verify

    path = Path(args.path) if args.path else _load(args).audit_log
    if not path.exists():
        print(f"{path}: no audit log yet", file=sys.stderr)
        return 1
    checked, problem = verify(path)
    if args.json:
        print(json.dumps({"path": str(path), "lines": checked, "ok": problem is None, "problem": str(problem or "")}))
    elif problem is None:
        print(f"{path}: ok, {checked} lines, chain intact")
    else:
        print(f"{path}: BROKEN at {problem}", file=sys.stderr)
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
