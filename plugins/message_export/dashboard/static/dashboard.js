// The message_export dashboard. Every value from the ledger is inserted with textContent, never as
// HTML, so message ids and reasons show exactly as stored. Actions go through Airflow's own REST API
// with the logged-in user's session, so the page has no privilege of its own.
"use strict";

const DAG_ID = "message_export";
const PREFIX = "/message-export/";
const BASE = location.pathname.slice(0, location.pathname.indexOf(PREFIX));
const LIVE_SECONDS = 5;
const IDLE_SECONDS = 30;
const TREND_RANGES = [30, 90, 365];
const TREND_SECONDS = 60;

// rows per page of a day's batches and failed messages; ?rows=N (1 to 500) asks for another number
const DAY_ROWS = (() => {
  const rows = Number(new URLSearchParams(location.search).get("rows") ?? 50);
  return Number.isInteger(rows) && rows >= 1 && rows <= 500 ? rows : 50;
})();

// A day's batches and failed messages are paged by key, not by position: each list keeps the
// "after" cursors of the pages opened so far (the first page has none), so "Previous" goes back
// to a page already seen and "Next" starts after the last row shown.
const state = {
  page: 1,
  perPage: 31,
  day: null,
  batchCursors: [null],
  failureCursors: [null],
  runs: new Map(),
  timer: null,
  lastRun: null,
  // what Airflow lets this user do: null until /api/me answered (no action is offered before)
  canExport: null,
  trendDays: 30,
  trendsLoadedAt: 0,
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function num(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US");
}

function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function progressBar(counts) {
  const total = Math.max(counts.total, 1);
  const bar = el("div", {
    class: "progress",
    role: "img",
    "data-completed": counts.completed,
    "data-failed": counts.failed,
    "data-pending": counts.pending,
    "aria-label": `${counts.completed} completed, ${counts.failed} failed, ${counts.pending} pending of ${counts.total}`,
    title: `${counts.completed} completed · ${counts.failed} failed · ${counts.pending} pending`,
  });
  for (const part of ["completed", "failed", "pending"]) {
    const segment = el("span", { class: part });
    segment.style.width = `${(100 * counts[part]) / total}%`; // CSSOM, allowed by the page's style-src 'self'
    bar.append(segment);
  }
  return bar;
}

async function getJson(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" }, ...options });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? response.statusText);
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function notice(text, isError = false) {
  const box = document.getElementById("notice");
  box.hidden = !text;
  box.className = isError ? "notice error" : "notice";
  box.replaceChildren();
  if (text) box.append(typeof text === "string" ? document.createTextNode(text) : text);
}

function runLink(runId) {
  if (!runId) return document.createTextNode("—");
  return el("a", {
    href: `${BASE}/dags/${DAG_ID}/runs/${encodeURIComponent(runId)}`,
    target: "_top",
    class: "run-link",
    text: runId,
  });
}

// -- actions --------------------------------------------------------------------------------------

// The UI shows plugin pages in a sandboxed iframe without modals (window.confirm is blocked),
// so the confirmation is a bar of its own.
function askToExport(day, reprocess) {
  const verb = reprocess ? "Re-export" : "Export";
  const bar = el(
    "span",
    { id: "confirm-export" },
    `${verb} ${day}${reprocess ? ", archiving its messages again" : ""}? This starts a ${DAG_ID} run as you. `,
    el("button", { type: "button", class: "confirm", text: `Start ${verb.toLowerCase()}`, onclick: () => triggerExport(day, reprocess) }),
    " ",
    el("button", { type: "button", class: "cancel", text: "Cancel", onclick: () => notice("") }),
  );
  notice(bar);
}

async function triggerExport(day, reprocess) {
  const verb = reprocess ? "Re-export" : "Export";
  notice(`${verb} of ${day}: asking Airflow for a run…`);
  try {
    const run = await getJson(`${BASE}/api/v2/dags/${DAG_ID}/dagRuns`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ logical_date: null, conf: { start_date: day, reprocess } }),
    });
    state.lastRun = { runId: run.dag_run_id, day, state: run.state };
    showLastRun();
    schedule(LIVE_SECONDS);
  } catch (error) {
    notice(`${verb} of ${day} was refused by Airflow: ${error.message}`, true);
  }
}

