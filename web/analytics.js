// The chat's analytics panel: a few numbers, two charts (plain SVG) and the CSV download.
//
// Every number shown is one value of GET /chats/{id}/analytics, and carries the CSV row it is in:
// data-section, data-subject and data-metric name the row, data-value holds the value as exported.

import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 4000; // while open: the extension counts beside the conversation, a moment later
const FRAME_DEBOUNCE_MS = 800;
const COUNTED = new Set([
  "MessageStored",
  "TurnChanged",
  "UserJoined",
  "UserLeft",
  "AIResponseCompleted",
  "AIResponseFailed",
  "ChatCompleted",
]);

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/** The value as the CSV writes it: empty for null, true/false, numbers as JSON has them. */
function exported(value) {
  if (value === null || value === undefined) return "";
  return String(value);
}

function shown(value, unit) {
  if (value === null || value === undefined) return "–";
  if (unit === "%") return `${Math.round(value * 1000) / 10} %`;
  if (unit === "s") return `${value} s`;
  if (unit === "ms") return `${value} ms`;
  return String(value);
}

/** A number on the page bound to its CSV row. */
function metric(section, subject, name, value, unit = "") {
  return el("span", {
    className: "metric-value",
    "data-testid": "metric",
    "data-section": section,
    "data-subject": subject,
    "data-metric": name,
    "data-value": exported(value),
    "data-unit": unit,
    text: shown(value, unit),
  });
}

function tile(label, section, name, value, unit = "", hint = "") {
  return el(
    "div",
    { className: "tile", title: hint || null },
    metric(section, "", name, value, unit),
    el("span", { className: "tile-label", text: label }),
  );
}

function formatPeriod(period) {
  if (!period.start) return "Nothing counted yet.";
  const start = new Date(period.start);
  const end = new Date(period.end);
  const day = (d) => d.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" });
  const time = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const span = day(start) === day(end) ? `${day(start)}, ${time(start)}–${time(end)}` : `${day(start)} – ${day(end)}`;
  return `Covers ${span} · kept ${period.retention_days} days`;
}

/** Horizontal bars: one per row, its value written at the end (the chart's numbers are metrics too). */
function barChart({ title, rows, section, name, unit = "", testid }) {
  const width = 420;
  const labelWidth = 120;
  const barHeight = 22;
  const gap = 8;
  const max = Math.max(1, ...rows.map((r) => r.value || 0));
  const height = rows.length * (barHeight + gap) + gap;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": title,
    class: "chart",
    "data-testid": testid,
  });
  const legend = el("ul", { className: "chart-values" });
  rows.forEach((row, i) => {
    const y = gap + i * (barHeight + gap);
    const length = Math.max(2, ((width - labelWidth - 70) * (row.value || 0)) / max);
    const middle = y + barHeight / 2 + 4;
    chart.append(
      svg("text", { x: labelWidth - 8, y: middle, "text-anchor": "end", class: "chart-label" }, row.label),
      svg("rect", { x: labelWidth, y, width: length, height: barHeight, rx: 4, class: `bar ${row.kind || ""}` }),
      svg("text", { x: labelWidth + length + 6, y: middle, class: "chart-number" }, shown(row.value, unit)),
    );
    // the same values as page text bound to their CSV rows (and read by screen readers)
    const bound = metric(row.section || section, row.subject, row.metric || name, row.value, unit);
    legend.append(el("li", {}, el("span", { className: "muted", text: `${row.label}: ` }), bound));
  });
  return el("figure", { className: "chart-figure" }, el("figcaption", { text: title }), chart, legend);
}

export class AnalyticsPanel {
  /**
   * @param {{api: import("./api.js").Api, root: HTMLElement, onError: (message: string) => void}} options
   */
  constructor({ api, root, onError }) {
    this.api = api;
    this.root = root;
    this.onError = onError;
    this.chatId = null;
    this.timer = null;
    this.debounce = null;
    this.loading = null;
    this.generation = 0;
    root.querySelector("[data-action=close]").addEventListener("click", () => this.close());
    root.querySelector("[data-action=refresh]").addEventListener("click", () => this.refresh());
    root.querySelector("[data-action=csv]").addEventListener("click", (event) => {
      event.preventDefault();
      this.download();
    });
  }

  get isOpen() {
    return this.chatId !== null;
  }

