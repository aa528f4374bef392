// The people panel: who is in the chat, who is online now (PresenceChanged), who holds the floor, and in
// a moderated chat, for owners and moderators, a button that gives someone the floor.

import { el } from "./dom.js";

const ROLES = { owner: "Owner", moderator: "Moderator", member: "Member" };

export class PeoplePanel {
  /**
   * @param {object} options
   * @param {HTMLElement} options.root  the drawer
   * @param {(participantId: string) => Promise<void>} options.grant  POST /chats/{id}/turn
   */
  constructor({ root, grant }) {
    this.root = root;
    this.list = root.querySelector("#participant-list");
    this.summary = root.querySelector("#people-summary");
    this.grant = grant;
    root.querySelector("[data-action=close]").addEventListener("click", () => this.close());
  }

  get isOpen() {
    return !this.root.hidden;
  }

  open() {
    this.root.hidden = false;
    this.root.querySelector("[data-action=close]").focus();
  }

  close() {
    this.root.hidden = true;
  }

  /**
   * @param {object} view
   * @param {object[]} view.participants  ParticipantOut, in join order
   * @param {Set<string>} view.online  ids of members with a socket on the chat now
   * @param {string | null} view.holder  who holds the floor
   * @param {string} view.me
   * @param {boolean} view.canGrant  a moderated, open chat and the viewer moderates it
   */
  render({ participants, online, holder, me, canGrant }) {
    const people = participants.filter((p) => p.kind !== "ai");
    const here = people.filter((p) => online.has(p.id)).length;
    this.summary.textContent = `${participants.length} in chat · ${here} online now`;
    this.list.replaceChildren(
      ...participants.map((p) => {
        const isOnline = p.kind === "ai" || online.has(p.id);
        const holds = holder === p.id;
        const name = `${p.name}${p.id === me ? " (you)" : ""}${p.kind === "ai" ? " (AI)" : ""}`;
        const state = p.kind === "ai" ? "AI participant" : isOnline ? "online" : "offline";
        const item = el(
          "li",
          {
            className: "participant",
            "data-testid": "participant",
            "data-participant-id": p.id,
            "data-online": String(isOnline),
            "data-holder": String(holds),
          },
          el("span", { className: "presence-dot", "data-online": String(isOnline), "aria-hidden": "true" }),
          el(
            "span",
            { className: "participant-name" },
            el("span", { text: name }),
            el("span", { className: "participant-role muted", text: `${ROLES[p.role] || p.role} · ${state}` }),
          ),
          holds ? el("span", { className: "floor-badge", "data-testid": "floor-badge", text: "Has the floor" }) : null,
        );
        if (canGrant && !holds) {
          const button = el(
            "button",
            { type: "button", className: "small", "data-testid": "grant-floor", "aria-label": `Give the floor to ${p.name}` },
            "Give the floor",
          );
          button.addEventListener("click", async () => {
            button.disabled = true;
            try {
              await this.grant(p.id);
            } finally {
              button.disabled = false;
            }
          });
          item.append(button);
        }
        return item;
      }),
    );
  }
}
