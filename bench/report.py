"""Figures from the measurements: rates, ratios, targets met or missed; the printed report; and
docs/performance.md, rendered from a results file (``python -m bench --render-docs FILE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.environment import REPO
from bench.measure import combined_rate, rate

RESULTS = REPO / "bench" / "results"
DOCS_PAGE = REPO / "docs" / "performance.md"

TARGET_SPEEDUP = 30.0
TARGET_EFFICIENCY = 0.70
TARGET_EXTRACTION_RATIO = 1.5
TARGET_EXTRACTION_RATIO_DEFAULT_MYSQL = 3.0
TARGET_EXTRACT_RSS_MB = 300.0
TARGET_EXTRACT_RSS_IDS = 1_000_000
TARGET_AIRFLOW_OVERHEAD_S = 1.0
# issue #24: the batch layout against the reference design (per worker) and against the search cluster's ceiling
TARGET_BATCH_SPEEDUP = 100.0
TARGET_BATCH_OF_SEARCH_CEILING = 0.70
# S3 Standard list prices (us-east-1), for the cost table: PUT, COPY, POST, LIST per 1,000 requests; GB-month
PUT_PRICE_PER_1000 = 0.005
STORAGE_PRICE_PER_GB_MONTH = 0.023
COST_VOLUMES = (1_000_000, 10_000_000)
# After retention a run's ledger statements together cost at most this much more than on a small
# ledger measured in the same rounds (the empty-ledger point shows the noise between two small ones).
TARGET_LEDGER_AFTER_RETENTION = 1.25


def ok(section: Any) -> bool:
    return isinstance(section, dict) and bool(section) and "error" not in section


def _rates(run: dict[str, Any], extracted: str, processed: str) -> None:
    run["extract_per_s"] = rate(run[extracted], run["extract_seconds"])
    run["process_per_s"] = rate(run[processed], run["process_seconds"])
    run["per_s"] = combined_rate(run["extract_per_s"], run["process_per_s"])


def derive(raw: dict[str, Any]) -> dict[str, Any]:
    """Add rates, ratios and the summary (each figure with its target and verdict) to a run's figures."""
    figures = dict(raw)
    if ok(baseline := raw.get("baseline")):
        _rates(baseline, "extracted_ids", "messages")
    for run in filter(ok, raw.get("pipeline", [])):
        _rates(run, "completed", "completed")
        run["rss_growth_mb"] = run["peak_rss_mb"] - run["rss_before_mb"]
        run["rest_cpu_seconds"] = run["process_cpu_seconds"] - sum(v["cpu_seconds"] for v in run["stages"].values())
    if ok(ceilings := raw.get("ceilings")):
        limits = {name: ceilings[part]["per_second"] for name, part in CEILINGS.items()}
        ceilings["slowest"] = min(limits, key=lambda name: limits[name])
        ceilings["slowest_per_s"] = limits[ceilings["slowest"]]
        # A worker running a chunk's stages one after another could do at most this (the export overlaps them).
        serial = [limits["s3_put"], ceilings["chunk_read"]["per_second"], limits["mysql_bulk"]]
        ceilings["serial_chunk_per_s"] = 1 / sum(1 / value for value in serial)
    if ok(extraction := raw.get("extraction")):
        for run in filter(ok, (extraction.get("defaults"), extraction.get("big_pool"))):
            for side in (run["extract"], run["pit_loop"]):
                side["rss_growth_mb"] = side["peak_rss_mb"] - side["rss_before_mb"]
            run["ratio"] = run["extract"]["seconds"] / run["pit_loop"]["seconds"]
    if ok(dag := raw.get("airflow")):
        dag["overhead_per_task_s"] = dag["overhead_seconds"] / max(dag["task_instances"], 1)
        dag["overhead_per_mapped_task_s"] = dag["overhead_seconds"] / max(dag["mapped_instances"], 1)
    figures["scaling"] = _scaling(raw.get("pipeline", []))
    figures["summary"] = summary(figures)
    return figures


CEILINGS = {"s3_put": "s3", "es_mget": "mget", "mysql_bulk": "mysql"}


