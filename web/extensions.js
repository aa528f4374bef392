// The extensions panel (owners and moderators): every registered extension, this chat's install of it,
// enable / disable / uninstall, and its settings as a form generated from its JSON Schema.

import { SchemaForm } from "./schema_form.js";
import { el } from "./dom.js";

const STATUS = {
  enabled: "Enabled",
  disabled: "Disabled",
  circuit_open: "Disabled after repeated failures",
};

export class ExtensionsPanel {
  /**
   * @param {{api: import("./api.js").Api, root: HTMLElement, onError: (message: string) => void}} options
   */
  constructor({ api, root, onError }) {
    this.api = api;
    this.root = root;
    this.body = root.querySelector("#extensions-body");
    this.onError = onError;
    this.chatId = null;
    this.loading = 0;
    root.querySelector("[data-action=close]").addEventListener("click", () => this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open(chatId) {
    this.chatId = chatId;
    this.root.hidden = false;
    this.root.querySelector("[data-action=close]").focus();
    return this.refresh();
  }

  close() {
    this.root.hidden = true;
    this.chatId = null;
    this.body.replaceChildren();
  }

  /** An ExtensionDisabled frame (or another change) while open: show the install as it is now. */
  async refresh() {
    const chatId = this.chatId;
    if (!chatId) return;
    const ticket = ++this.loading;
    this.root.dataset.state = "loading";
    try {
      const [registry, installs] = await Promise.all([this.api.listExtensions(), this.api.installs(chatId)]);
      if (ticket !== this.loading || this.chatId !== chatId) return;
      const installed = new Map(installs.items.map((install) => [install.extension_id, install]));
      this.body.replaceChildren(
        el(
          "ul",
          { className: "participant-list", "data-testid": "extension-list" },
          ...registry.items.map((document) => this.card(document, installed.get(document.id) || null)),
        ),
      );
      this.root.dataset.state = "ready";
    } catch (error) {
      if (ticket !== this.loading || this.chatId !== chatId) return;
      // said in the panel, with a way to try again: a banner alone left it "loading" for good
      this.root.dataset.state = "error";
      const retry = el("button", { type: "button", className: "small", "data-testid": "extensions-retry" }, "Try again");
      retry.addEventListener("click", () => this.refresh());
      this.body.replaceChildren(
        el("p", { className: "field-error", role: "alert", "data-testid": "extensions-error" },
          `Could not load the extensions: ${error.message}`),
        retry,
      );
      this.onError(`Could not load the extensions: ${error.message}`);
    }
  }

  card(document, install) {
    const prefix = `ext-${document.id}`;
    const status = install ? STATUS[install.status] || install.status : "Not installed";
    const form = new SchemaForm(prefix, document.config_schema, install ? install.config : {});
    const save = el("button", { type: "submit", className: "small primary", "data-testid": "extension-save" },
      install ? "Save settings" : "Install");
    const actions = el("div", { className: "extension-actions" }, save);
    if (install) {
      const toggle = el("button", { type: "button", className: "small", "data-testid": "extension-toggle" },
        install.enabled ? "Disable" : "Enable");
      toggle.addEventListener("click", () => this.put(document, form, { enabled: !install.enabled, config: install.config }));
      const remove = el("button", { type: "button", className: "small ghost", "data-testid": "extension-uninstall" }, "Uninstall");
      remove.addEventListener("click", () => this.uninstall(document, form));
      actions.append(toggle, remove);
    }
    const formNode = el("form", { className: "extension-form stack", novalidate: true, "aria-label": `${document.name} settings` },
      form.root, actions);
    formNode.addEventListener("submit", (event) => {
      event.preventDefault();
      const config = form.value();
      if (config) this.put(document, form, { enabled: install ? install.enabled : true, config });
    });
    return el(
      "li",
      {
        className: "extension",
        "data-testid": "extension",
        "data-extension-id": document.id,
        "data-status": install ? install.status : "not_installed",
      },
      el("div", { className: "extension-head" },
        el("h4", { text: `${document.name} ${document.version}` }),
        el("span", { className: "extension-status", "data-testid": "extension-status", text: status })),
      el("p", { className: "muted field-hint", text: document.description }),
      install && install.disabled_reason
        ? el("p", { className: "form-error", text: `Why: ${install.disabled_reason}` })
        : null,
      formNode,
    );
  }

  async put(document, form, { enabled, config }) {
    try {
      await this.api.putInstall(this.chatId, document.id, { enabled, config });
      await this.refresh();
    } catch (error) {
      form.showErrors(error.fields || [], `Could not save ${document.name}: ${error.message}`);
    }
  }

  async uninstall(document, form) {
    try {
      await this.api.uninstall(this.chatId, document.id);
      await this.refresh();
    } catch (error) {
      form.showErrors([], `Could not uninstall ${document.name}: ${error.message}`);
    }
  }
}