function showLastRun() {
  const run = state.lastRun;
  if (!run) return;
  const line = el("span", { id: "triggered-run" });
  line.append(`Run for ${run.day}: `, runLink(run.runId), ` — ${run.state ?? "queued"}`);
  notice(line);
}

async function refreshLastRun() {
  const run = state.lastRun;
  if (!run || ["success", "failed"].includes(run.state)) return;
  try {
    const fresh = await getJson(`${BASE}/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(run.runId)}`);
    run.state = fresh.state;
    showLastRun();
  } catch (error) {
    /* the next refresh tries again */
  }
}

// -- durations from Airflow's own records of the runs ------------------------------------------

async function loadRunTimes(runIds) {
  const wanted = runIds.filter((id) => id && !(state.runs.get(id)?.final));
  if (!wanted.length) return;
  const seconds = (start, end) => (start ? ((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000 : null);
  try {
    const body = await getJson(`${BASE}/api/v2/dags/~/dagRuns/~/taskInstances/list`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ dag_ids: [DAG_ID], dag_run_ids: wanted, task_ids: ["extract"], page_limit: wanted.length }),
    });
    for (const ti of body.task_instances ?? []) {
      const entry = state.runs.get(ti.dag_run_id) ?? {};
      entry.extraction = seconds(ti.start_date, ti.end_date);
      state.runs.set(ti.dag_run_id, entry);
    }
  } catch (error) {
    /* durations stay unknown ("—") when Airflow does not answer */
  }
  await Promise.all(
    wanted.map(async (runId) => {
      try {
        const run = await getJson(`${BASE}/api/v2/dags/${DAG_ID}/dagRuns/${encodeURIComponent(runId)}`);
        const entry = state.runs.get(runId) ?? {};
        entry.run = seconds(run.start_date, run.end_date);
        entry.final = Boolean(run.end_date);
        state.runs.set(runId, entry);
      } catch (error) {
        // a run Airflow no longer knows keeps "—" and is not asked for again
        state.runs.set(runId, { ...(state.runs.get(runId) ?? {}), final: true });
      }
    }),
  );
}

// -- the days ------------------------------------------------------------------------------------

function summaryText(data) {
  const s = data.summary;
  const behind = s.chain_days_behind
    ? `the daily chain is ${s.chain_days_behind} day(s) behind (next: ${s.chain_next_day})`
    : "the daily chain is up to date";
  return (
    `${s.due_days} days due since ${data.configured_start_date} up to ${data.last_due_day}: ` +
    `${s.completed_days} completed, ${s.failed_days} failed, ${s.running_days} running, ` +
    `${s.not_exported_days} not exported; ${behind}.`
  );
}

function pager(container, page, pages, go) {
  container.replaceChildren(
    el("button", { type: "button", text: "‹ Newer", onclick: () => go(page - 1), ...(page <= 1 ? { disabled: "" } : {}) }),
    el("span", { text: `page ${page} of ${pages}` }),
    el("button", { type: "button", text: "Older ›", onclick: () => go(page + 1), ...(page >= pages ? { disabled: "" } : {}) }),
  );
}

function keysetPager(container, cursors, list, go) {
  const page = cursors.length;
  const pages = Math.max(Math.ceil(list.total / list.per_page), page);
  container.replaceChildren(
    el("button", { type: "button", class: "previous", text: "‹ Previous", onclick: () => go(cursors.slice(0, -1)), ...(page <= 1 ? { disabled: "" } : {}) }),
    el("span", { text: `page ${page} of ${pages}` }),
    el("button", {
      type: "button",
      class: "next",
      text: "Next ›",
      onclick: () => go([...cursors, list.next_after]),
      ...(list.next_after === null || list.next_after === undefined ? { disabled: "" } : {}),
    }),
  );
}

