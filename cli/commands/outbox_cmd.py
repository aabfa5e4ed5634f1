"""``techmatch outbox deliver``: hand the messages waiting in the outbox to the delivery adapter.

The shipped adapter (``log``) writes each message to the log and marks it sent; a deployment plugs in its own
(an SMTP relay, the city's SMS gateway) as ``module:Class`` with one method ``send(message)``. Failures are
kept and retried on the next run, up to ``--max-attempts``. Run it from cron or a systemd timer."""

from __future__ import annotations

import argparse
import importlib

from graph.store import open_store


def _sender(spec: str):  # noqa: ANN202 - any object with send(message)
    from api.notifications import LoggingSender

    if spec == "log":
        return LoggingSender()
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"techmatch: 发送适配器应写作 模块:类名，例如 mycity.sms:Gateway（收到 {spec!r}）")
    return getattr(importlib.import_module(module), name)()


def _deliver(args: argparse.Namespace) -> int:
    from api.notifications import deliver_outbox

    sender = _sender(args.sender)
    with open_store(args.settings) as store:
        counts = deliver_outbox(store, sender, max_attempts=args.max_attempts, limit=args.limit)
    print(f"已发送 {counts['sent']} 条，失败 {counts['failed']} 条（失败的会在下次运行时重试）")
    return 1 if counts["failed"] else 0


def register(sub: argparse._SubParsersAction) -> None:
    outbox = sub.add_parser("outbox", help="通知的待发消息（邮件、短信）", description=__doc__.split("\n\n")[0])
    outbox_sub = outbox.add_subparsers(dest="outbox_command", metavar="COMMAND", required=True)
    deliver = outbox_sub.add_parser("deliver", help="把待发消息交给发送适配器")
    deliver.add_argument("--sender", default="log", help="log（默认：只写日志），或 模块:类名")
    deliver.add_argument("--max-attempts", type=int, default=5, help="一条消息最多尝试几次（默认 5）")
    deliver.add_argument("--limit", type=int, default=500, help="一次最多发送几条（默认 500）")
    deliver.set_defaults(func=_deliver)
