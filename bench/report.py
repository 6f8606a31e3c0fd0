"""Figures from the measurements: rates, ratios, targets met or missed, and the printed table.

``python -m bench.report [bench/results/latest.json]`` prints the Markdown version of a saved run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from bench.measure import combined_rate, rate

RESULTS = Path(__file__).resolve().parent / "results"

NESTED_STAGES = ("s3_client_setup",)
TARGET_SPEEDUP = 30.0
TARGET_EFFICIENCY = 0.70
TARGET_EXTRACTION_RATIO = 1.5
TARGET_EXTRACTION_RATIO_DEFAULT_MYSQL = 3.0
TARGET_EXTRACT_RSS_MB = 300.0
TARGET_EXTRACT_RSS_IDS = 1_000_000
TARGET_AIRFLOW_OVERHEAD_S = 1.0
# After retention a run's ledger statements together cost at most this much more than on a small
# ledger measured in the same rounds (the empty-ledger point shows the noise between two small ones).
TARGET_LEDGER_AFTER_RETENTION = 1.25


def derive(raw: dict[str, Any]) -> dict[str, Any]:
    """Add rates, ratios and target verdicts to the raw measurements of a run."""
    figures = dict(raw)
    baseline = raw.get("baseline")
    if baseline and "error" not in baseline:
        baseline["extract_per_s"] = rate(baseline["extracted_ids"], baseline["extract_seconds"])
        baseline["process_per_s"] = rate(baseline["messages"], baseline["process_seconds"])
        baseline["per_s"] = combined_rate(baseline["extract_per_s"], baseline["process_per_s"])
    for run in raw.get("pipeline", []):
        if "error" in run:
            continue
        run["extract_per_s"] = rate(run["completed"], run["extract_seconds"])
        run["process_per_s"] = rate(run["completed"], run["process_seconds"])
        run["per_s"] = combined_rate(run["extract_per_s"], run["process_per_s"])
        run["rss_growth_mb"] = run["peak_rss_mb"] - run["rss_before_mb"]
        stages = run.get("stages", {})
        # s3_client_setup runs inside s3_put: not added twice.
        top_level = [v["seconds"] for name, v in stages.items() if name not in NESTED_STAGES]
        run["other_seconds"] = run["process_seconds"] - sum(top_level)
    ceilings = raw.get("ceilings")
    if ceilings and "error" not in ceilings:
        limits = {
            "s3_put": ceilings["s3"]["per_second"],
            "es_mget": ceilings["mget"]["per_second"],
            "mysql_bulk": ceilings["mysql"]["per_second"],
        }
        slowest = min(limits, key=lambda name: limits[name])
        ceilings["limits"] = limits
        ceilings["slowest"] = slowest
        ceilings["slowest_per_s"] = limits[slowest]
        # The pipeline runs a chunk's stages one after another: this is the most it can do without overlap.
        serial = [limits["s3_put"], ceilings["chunk_read"]["per_second"], limits["mysql_bulk"]]
        ceilings["serial_chunk_per_s"] = 1 / sum(1 / value for value in serial)
    extraction = raw.get("extraction")
    if extraction and "error" not in extraction:
        pipe, bare = extraction["pipeline"], extraction["pit_loop"]
        # each design's ratio is against the bare loop run just before it (same load)
        extraction["ratio"] = pipe["seconds"] / pipe.get("pit_loop_seconds", bare["seconds"])
        sides = [pipe, bare]
        pooled = extraction.get("pipeline_big_pool") or {}
        if "seconds" in pooled:
            extraction["ratio_big_pool"] = pooled["seconds"] / pooled.get("pit_loop_seconds", bare["seconds"])
            sides.append(pooled)
        for where in (extraction.get("designs") or {}).values():
            for run in where.values() if isinstance(where, dict) and "error" not in where else ():
                if isinstance(run, dict) and "extract" in run:
                    sides.append(run["extract"])
        for side in sides:
            side["rss_growth_mb"] = side["peak_rss_mb"] - side["rss_before_mb"]
    dag = raw.get("airflow")
    if dag and "error" not in dag:
        dag["overhead_per_task_s"] = dag["overhead_seconds"] / max(dag["task_instances"], 1)
        dag["overhead_per_mapped_task_s"] = dag["overhead_seconds"] / max(dag["mapped_instances"], 1)
        dag["in_task_overhead_per_mapped_task_s"] = (
            dag["mapped_task_durations_seconds"] - dag["mapped_own_seconds"]
        ) / max(dag["mapped_instances"], 1)
    figures["scaling"] = _scaling(raw.get("pipeline", []))
    figures["targets"] = _targets(figures)
    return figures


def _claim_note(extract: dict[str, Any]) -> str:
    """What the extraction leaves to the batches' claims (the ledger rows), as measured beside it."""
    claim = extract.get("claim_tracking")
    if not claim:
        return ""
    return f"; the claims then track them: {claim['seconds']:.1f}s over {claim['batches']:,} batches one by one"


