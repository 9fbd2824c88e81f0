"""The ``interceptor`` command.

Every subcommand takes ``-c/--config FILE`` before or after its own arguments; the default is
``$INTERCEPTOR_CONFIG``, then ``./interceptor.yaml``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    p.add_argument(
        "--mysql-port",
        type=int,
        default=13306,
        help="gateway port for MySQL, if MariaDB is local (default: %(default)s)",
    )
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
    p = asub.add_parser("verify", help="check the hash chains (audit log and recordings) and name the first bad line")
    _add_config(p)
    p.add_argument("path", nargs="?", help="an audit log or a recording (default: the audit log and every recording)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("sessions", help="list recorded sessions, newest first")
    _add_config(p)
    p.add_argument("--limit", type=int, default=50, metavar="N", help="at most N sessions (default: %(default)s)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("replay", help="show a recorded session as a timeline")
    _add_config(p)
    p.add_argument("id", help="session id (from `interceptor sessions`)")
    p.add_argument("--json", action="store_true")

    from interceptor.store.approvals_cli import add_parsers as add_approvals_parsers

    add_approvals_parsers(sub, _add_config)
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
        if args.command == "sessions":
            return cmd_sessions(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "approvals":
            from interceptor.store.approvals_cli import cmd_approvals

            return cmd_approvals(args)
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
    from interceptor.service import serve

    return serve(config_mod.default_path(args.config))


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
    from interceptor import recording
    from interceptor.audit import records, verify

    if args.path:
        path = Path(args.path)
        if not path.exists():
            print(f"{path}: no such file", file=sys.stderr)
            return 1
        checked, problem = (recording.verify if recording.is_recording(path) else verify)(path)
        if args.json:
            print(
                json.dumps({"path": str(path), "lines": checked, "ok": problem is None, "problem": str(problem or "")})
            )
        elif problem is None:
            print(f"{path}: ok, {checked} lines, chain intact")
        else:
            print(f"{path}: BROKEN at {problem}", file=sys.stderr)
        return 0 if problem is None else 1
    cfg = _load(args)
    path, checked, problem = cfg.audit_log, 0, None
    if not path.exists():
        print(f"{path}: no audit log yet", file=sys.stderr)
    else:
        checked, problem = verify(path)
        if problem is not None:
            print(f"{path}: BROKEN at {problem}", file=sys.stderr)
        elif not args.json:
            print(f"{path}: ok, {checked} lines, chain intact")
    files = recording.recording_files(cfg.recordings)
    broken, unfinished = [], 0
    if path.exists() and problem is None:  # an intact audit log vouches for each closed recording's seal
        seals = {str(r["file"]): str(r["seal"]) for r in records(path) if r.get("type") == "recording"}
        for f, why in recording.seal_problems(cfg.recordings, seals):
            broken.append({"path": str(f), "lines": 0, "problem": why})
            if not args.json:
                print(f"{f}: BROKEN: {why}", file=sys.stderr)
    for f in files:
        lines, bad = recording.verify(f)
        if bad is not None:
            broken.append({"path": str(f), "lines": lines, "problem": str(bad)})
            if not args.json:
                print(f"{f}: BROKEN at {bad}", file=sys.stderr)
        elif (summary := recording.summarize(f)) is None or summary.ended_at is None:
            unfinished += 1
    ok = path.exists() and problem is None and not broken
    if args.json:
        audit_problem = str(problem or "") if path.exists() else "no audit log yet"
        report = {"path": str(path), "lines": checked, "ok": ok, "problem": audit_problem}
        recs = {"dir": str(cfg.recordings), "checked": len(files), "unfinished": unfinished, "broken": broken}
        print(json.dumps(report | {"recordings": recs}))
    else:
        open_note = f", {unfinished} without an end line (still open, or the gateway stopped)" if unfinished else ""
        print(
            f"{cfg.recordings}: {len(files)} recordings, {len(files) - len(broken)} intact, {len(broken)} broken"
            + open_note
        )
    return 0 if ok else 1


def cmd_sessions(args: argparse.Namespace) -> int:
    from interceptor.recording import list_sessions

    cfg = _load(args)
    found = list_sessions(cfg.recordings, max(args.limit, 0))
    if args.json:
        print(json.dumps([s.to_json() for s in found]))
        return 0
    if not found:
        print(f"no recorded sessions in {cfg.recordings}")
        return 0
    rows = [["ID", "STARTED", "IDENTITY", "CONNECTION", "CLIENT", "COMMANDS", "ENDED"]]
    for s in found:
        commands = "-" if s.commands is None else f"{s.commands}" + (f" ({s.denied} denied)" if s.denied else "")
        ended = "- (open or unfinished)" if s.ended_at is None else f"{_when(s.ended_at)} {s.reason}"
        rows.append([s.id, _when(s.started_at), f"{s.identity} ({s.kind})", s.connection, s.client, commands, ended])
    print("\n".join(_table([[_safe(c) for c in r] for r in rows])))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from interceptor import recording

    cfg = _load(args)
    path = recording.find(cfg.recordings, args.id)
    if path is None:
        print(f"interceptor: no recording of session {_safe(args.id)} in {cfg.recordings}", file=sys.stderr)
        return 1
    try:
        rec = recording.read(path)
    except (OSError, ValueError) as e:
        print(f"interceptor: {e}", file=sys.stderr)
        return 1
    _, problem = recording.verify(path)
    if args.json:
        print(json.dumps(rec.to_json() | {"verified": problem is None, "problem": str(problem or "")}))
    else:
        print("\n".join(_timeline(rec)))
        print(f"chain: intact ({path})" if problem is None else f"chain: BROKEN at {problem} ({path})")
    return 0 if problem is None else 1


# -- rendering for sessions and replay -------------------------------------------------------------------------------

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]} | {10: "\\n", 9: "\\t", 13: "\\r"}


def _safe(text: object, width: int = 0) -> str:
    """Recorded text with control characters escaped (a recording must not drive the terminal), optionally cut."""
    s = str(text).translate(_CONTROL)
    return s[: width - 3] + "..." if width and len(s) > width else s


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"


def _table(rows: list[list[str]], indent: str = "", rule: bool = False) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    if rule:  # a line under the column names
        rows = [rows[0], ["-" * w for w in widths], *rows[1:]]
    return [(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip() for r in rows]


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict):
        import base64

        return _safe("\\x" + base64.b64decode(str(value.get("b64", ""))).hex(), 40)
    return _safe(value, 40)


def _timeline(rec: Any) -> list[str]:
    h = rec.header
    ident, start = h.get("identity") or {}, float(h.get("started_at", 0.0))
    groups = ", ".join(ident.get("groups") or []) or "none"
    out = [
        f"session     {_safe(rec.session_id)}",
        f"identity    {_safe(ident.get('name'))} ({_safe(ident.get('kind'))}; groups: {_safe(groups)})",
        f"connection  {_safe(h.get('connection'))} ({_safe(h.get('protocol'))})",
        f"policy      {_safe(h.get('policy') or '(none)')}",
        f"client      {_safe(h.get('client'))}{' over TLS' if h.get('tls') else ''}",
        f"started     {_when(start)}",
        "",
    ]
    for e in rec.entries:
        at = f"+{float(e.get('ts', start)) - start:8.3f}s  #{e.get('command')}"
        if e["type"] == "command":
            why = f"  {_safe(e['reason'])}" if e.get("reason") else ""
            by = f"  (approved by {_safe(e['approved_by'])})" if e.get("approved_by") else ""
            src = ", ".join(f"{k} {_safe(e[k])}" for k in ("rule", "plugin") if e.get(k))
            src = f" [{src}]" if src else ""
            out.append(f"{at} {_safe(e.get('kind'))}  {str(e.get('action')).upper()}{why}{src}{by}")
            out += [f"{' ' * 14}{_safe(line)}" for line in str(e.get("text", "")).splitlines() or [""]]
        elif e["type"] == "result":
            rows, count = e.get("rows") or [], int(e.get("row_count", 0))
            shown = f", {len(rows)} recorded" if e.get("truncated") else ""
            out.append(f"{at} result  {_safe(e.get('status'))}: {count} row{'s' if count != 1 else ''}{shown}")
            names = [_safe(c.get("name"), 40) for c in e.get("columns") or []]
            if names:
                out += _table([names] + [[_cell(v) for v in r] for r in rows], " " * 14, rule=True)
        elif e["type"] == "error":
            out.append(f"{at} error {_safe(e.get('sqlstate'))}: {_safe(e.get('message'))}")
    if rec.end is None:
        out.append("(no end line: the session is still open, or the gateway stopped before it closed)")
    else:
        end, counts = rec.end, rec.end.get("counts") or {}
        tally = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("commands", "denied", "results", "errors"))
        out.append(f"+{float(end.get('ended_at', start)) - start:8.3f}s  end: {_safe(end.get('reason'))} ({tally})")
        out.append(f"ended       {_when(end.get('ended_at'))}, digest {end.get('digest')}")
    return out


if __name__ == "__main__":
    sys.exit(main())
