"""``<name>-shim access request|approve|deny|revoke|list``: elevation grants from a terminal.

A thin client of the running shim's grant endpoints (``/v1/access/grants``), so
the command line obeys exactly the rules the service enforces and every change
is in the audit chain like any other. Nothing here touches the store.

Where and as whom:

* ``--url`` or ``SHIM_URL`` [``http://127.0.0.1:8080``]: the shim's base URL;
* credentials from the environment, never from the command line (a key in
  ``argv`` ends up in shell history and process listings): ``SHIM_API_KEY``
  (sent as ``X-API-Key``) or ``SHIM_TOKEN`` (a JWT, sent as a bearer token), or
  ``--api-key-file FILE``: the bare key on its first line, or the file
  ``callers new-key > FILE`` writes (its ``key:`` line is read).

Exit codes: 0 done; 1 refused (the shim's reason is printed); 2 usage or
missing credentials; 3 the shim could not be reached or failed (5xx).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:8080"
GRANTS = "/v1/access/grants"
_REFUSED, _USAGE, _UNREACHABLE = 1, 2, 3


def _common(after_command: bool) -> argparse.ArgumentParser:
    """``--url``, ``--api-key-file`` and ``--json``, for before or after the command.

    Both places take them (``access --json list`` and ``access list --json``). After
    the command their defaults are SUPPRESS: argparse copies a subparser's defaults
    over what the main parser read, so a real default there would undo an option
    given before the command.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=default(os.environ.get("SHIM_URL", DEFAULT_URL)),
        help=f"the shim's base URL (default: SHIM_URL, else {DEFAULT_URL})",
    )
    common.add_argument(
        "--api-key-file",
        metavar="FILE",
        default=default(None),
        help="read the API key from FILE instead of SHIM_API_KEY: the bare key on its first "
        "line, or what `callers new-key > FILE` wrote",
    )
    common.add_argument(
        "--json", action="store_true", default=default(False), help="print the shim's JSON answer"
    )
    return common


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} access",
        description="Request, approve, deny, revoke and list elevation grants of the running "
        "shim. Credentials come from SHIM_API_KEY or SHIM_TOKEN (or --api-key-file). "
        "--url, --api-key-file and --json go before or after the command.",
        parents=[_common(after_command=False)],
        allow_abbrev=False,
    )
    # allow_abbrev=False here and in each command: "--api-key SECRET" must be an error, not
    # --api-key-file abbreviated (reading a file named after the key, the key now in argv)
    after = [_common(after_command=True)]
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = sub.add_parser(
        "request",
        help="ask for an elevated group (you must be eligible)",
        parents=after,
        allow_abbrev=False,
    )
    ask.add_argument("group")
    ask.add_argument("--reason", required=True, help="why (kept in the audit chain)")
    ask.add_argument("--seconds", type=int, help="duration once active (default: the maximum)")
    ask.add_argument("--ticket", help="a change or incident ticket")
    ask.add_argument(
        "--break-glass",
        action="store_true",
        help="emergency: active at once without approval; always alerts",
    )
    for action, what in (
        ("approve", "approve a pending grant (approvers only, never your own)"),
        ("deny", "deny a pending or queued grant (approvers only)"),
        ("revoke", "end a grant now (your own, or as an approver)"),
    ):
        one = sub.add_parser(action, help=what, parents=after, allow_abbrev=False)
        one.add_argument("grant", help="the grant id (g-...)")
        one.add_argument("--reason", help="a comment kept in the audit chain")
    sub.add_parser(
        "list",
        help="your grants, and those of the groups you approve",
        parents=after,
        allow_abbrev=False,
    )
    return parser