def main_pipeline(figures: dict[str, Any]) -> dict[str, Any] | None:
    """The largest pipeline run without error: "the pipeline" of the report."""
    runs = [run for run in figures.get("pipeline", []) if "error" not in run]
    return max(runs, key=lambda run: run["completed"]) if runs else None


def _scaling(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    done = sorted((run for run in runs if "error" not in run), key=lambda run: run["completed"])
    if len(done) < 2:
        return None
    rates = [run["process_per_s"] for run in done]
    growth = [run["rss_growth_mb"] for run in done]
    peaks = [run["peak_rss_mb"] for run in done]
    # Linear cost: the per-message rate holds as the window grows (the smallest run carries the
    # fixed per-run costs, so the two largest are compared). Flat memory: the peak does not follow N.
    rate_change = rates[-1] / rates[-2] - 1
    return {
        "messages": [run["completed"] for run in done],
        "process_per_s": rates,
        "peak_rss_mb": peaks,
        "rss_growth_mb": growth,
        "rate_change_largest_vs_middle": rate_change,
        "linear": rate_change >= -0.2,
        "peak_rss_spread_mb": max(peaks) - min(peaks),
        "memory_flat": max(peaks) - min(peaks) <= 50,
    }


def _target(name: str, goal: str, measured: str, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": goal, "measured": measured, "met": met, "note": note}


def _targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    targets = []
    pipe = main_pipeline(figures)
    baseline = figures.get("baseline") or {}
    if pipe and baseline.get("per_s"):
        speedup = pipe["per_s"] / baseline["per_s"]
        targets.append(
            _target(
                "speed-up over the reference design",
                f">= {TARGET_SPEEDUP:.0f}x messages/s (extract + process, one worker)",
                f"{speedup:.1f}x ({pipe['per_s']:.0f} vs {baseline['per_s']:.1f} msg/s; "
                f"processing alone {pipe['process_per_s'] / baseline['process_per_s']:.1f}x)",
                speedup >= TARGET_SPEEDUP,
            )
        )
    ceilings = figures.get("ceilings") or {}
    if pipe and ceilings.get("slowest_per_s"):
        efficiency = pipe["process_per_s"] / ceilings["slowest_per_s"]
        targets.append(
            _target(
                "efficiency vs the slowest stage's ceiling",
                f">= {TARGET_EFFICIENCY:.0%} of min(ceiling msg/s)",
                f"{efficiency:.0%} ({pipe['process_per_s']:.0f} msg/s vs {ceilings['slowest']} "
                f"{ceilings['slowest_per_s']:.0f}/s; stages in series allow {ceilings['serial_chunk_per_s']:.0f}/s)",
                efficiency >= TARGET_EFFICIENCY,
            )
        )
    extraction = figures.get("extraction") or {}
    if extraction.get("ratio") is not None:
        pipe_x, bare = extraction["pipeline"], extraction["pit_loop"]
        targets.append(
            _target(
                "extraction vs bare PIT loop, MariaDB defaults (128 MB buffer pool)",
                f"<= {TARGET_EXTRACTION_RATIO_DEFAULT_MYSQL}x",
                f"{extraction['ratio']:.2f}x ({pipe_x['seconds']:.1f}s vs "
                f"{pipe_x.get('pit_loop_seconds', bare['seconds']):.1f}s, "
                f"{pipe_x['ids']:,} ids{_claim_note(pipe_x)})",
                extraction["ratio"] <= TARGET_EXTRACTION_RATIO_DEFAULT_MYSQL,
            )
        )
        pooled = extraction.get("pipeline_big_pool") or {}
        if extraction.get("ratio_big_pool") is not None:
            pool_gb = pooled["mysql"]["innodb_buffer_pool_size"] / 2**30
            targets.append(
                _target(
                    f"extraction vs bare PIT loop, buffer pool holds the table ({pool_gb:.0f} GB)",
                    f"<= {TARGET_EXTRACTION_RATIO}x",
                    f"{extraction['ratio_big_pool']:.2f}x ({pooled['seconds']:.1f}s vs "
                    f"{pooled.get('pit_loop_seconds', bare['seconds']):.1f}s{_claim_note(pooled)})",
                    extraction["ratio_big_pool"] <= TARGET_EXTRACTION_RATIO,
                )
            )
        elif "error" in pooled:
            targets.append(
                _target(
                    "extraction vs bare PIT loop, buffer pool holds the table",
                    f"<= {TARGET_EXTRACTION_RATIO}x",
                    pooled["error"][:100],
                    None,
                )
            )
        at_scale = pipe_x["ids"] >= TARGET_EXTRACT_RSS_IDS
        targets.append(
            _target(
                "extract path peak RSS",
                f"< {TARGET_EXTRACT_RSS_MB:.0f} MB at {TARGET_EXTRACT_RSS_IDS:,} ids",
                f"{pipe_x['peak_rss_mb']:.0f} MB peak (+{pipe_x['rss_growth_mb']:.0f} MB during extract) "
                f"at {pipe_x['ids']:,} ids"
                + (f"; {pooled['peak_rss_mb']:.0f} MB with the big pool" if "peak_rss_mb" in pooled else ""),
                max(pipe_x["peak_rss_mb"], pooled.get("peak_rss_mb", 0)) < TARGET_EXTRACT_RSS_MB,
                "" if at_scale else "window smaller than the target's 1,000,000 ids (scaled profile)",
            )
        )
    dag = figures.get("airflow") or {}
    if dag.get("overhead_per_mapped_task_s") is not None:
        targets.append(
            _target(
                "Airflow overhead per mapped task (dag.test)",
                f"<= {TARGET_AIRFLOW_OVERHEAD_S:.0f} s",
                f"{dag['overhead_per_mapped_task_s']:.2f} s (all {dag['overhead_seconds']:.1f}s of overhead over "
                f"{dag['mapped_instances']} mapped tasks; {dag['overhead_per_task_s']:.2f} s per task instance)",
                dag["overhead_per_mapped_task_s"] <= TARGET_AIRFLOW_OVERHEAD_S and dag["state"] == "success",
                "" if dag["state"] == "success" else f"run state {dag['state']}",
            )
        )
    targets.extend(_ledger_targets(figures))
    scaling = figures.get("scaling")
    if scaling:
        targets.append(
            _target(
                "cost grows linearly",
                "msg/s of the largest run within 20% of the middle one",
                f"{scaling['rate_change_largest_vs_middle']:+.0%} "
                f"({' / '.join(f'{r:.0f}' for r in scaling['process_per_s'])} msg/s)",
                scaling["linear"],
            )
        )
        targets.append(
            _target(
                "memory stays flat",
                "peak RSS spread across sizes <= 50 MB",
                f"{' / '.join(f'{p:.0f}' for p in scaling['peak_rss_mb'])} MB peak",
                scaling["memory_flat"],
            )
        )
    return targets


# -- rendering ---------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _stages(run: dict[str, Any]) -> str:
    stages = run.get("stages", {})
    seconds = {name: value["seconds"] for name, value in stages.items()}
    parts = [f"{name} {seconds[name]:.1f}" for name in ("es_mget", "es_related", "build_json") if name in seconds]
    if "s3_put" in seconds:
        parts.append(f"s3_put {seconds['s3_put']:.1f} (client setup {seconds.get('s3_client_setup', 0):.1f})")
    if "mysql" in seconds:
        parts.append(f"mysql {seconds['mysql']:.1f}")
    parts.append(f"other {run['other_seconds']:.1f}")
    return f"extract {run['extract_seconds']:.1f} + process {run['process_seconds']:.1f} ({' · '.join(parts)})"


def table_rows(figures: dict[str, Any]) -> list[list[str]]:
    """Rows of the one table: run, messages, msg/s, x baseline, vs ceiling, peak RSS, seconds."""
    rows: list[list[str]] = []
    baseline = figures.get("baseline") or {}
    base_rate = baseline.get("per_s")
    ceilings = figures.get("ceilings") or {}
    slowest = ceilings.get("slowest_per_s")
    if "error" in baseline:
        rows.append(["baseline (reference design)", "-", "error", "", "", "", baseline["error"][:60]])
    elif baseline:
        rows.append(
            [
                "baseline (reference design)",
                f"{baseline['messages']:,}",
                _num(baseline["per_s"], 1),
                "1.0x",
                "-",
                _num(baseline["worker"]["peak_rss_mb"]),
                f"extract {baseline['extract_seconds']:.1f} ({baseline['extracted_ids']:,} ids) "
                f"+ process {baseline['process_seconds']:.1f}",
            ]
        )
    for run in figures.get("pipeline", []):
        if "error" in run:
            rows.append([f"pipeline {run.get('size', '?'):,}", "-", "error", "", "", "", run["error"][:60]])
            continue
        rows.append(
            [
                f"pipeline {run['completed']:,}",
                f"{run['completed']:,}",
                _num(run["per_s"]),
                f"{run['per_s'] / base_rate:.0f}x" if base_rate else "-",
                f"{run['process_per_s'] / slowest:.0%}" if slowest else "-",
                f"{run['peak_rss_mb']:.0f} (+{run['rss_growth_mb']:.0f})",
                _stages(run),
            ]
        )
    if "error" in ceilings:
        rows.append(["ceilings", "-", "error", "", "", "", ceilings["error"][:60]])
    elif ceilings:
        s3, mget, read, mysql = ceilings["s3"], ceilings["mget"], ceilings["chunk_read"], ceilings["mysql"]
        rows += [
            [
                f"ceiling: S3 PUT x{s3['concurrency']} ({s3['body_bytes']:,} B)"
                + (", product client" if "s3_defaults" in ceilings else ""),
                f"{s3['puts']:,}",
                _num(s3["per_second"]),
                "",
                "",
                "",
                f"{s3['seconds']:.1f}",
            ],
            *(
                [
                    [
                        "  (botocore defaults)",
                        f"{ceilings['s3_defaults']['puts']:,}",
                        _num(ceilings["s3_defaults"]["per_second"]),
                        "",
                        "",
                        "",
                        f"{ceilings['s3_defaults']['seconds']:.1f}",
                    ]
                ]
                if "s3_defaults" in ceilings
                else []
            ),
            [
                f"ceiling: ES _mget x{mget['chunk_size']:,}",
                f"{mget['messages']:,}",
                _num(mget["per_second"]),
                "",
                "",
                "",
                f"{mget['seconds']:.1f}",
            ],
            [
                f"  (ES _mget + {read['related_indices']} related searches)",
                f"{read['messages']:,}",
                _num(read["per_second"]),
                "",
                "",
                "",
                f"{read['seconds']:.1f}",
            ],
            [
                f"ceiling: MySQL bulk upsert x{mysql['chunk_size']:,}",
                f"{mysql['rows']:,}",
                _num(mysql["per_second"]),
                "",
                "",
                "",
                f"{mysql['seconds']:.1f}",
            ],
        ]
    extraction = figures.get("extraction") or {}
    if "error" in extraction:
        rows.append(["extraction", "-", "error", "", "", "", extraction["error"][:60]])
    elif extraction:
        pipe, bare = extraction["pipeline"], extraction["pit_loop"]
        rows += [
            [
                "extraction: pipeline.extract",
                f"{pipe['ids']:,}",
                _num(pipe["per_second"]),
                "",
                f"{extraction['ratio']:.2f}x loop",
                f"{pipe['peak_rss_mb']:.0f} (+{pipe['rss_growth_mb']:.0f})",
                f"{pipe['seconds']:.1f}",
            ],
            *(
                [
                    [
                        "extraction: ... buffer pool holds it",
                        f"{extraction['pipeline_big_pool']['ids']:,}",
                        _num(extraction["pipeline_big_pool"]["per_second"]),
                        "",
                        f"{extraction['ratio_big_pool']:.2f}x loop",
                        f"{extraction['pipeline_big_pool']['peak_rss_mb']:.0f}",
                        f"{extraction['pipeline_big_pool']['seconds']:.1f}",
                    ]
                ]
                if extraction.get("ratio_big_pool") is not None
                else []
            ),
            *_design_rows(extraction.get("designs") or {}),
            [
                "extraction: bare PIT loop",
                f"{bare['ids']:,}",
                _num(bare["per_second"]),
                "",
                "",
                f"{bare['peak_rss_mb']:.0f} (+{bare['rss_growth_mb']:.0f})",
                f"{bare['seconds']:.1f}",
            ],
        ]
    dag = figures.get("airflow") or {}
    if "error" in dag:
        rows.append(["Airflow dag.test", "-", "error", "", "", "", dag["error"][:60]])
    elif dag:
        rows.append(
            [
                f"Airflow dag.test ({dag['mapped_instances']} mapped)",
                f"{dag.get('messages', 0):,}",
                _num(rate(dag.get("messages", 0), dag["wall_seconds"])),
                "",
                "",
                _num(dag["worker"]["peak_rss_mb"]),
                f"wall {dag['wall_seconds']:.1f} = own {dag['own_seconds']:.1f} + Airflow "
                f"{dag['overhead_seconds']:.1f} ({dag['overhead_per_mapped_task_s']:.2f}/mapped task)",
            ]
        )
    return rows


HEADER = ["run", "messages", "msg/s", "x base", "vs ceiling", "peak RSS MB", "seconds"]


def render_text(figures: dict[str, Any]) -> str:
    rows = [HEADER, *table_rows(figures)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, len(widths))]
        lines.append("  ".join([*cells, row[-1]]))
        if number == 0:
            lines.append("-" * (sum(widths) + 2 * len(widths) + len("seconds")))
    lines.append("")
    lines.append(_preamble(figures))
    for section in (
        _candidates_text(figures),
        _s3_client_text(figures),
        _cpu_text(figures),
        _scaleout_text(figures),
        _extraction_cpu_text(figures),
        _ledger_text(figures),
    ):
        if section:
            lines.append("")
            lines.extend(section)
    lines.append("")
    for target in figures.get("targets", []):
        verdict = {True: "MET   ", False: "MISSED", None: "n/a   "}[target["met"]]
        note = f" [{target['note']}]" if target["note"] else ""
        lines.append(f"{verdict} {target['name']}: {target['measured']} (target {target['target']}){note}")
    for phase, error in (figures.get("errors") or {}).items():
        lines.append(f"ERROR  {phase}: {error.splitlines()[-1] if error else ''}")
    return "\n".join(lines)


def _candidates_text(figures: dict[str, Any]) -> list[str]:
    info = figures.get("s3_candidates") or {}
    if not info.get("candidates"):
        return []
    lines = ["S3 server candidates (PUTs straight at the server, 32 concurrent, one boto3 client process):"]
    for result in info["candidates"].values():
        if "error" in result:
            lines.append(f"  {result['name']:<34} unavailable: {result['error'][:100]}")
            continue
        verdict = "correct" if result["correct"] else "INCORRECT (" + "; ".join(result["problems"])[:100] + ")"
        lines.append(
            f"  {result['name']:<34} {result['per_second']:>7,.0f} PUT/s measured; server CPU "
            f"{result['server_cpu_ms_per_put'] or 0:.2f} ms/PUT = {result['server_capacity_per_core'] or 0:>7,.0f} "
            f"PUT/s per core (arithmetic); client CPU {result['client_cpu_ms_per_put']:.2f} ms/PUT; {verdict}"
        )
    lines.append(f"  used for the run: {info.get('used')} (behind the latency proxy)")
    return lines


def _s3_client_text(figures: dict[str, Any]) -> list[str]:
    ceilings = figures.get("ceilings") or {}
    if "s3_defaults" not in ceilings:
        return []
    product, defaults = ceilings["s3"], ceilings["s3_defaults"]
    change = product["cpu_ms_per_put"] / defaults["cpu_ms_per_put"] - 1
    return [
        f"S3 client CPU per PUT, one process, alternating rounds through the latency proxy "
        f"(x{product['concurrency']}, {product['body_bytes']:,} B, load average {product['load_average_1m']:.1f}): "
        f"product {product['cpu_ms_per_put']:.2f} ms ({_num(product['per_second'])} PUT/s), "
        f"botocore defaults {defaults['cpu_ms_per_put']:.2f} ms ({_num(defaults['per_second'])} PUT/s); {change:+.0%}",
        f"  Python function calls per PUT (load-independent): product {_num(product.get('python_calls_per_put'))}, "
        f"botocore defaults {_num(defaults.get('python_calls_per_put'))}",
    ]


def _cpu_text(figures: dict[str, Any]) -> list[str]:
    pipe = main_pipeline(figures)
    if not pipe or "process_cpu_seconds" not in pipe:
        return []
    done = max(pipe["completed"], 1)
    stages = pipe.get("stages", {})
    parts = [
        f"{name} {1000 * value.get('cpu_seconds', 0) / done:.2f}"
        for name, value in stages.items()
        if name not in NESTED_STAGES
    ]
    share = pipe["process_cpu_seconds"] / pipe["process_seconds"] if pipe["process_seconds"] else 0
    return [
        f"one worker, CPU per message ({pipe['completed']:,} messages): "
        f"{1000 * pipe['process_cpu_seconds'] / done:.2f} ms in all ({' · '.join(parts)} ms); "
        f"the worker used {share:.2f} of a core while processing"
    ]


def _scaleout_text(figures: dict[str, Any]) -> list[str]:
    scale = figures.get("scaleout") or {}
    if "error" in scale:
        return [f"scale-out: error {scale['error'][:100]}"]
    if not scale.get("runs"):
        return []
    first = scale["runs"][0]["per_second"]
    lines = [
        f"scale-out: N worker processes over one window ({scale['size']:,} messages), cores used during processing:"
    ]
    for run in scale["runs"]:
        cores = run["cores_used"]
        label = f"N={run['workers']}" + (f", {run['variant']}" if run.get("variant") else "")
        lines.append(
            f"  {label}: {run['per_second']:>6,.0f} msg/s ({run['per_second'] / first:.2f}x N=1); "
            f"workers {cores['workers_total']:.2f} (max one {cores['per_worker_max']:.2f}), "
            f"ES server {cores.get('es_server') or 0:.2f}, S3 server {cores.get('s3_server') or 0:.2f}, "
            f"S3 proxy {cores.get('s3_proxy') or 0:.2f}, mysqld {cores.get('mysqld') or 0:.2f}, "
            f"machine {cores['machine_busy']:.2f} of {run['cpu_count']}; "
            f"{run['cpu_ms_per_message']:.2f} ms worker CPU/msg; saturated: {run['saturated']}"
        )
    return lines


def _ledger_text(figures: dict[str, Any]) -> list[str]:
    ledger = figures.get("ledger") or {}
    if "error" in ledger:
        return [f"ledger size: error {ledger['error'][:100]}"]
    if not ledger.get("points"):
        return []
    first = ledger["points"][0]
    steps = list(first["seconds"])
    lines = [
        f"ledger size: a run's statements (ms, median of {first['repeats']} fresh jobs of "
        f"{first['job_messages']:,} messages) with N rows in message_tracking; each point in alternating "
        "rounds with a small ledger on the same server (its rows in brackets), and the point / small ratio:",
        "  " + f"{'':<28}{'rows':>12}  " + "  ".join(f"{step:>17}" for step in steps) + f"  {'all':>7}",
    ]
    for point in ledger["points"]:
        small = point["small_seconds"]
        small_rows = f"({point['small_ledger_rows']:,})"
        lines.append(
            "  "
            + f"{point.get('label', ''):<28}{point['ledger_rows']:>12,}  "
            + "  ".join(f"{1000 * point['seconds'][step]:>17.1f}" for step in steps)
            + f"  {1000 * sum(point['seconds'].values()):>7.1f}"
        )
        lines.append(
            "  "
            + f"{'  small ledger, same rounds':<28}{small_rows:>12}  "
            + "  ".join(f"{1000 * small[step]:>17.1f}" for step in steps)
            + f"  {1000 * sum(small.values()):>7.1f}"
        )
        lines.append(
            "  "
            + f"{'  ratio':<28}{'':>12}  "
            + "  ".join(f"{point['seconds'][step] / small[step]:>16.2f}x" for step in steps)
            + f"  {ledger_cost_ratio(point):>6.2f}x"
        )
    made = [p["generated"] for p in ledger["points"] if p.get("generated")]
    if made:
        rows = sum(m["rows"] for m in made)
        seconds = sum(m["seconds"] for m in made)
        lines.append(f"  (tests/support/ledger_generator.py generated {rows:,} rows in {seconds:.0f}s)")
    purge = ledger.get("purge")
    if purge:
        lines.append(
            f"  retention (keep {purge['keep_days']} days, chunks of {purge['chunk_rows']:,}): removed "
            f"{purge['rows']:,} rows of {purge['days']} days in {purge['chunks']:,} chunks in "
            f"{purge['wall_seconds']:.1f}s ({purge['rows_per_second'] or 0:,.0f} rows/s)"
        )
        wait = purge.get("innodb_purge_wait")
        if isinstance(wait, dict):
            lines.append(
                f"  then InnoDB's purge of the deleted rows: history list {wait['history_before']:,} -> "
                f"{wait['history_after']:,} in {wait['seconds']:.0f}s, before the after-retention point"
            )
    return lines


def _ledger_targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    points = {point["label"]: point for point in (figures.get("ledger") or {}).get("points", [])}
    after = points.get("after retention")
    if after is None:
        return []
    grown = [point for point in (figures.get("ledger") or {})["points"] if point["label"] == "no retention"]
    control = points.get("empty ledger")
    context = (
        [f"with {grown[-1]['ledger_rows']:,} rows and no retention {ledger_cost_ratio(grown[-1]):.2f}x"]
        if grown
        else []
    )
    if control is not None:
        context.append(f"empty vs small, the noise: {ledger_cost_ratio(control):.2f}x")
    ratio = ledger_cost_ratio(after)
    return [
        _target(
            "ledger statements after retention vs a small ledger",
            f"<= {TARGET_LEDGER_AFTER_RETENTION:.2f}x (all of a run's statements, same rounds)",
            f"{ratio:.2f}x ({1000 * sum(after['seconds'].values()):.0f} ms vs "
            f"{1000 * sum(after['small_seconds'].values()):.0f} ms; " + "; ".join(context) + ")",
            ratio <= TARGET_LEDGER_AFTER_RETENTION,
        )
    ]


def ledger_cost_ratio(point: dict[str, Any]) -> float:
    """A point's statements together against the small ledger's in the same rounds."""
    return sum(point["seconds"].values()) / sum(point["small_seconds"].values())


def _preamble(figures: dict[str, Any]) -> str:
    machine = figures.get("machine", {})
    latency = figures.get("latency", {})
    es, s3 = latency.get("elasticsearch", {}), latency.get("s3", {})
    return (
        f"{figures.get('profile', {}).get('name', '?')} run, {figures.get('duration_seconds', 0):.0f}s, "
        f"{machine.get('cpu_count')} CPUs; injected latency: "
        f"Elasticsearch {es.get('fixed_ms')}+U(0,{es.get('jitter_ms')}) ms, "
        f"S3 {s3.get('fixed_ms')}+U(0,{s3.get('jitter_ms')}) ms per request; MySQL local, none. "
        "msg/s = extract + process on one worker; vs ceiling = processing msg/s / slowest stage ceiling."
    )


def render_markdown(figures: dict[str, Any]) -> str:
    rows = table_rows(figures)
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(["---", *["---:"] * (len(HEADER) - 2), "---"]) + "|",
    ]
    lines += ["| " + " | ".join(cell.strip() or " " for cell in row) + " |" for row in rows]
    lines.append("")
    lines.append(_preamble(figures))
    lines.append("")
    lines.append("| target | goal | measured | verdict |")
    lines.append("|---|---|---|---|")
    for target in figures.get("targets", []):
        verdict = {True: "met", False: "**missed**", None: "n/a"}[target["met"]]
        note = f" ({target['note']})" if target["note"] else ""
        lines.append(f"| {target['name']} | {target['target']} | {target['measured']} | {verdict}{note} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS / "latest.json"
    print(render_markdown(json.loads(path.read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def _design_rows(designs: dict[str, Any]) -> list[list[str]]:
    """The comparator designs of the extraction, each with its own bare loop's ratio."""
    rows = []
    for where, label in (("shared_defaults", "defaults"), ("big_pool", "big pool")):
        runs = designs.get(where) or {}
        if "error" in runs:
            continue
        for design, run in runs.items():
            if design == "product":
                continue
            extract = run["extract"]
            rows.append(
                [
                    f"extraction: comparator {design} ({label})",
                    f"{extract['ids']:,}",
                    _num(extract["per_second"]),
                    "",
                    f"{run['ratio']:.2f}x loop",
                    f"{extract['peak_rss_mb']:.0f}",
                    f"{extract['seconds']:.1f}",
                ]
            )
    return rows


_EXTRACTION_PLACES = {"shared_defaults": "defaults", "big_pool": "big pool"}


def _extraction_cpu_text(figures: dict[str, Any]) -> list[str]:
    """Where each extraction run's CPU went: the worker, the Elasticsearch-compatible server, mysqld."""
    designs = (figures.get("extraction") or {}).get("designs") or {}
    rows = []
    for place, runs in designs.items():
        for design, run in (runs or {}).items():
            if not isinstance(run, dict) or "extract" not in run:
                continue
            for label, result in (("bare PIT loop", run["pit_loop"]), (design, run["extract"])):
                cpu = result.get("cpu_seconds")
                if cpu:
                    rows.append(f"  {_EXTRACTION_PLACES.get(place, place) + ', ' + label:<32} {cpu_split(cpu)}")
    if not rows:
        return []
    cores = os.cpu_count() or 1
    return [f"extraction, CPU seconds by process (machine: busy cores over the run, of {cores}):", *rows]


def cpu_split(cpu: dict[str, float | None]) -> str:
    wall = cpu.get("wall") or 0.0

    def seconds(name: str) -> str:
        value = cpu.get(name)
        return "?" if value is None else f"{value:.1f}"

    busy = (cpu.get("machine_busy") or 0.0) / wall if wall else 0.0
    return (
        f"{wall:5.1f}s wall: worker {seconds('workers')} · ES server {seconds('es_server')} · "
        f"mysqld {seconds('mysqld')}; machine {busy:.2f} busy"
    )
