"""`llm-finetune`: spreadsheet -> JSONL -> validate -> train -> publish, and the knowledge pack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import pack as packs
from . import publish, training
from .errors import ToolkitError
from .pricing import DEFAULT_BASE_MODEL
from .spreadsheet import read_sheet
from .validate import validate_file

REPO = Path(__file__).resolve().parents[3]


def cmd_convert(args, console: Console) -> int:
    sheet = read_sheet(args.xlsx)
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": sheet.system_prompt},
                    {"role": "user", "content": r.prompt},
                    {"role": "assistant", "content": r.response},
                ]
            },
            ensure_ascii=False,
        )
        for r in sheet.rows
    ]
    packs.write_atomically(args.output, "\n".join(lines) + "\n")
    console.print(
        f"wrote {len(lines)} examples to {args.output}"
        + (f" (skipped {sheet.skipped_blank} blank row(s))" if sheet.skipped_blank else "")
    )
    return 0


def cmd_pack(args, console: Console) -> int:
    sheet = read_sheet(args.xlsx)
    text = packs.dumps(packs.build_pack(sheet))
    targets = [args.output] if args.output else []
    if args.packaged:
        targets += [REPO / p for p in packs.PACKAGED_COPIES]
    if not targets:
        raise ToolkitError("give -o FILE and/or --packaged")
    for target in targets:
        packs.write_atomically(Path(target), text)
        console.print(f"wrote the knowledge pack ({len(sheet.rows)} rows) to {target}")
    return 0


def cmd_validate(args, console: Console) -> int:
    if not args.jsonl.exists():
        raise ToolkitError(f"{args.jsonl}: no such file")
    report = validate_file(args.jsonl, args.base_model)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    for issue in report.errors:
        console.print(f"[red]error[/red] {issue}")
    for issue in report.warnings:
        console.print(f"[yellow]warning[/yellow] {issue}")
    table = Table(title=f"{args.jsonl}: {report.examples} examples", show_header=False)
    for key, value in report.stats().items():
        table.add_row(f"tokens per example, {key}", f"{value:,.1f}" if isinstance(value, float) else f"{value:,}")
    table.add_row("base model", f"{report.base_model} (limit {report.token_limit:,} tokens per example)")
    table.add_row("epochs OpenAI would choose", str(report.epochs))
    table.add_row("billed training tokens", f"{report.billed_tokens:,}")
    table.add_row("estimated cost", f"${report.cost_usd:,.4f}")
    console.print(table)
    console.print("[green]no format errors[/green]" if report.ok else f"[red]{len(report.errors)} error(s)[/red]")
    return 0 if report.ok else 1


def cmd_train(args, console: Console) -> int:
    api = training.client()
    file_id = training.upload(api, args.jsonl, console, poll=args.poll)
    job = training.create_job(api, file_id, args.base_model, args.suffix, args.epochs)
    console.print(f"created fine-tuning job [bold]{job.id}[/bold] on {args.base_model}")
    if not args.wait:
        console.print(f"follow it with: llm-finetune status {job.id}")
        return 0
    job = training.follow(api, job.id, console, poll=args.poll)
    return training.describe(job, console)


def cmd_status(args, console: Console) -> int:
    api = training.client()
    import openai

    try:
        job = api.fine_tuning.jobs.retrieve(args.job_id)
    except openai.NotFoundError:
        raise ToolkitError(f"no fine-tuning job {args.job_id}") from None
    events = sorted(api.fine_tuning.jobs.list_events(args.job_id, limit=100).data, key=lambda e: (e.created_at, e.id))
    for event in events:
        console.print(f"  {event.message}")
    training.describe(job, console)
    return 0


OLD_ROUTES_USAGE = (
    "--routes is gone: publish no longer edits the base routing table, where the next `helm upgrade` "
    "(or any rewrite of the base) would drop the alias. Publish into the overlay the proxy merges over "
    "it: --overlay FILE_OR_DIR (the proxy's --routes-overlay / LLM_PROXY_ROUTES_OVERLAY; give the "
    "base with --base FILE) or --configmap [NAME] (default <release>-llm-proxy-routes-published)"
)


def _apply(args, change: publish.Change, *, create: bool) -> str:
    """Apply a change to the overlay the arguments name; returns where it went, for the message."""
    if args.routes is not None:
        raise ToolkitError(OLD_ROUTES_USAGE)
    if args.overlay is not None:
        base = publish.read_base_file(args.base or publish.default_base_file())
        if not create and not (args.overlay / publish.OVERLAY_KEY if args.overlay.is_dir() else args.overlay).exists():
            raise ToolkitError(f"{args.overlay}: no overlay there: nothing is published")
        return str(publish.update_file(args.overlay, base, change))
    name = args.configmap or publish.overlay_configmap_name(args.release)
    base_name = args.base_configmap or publish.base_configmap_name(args.release)
    if name == base_name:
        raise ToolkitError(
            f"{name} is the Helm-owned routing table (the next `helm upgrade` would drop the alias): "
            f"publish writes the overlay ConfigMap {publish.overlay_configmap_name(args.release)} instead "
            "(run without a NAME after --configmap)"
        )
    api = publish.core_api(args.kubeconfig, args.context)
    base = (
        publish.read_base_file(args.base) if args.base else publish.read_base_configmap(api, base_name, args.namespace)
    )
    created = publish.update_configmap(api, name, args.namespace, base, change, create=create)
    return f"ConfigMap {args.namespace}/{name}" + (" (created)" if created else "")


def _synced(args) -> str:
    if args.overlay is not None:
        return "the proxy reloads it within a second (LLM_PROXY_RELOAD_INTERVAL)"
    return "the proxy serves it once the kubelet syncs the volume (up to about a minute)"


def cmd_publish(args, console: Console) -> int:
    change = publish.Change(
        lambda old, where: publish.set_alias(old, args.model_id, args.alias, args.backend, where), args.backend
    )
    where = _apply(args, change, create=True)
    console.print(f"{args.alias} -> {args.model_id} published to {where}; {_synced(args)}")
    return 0


def cmd_unpublish(args, console: Console) -> int:
    change = publish.Change(lambda old, where: publish.remove_alias(old, args.alias, where))
    where = _apply(args, change, create=False)
    console.print(f"{args.alias} removed from {where}; {_synced(args)}")
    return 0


def _overlay_arguments(u: argparse.ArgumentParser) -> None:
    where = u.add_mutually_exclusive_group(required=True)
    where.add_argument("--overlay", type=Path, help="an overlay file, or a directory (file published.yaml in it)")
    where.add_argument(
        "--configmap",
        nargs="?",
        const="",
        metavar="NAME",
        help="the toolkit-owned overlay ConfigMap (default <release>-llm-proxy-routes-published), created if missing",
    )
    where.add_argument("--routes", type=Path, help=argparse.SUPPRESS)  # the old usage: refused with a clear error
    u.add_argument(
        "--base",
        type=Path,
        help="the base routing table to validate against (default: LLM_PROXY_ROUTES, "
        "else the packaged table; with --configmap: the release's routes ConfigMap)",
    )
    u.add_argument("--release", default="llm", help="the Helm release, for the default ConfigMap names (default llm)")
    u.add_argument("--base-configmap", metavar="NAME", help="the Helm-owned routes ConfigMap (read only)")
    u.add_argument("--namespace", default="default")
    u.add_argument("--kubeconfig")
    u.add_argument("--context")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llm-finetune", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", help="spreadsheet (Prompt, Response) to chat JSONL")
    c.add_argument("xlsx", type=Path)
    c.add_argument("-o", "--output", type=Path, required=True)
    c.set_defaults(run=cmd_convert)
    k = sub.add_parser("pack", help="spreadsheet to the knowledge pack the services read")
    k.add_argument("xlsx", type=Path)
    k.add_argument("-o", "--output", type=Path)
    k.add_argument("--packaged", action="store_true", help="also refresh the copies packaged with the services")
    k.set_defaults(run=cmd_pack)
    v = sub.add_parser("validate", help="format errors, token counts, cost estimate")
    v.add_argument("jsonl", type=Path)
    v.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(run=cmd_validate)
    t = sub.add_parser("train", help="upload, create the job, follow it")
    t.add_argument("jsonl", type=Path)
    t.add_argument("--base-model", default=DEFAULT_BASE_MODEL)
    t.add_argument("--suffix")
    t.add_argument("--epochs", type=int)
    t.add_argument("--wait", action="store_true", help="follow the job's events to the end")
    t.add_argument("--poll", type=float, default=2.0, help=argparse.SUPPRESS)
    t.set_defaults(run=cmd_train)
    s = sub.add_parser("status", help="one job's state and events")
    s.add_argument("job_id")
    s.set_defaults(run=cmd_status)
    u = sub.add_parser("publish", help="add or update an alias route for a fine-tuned model, in the routes overlay")
    u.add_argument("model_id")
    u.add_argument("--alias", required=True)
    u.add_argument("--backend", default="openai")
    _overlay_arguments(u)
    u.set_defaults(run=cmd_publish)
    r = sub.add_parser("unpublish", help="remove an alias route from the routes overlay")
    r.add_argument("--alias", required=True)
    _overlay_arguments(r)
    r.set_defaults(run=cmd_unpublish)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        return args.run(args, console)
    except ToolkitError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {exc}")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
