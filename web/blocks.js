// Interactive message blocks (schema version 1, parley/blocks.py): sections, buttons, a select, a
// form and a poll, rendered as plain DOM (text only, never HTML: an extension's strings are data).
// A member's click calls `onAction(actionId, values)`; the caller posts it to the actions route.
// A MessageUpdated frame re-renders the whole set, so no state lives here but what the user typed.

import { el } from "./dom.js";

export const BLOCKS_VERSION = 1;

function button(label, { style = "default", testid = "block-button", disabled = false } = {}) {
  const node = el("button", {
    type: "button",
    className: `block-button ${style === "primary" ? "primary" : style === "danger" ? "danger" : "ghost"} small`,
    "data-testid": testid,
    text: label,
  });
  node.disabled = disabled;
  return node;
}

function section(block) {
  return el("p", { className: "block-section", "data-testid": "block-section", text: block.text });
}

function buttons(block, act) {
  const row = el("div", { className: "block-buttons", "data-testid": "block-buttons" });
  for (const spec of block.buttons || []) {
    const node = button(spec.label, { style: spec.style });
    node.dataset.actionId = spec.action_id;
    node.addEventListener("click", () => act(spec.action_id, {}, node));
    row.append(node);
  }
  return row;
}

function select(block, act) {
  const id = `block-${block.action_id}-${Math.random().toString(36).slice(2, 8)}`;
  const chooser = el("select", { id, "data-testid": "block-select" });
  chooser.append(el("option", { value: "", text: "Choose…" }));
  for (const option of block.options || []) chooser.append(el("option", { value: option.value, text: option.label }));
  chooser.addEventListener("change", () => {
    if (chooser.value) act(block.action_id, { value: chooser.value }, chooser);
  });
  return el(
    "div",
    { className: "block-select" },
    block.label ? el("label", { for: id, text: block.label }) : null,
    chooser,
  );
}

function input(spec, formId) {
  const id = `${formId}-${spec.name}`;
  let field;
  if (spec.type === "choice") {
    field = el("select", { id, name: spec.name });
    field.append(el("option", { value: "", text: "Choose…" }));
    for (const option of spec.options || []) field.append(el("option", { value: option.value, text: option.label }));
  } else {
    field = el("input", {
      id,
      name: spec.name,
      type: spec.type === "number" ? "number" : "text",
      maxlength: spec.type === "text" ? spec.max_length : null,
      step: spec.type === "number" ? "any" : null,
    });
  }
  field.required = Boolean(spec.required);
  field.setAttribute("data-testid", "block-input");
  return el("div", { className: "block-field" }, el("label", { for: id, text: spec.label }), field);
}

function form(block, act) {
  const formId = `form-${block.action_id}-${Math.random().toString(36).slice(2, 8)}`;
  const node = el("form", { className: "block-form", "data-testid": "block-form", novalidate: true });
  for (const spec of block.inputs || []) node.append(input(spec, formId));
  const submit = button(block.submit_label || "Submit", { style: "primary", testid: "block-submit" });
  submit.type = "submit";
  node.append(submit);
  node.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!node.reportValidity()) return;
    const values = {};
    for (const spec of block.inputs || []) {
      const raw = node.elements[spec.name].value;
      if (raw === "") continue;
      values[spec.name] = spec.type === "number" ? Number(raw) : raw;
    }
    act(block.action_id, values, submit);
  });
  return node;
}

/** Closed by its extension, or past its closing time (the server refuses a late vote either way). */
export function pollClosed(block, now = Date.now()) {
  return Boolean(block.closed) || (block.closes_at ? Date.parse(block.closes_at) <= now : false);
}

function poll(block, act, { chosen = null } = {}) {
  const closed = pollClosed(block);
  const total = (block.options || []).reduce((sum, option) => sum + (option.count || 0), 0);
  const list = el("ul", { className: "poll-options" });
  for (const option of block.options || []) {
    const count = option.count || 0;
    const share = total ? Math.round((100 * count) / total) : 0;
    const choice = button("", { testid: "poll-option", disabled: closed });
    choice.classList.add("poll-option");
    choice.dataset.optionId = option.id;
    choice.setAttribute("aria-pressed", String(chosen === option.id));
    const bar = el("span", { className: "poll-bar", "data-testid": "poll-bar" });
    bar.style.width = `${share}%`;
    choice.append(
      bar,
      el("span", { className: "poll-label", text: option.label }),
      el(
        "span",
        { className: "poll-tally" },
        el("span", { className: "poll-count", "data-testid": "poll-count", text: String(count) }),
        el("span", { className: "visually-hidden", text: ` vote${count === 1 ? "" : "s"}` }),
      ),
    );
    choice.addEventListener("click", () => act(block.action_id, { option: option.id }, choice));
    list.append(el("li", {}, choice));
  }
  const status = closed
    ? "Closed"
    : block.closes_at
      ? `Closes ${new Date(block.closes_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" })}`
      : "Open";
  return el(
    "div",
    { className: `block-poll${closed ? " closed" : ""}`, "data-testid": "poll" },
    el("p", { className: "poll-question", "data-testid": "poll-question", text: block.question }),
    list,
    el("p", {
      className: "poll-status muted",
      "data-testid": "poll-status",
      text: `${total} vote${total === 1 ? "" : "s"} · ${status}`,
    }),
  );
}

const RENDERERS = { section, buttons, select, form, poll };

/**
 * The blocks of one message as a DOM node.
 * @param {Array<object>} blocks the message's `blocks`
 * @param {{onAction: (actionId: string, values: object) => Promise<unknown>, chosen?: Map<string, string>}} options
 *   `chosen`: this member's last vote per poll action id, to mark it (the server does not say).
 */
export function renderBlocks(blocks, { onAction, chosen = new Map() }) {
  const root = el("div", { className: "blocks", "data-testid": "blocks" });
  const act = async (actionId, values, control) => {
    if (values.option) chosen.set(actionId, values.option);
    if (control) control.disabled = true;
    try {
      await onAction(actionId, values);
    } finally {
      if (control && control.isConnected) control.disabled = false;
    }
  };
  for (const block of blocks || []) {
    const render = Object.hasOwn(RENDERERS, block.type) ? RENDERERS[block.type] : null;
    if (!render) continue; // a newer schema's block: the message's text is its fallback
    root.append(render(block, act, { chosen: chosen.get(block.action_id) ?? null }));
  }
  return root;
}
