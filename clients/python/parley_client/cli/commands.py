"""The built-in commands: one function each, registered by name."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from parley_client import blocks, local
from parley_client.cli.context import Context, UsageError
from parley_client.cli.registry import REGISTRY, command
from parley_client.errors import CommandSentError, NotFoundError
from parley_client.models import LiveEvent, MessageView

REGISTRY.group("chat", "create a chat")
REGISTRY.group("ext", "extensions: the registered ones, and a chat's installs")


def _chat_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chat", metavar="CHAT", help="the chat's id")


def _json_flag(parser: argparse.ArgumentParser, what: str = "print JSON, one object a line") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def _login_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user", metavar="USER", help="user id (letters, digits, '-', '_' or '.')")
    parser.add_argument("--name", help="display name (default: USER)")
    parser.add_argument("--group", action="append", default=[], help="a group, e.g. operators (repeatable)")
    parser.add_argument(
        "--token", help="keep this token (e.g. a deployed stack's) instead of asking /local/token"
    )


@command(
    "login", "sign in to the local stack (/local/token) and keep the token in the config file", _login_args
)
def login(ctx: Context, args: argparse.Namespace) -> None:
    if args.token:
        answer = {"token": args.token, "user_id": args.user, "name": args.name or args.user}
    else:
        answer = local.sign_in(ctx.url, args.user, name=args.name, groups=args.group)
    ctx.config.remember(ctx.url, {k: answer.get(k) for k in ("token", "user_id", "name", "expires_at")})
    ctx.config.save()
    ctx.print(f"signed in to {ctx.url} as {answer['user_id']} ({answer['name']})")


@command("chats", "the chats you are a member of", _json_flag)
def chats(ctx: Context, args: argparse.Namespace) -> None:
    for chat in ctx.client().chats():
        if args.json:
            ctx.print_json(chat.model_dump(mode="json"))
        else:
            members = len(chat.participants)
            ctx.print(f"{chat.chat_id}\t{chat.title}\t{chat.turn_mode}\t{chat.status}\t{members} members")


def _create_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("title", metavar="TITLE")
    parser.add_argument(
        "--mode",
        default="free",
        choices=("free", "round_robin", "alternating", "moderated"),
        help="turn mode",
    )
    parser.add_argument(
        "--ai", action="append", default=[], metavar="NAME", help="an AI participant (repeatable)"
    )
    _json_flag(parser, "print the chat as JSON")


@command("chat create", "create a chat; prints its id", _create_args)
def chat_create(ctx: Context, args: argparse.Namespace) -> None:
    chat = ctx.client().create_chat(args.title, mode=args.mode, ai=args.ai)
    if args.json:
        ctx.print_json(chat.model_dump(mode="json"))
    else:
        ctx.print(chat.chat_id)


@command("join", "join a chat", _chat_arg)
def join(ctx: Context, args: argparse.Namespace) -> None:
    chat = ctx.client().join(args.chat)
    ctx.print(f"joined {chat.chat_id} ({chat.title})")


def _send_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument("text", metavar="TEXT")
    parser.add_argument("--id", dest="client_message_id", help="retry key (default: a new one)")
    parser.add_argument(
        "--to", action="append", metavar="ID", help="whisper to this member (repeat for up to 5)"
    )


@command(
    "send",
    "post a message (retried safely: it is stored once); prints its sequence, or for a slash command "
    "(`/poll ...`) the extension that got it",
    _send_args,
)
def send(ctx: Context, args: argparse.Namespace) -> None:
    try:
        message = ctx.client().send(
            args.chat, args.text, client_message_id=args.client_message_id, to=args.to
        )
    except CommandSentError as sent:
        accepted = sent.accepted
        ctx.print(f"/{accepted.command} sent to {accepted.extension_id} (command {accepted.command_id})")
        return
    ctx.print(f"#{message.sequence} {message.message_id}")


@command("commands", "the slash commands a chat's enabled extensions answer", _chat_arg)
def commands(ctx: Context, args: argparse.Namespace) -> None:
    for found in ctx.client().commands(args.chat):
        ctx.print(f"/{found.name} {found.usage}".rstrip() + f"\t{found.description} ({found.extension_id})")


def _history_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument("--after", type=int, default=0, help="only messages after this sequence")
    _json_flag(parser)


@command("history", "every message of a chat, oldest first", _history_args)
def history(ctx: Context, args: argparse.Namespace) -> None:
    for message in ctx.client().history(args.chat, after=args.after):
        if args.json:
            ctx.print_json(message.model_dump(mode="json"))
        else:
            # a message with blocks prints them with numbered actions: `parley act CHAT SEQUENCE N`
            for line in blocks.lines(message):
                ctx.print(line)


def _act_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument("message", metavar="MESSAGE", help="the message's sequence (#3 in `history`) or id")
    parser.add_argument(
        "number", metavar="N", type=int, nargs="?", help="the action's number; none: list them"
    )
    parser.add_argument(
        "--value", action="append", default=[], metavar="NAME=VALUE", help="a form's input (repeatable)"
    )


def _message(ctx: Context, chat: str, ref: str) -> MessageView:
    if ref.lstrip("#").isdigit():
        sequence = int(ref.lstrip("#"))
        found = ctx.client().messages(chat, after=sequence - 1, limit=1).items
        if found and found[0].sequence == sequence:
            return found[0]
    else:
        for message in ctx.client().history(chat):
            if message.message_id == ref:
                return message
    raise UsageError(f"no message {ref} in chat {chat}")


@command("act", "click, choose, vote or submit on a message with blocks (its numbered actions)", _act_args)
def act(ctx: Context, args: argparse.Namespace) -> None:
    message = _message(ctx, args.chat, args.message)
    numbered = blocks.choices(message.blocks or ())
    if args.number is None:
        for line in blocks.lines(message):
            ctx.print(line)
        return
    picked = next((c for c in numbered if c.number == args.number), None)
    if picked is None:
        raise UsageError(f"message #{message.sequence} has no action {args.number} (it has {len(numbered)})")
    values = {**picked.values, **_settings(args.value)} if picked.form else picked.values
    submitted = ctx.client().act(args.chat, message.message_id, picked.action_id, values)
    ctx.print(f"{picked.label}: sent ({submitted.submission_id})")


def _tail_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chats", nargs="+", metavar="CHAT", help="one or more chat ids")
    parser.add_argument("--pretty", action="store_true", help="a readable line per event instead of JSON")
    parser.add_argument("--after", type=int, help="start after this event sequence (default: now)")
    parser.add_argument("--count", type=int, help="stop after this many events")


def pretty(event: LiveEvent) -> str:
    actor = (event.actor or {}).get("name") or (event.actor or {}).get("id") or ""
    where = f"#{event.sequence}" if event.sequence is not None else "~"
    data = event.data.model_dump(mode="json")
    text = data.get("message", {}).get("text") if isinstance(data.get("message"), dict) else None
    summary = text if text is not None else json.dumps(data, ensure_ascii=False)
    if event.ephemeral:  # for this member alone, never stored: `history` will not show it again
        summary = f"{data.get('text', '')} (only you can see this)"
    return f"{where} {event.chat_id} {event.type} {actor}: {summary}"


@command("tail", "live events, each once and in order (one JSON frame a line, or --pretty)", _tail_args)
def tail(ctx: Context, args: argparse.Namespace) -> None:
    async def follow() -> None:
        seen = 0
        async with ctx.async_client().live(args.chats, after=args.after) as live:
            async for event in live:
                ctx.print(pretty(event) if args.pretty else json.dumps(event.to_json(), ensure_ascii=False))
                seen += 1
                if args.count is not None and seen >= args.count:
                    return

    asyncio.run(follow())


def _events_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument("--after", type=int, default=0, help="only events after this sequence")


@command("events", "the chat's event log, one JSON envelope a line", _events_args)
def events(ctx: Context, args: argparse.Namespace) -> None:
    for envelope in ctx.client().events(args.chat, after=args.after):
        ctx.print(envelope.to_json())


def _analytics_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument(
        "--csv", action="store_true", help="CSV (section,subject,metric,value) instead of JSON"
    )


@command("analytics", "the chat's conversation analytics", _analytics_args)
def analytics(ctx: Context, args: argparse.Namespace) -> None:
    client = ctx.client()
    if args.csv:
        ctx.out.write(client.analytics_csv(args.chat))
        ctx.out.flush()
    else:
        ctx.print_json(client.analytics(args.chat).model_dump(mode="json"), indent=2)


def _ext_list_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("chat", metavar="CHAT", nargs="?", help="list this chat's installs instead")
    _json_flag(parser)


@command("ext list", "the registered extensions, or a chat's installs", _ext_list_args)
def ext_list(ctx: Context, args: argparse.Namespace) -> None:
    client = ctx.client()
    if args.chat:
        for install in client.installs(args.chat):
            if args.json:
                ctx.print_json(install.model_dump(mode="json"))
            else:
                state = "enabled" if install.enabled else "disabled"
                ctx.print(f"{install.extension_id}\t{install.version}\t{state}\t{install.status}")
        return
    for extension in client.extensions():
        if args.json:
            ctx.print_json(extension.model_dump(mode="json"))
        else:
            ctx.print(f"{extension.id}\t{extension.version}")


def _ext_args(parser: argparse.ArgumentParser) -> None:
    _chat_arg(parser)
    parser.add_argument("extension", metavar="EXTENSION", help="the extension's id")


def _ext_config_args(parser: argparse.ArgumentParser) -> None:
    _ext_args(parser)
    parser.add_argument(
        "settings",
        nargs="*",
        metavar="KEY=VALUE",
        help="values as JSON when they parse, else text; none: show",
    )


def _current(ctx: Context, chat: str, extension: str) -> tuple[bool, dict[str, Any]]:
    try:
        install = ctx.client().install(chat, extension)
    except NotFoundError:
        return False, {}
    return install.enabled, dict(install.config)


def _settings(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"expected KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    return values


def _show(ctx: Context, chat: str, extension: str, enabled: bool, config: dict[str, Any]) -> None:
    install = ctx.client().put_install(chat, extension, enabled=enabled, config=config)
    state = "enabled" if install.enabled else "disabled"
    ctx.print(f"{install.extension_id} {state} on {chat}: {json.dumps(install.config, ensure_ascii=False)}")


@command("ext enable", "install (if needed) and enable an extension on a chat, keeping its config", _ext_args)
def ext_enable(ctx: Context, args: argparse.Namespace) -> None:
    _, config = _current(ctx, args.chat, args.extension)
    _show(ctx, args.chat, args.extension, True, config)


@command("ext disable", "disable an extension on a chat (the install and its config stay)", _ext_args)
def ext_disable(ctx: Context, args: argparse.Namespace) -> None:
    _, config = _current(ctx, args.chat, args.extension)
    _show(ctx, args.chat, args.extension, False, config)


@command("ext config", "show an install's config, or change the keys given", _ext_config_args)
def ext_config(ctx: Context, args: argparse.Namespace) -> None:
    if not args.settings:
        install = ctx.client().install(args.chat, args.extension)
        ctx.print_json(install.config, indent=2)
        return
    enabled, config = _current(ctx, args.chat, args.extension)
    _show(ctx, args.chat, args.extension, enabled, {**config, **_settings(args.settings)})


@command("redrive", "local stack, operators: put dead-lettered events back on their queues")
def redrive(ctx: Context, args: argparse.Namespace) -> None:
    ctx.print_json(local.redrive(ctx.url))