function dayQuery() {
  const query = new URLSearchParams({ per_page: String(DAY_ROWS) });
  const batchesAfter = state.batchCursors.at(-1);
  const failuresAfter = state.failureCursors.at(-1);
  if (batchesAfter !== null) query.set("batches_after", String(batchesAfter));
  if (failuresAfter !== null) query.set("failures_after", failuresAfter);
  return query.toString();
}

function dayRow(day) {
  const times = state.runs.get(day.dag_run_id) ?? {};
  const exported = day.status !== "not_exported";
  const open = el("button", { type: "button", class: "link day-link", text: day.day, onclick: () => openDay(day.day) });
  // the page never offers what the user's role cannot do: without the right to start runs, no button
  const action = state.canExport
    ? el("button", {
        type: "button",
        class: `small ${exported ? "reexport" : "export"}`,
        text: exported ? "Re-export this day" : "Export this day",
        onclick: () => askToExport(day.day, exported),
      })
    : document.createTextNode("");
  const row = el(
    "tr",
    { "data-day": day.day, "data-status": day.status, ...(state.day === day.day ? { class: "selected" } : {}) },
    el("td", { class: "day" }, open),
    el("td", {}, el("span", { class: `status ${day.status}`, text: day.status.replace("_", " ") })),
    el("td", {}, progressBar(day.counts)),
    el("td", { class: "num", text: num(day.counts.completed) }),
    el("td", { class: "num", text: num(day.counts.failed) }),
    el("td", { class: "num", text: num(day.counts.pending) }),
    el("td", { class: "num", text: num(day.counts.total) }),
    el("td", { class: "num", text: num(day.elasticsearch_count) }),
    el("td", { class: "num", text: num(day.archived_objects) }),
    el("td", { class: "num", text: duration(times.extraction) }),
    el("td", { class: "num", text: duration(times.run) }),
    el("td", {}, runLink(day.dag_run_id)),
    el("td", { class: "action-column" }, action),
  );
  if (day.problem) row.title = day.problem;
  return row;
}

async function loadDays() {
  const data = await getJson(`api/days?page=${state.page}&per_page=${state.perPage}`);
  await loadRunTimes(data.days.map((day) => day.dag_run_id).filter(Boolean));
  document.getElementById("summary").textContent = summaryText(data);
  document.querySelector("#days tbody").replaceChildren(...data.days.map(dayRow));
  pager(document.getElementById("days-pager"), data.page, data.pages, (page) => {
    state.page = page;
    refresh();
  });
  return data.days.some((day) => day.status === "running");
}

// -- one day -------------------------------------------------------------------------------------

function figure(label, value) {
  return el("div", { class: "figure" }, el("strong", { text: `${label}: ` }), value);
}

