"""What a bench run found: bench/results/<output>.md (the table, memory, streams, soak, and the
errors of any target, never passed off as figures) and a plot."""

from __future__ import annotations

from pathlib import Path


def table(rows: list[dict], targets: list[str]) -> str:
    head = (
        "| scenario | conns | "
        + " | ".join(f"{t} req/s | {t} p50 ms | {t} p99 ms | {t} CPU µs/req" for t in targets)
        + " | added p50 ms (proxy − direct) |"
    )
    sep = "|" + "---|" * (2 + 4 * len(targets) + 1)
    lines = [head, sep]
    for row in rows:
        cells = []
        for t in targets:
            r = row[t]
            # A run with errors is not a throughput figure: the errors are shown in the cell.
            errors = f" ({r['errors']:,} errors)" if r.get("errors") else ""
            cells.append(
                f"{r['rps']:,.0f}{errors} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_us_per_request']:,.0f}"
            )
        added = row["proxy"]["p50_ms"] - row["direct"]["p50_ms"]
        lines.append(f"| {row['scenario']} | {row['conns']} | " + " | ".join(cells) + f" | {added:+.2f} |")
    return "\n".join(lines)


def markdown(result: dict, targets: list[str], repeats: int, seconds: int) -> str:
    md = [
        f"Run {result['when']} on {result['cores']} cores; proxy pinned to core 0, mock + wrk to core 1; "
        f"best of {repeats} x {seconds}s after a warm-up.",
        "",
        table(result["rows"], targets),
        "",
        f"Proxy RSS: {result['proxy_rss_mib']['idle']:.1f} MiB idle, "
        f"{result['proxy_rss_mib']['after_load']:.1f} MiB after the load.",
    ]
    if "redis" in result:
        r = result["redis"]
        md.append(
            f'Redis-backed limits ("redis" vs "proxy", both with the same key and limit): '
            f"{r['rps_ratio_64']:.1%} of the in-process throughput at 64 connections; "
            f"added median {r['added_p50_ms_1']:+.3f} ms at 1 connection ({r['one_connection_row']})."
        )
    if "litellm_rss_mib" in result:
        md.append(f"LiteLLM proxy RSS after the load: {result['litellm_rss_mib']:.1f} MiB.")
    if "streams" in result:
        s = result["streams"]
        md.append(
            f"{s['streams']} concurrent streams of {s['chunks']} chunks at {s['pace_ms']} ms "
            f"(median of {s['repeats']} alternating rounds): {s['proxy']['completed']} completed, "
            f"{s['proxy']['stalled']} stalled through the proxy ({s['direct']['stalled']} direct); "
            f"inter-chunk gap p99 {s['proxy']['gap_p99_ms']:.2f} ms vs {s['direct']['gap_p99_ms']:.2f} ms "
            f"direct (added {s['added_gap_p99_ms']:+.2f} ms); proxy RSS {s['proxy_rss_mib']:.1f} MiB."
        )
    if "soak" in result:
        s = result["soak"]
        md.append(
            f"Soak {s['seconds']} s at {s['rps']:.0f} req/s ({s.get('errors', 0):,} errors): "
            f"RSS {s['rss_start_mib']:.1f} -> "
            f"{s['rss_end_mib']:.1f} MiB, slope after warm-up {s['slope_mib_per_10min']:+.2f} MiB / 10 min."
        )
    problems = [
        f"{row['scenario']} x{row['conns']}: {t} answered {row[t]['errors']:,} errors"
        for row in result["rows"]
        for t in targets
        if row[t].get("errors")
    ]
    if "streams" in result and result["streams"]["proxy"]["completed"] < result["streams"]["streams"]:
        problems.append(
            f"streams: {result['streams']['proxy']['completed']} of {result['streams']['streams']} completed"
        )
    if result.get("soak", {}).get("errors"):
        problems.append(f"soak: {result['soak']['errors']:,} errors")
    if problems:  # figures from failing requests must not pass for a result
        md.append("**Errors in this run** (see bench/results/logs/): " + "; ".join(problems) + ".")
    return "\n".join(md) + "\n"


def redis_summary(rows: list[dict]) -> dict:
    """The Redis row's figures against the in-process proxy: throughput at 64 connections and the
    median added at 1 connection (the one-core row: the proxy's own cost, no cross-core hops)."""
    at_64 = next(r for r in rows if r["conns"] == 64)
    ones = [r for r in rows if r["conns"] == 1]
    one = next((r for r in ones if "one core" in r["scenario"]), ones[0])
    return {
        "rps_ratio_64": at_64["redis"]["rps"] / at_64["proxy"]["rps"],
        "added_p50_ms_1": one["redis"]["p50_ms"] - one["proxy"]["p50_ms"],
        "one_connection_row": one["scenario"],
    }


def plot(result: dict, targets: list[str], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = result["rows"]
    labels = [f"{r['scenario'].replace(', ', chr(10))}\nc={r['conns']}" for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(targets)
    for i, t in enumerate(targets):
        xs = [x + i * width for x in range(len(rows))]
        ax1.bar(xs, [r[t]["rps"] for r in rows], width, label=t)
        ax2.bar(xs, [r[t]["p50_ms"] for r in rows], width, label=t)
    ax2.set_yscale("log")  # LiteLLM's latencies would flatten ours to nothing on a linear scale
    for ax, title in ((ax1, "requests / s"), (ax2, "median latency, ms (log scale)")):
        ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(len(rows))], labels, fontsize=8)
        ax.set_title(title)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
