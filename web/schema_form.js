// A form generated from an extension's JSON Schema (its `config_schema`), and the server's per-field
// errors shown beside the field they name (`config.<setting>`, as PUT /chats/{id}/extensions/{ext} says).
//
// Covered: integer and number, boolean, string (enum as a select, writeOnly as a password that keeps the
// stored secret when left empty), arrays of enum values (a group of checkboxes) and of strings (one per
// line). Anything else is edited as JSON.

import { el } from "./dom.js";

export const REDACTED = "********"; // what members read for a stored secret; sent back, it keeps it

function kindOf(schema) {
  const type = schema.type;
  if (type === "integer" || type === "number" || type === "boolean") return type;
  if (type === "string") return Array.isArray(schema.enum) ? "choice" : schema.writeOnly ? "secret" : "text";
  if (type === "array" && schema.items && Array.isArray(schema.items.enum)) return "choices";
  if (type === "array" && schema.items && schema.items.type === "string") return "lines";
  return "json";
}

export class SchemaForm {
  /**
   * @param {string} prefix  unique id prefix for the inputs (one form per extension)
   * @param {object} schema  the extension's config_schema (type object)
   * @param {object} config  the install's config as members read it (secrets redacted), or {}
   * @param {{root?: string}} options  where the values sit in the request body, as error fields name it
   */
  constructor(prefix, schema, config = {}, { root = "config" } = {}) {
    this.prefix = prefix;
    this.rootField = root;
    this.schema = schema || {};
    this.fields = new Map(); // setting name -> {kind, schema, input(s), error}
    this.root = el("div", { className: "stack schema-form" });
    this.formError = el("p", { className: "form-error", role: "alert", "data-testid": "config-error" });
    const properties = this.schema.properties || {};
    const required = new Set(this.schema.required || []);
    for (const [name, property] of Object.entries(properties)) {
      this.root.append(this.field(name, property, config[name], required.has(name)));
    }
    if (!Object.keys(properties).length) {
      this.root.append(el("p", { className: "muted field-hint", text: "This extension has no settings." }));
    }
    this.root.append(this.formError);
  }

  field(name, schema, value, required) {
    const kind = kindOf(schema);
    const id = `${this.prefix}-${name}`;
    const label = `${schema.title || name}${required ? " (required)" : ""}`;
    const hint = schema.description ? el("p", { className: "muted field-hint", id: `${id}-hint`, text: schema.description }) : null;
    const error = el("p", { className: "field-error", id: `${id}-error`, "data-testid": "field-error", "data-field": `${this.rootField}.${name}` });
    const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
    const entry = { kind, schema, error, inputs: [] };
    this.fields.set(name, entry);
    if (kind === "choices") {
      const current = new Set(Array.isArray(value) ? value : schema.default || []);
      const group = el("fieldset", { "aria-describedby": described, "data-setting": name }, el("legend", { text: label }));
      for (const option of schema.items.enum) {
        const box = el("input", { type: "checkbox", value: option, checked: current.has(option), "data-setting": name });
        entry.inputs.push(box);
        group.append(el("label", { className: "choice" }, box, ` ${option}`));
      }
      return el("div", { className: "stack" }, group, hint, error);
    }
    let input;
    if (kind === "boolean") {
      input = el("input", { type: "checkbox", id, checked: value ?? schema.default ?? false });
    } else if (kind === "choice") {
      input = el("select", { id }, ...schema.enum.map((option) => el("option", { value: option, text: String(option) })));
      input.value = value ?? schema.default ?? schema.enum[0];
    } else if (kind === "lines" || kind === "json") {
      input = el("textarea", { id, rows: 3 });
      const shown = value ?? schema.default;
      if (kind === "lines") input.value = Array.isArray(shown) ? shown.join("\n") : "";
      else input.value = shown === undefined ? "" : JSON.stringify(shown, null, 2);
    } else {
      const type = kind === "secret" ? "password" : kind === "text" ? "text" : "number";
      input = el("input", { id, type, autocomplete: kind === "secret" ? "new-password" : "off" });
      if (kind === "secret") {
        entry.stored = value === REDACTED;
        input.placeholder = entry.stored ? "Set: leave empty to keep it" : "";
      } else {
        const shown = value ?? schema.default;
        if (shown !== undefined && shown !== null) input.value = String(shown);
      }
      if (kind === "integer") input.step = "1";
    }
    input.setAttribute("aria-describedby", described);
    input.dataset.setting = name;
    entry.inputs.push(input);
    const hintText = kind === "lines" ? el("span", { className: "muted", text: " (one per line)" }) : null;
    const labelNode = kind === "boolean"
      ? el("label", { className: "choice", for: id }, input, ` ${label}`)
      : el("label", { for: id }, label, hintText);
    return el("div", { className: "stack" }, labelNode, kind === "boolean" ? null : input, hint, error);
  }

  /** The config to PUT; a value the browser can already tell is malformed is shown and returns null. */
  value() {
    this.clearErrors();
    const config = {};
    let ok = true;
    for (const [name, entry] of this.fields) {
      const [input] = entry.inputs;
      switch (entry.kind) {
        case "choices":
          config[name] = entry.inputs.filter((box) => box.checked).map((box) => box.value);
          break;
        case "boolean":
          config[name] = input.checked;
          break;
        case "choice":
          config[name] = input.value;
          break;
        case "lines":
          config[name] = input.value.split("\n").map((line) => line.trim()).filter(Boolean);
          break;
        case "secret":
          if (input.value) config[name] = input.value;
          else if (entry.stored) config[name] = REDACTED;
          break;
        case "integer":
        case "number": {
          if (input.value.trim() === "") break;
          const number = Number(input.value);
          if (!Number.isFinite(number) || (entry.kind === "integer" && !Number.isInteger(number))) {
            this.showError(name, entry.kind === "integer" ? "a whole number" : "a number");
            ok = false;
          } else {
            config[name] = number;
          }
          break;
        }
        case "json":
          if (input.value.trim() === "") break;
          try {
            config[name] = JSON.parse(input.value);
          } catch {
            this.showError(name, "not valid JSON");
            ok = false;
          }
          break;
        default:
          if (input.value !== "") config[name] = input.value;
      }
    }
    return ok ? config : null;
  }

  clearErrors() {
    this.formError.textContent = "";
    for (const [, entry] of this.fields) {
      entry.error.textContent = "";
      for (const input of entry.inputs) input.removeAttribute("aria-invalid");
    }
  }

  showError(name, problem) {
    const entry = this.fields.get(name);
    if (!entry) return false;
    entry.error.textContent = entry.error.textContent ? `${entry.error.textContent}; ${problem}` : problem;
    for (const input of entry.inputs) input.setAttribute("aria-invalid", "true");
    return true;
  }

  /** The server's `error.fields` ([{field: "config.url", problem}]), each beside its field. */
  showErrors(fields, fallback) {
    this.clearErrors();
    const unplaced = [];
    for (const { field, problem } of fields) {
      const path = String(field || "").split(".");
      if (path[0] === this.rootField) path.shift();
      const [name, ...rest] = path;
      const item = !rest.length ? "" : /^\d+$/.test(rest[0]) ? ` (item ${Number(rest[0]) + 1})` : ` (${rest.join(".")})`;
      if (!name || !this.showError(name, `${problem}${item}`)) unplaced.push(`${field}: ${problem}`);
    }
    if (unplaced.length || !fields.length) this.formError.textContent = unplaced.join("; ") || fallback;
    const first = this.root.querySelector("[aria-invalid=true]");
    if (first) first.focus();
  }
}