def main_pipeline(figures: dict[str, Any]) -> dict[str, Any] | None:
    """The largest pipeline run without error: "the pipeline" of the report."""
    runs = [run for run in figures.get("pipeline", []) if ok(run)]
    return max(runs, key=lambda run: run["completed"]) if runs else None


def _scaling(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    done = sorted(filter(ok, runs), key=lambda run: run["completed"])
    if len(done) < 2:
        return None
    rates = [run["process_per_s"] for run in done]
    peaks = [run["peak_rss_mb"] for run in done]
    # Linear cost: the per-message rate holds as the window grows (the smallest run carries the
    # fixed per-run costs, so the two largest are compared). Flat memory: the peak does not follow N.
    return {
        "process_per_s": rates,
        "peak_rss_mb": peaks,
        "rate_change_largest_vs_middle": rates[-1] / rates[-2] - 1,
        "peak_rss_spread_mb": max(peaks) - min(peaks),
    }


def summary(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure of the run: what was measured, its target if it has one, and the verdict.

    Rows are ``(phase, figure, measured)`` or ``(phase, figure, measured, target, met)``.
    """
    rows: list[tuple[Any, ...]] = []
    pipe, baseline, ceilings = main_pipeline(figures), figures.get("baseline"), figures.get("ceilings")
    if ok(baseline):
        rows.append(("baseline", "reference design", f"{baseline['per_s']:.1f} msg/s ({baseline['messages']:,})"))
    if pipe:
        done = max(pipe["completed"], 1)
        put_cpu = pipe["stages"].get("s3_put", {}).get("cpu_seconds", 0)
        measured = f"{pipe['per_s']:.0f} msg/s; {1000 * pipe['process_cpu_seconds'] / done:.2f} ms CPU per message"
        figure = f"one worker, {pipe['completed']:,} messages (extract + process)"
        rows.append(("pipeline", figure, f"{measured} (s3_put {1000 * put_cpu / done:.2f})"))
    if pipe and ok(baseline):
        speedup = pipe["per_s"] / baseline["per_s"]
        measured = f"{speedup:.1f}x ({pipe['per_s']:.0f} vs {baseline['per_s']:.1f} msg/s)"
        target = f">= {TARGET_SPEEDUP:.0f}x"
        rows.append(("pipeline", "speed-up over the reference design", measured, target, speedup >= TARGET_SPEEDUP))
    if ok(ceilings):
        s3, mget, read, mysql = ceilings["s3"], ceilings["mget"], ceilings["chunk_read"], ceilings["mysql"]
        measured = f"{s3['per_second']:.0f} PUT/s; {s3['cpu_ms_per_put']:.2f} ms CPU and "
        measured += f"{s3['python_calls_per_put']:,.0f} Python calls per PUT"
        rows.append(("ceilings", f"S3 PUT x{s3['concurrency']}, product client", measured))
        measured = f"{mget['per_second']:,.0f} docs/s; with the related searches {read['per_second']:,.0f}/s"
        rows.append(("ceilings", f"ES _mget x{mget['chunk_size']:,}", measured))
        rows.append(("ceilings", "MySQL record_results", f"{mysql['per_second']:,.0f} rows/s"))
    if pipe and ok(ceilings):
        efficiency = pipe["process_per_s"] / ceilings["slowest_per_s"]
        measured = f"{efficiency:.0%} ({pipe['process_per_s']:.0f} msg/s vs {ceilings['slowest']} "
        measured += f"{ceilings['slowest_per_s']:.0f}/s)"
        target, met = f">= {TARGET_EFFICIENCY:.0%}", efficiency >= TARGET_EFFICIENCY
        rows.append(("pipeline", "efficiency vs the slowest stage's ceiling", measured, target, met))
    if scaling := figures.get("scaling"):
        change = scaling["rate_change_largest_vs_middle"]
        rates = " / ".join(f"{r:.0f}" for r in scaling["process_per_s"])
        rows.append(("pipeline", "cost grows linearly", f"{change:+.0%} ({rates} msg/s)", "within 20%", change >= -0.2))
        peaks = " / ".join(f"{p:.0f}" for p in scaling["peak_rss_mb"])
        spread = scaling["peak_rss_spread_mb"] <= 50
        rows.append(("pipeline", "memory stays flat", f"{peaks} MB peak", "spread <= 50 MB", spread))
    if ok(scale := figures.get("scaleout")):
        for label, runs in _scaleout_groups(scale["runs"]).items():
            rows.append(("scale-out", label, " / ".join(f"{r['per_second']:,.0f}" for r in runs) + " msg/s"))
    rows += _layout_rows(figures.get("layouts"), baseline)
    rows += _extraction_rows(figures.get("extraction"))
    if ok(dag := figures.get("airflow")):
        per_task = dag["overhead_per_mapped_task_s"]
        measured = f"{per_task:.2f} s ({dag['overhead_seconds']:.1f} s over {dag['mapped_instances']} mapped tasks)"
        met = per_task <= TARGET_AIRFLOW_OVERHEAD_S and dag["state"] == "success"
        figure = "Airflow overhead per mapped task (dag.test)"
        rows.append(("airflow", figure, measured, f"<= {TARGET_AIRFLOW_OVERHEAD_S:.0f} s", met))
    rows += _ledger_rows(figures.get("ledger"))
    if ok(celery := figures.get("celery")):
        single = celery["single_process"]
        rates = " / ".join(f"{run['per_second']:,.0f}" for run in celery["runs"])
        slots = ", ".join(str(run["slots"]) for run in celery["runs"])
        measured = f"{rates} msg/s (one process without Airflow: {single['per_second']:,.0f})"
        rows.append(("celery", f"CeleryExecutor, {slots} task slots over two workers", measured))
    if ok(dashboard := figures.get("dashboard")):
        slowest = dashboard["slowest"]
        measured = f"{slowest['answer']}: {slowest['median_ms']:.1f} ms median, {slowest['max_ms']:.1f} ms max; "
        measured += f"whole-table scans: {', '.join(dashboard['full_scans']) or 'none'}"
        figure = f"slowest answer on {dashboard['ledger']['message_tracking']:,} tracked messages"
        budget = dashboard.get("budget_ms")
        if budget is None:
            rows.append(("dashboard", figure, measured))
        else:
            rows.append(("dashboard", figure, measured, f"<= {budget:.0f} ms", slowest["max_ms"] <= budget))
    for phase, error in (figures.get("errors") or {}).items():
        rows.append((phase, "error", error.strip().splitlines()[-1][:160], "", False))
    return [_row(*row) for row in rows]


def layout_figures(run: dict[str, Any]) -> dict[str, Any]:
    """One layout's run as rates per message: messages/s, CPU ms by stage, PUTs per 1,000, bytes stored."""
    done = max(run["completed"], 1)
    return {
        "per_s": run["completed"] / run["process_seconds"],
        "cpu_ms": 1000 * run["process_cpu_seconds"] / done,
        "cpu_ms_by_stage": _cpu_ms_by_stage(run, done),
        "puts_per_1000": 1000 * run["put_requests"] / done,
        "bytes_per_message": run["stored_bytes"] / done,
    }


def _cpu_ms_by_stage(run: dict[str, Any], done: int) -> dict[str, float]:
    """CPU ms per message of each timed stage, and of the rest of the process (building and framing the
    documents, the threads' hand-offs): the stages and the rest add up to the process's CPU."""
    stages = {stage: 1000 * v["cpu_seconds"] / done for stage, v in sorted(run["stages"].items())}
    stages["rest"] = 1000 * run["process_cpu_seconds"] / done - sum(stages.values())
    return stages


def _layout_rows(layouts: Any, baseline: Any) -> list[tuple[Any, ...]]:
    if not ok(layouts):
        return []
    rows: list[tuple[Any, ...]] = []
    labels = {
        "message": "message layout",
        "batch": "batch layout",
        "batch_search_limit_off": "batch layout, search rate limit off",
    }
    for layout, label in labels.items():
        if layout not in layouts:
            continue
        f = layout_figures(layouts[layout])
        stages = ", ".join(f"{stage} {ms:.2f}" for stage, ms in f["cpu_ms_by_stage"].items())
        measured = (
            f"{f['per_s']:,.0f} msg/s; {f['cpu_ms']:.2f} ms CPU per message ({stages}); "
            f"{f['puts_per_1000']:,.1f} PUT per 1,000 messages; {f['bytes_per_message']:,.0f} B stored per message"
        )
        terms = f"{layouts['size']:,} messages" + (
            f" in batches of {layouts['batch_size']:,}" if "batch_size" in layouts else ""
        )
        rows.append(("layouts", f"{label}, one worker, {terms}", measured))
    if "batch" not in layouts:
        return rows
    batch = layout_figures(layouts["batch"])
    if ok(baseline):
        speedup = batch["per_s"] / baseline["per_s"]
        measured = f"{speedup:,.0f}x ({batch['per_s']:,.0f} vs {baseline['per_s']:.1f} msg/s)"
        target = f">= {TARGET_BATCH_SPEEDUP:.0f}x"
        rows.append(
            ("layouts", "batch layout over the reference design", measured, target, speedup >= TARGET_BATCH_SPEEDUP)
        )
    at_ceiling, search_ceiling = layouts.get("batch_search_limit_off"), layouts.get("search_ceiling")
    if at_ceiling and search_ceiling:
        # the bare loop reads the same ids in chunks of the same size with no rate limit: compared on those terms
        search = search_ceiling["per_second"]
        share = layout_figures(at_ceiling)["per_s"] / search
        measured = (
            f"{share:.0%} ({layout_figures(at_ceiling)['per_s']:,.0f} msg/s vs {search:,.0f} messages/s read with "
            f"their related searches, in chunks of {search_ceiling['chunk_size']:,}; search rate limit off)"
        )
        target, met = f">= {TARGET_BATCH_OF_SEARCH_CEILING:.0%}", share >= TARGET_BATCH_OF_SEARCH_CEILING
        rows.append(("layouts", "batch layout vs the search cluster's ceiling", measured, target, met))
    return rows


def cost_table(layouts: dict[str, Any]) -> list[str]:
    """Markdown rows: S3 PUT requests and their price per day, and the storage a day adds, per layout and volume."""
    lines = [
        "| layout | messages/day | PUT requests/day | PUT price/day | stored/day | storage price/month of one day |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for layout in ("message", "batch"):
        if layout not in layouts:
            continue
        f = layout_figures(layouts[layout])
        for volume in COST_VOLUMES:
            puts = f["puts_per_1000"] * volume / 1000
            stored_gb = f["bytes_per_message"] * volume / 1e9
            lines.append(
                f"| {layout} | {volume:,} | {puts:,.0f} | ${puts / 1000 * PUT_PRICE_PER_1000:,.2f} | "
                f"{stored_gb:,.2f} GB | ${stored_gb * STORAGE_PRICE_PER_GB_MONTH:,.3f} |"
            )
    return lines


def _row(phase: str, figure: str, measured: str, target: str = "", met: bool | None = None) -> dict[str, Any]:
    return {"phase": phase, "figure": figure, "measured": measured, "target": target, "met": met}


def _scaleout_groups(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    plain = [run for run in runs if not run.get("variant")]
    groups = {"N = " + ", ".join(str(run["workers"]) for run in plain) + " worker processes": plain}
    groups.update({f"N = {run['workers']}, {run['variant']}": [run] for run in runs if run.get("variant")})
    return groups


def _extraction_rows(extraction: Any) -> list[tuple[Any, ...]]:
    if not ok(extraction):
        return []
    rows: list[tuple[Any, ...]] = []
    places = {
        "defaults": ("MariaDB defaults (128 MB buffer pool)", TARGET_EXTRACTION_RATIO_DEFAULT_MYSQL),
        "big_pool": ("buffer pool holds the table", TARGET_EXTRACTION_RATIO),
    }
    for place, (label, target) in places.items():
        if ok(run := extraction.get(place)):
            extract, loop, claim = run["extract"], run["pit_loop"], run["extract"]["claim_tracking"]
            measured = f"{run['ratio']:.2f}x ({extract['seconds']:.1f} s vs {loop['seconds']:.1f} s, "
            measured += f"{extract['ids']:,} ids; then the claims track them in {claim['seconds']:.1f} s "
            measured += f"over {claim['batches']:,} batches)"
            rows.append(
                ("extraction", f"vs the bare PIT loop, {label}", measured, f"<= {target}x", run["ratio"] <= target)
            )
    if ok(run := extraction.get("defaults")):
        extract, loop = run["extract"], run["pit_loop"]
        peak = max(extract["peak_rss_mb"], (extraction.get("big_pool") or {}).get("extract", {}).get("peak_rss_mb", 0))
        met = peak < TARGET_EXTRACT_RSS_MB if extract["ids"] >= TARGET_EXTRACT_RSS_IDS else None
        target = f"< {TARGET_EXTRACT_RSS_MB:.0f} MB at {TARGET_EXTRACT_RSS_IDS:,} ids"
        rows.append(("extraction", "bare PIT loop", f"{loop['per_second']:,.0f} ids/s ({loop['seconds']:.1f} s)"))
        rows.append(("extraction", "extract path peak RSS", f"{peak:.0f} MB at {extract['ids']:,} ids", target, met))
    return rows


def _ledger_rows(ledger: Any) -> list[tuple[Any, ...]]:
    if not ok(ledger):
        return []
    points = {point["label"]: point for point in ledger["points"]}
    rows: list[tuple[Any, ...]] = []
    if (after := points.get("after retention")) is not None:
        ratio = ledger_cost_ratio(after)
        grown = [point for point in ledger["points"] if point["label"] == "no retention"]
        context = (
            [f"{grown[-1]['ledger_rows']:,} rows, no retention: {ledger_cost_ratio(grown[-1]):.2f}x"] if grown else []
        )
        if "empty ledger" in points:
            context.append(f"empty vs small, the noise: {ledger_cost_ratio(points['empty ledger']):.2f}x")
        measured = f"{ratio:.2f}x ({1000 * sum(after['seconds'].values()):.0f} ms vs "
        measured += f"{1000 * sum(after['small_seconds'].values()):.0f} ms; " + "; ".join(context) + ")"
        target, met = f"<= {TARGET_LEDGER_AFTER_RETENTION:.2f}x", ratio <= TARGET_LEDGER_AFTER_RETENTION
        rows.append(("ledger", "a run's statements after retention vs a small ledger", measured, target, met))
    if purge := ledger.get("purge"):
        measured = (
            f"{purge['rows_per_second'] or 0:,.0f} rows/s ({purge['rows']:,} rows in {purge['wall_seconds']:.1f} s)"
        )
        rows.append(("ledger", "retention (purge_ledger)", measured))
    return rows


def ledger_cost_ratio(point: dict[str, Any]) -> float:
    """A point's statements together against the small ledger's in the same rounds."""
    return sum(point["seconds"].values()) / sum(point["small_seconds"].values())


# -- the printed report ------------------------------------------------------------------------


def render_text(figures: dict[str, Any]) -> str:
    """The report printed at the end of a run: the summary, then where the time and CPU went."""
    lines = [_preamble(figures), ""]
    width = max((len(row["figure"]) for row in figures["summary"]), default=0)
    for row in figures["summary"]:
        target = f"  (target {row['target']})" if row["target"] else ""
        verdict = {True: "MET", False: "MISSED", None: "-"}[row["met"]]
        lines.append(f"{verdict:<7}{row['phase']:<11} {row['figure']:<{width}}  {row['measured']}{target}")
    for section in (_stages_text(figures), _scaleout_text(figures), _celery_text(figures), _dashboard_text(figures)):
        if section:
            lines += ["", *section]
    return "\n".join(lines)


def _preamble(figures: dict[str, Any]) -> str:
    machine, latency = figures.get("machine", {}), figures.get("latency", {})
    es, s3 = latency.get("elasticsearch", {}), latency.get("s3", {})
    return (
        f"{figures.get('profile', {}).get('name', '?')} run of {figures.get('commit', '?')}, "
        f"{figures.get('duration_seconds', 0):.0f} s, {machine.get('cpu_model')}, {machine.get('cpu_count')} CPUs; "
        f"injected latency: Elasticsearch {es.get('fixed_ms')}+U(0,{es.get('jitter_ms')}) ms, "
        f"S3 {s3.get('fixed_ms')}+U(0,{s3.get('jitter_ms')}) ms per request; MySQL local, none"
    )


def _stages_text(figures: dict[str, Any]) -> list[str]:
    lines = []
    for run in filter(ok, figures.get("pipeline", [])):
        done = max(run["completed"], 1)
        stages = " · ".join(
            f"{name} {values['seconds']:.1f} s / {1000 * values['cpu_seconds'] / done:.2f} ms"
            for name, values in run["stages"].items()
        )
        lines.append(
            f"  {run['completed']:>7,} messages: extract {run['extract_seconds']:.1f} s + process "
            f"{run['process_seconds']:.1f} s ({stages} · rest {1000 * run['rest_cpu_seconds'] / done:.2f} ms CPU), "
            f"peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    heading = "pipeline, one worker (stage: wall seconds, overlapping one another / CPU ms per message):"
    return [heading, *lines] if lines else []


def _scaleout_text(figures: dict[str, Any]) -> list[str]:
    if not ok(scale := figures.get("scaleout")):
        return []
    lines = [f"scale-out over one window ({scale['size']:,} messages), cores used while processing:"]
    for run in scale["runs"]:
        cores = {name: value or 0 for name, value in run["cores_used"].items()}
        label = f"N={run['workers']}" + (f", {run['variant']}" if run.get("variant") else "")
        lines.append(
            f"  {label}: {run['per_second']:,.0f} msg/s; workers {cores['workers_total']:.2f} "
            f"(max one {cores['per_worker_max']:.2f}), ES server {cores.get('es_server', 0):.2f}, "
            f"S3 server {cores.get('s3_server', 0):.2f}, S3 proxy {cores.get('s3_proxy', 0):.2f}, "
            f"mysqld {cores.get('mysqld', 0):.2f}, machine {cores['machine_busy']:.2f} of {run['cpu_count']}; "
            f"{run['cpu_ms_per_message']:.2f} ms worker CPU/msg; saturated: {run['saturated']}"
        )
    return lines


def _celery_text(figures: dict[str, Any]) -> list[str]:
    if not ok(celery := figures.get("celery")):
        return []
    single = celery["single_process"]
    lines = [
        f"the DAG under the CeleryExecutor, one window ({celery['size']:,} messages, reprocessed), rate over its "
        f"process_batch span:",
        f"  one process, no Airflow: {single['per_second']:,.0f} msg/s ({single['batches']} batches one after "
        f"another); machine {single['cores_used']['machine_busy']:.2f} cores busy",
    ]
    for run in celery["runs"]:
        cores = {name: value or 0 for name, value in run["cores_used"].items()}
        lines.append(
            f"  {run['workers']} worker(s) x {run['slots_per_worker']} = {run['slots']} slot(s): "
            f"{run['per_second']:,.0f} msg/s ({run['per_second'] / single['per_second']:.2f}x one process), "
            f"{run['batches']} batches, {run['mean_task_seconds']:.1f} s per task, run {run['run_seconds']:.0f} s; "
            f"cores: Celery workers {cores.get('celery_workers', 0):.2f}, Airflow's services "
            f"{cores.get('airflow_services', 0):.2f}, ES server {cores.get('es_server', 0):.2f}, S3 server "
            f"{cores.get('s3_server', 0):.2f}, mysqld {cores.get('mysqld', 0):.2f}, "
            f"machine {cores['machine_busy']:.2f} of {figures.get('machine', {}).get('cpu_count')}"
        )
    return lines


def _dashboard_text(figures: dict[str, Any]) -> list[str]:
    if not ok(dashboard := figures.get("dashboard")):
        return []
    figures = dashboard
    ledger = figures["ledger"]
    lines = [
        f"Dashboard queries: ledger of {ledger['job_runs']} days, {ledger['batch_progress']:,} batches, "
        f"{ledger['message_tracking']:,} tracked messages (generated in {figures['generate_seconds']:.0f}s); "
        f"median / max of {figures['repeats']} answers:"
    ]
    for name, timing in figures["answers_ms"].items():
        lines.append(f"  {timing['median_ms']:8.1f} ms / {timing['max_ms']:8.1f} ms  {name}")
    slowest = figures["slowest"]
    lines.append(f"  slowest: {slowest['answer']} ({slowest['max_ms']:.1f} ms max)")
    lines.append(f"  statements scanning a whole table: {', '.join(figures['full_scans']) or 'none'}")
    return lines


def cpu_split(cpu: dict[str, float | None]) -> str:
    wall = cpu.get("wall") or 0.0
    busy = (cpu.get("machine_busy") or 0.0) / wall if wall else 0.0
    part = {name: "?" if cpu.get(name) is None else f"{cpu[name]:.1f}" for name in ("workers", "es_server", "mysqld")}
    return (
        f"{wall:5.1f}s wall: worker {part['workers']} · ES server {part['es_server']} · "
        f"mysqld {part['mysqld']}; machine {busy:.2f} busy"
    )


# -- docs/performance.md -----------------------------------------------------------------------


def render_docs(results: dict[str, Any]) -> str:
    """docs/performance.md: one table of a run's figures, each with its target and verdict."""
    machine = results.get("machine", {})
    lines = [
        "# Performance",
        "",
        "<!-- Rendered by `python -m bench --render-docs` from the results file named below; do not edit. -->",
        "",
        f"The latest full run of the bench (every phase): commit `{results.get('commit')}`, "
        f"{machine.get('cpu_model') or 'CPU model not recorded'}, {machine.get('cpu_count')} CPUs, "
        f"{machine.get('date')}, {results.get('duration_seconds', 0):,.0f} s "
        f"(`{results.get('command', 'python -m bench')}`; results file `{results.get('path', '?')}`).",
    ]
    if results.get("source"):
        lines += ["", results["source"]]
    lines += ["", "| phase | figure | measured | target | verdict |", "|---|---|---|---|---|"]
    for row in results["summary"]:
        verdict = {True: "MET", False: "**MISSED**", None: "—"}[row["met"]]
        lines.append(f"| {row['phase']} | {row['figure']} | {row['measured']} | {row['target'] or '—'} | {verdict} |")
    lines += [f"\n- {note}" if number == 0 else f"- {note}" for number, note in enumerate(results.get("notes", []))]
    if ok(layouts := results.get("layouts")):
        lines += [
            "",
            "## What each archive layout costs",
            "",
            f"From the `layouts` phase above (one window of {layouts['size']:,} messages in each layout, in batches "
            f"of {layouts.get('batch_size', 500):,}), at S3 "
            f"Standard list prices (us-east-1: ${PUT_PRICE_PER_1000} per 1,000 PUTs, ${STORAGE_PRICE_PER_GB_MONTH} "
            "per GB-month); manifests, LIST and GET requests left out:",
            "",
            *cost_table(layouts),
        ]
    lines += [
        "",
        "What each phase measures: `bench/run.py`. Designs measured and rejected: "
        "[0003](decisions/0003-botocore-over-the-crt.md), [0006](decisions/0006-rejected-extraction-designs.md), "
        "[0007](decisions/0007-s3-stand-ins.md).",
    ]
    return "\n".join(lines) + "\n"


def write_docs(path: Path) -> Path:
    """Render docs/performance.md from the results file at ``path``."""
    results = json.loads(path.read_text(encoding="utf-8"))
    results["path"] = str(path.resolve().relative_to(REPO)) if path.resolve().is_relative_to(REPO) else str(path)
    DOCS_PAGE.write_text(render_docs(results), encoding="utf-8")
    return DOCS_PAGE