async function loadDay() {
  if (!state.day) return false;
  const [day, query] = [state.day, dayQuery()];
  const data = await getJson(`api/days/${day}?${query}`);
  // the user paged or opened another day meanwhile: the answer to that request draws the lists
  if (day !== state.day || query !== dayQuery()) return false;
  document.getElementById("day-section").hidden = false;
  document.getElementById("day-title").textContent = `Day ${data.day}`;
  const figures = document.getElementById("day-figures");
  figures.replaceChildren(
    figure("Status", el("span", { class: `status ${data.status}`, text: data.status.replace("_", " ") })),
    figure("Progress", progressBar(data.counts)),
    figure(
      "Messages",
      document.createTextNode(
        `${num(data.counts.completed)} completed, ${num(data.counts.failed)} failed, ${num(data.counts.pending)} pending of ${num(data.counts.total)} tracked`,
      ),
    ),
    figure(
      "Reconciliation",
      document.createTextNode(
        `Elasticsearch ${num(data.elasticsearch_count)} · tracked ${num(data.counts.total)} · S3 objects ${num(data.archived_objects)}`,
      ),
    ),
    figure("Airflow run", runLink(data.dag_run_id)),
  );
  if (data.problem) figures.append(figure("Problem", el("span", { class: "literal reason", text: data.problem })));
  if (data.ledger_purged_at)
    figures.append(
      figure(
        "Ledger",
        document.createTextNode(
          `message rows removed by retention on ${data.ledger_purged_at.slice(0, 10)}: figures as recorded when the day completed; the day's manifest in the archive lists every message`,
        ),
      ),
    );
  const batches = data.batches ?? { items: [], total: 0, per_page: DAY_ROWS, next_after: null };
  document.querySelector("#batches tbody").replaceChildren(
    ...batches.items.map((batch) =>
      el(
        "tr",
        { "data-batch": batch.batch_number },
        el("td", { class: "num", text: batch.batch_number }),
        el("td", {}, el("span", { class: `status ${batch.status}`, text: batch.status })),
        el("td", {}, progressBar(batch.counts)),
        el("td", { class: "num", text: num(batch.counts.completed) }),
        el("td", { class: "num", text: num(batch.counts.failed) }),
        el("td", { class: "num", text: num(batch.counts.pending) }),
        el("td", { class: "num", text: num(batch.counts.total) }),
      ),
    ),
  );
  keysetPager(document.getElementById("batch-pager"), state.batchCursors, batches, (cursors) => {
    state.batchCursors = cursors;
    refresh();
  });
  const failures = data.failures ?? { items: [], total: 0, per_page: DAY_ROWS, next_after: null };
  document.querySelector("#failures tbody").replaceChildren(
    ...failures.items.map((failure) =>
      el(
        "tr",
        {},
        el("td", {}, el("span", { class: "literal message-id", text: failure.message_id })),
        el("td", { class: "num", text: failure.attempts }),
        el("td", {}, el("span", { class: "literal reason", text: failure.reason })),
        el("td", { text: failure.last_attempted ?? "—" }),
      ),
    ),
  );
  keysetPager(document.getElementById("failure-pager"), state.failureCursors, failures, (cursors) => {
    state.failureCursors = cursors;
    refresh();
  });
  return data.status === "running";
}

function openDay(day) {
  state.day = day;
  state.batchCursors = [null];
  state.failureCursors = [null];
  const url = new URL(location.href);
  url.searchParams.set("day", day);
  history.replaceState(null, "", url);
  return refresh();
}

// -- search --------------------------------------------------------------------------------------

async function findMessage(event) {
  event.preventDefault();
  // the id is sent exactly as typed: spaces and Unicode form are part of an id
  const id = document.getElementById("find-id").value;
  const box = document.getElementById("find-answer");
  box.hidden = false;
  if (!id) {
    box.textContent = "Type a message id.";
    return;
  }
  try {
    const data = await getJson(`api/messages?message_id=${encodeURIComponent(id)}`);
    box.replaceChildren(
      el("div", {}, el("strong", { text: "Message " }), el("span", { class: "literal message-id", text: data.message_id })),
      el("div", { class: "find-result", text: data.answer }),
    );
    if (data.found) box.append(el("div", { text: `Day ${data.day}, ${data.attempts} attempt(s), run ` }, runLink(data.dag_run_id)));
    if (data.where) box.append(whereBlock(data.message_id, data.where));
  } catch (error) {
    box.textContent = `Search failed: ${error.message}`;
  }
}

