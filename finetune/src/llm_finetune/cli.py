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


def cmd_publish(args, console: Console) -> int:
    if args.routes:
        publish.publish_file(args.routes, args.model_id, args.alias, args.backend)
        console.print(f"{args.alias} -> {args.model_id} published to {args.routes}")
    else:
        publish.publish_configmap(
            args.configmap,
            args.namespace,
            args.model_id,
            args.alias,
            args.backend,
            kubeconfig=args.kubeconfig,
            context=args.context,
        )
        console.print(
            f"{args.alias} -> {args.model_id} published to ConfigMap {args.namespace}/{args.configmap}; "
            "the proxy serves it after the kubelet syncs the volume (up to a minute or so)"
        )
    return 0


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
    u = sub.add_parser("publish", help="add or update an alias route for a fine-tuned model")
    u.add_argument("model_id")
    u.add_argument("--alias", required=True)
    u.add_argument("--backend", default="openai")
    where = u.add_mutually_exclusive_group(required=True)
    where.add_argument("--routes", type=Path, help="a routing file")
    where.add_argument("--configmap", help="the live routing ConfigMap (key routes.yaml)")
    u.add_argument("--namespace", default="default")
    u.add_argument("--kubeconfig")
    u.add_argument("--context")
    u.set_defaults(run=cmd_publish)
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