def _key_in(text: str) -> str:
    """The API key in an ``--api-key-file``'s text; ValueError names what is wrong with it.

    Two shapes: the bare key on the first line, or the file ``callers new-key > FILE``
    writes (a comment, ``key:  ...`` and ``hash: sha256:...``), which the README has
    every caller make; its ``key:`` line is read. Anything else is refused here rather
    than sent: a comment or hash line sent as the key is a bare 401 that says nothing
    about the file.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        label, sep, value = line.partition(":")
        if sep and label.strip() == "key" and value.strip():
            return value.strip()
    first = lines[0] if lines else ""
    if not first:
        raise ValueError("the file is empty")
    if first.startswith(("#", "sha256:", "hash:")) or any(c.isspace() for c in first):
        raise ValueError("the first line is not an API key")
    return first


def _credentials(args: argparse.Namespace, prog: str) -> dict[str, str] | None:
    if args.api_key_file:
        try:
            with open(args.api_key_file, encoding="utf-8") as handle:
                key = _key_in(handle.read(64 * 1024))
        except OSError as exc:
            print(f"error: --api-key-file: {exc.strerror or 'cannot read it'}", file=sys.stderr)
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            reason = exc if isinstance(exc, ValueError) else "the file is not text"
            print(
                f"error: --api-key-file {args.api_key_file}: {reason}; it must hold the bare "
                f"API key on its first line, or be what `{prog} callers new-key > FILE` "
                "wrote (its `key:` line is read)",
                file=sys.stderr,
            )
            return None
        return {"X-API-Key": key}
    if os.environ.get("SHIM_API_KEY"):
        return {"X-API-Key": os.environ["SHIM_API_KEY"]}
    if os.environ.get("SHIM_TOKEN"):
        return {"Authorization": f"Bearer {os.environ['SHIM_TOKEN']}"}
    return None


def _call(args: argparse.Namespace) -> tuple[str, str, dict[str, Any] | None]:
    """``(method, path, body)`` of the command."""
    if args.command == "list":
        return "GET", GRANTS, None
    if args.command == "request":
        body: dict[str, Any] = {"group": args.group, "reason": args.reason}
        if args.seconds is not None:
            body["seconds"] = args.seconds
        if args.ticket is not None:
            body["ticket"] = args.ticket
        if args.break_glass:
            body["break_glass"] = True
        return "POST", GRANTS, body
    comment = {"reason": args.reason} if args.reason else None
    return "POST", f"{GRANTS}/{quote(args.grant, safe='')}/{args.command}", comment


def _show(grant: dict[str, Any]) -> str:
    if grant.get("ended") and grant.get("state") in ("revoked", "denied"):
        # ended early: when, and by whom, not the end it no longer has
        by = f" by {grant['ended_by']}" if grant.get("ended_by") else ""
        when = f", {grant['state']} at {grant['ended']}{by}"
    else:
        when = f", until {grant['expires']}" if grant.get("expires") else ""
    glass = " BREAK-GLASS" if grant.get("break_glass") else ""
    approvals = f", approvals {len(grant['approved_by'])}/{grant['approvals_required']}"
    return f"{grant['id']}  {grant['group']}  {grant['state']}{glass}  {grant['caller']}{when}{approvals}"


def _asked(grant: dict[str, Any]) -> str:
    """What the requester asked for, for the approver reading ``list``: reason, ticket, time.

    Quoted as JSON strings, so a reason holding a control character (the service refuses
    them, a row edited in the store need not) cannot rewrite the terminal.
    """
    ticket = f", ticket {json.dumps(grant['ticket'])}" if grant.get("ticket") else ""
    seconds = f", {grant['seconds']} s" if grant.get("seconds") else ""
    return f"    reason {json.dumps(grant.get('reason') or '')}{ticket}{seconds}"


def main(argv: Sequence[str] | None = None, prog: str = "shim", client: Any = None) -> int:
    """Run one ``access`` command; ``client`` (an httpx client) replaces the URL in tests."""
    args = _parser(prog).parse_args(argv)
    headers = _credentials(args, prog)
    if headers is None and args.api_key_file:
        return _USAGE  # _credentials said what is wrong with the file
    if headers is None:
        print(
            "error: no credentials: set SHIM_API_KEY or SHIM_TOKEN, or pass --api-key-file",
            file=sys.stderr,
        )
        return _USAGE
    method, path, body = _call(args)
    try:
        if client is None:
            with httpx.Client(base_url=args.url, timeout=30.0) as http:
                answer = http.request(method, path, json=body, headers=headers)
        else:
            answer = client.request(method, path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        print(
            f"error: cannot reach the shim at {args.url}: {type(exc).__name__} "
            "(give its address with --url or SHIM_URL)",
            file=sys.stderr,
        )
        return _UNREACHABLE
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code >= 400:
        detail = data.get("detail") if isinstance(data, dict) else None
        print(f"refused ({answer.status_code}): {detail or answer.reason_phrase}", file=sys.stderr)
        for error in data.get("errors", []) if isinstance(data, dict) else []:
            print(f"  {error.get('pointer')}: {error.get('message')}", file=sys.stderr)
        return _UNREACHABLE if answer.status_code >= 500 else _REFUSED
    if args.json:
        print(answer.text)
    elif args.command == "list":
        if not data["grants"]:  # silence would read like a failure, or an unfinished command
            print("no grants: none of yours, nor of the groups you approve")
        for grant in data["grants"]:
            print(_show(grant))
            print(_asked(grant))
        if data["review"]:
            print(f"break-glass grants to review: {', '.join(data['review'])}")
    else:
        print(_show(data["grant"]))
        print(data["note"])
    return 0