// Where an archived message's document is: its object, and in the batch layout the byte range of its
// gzip member (one HTTP Range GET reads it); its size and SHA-256; the command that reads it back; and
// the document itself, read through the dashboard exactly as the command reads it.
function whereBlock(messageId, where) {
  const bytes =
    where.layout === "batch"
      ? `bytes ${num(where.offset)} to ${num(where.offset + where.length - 1)} of the object (${where.range}): one gzip member, ${num(where.length)} bytes`
      : "the whole object";
  const block = el(
    "div",
    { class: "where" },
    figure("Object", el("span", { class: "literal where-uri", text: where.s3_uri })),
    figure("Bytes", el("span", { class: "where-bytes", text: bytes })),
    figure("Document", document.createTextNode(`${num(where.size)} bytes, SHA-256 ${where.sha256 ?? "not recorded"}`)),
    figure("Read it back", el("code", { class: "literal where-command", text: where.fetch_command })),
  );
  const shown = el("pre", { class: "document", hidden: "" });
  const button = el("button", {
    type: "button",
    class: "small show-document",
    text: "Show the document",
    onclick: async () => {
      button.disabled = true;
      try {
        const response = await fetch(`api/messages/document?message_id=${encodeURIComponent(messageId)}`, { credentials: "same-origin" });
        const text = await response.text();
        if (!response.ok) {
          let detail = text;
          try {
            detail = JSON.parse(text).detail ?? text;
          } catch (error) {
            /* not JSON: shown as it came */
          }
          throw new Error(`${response.status}: ${detail}`);
        }
        // the archived bytes, laid out for reading; the text is inserted as text, never as HTML
        let pretty = text;
        try {
          pretty = JSON.stringify(JSON.parse(text), null, 2);
        } catch (error) {
          /* shown as archived */
        }
        shown.textContent = pretty;
        shown.hidden = false;
        button.hidden = true;
      } catch (error) {
        shown.textContent = `The document could not be read: ${error.message}`;
        shown.hidden = false;
        button.disabled = false;
      }
    },
  });
  block.append(button, shown);
  return block;
}

// -- who is looking ------------------------------------------------------------------------------

async function loadAbilities() {
  try {
    const me = await getJson("api/me");
    state.canExport = me.can_export === true;
    const note = document.getElementById("role-note");
    note.hidden = state.canExport;
    note.textContent = state.canExport
      ? ""
      : `Signed in as ${me.user}: you can see every figure here. Exporting or re-exporting a day starts a ${DAG_ID} run, which your Airflow role does not allow.`;
  } catch (error) {
    state.canExport = false; // unknown: offer nothing the user might not be allowed to do
  }
  document.body.dataset.canExport = String(state.canExport);
}

// -- trends --------------------------------------------------------------------------------------

function sum(points, key) {
  return points.reduce((total, point) => total + (point[key] ?? 0), 0);
}

function median(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (!sorted.length) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// axis labels: whole numbers with separators, small ones with a decimal
function compact(value) {
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: value < 10 ? 1 : 0 });
}

function seconds(value) {
  if (value < 60) return `${compact(value)}s`;
  return duration(value);
}

