"""``<name>-shim access request|approve|deny|revoke|list``: elevation grants from a terminal.

A thin client of the running shim's grant endpoints (``/v1/access/grants``), so
the command line obeys exactly the rules the service enforces and every change
is in the audit chain like any other. Nothing here touches the store.

Where and as whom:

* ``--url`` or ``SHIM_URL`` [``http://127.0.0.1:8080``]: the shim's base URL;
* credentials from the environment, never from the command line (a key in
  ``argv`` ends up in shell history and process listings): ``SHIM_API_KEY``
  (sent as ``X-API-Key``) or ``SHIM_TOKEN`` (a JWT, sent as a bearer token), or
  ``--api-key-file FILE`` (the key on its first line).

Exit codes: 0 done; 1 refused (the shim's reason is printed); 2 usage or
missing credentials; 3 the shim could not be reached or failed (5xx).
"""

from __future__ import annotations

import argparse
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


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} access",
        description="Request, approve, deny, revoke and list elevation grants of the running "
        "shim. Credentials come from SHIM_API_KEY or SHIM_TOKEN (or --api-key-file).",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("SHIM_URL", DEFAULT_URL),
        help=f"the shim's base URL (default: SHIM_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--api-key-file", metavar="FILE", help="read the API key from FILE instead of SHIM_API_KEY"
    )
    parser.add_argument("--json", action="store_true", help="print the shim's JSON answer")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = sub.add_parser("request", help="ask for an elevated group (you must be eligible)")
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
        one = sub.add_parser(action, help=what)
        one.add_argument("grant", help="the grant id (g-...)")
        one.add_argument("--reason", help="a comment kept in the audit chain")
    sub.add_parser("list", help="your grants, and those of the groups you approve")
    return parser


def _credentials(args: argparse.Namespace) -> dict[str, str] | None:
    if args.api_key_file:
        try:
            with open(args.api_key_file, encoding="utf-8") as handle:
                key = handle.readline().strip()
        except OSError as exc:
            print(f"error: --api-key-file: {exc.strerror or 'cannot read it'}", file=sys.stderr)
            return None
        return {"X-API-Key": key} if key else None
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
    when = f", until {grant['expires']}" if grant.get("expires") else ""
    glass = " BREAK-GLASS" if grant.get("break_glass") else ""
    approvals = f", approvals {len(grant['approved_by'])}/{grant['approvals_required']}"
    return f"{grant['id']}  {grant['group']}  {grant['state']}{glass}  {grant['caller']}{when}{approvals}"


def main(argv: Sequence[str] | None = None, prog: str = "shim", client: Any = None) -> int:
    """Run one ``access`` command; ``client`` (an httpx client) replaces the URL in tests."""
    args = _parser(prog).parse_args(argv)
    headers = _credentials(args)
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
        print(f"error: cannot reach the shim at {args.url}: {type(exc).__name__}", file=sys.stderr)
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
        for grant in data["grants"]:
            print(_show(grant))
        if data["review"]:
            print(f"break-glass grants to review: {', '.join(data['review'])}")
    else:
        print(_show(data["grant"]))
        print(data["note"])
    return 0