  open(chatId) {
    this.chatId = chatId;
    this.root.hidden = false;
    this.root.dataset.chatId = chatId;
    this.root.querySelector(".analytics-body").replaceChildren(el("p", { className: "muted", text: "Loading…" }));
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") this.refresh();
    }, POLL_MS);
    return this.refresh();
  }

  close() {
    this.chatId = null;
    this.root.hidden = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    this.timer = null;
  }

  /** A frame of the open chat: numbers may have moved. */
  onFrame(type) {
    if (!this.isOpen || !COUNTED.has(type)) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.refresh(), FRAME_DEBOUNCE_MS);
  }

  async refresh() {
    const chatId = this.chatId;
    if (!chatId) return;
    const generation = ++this.generation;
    this.root.dataset.state = "loading";
    try {
      const report = await this.api.analytics(chatId);
      if (chatId !== this.chatId || generation !== this.generation) return;
      this.render(report);
      this.root.dataset.state = "ready";
      this.root.dataset.generatedAt = report.period.generated_at;
    } catch (error) {
      if (chatId !== this.chatId) return;
      this.root.dataset.state = "error";
      this.root.querySelector(".analytics-body").replaceChildren(
        el("p", { className: "form-error", text: `Could not load the analytics: ${error.message}` }),
      );
    }
  }

  async download() {
    const chatId = this.chatId;
    if (!chatId) return;
    try {
      const text = await this.api.analyticsCsv(chatId);
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const link = el("a", { href: url, download: `parley-analytics-${chatId}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      this.refresh(); // what the panel shows catches up with what was just exported
    } catch (error) {
      this.onError(`Could not download the CSV: ${error.message}`);
    }
  }

  render(report) {
    this.root.querySelector(".analytics-period").textContent = formatPeriod(report.period);
    const body = [];
    if (report.status !== "enabled") {
      const why = {
        disabled: "Analytics are turned off for this chat: new activity is not counted.",
        circuit_open: "Analytics stopped after repeated failures; a moderator can turn them on again.",
        not_installed: "Analytics are not installed on this chat.",
      };
      body.push(el("p", { className: "analytics-note", "data-testid": "analytics-status", text: why[report.status] }));
    }
    const m = report.messages;
    const ai = report.ai;
    const turns = report.turns;
    const e = report.engagement;
    body.push(
      el(
        "div",
        { className: "tiles" },
        tile("Messages", "messages", "count", m.count),
        tile("Active participants", "engagement", "active_participants", e.active_participants, "", "Members who posted"),
        tile("Mean length", "messages", "mean_length", m.mean_length, "", "Characters per message"),
        tile("AI requests", "ai", "requests", ai.requests),
        tile("AI success rate", "ai", "success_rate", ai.success_rate, "%", "Replies / (replies + failures)"),
        tile("Turns", "turns", "count", turns.count, "", "Turn changes in strict modes"),
        tile("Turn time-outs", "turns", "timeouts", turns.timeouts),
        tile("Joins", "engagement", "joins", e.joins),
        tile("Leaves", "engagement", "leaves", e.leaves),
      ),
    );
    const people = e.participants.map((p) => ({
      label: p.kind === "ai" ? `${p.name} (AI)` : p.name,
      value: p.messages,
      subject: p.participant_id,
      kind: p.kind,
    }));
    if (people.length) {
      body.push(
        barChart({
          title: "Messages per participant",
          rows: people,
          section: "engagement.participants",
          name: "messages",
          testid: "chart-participants",
        }),
      );
    }
    if (ai.requests) {
      body.push(
        barChart({
          title: "AI response time",
          unit: "ms",
          testid: "chart-ai",
          rows: [
            { label: "First token p50", value: ai.time_to_first_token_ms.p50, section: "ai.time_to_first_token_ms", subject: "", metric: "p50", kind: "ai" },
            { label: "First token p95", value: ai.time_to_first_token_ms.p95, section: "ai.time_to_first_token_ms", subject: "", metric: "p95", kind: "ai" },
            { label: "Complete p50", value: ai.response_time_ms.p50, section: "ai.response_time_ms", subject: "", metric: "p50" },
            { label: "Complete p95", value: ai.response_time_ms.p95, section: "ai.response_time_ms", subject: "", metric: "p95" },
          ],
        }),
      );
    }
    if (report.daily.length) {
      const table = el(
        "table",
        { className: "daily", "data-testid": "analytics-daily" },
        el("caption", { text: "Per day (UTC)" }),
        el("tr", {}, el("th", { text: "Day" }), el("th", { text: "Messages" }), el("th", { text: "AI replies" }), el("th", { text: "Active" })),
      );
      for (const day of report.daily) {
        table.append(
          el(
            "tr",
            {},
            el("td", { text: day.date }),
            el("td", {}, metric("daily", day.date, "messages", day.messages)),
            el("td", {}, metric("daily", day.date, "ai_replies", day.ai_replies)),
            el("td", {}, metric("daily", day.date, "active_participants", day.active_participants)),
          ),
        );
      }
      body.push(table);
    }
    const s = report.session;
    body.push(
      el(
        "p",
        { className: "muted session" },
        "Session: ",
        metric("session", "", "duration_seconds", s.duration_seconds, "s"),
        s.completed ? " · completed" : " · ongoing",
      ),
    );
    this.root.querySelector(".analytics-body").replaceChildren(...body);
  }
}
