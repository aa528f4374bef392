// The inbox in the chat list: each chat's unread count and last message (GET /chats), kept current by
// the open chat's messages, marked read (POST /chats/{id}/read) while the chat is on screen, and by
// ReadMarkerMoved frames, which tell this tab that another one of the same person read the chat.

const READ_DELAY_MS = 300; // a burst of messages on screen is one POST

/** When the chat last changed, for the list's order: its last message, else its creation. */
export function lastActivity(chat) {
  return (chat.last_message && chat.last_message.created_at) || chat.created_at;
}

/** The list item's preview line: "Alice: hi", or "You: hi" for the caller's own. */
export function preview(chat, userId) {
  const last = chat.last_message;
  if (!last) return "";
  const who = last.sender_id === userId ? "You" : last.sender_name;
  return `${who}: ${last.text}${last.truncated ? "…" : ""}`;
}

export class Inbox {
  /**
   * @param {object} options
   * @param {() => Map<string, object>} options.chats  chat_id -> ChatListItem (the list's own map)
   * @param {(chatId: string, sequence: number) => Promise<object>} options.markRead  POST /chats/{id}/read
   * @param {() => string | null} options.me  the signed-in user's id
   * @param {() => void} options.render  redraws the chat list
   * @param {(chatId: string) => boolean} options.onScreen  the chat is what the person sees now
   */
  constructor({ chats, markRead, me, render, onScreen }) {
    this.chats = chats;
    this.onScreen = onScreen;
    this.markRead = markRead;
    this.me = me;
    this.render = render;
    this.timer = null;
  }

  /** A message of a chat reached this tab (history or a frame): it may be the chat's latest. */
  noteMessage(chatId, message) {
    const chat = this.chats().get(chatId);
    if (!chat || typeof message.sequence !== "number") return;
    const last = chat.last_message;
    if (last && last.sequence >= message.sequence) return;
    chat.last_message = {
      message_id: message.message_id,
      sender_id: message.sender_id,
      sender_name: message.sender_name,
      sender_kind: message.sender_kind,
      text: message.text,
      truncated: false,
      sequence: message.sequence,
      created_at: message.created_at,
    };
    const marker = chat.last_read_sequence || 0;
    if (message.sender_id === this.me()) {
      chat.last_read_sequence = Math.max(marker, message.sequence); // posting reads the chat
      chat.unread = 0;
    } else {
      chat.unread = Math.max(0, message.sequence - marker); // message sequences have no gaps
    }
    this.render();
  }

  /** The chat is on screen: mark what it shows read, once the burst settles. */
  read(chatId) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(chatId), READ_DELAY_MS);
  }

  async flush(chatId) {
    if (!this.onScreen(chatId)) return; // it went out of sight while the burst settled
    const chat = this.chats().get(chatId);
    const latest = chat && chat.last_message ? chat.last_message.sequence : 0;
    if (!chat || latest <= (chat.last_read_sequence || 0)) {
      if (chat && chat.unread) {
        chat.unread = 0;
        this.render();
      }
      return;
    }
    chat.unread = 0; // shown at once; the answer says what the server counts
    chat.last_read_sequence = latest;
    this.render();
    try {
      const answer = await this.markRead(chatId, latest);
      this.moved(chatId, answer);
    } catch {
      // the next message or visit marks it again: a marker only moves forward
    }
  }

  /** A marker moved (our POST's answer, or a ReadMarkerMoved frame from another tab). */
  moved(chatId, data) {
    const chat = this.chats().get(chatId);
    if (!chat || typeof data.last_read_sequence !== "number") return;
    if (data.last_read_sequence < (chat.last_read_sequence || 0)) return; // an older answer: stale
    chat.last_read_sequence = data.last_read_sequence;
    if (typeof data.unread === "number") chat.unread = data.unread;
    this.render();
  }
}

/** What a shadow install or shadow config would have done, as a moderator's notice; null for an
 * ordinary ruling (an allowed post), which would only be noise. */
export function shadowNotice(data) {
  const out = data.output || {};
  const who = `${data.extension_id} (${data.config === "shadow_config" ? "shadow config" : "shadow mode"})`;
  const why = out.reason ? `: ${out.reason}` : "";
  switch (data.output_type) {
    case "MessageModerated":
      if (out.action === "reject") return `${who} would have rejected this message${why}`;
      if (out.action === "rewrite") return `${who} would have rewritten it as “${out.text || ""}”`;
      return null;
    case "TurnValidationRequested":
      return out.allowed === false ? `${who} would have ruled this post out of turn${why}` : null;
    case "ExtensionMessageRequested":
      return `${who} would have posted “${out.text || ""}”`;
    default:
      return `${who} would have sent ${data.output_type}`;
  }
}