function days(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(value < 10 ? 1 : 0)} d`;
}

function drawTrends(data) {
  const points = data.points;
  const exported = points.filter((point) => point.status !== "not_exported");
  // a day opened from a chart is shown where the page's day section is
  const open = (day) => openDay(day).then(() => document.getElementById("day-section").scrollIntoView({ block: "start" }));
  const chart = (id, options, summary) => {
    const container = document.getElementById(id);
    Charts.bars(container, points, { ...options, title: container.querySelector("h3").textContent, onOpen: open });
    container.querySelector(".chart-summary").textContent = summary;
  };
  const none = (point) => `${point.day}: not exported`;
  chart(
    "chart-archived",
    {
      value: (p) => p.archived,
      barClass: () => "archived",
      format: compact,
      describe: (p) => (p.archived === null ? none(p) : `${p.day}: ${num(p.archived)} archived (${p.status.replace("_", " ")})`),
    },
    `${num(sum(points, "archived"))} archived over ${points.length} days (${data.first_day} to ${data.last_day}); ` +
      `${points.length - exported.length} day(s) not exported`,
  );
  const failedDays = points.filter((p) => p.failed > 0);
  chart(
    "chart-failed",
    {
      value: (p) => p.failed,
      barClass: () => "failed",
      format: compact,
      describe: (p) => (p.failed === null ? none(p) : `${p.day}: ${num(p.failed)} failed`),
    },
    `${num(sum(points, "failed"))} failed in total, on ${failedDays.length} day(s)`,
  );
  const durations = points.map((p) => p.duration_seconds);
  const longest = points.reduce((best, p) => ((p.duration_seconds ?? -1) > (best?.duration_seconds ?? -1) ? p : best), null);
  chart(
    "chart-duration",
    {
      value: (p) => p.duration_seconds,
      barClass: (p) => (p.status === "running" ? "open" : "duration"),
      format: seconds,
      describe: (p) =>
        p.duration_seconds === null
          ? `${p.day}: run duration unknown${p.status === "not_exported" ? " (not exported)" : ""}`
          : `${p.day}: run took ${duration(p.duration_seconds)}${p.status === "running" ? " so far" : ""}`,
    },
    longest?.duration_seconds != null
      ? `median ${duration(median(durations))}, longest ${duration(longest.duration_seconds)} (${longest.day})`
      : "no run of these days is known to Airflow",
  );
  const waiting = points.filter((p) => !p.finished);
  const finishedAfter = median(points.filter((p) => p.finished).map((p) => p.days_behind));
  chart(
    "chart-behind",
    {
      value: (p) => p.days_behind,
      barClass: (p) => (p.finished ? "behind" : "open"),
      format: (v) => days(v),
      describe: (p) =>
        p.days_behind === null
          ? `${p.day}: finished, when is unknown`
          : p.finished
            ? `${p.day}: finished ${days(p.days_behind)} after the day ended`
            : `${p.day}: not finished, waiting ${days(p.days_behind)} so far`,
    },
    (finishedAfter === null
      ? "no finished day's finish is known to Airflow; "
      : `finished a median ${days(finishedAfter)} after the day ended; `) + `${waiting.length} day(s) not finished yet`,
  );
}

async function loadTrends(force = false) {
  const charts = document.querySelector(".charts");
  // redrawing would take the keyboard focus away from a day the user is on
  if (!force && (Date.now() - state.trendsLoadedAt < TREND_SECONDS * 1000 || charts.contains(document.activeElement))) return;
  const wanted = state.trendDays;
  const data = await getJson(`api/trends?days=${wanted}`);
  if (wanted !== state.trendDays) return; // another range was chosen meanwhile
  state.trendsLoadedAt = Date.now();
  drawTrends(data);
  charts.dataset.days = String(wanted);
  charts.dataset.points = String(data.points.length);
}

function chooseTrendRange(days) {
  state.trendDays = days;
  const url = new URL(location.href);
  url.searchParams.set("trend", String(days));
  history.replaceState(null, "", url);
  loadTrends(true).catch((error) => notice(`The trends could not be read: ${error.message}`, true));
}

// -- live refresh ----------------------------------------------------------------------------------

function schedule(seconds) {
  clearTimeout(state.timer);
  state.timer = setTimeout(refresh, seconds * 1000);
}

async function refresh() {
  let live = false;
  try {
    const [daysLive, dayLive] = await Promise.all([loadDays(), loadDay(), loadTrends()]);
    await refreshLastRun();
    live = daysLive || dayLive || Boolean(state.lastRun && !["success", "failed"].includes(state.lastRun.state));
    document.getElementById("refreshed").textContent =
      `Updated ${new Date().toISOString().slice(11, 19)} UTC; ` + (live ? `refreshing every ${LIVE_SECONDS}s while a run is going.` : `refreshing every ${IDLE_SECONDS}s.`);
    document.body.dataset.live = String(live);
  } catch (error) {
    notice(`The dashboard could not read the ledger: ${error.message}`, true);
  }
  schedule(live ? LIVE_SECONDS : IDLE_SECONDS);
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  const dagId = params.get("dag_id");
  // Airflow puts a plugin's DAG tab on every DAG's page (an external view cannot be limited to one
  // DAG), so opened from another DAG the page says whose ledger it shows.
  if (dagId && dagId !== DAG_ID) {
    document.getElementById("dag-scope").textContent =
      `This dashboard shows the ${DAG_ID} DAG's export ledger, not ${dagId}'s: Airflow shows this tab on every DAG's page.`;
  }
  if (params.get("day")) state.day = params.get("day");
  const trend = Number(params.get("trend"));
  if (TREND_RANGES.includes(trend)) state.trendDays = trend;
  for (const radio of document.querySelectorAll("input[name=trend-days]")) {
    radio.checked = Number(radio.value) === state.trendDays;
    radio.addEventListener("change", () => chooseTrendRange(Number(radio.value)));
  }
  document.getElementById("find-form").addEventListener("submit", findMessage);
  loadAbilities().then(refresh);
});
