// The settings panel (owners and moderators): turn taking and the chat's limits, PATCH /chats/{id}/settings.
// The form is generated from a schema shaped like the API's SettingsPatch, so errors land on their field.

import { SchemaForm } from "./schema_form.js";

export const TURN_MODES = {
  free: "Free for all",
  round_robin: "Round robin",
  alternating: "Alternating (people, then AI)",
  moderated: "Moderated",
};

const SCHEMA = {
  type: "object",
  properties: {
    turn_mode: {
      type: "string",
      title: "Turn taking",
      enum: Object.keys(TURN_MODES),
      description:
        "Free: anyone posts. Round robin: everyone in join order. Alternating: a person, then each AI. " +
        "Moderated: the floor rests with the chair; a moderator gives it from the list of people.",
    },
    turn_timeout_seconds: { type: "integer", title: "Turn time-out (seconds)", description: "An untaken turn moves on after this." },
    rate_limit_messages: { type: "integer", title: "Messages per member…" },
    rate_limit_window_seconds: { type: "integer", title: "…within this many seconds" },
    max_message_length: { type: "integer", title: "Longest message (characters)" },
  },
};

export class SettingsPanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root  the drawer
   * @param {(patch: object) => Promise<object>} options.save  PATCH, resolving to the chat
   */
  constructor({ root, save }) {
    this.root = root;
    this.formNode = root.querySelector("#settings-form");
    this.save = save;
    this.form = null;
    this.current = {};
    root.querySelector("[data-action=close]").addEventListener("click", () => this.close());
    this.formNode.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open(chat) {
    this.current = { turn_mode: chat.turn_mode, ...chat.settings };
    this.form = new SchemaForm("settings", SCHEMA, this.current, { root: "body" });
    // the select shows each mode's label, not its wire name
    const select = this.form.fields.get("turn_mode").inputs[0];
    for (const option of select.options) option.textContent = TURN_MODES[option.value] || option.value;
    select.setAttribute("data-testid", "settings-turn-mode");
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "primary";
    button.dataset.testid = "settings-save";
    button.textContent = "Save settings";
    this.status = document.createElement("p");
    this.status.className = "muted field-hint";
    this.status.setAttribute("role", "status");
    this.status.dataset.testid = "settings-status";
    this.formNode.replaceChildren(this.form.root, button, this.status);
    this.root.hidden = false;
    this.root.querySelector("[data-action=close]").focus();
  }

  close() {
    this.root.hidden = true;
    this.formNode.replaceChildren();
    this.form = null;
  }

  async submit() {
    const values = this.form.value();
    if (!values) return;
    const patch = {};
    for (const [key, value] of Object.entries(values)) if (value !== this.current[key]) patch[key] = value;
    if (!Object.keys(patch).length) {
      this.status.textContent = "Nothing changed.";
      return;
    }
    try {
      const chat = await this.save(patch);
      this.current = { turn_mode: chat.turn_mode, ...chat.settings };
      this.status.textContent = "Saved.";
    } catch (error) {
      this.status.textContent = "";
      this.form.showErrors(error.fields || [], `Could not save the settings: ${error.message}`);
    }
  }
}
