// One WebSocket per tab: fresh ticket per connection, exponential backoff, resume on reconnect.
//
// The socket remembers which chats are subscribed; after every (re)connect it subscribes again with
// `after_sequence` = the last event sequence the page saw, so the server first replays what was missed.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const STABLE_AFTER_MS = 10000; // a connection that lived this long resets the backoff
const CONNECT_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 5 * 60 * 1000; // well under API Gateway's 10-minute idle time-out

export class Realtime {
  /**
   * @param {object} options
   * @param {() => Promise<{url: string}>} options.ticket  POST /realtime/tickets
   * @param {(chatId: string) => number | null} options.afterSequence  last event sequence seen
   * @param {(frame: object) => void} options.onFrame
   * @param {(status: {state: string, text: string}) => void} options.onStatus
   * @param {(error: Error) => boolean} options.isFatal  true: stop reconnecting (signed out)
   */
  constructor({ ticket, afterSequence, onFrame, onStatus, isFatal }) {
    this.ticket = ticket;
    this.afterSequence = afterSequence;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.isFatal = isFatal;
    this.subscriptions = new Set();
    this.ws = null;
    this.attempts = 0;
    this.timer = null;
    this.pinger = null;
    this.stopped = true;
    this.openedAt = 0;
    this.holdUntil = 0;
    this.connecting = false; // a ticket request is in flight
    this.connects = 0; // how many times a socket opened (the tests read it)
    this.connectionId = null; // the open socket's id, from its Subscribed frame: named when posting
    this.onOnline = () => {
      if (!this.stopped && !this.ws && !this.holdUntil) this.reconnectNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.subscriptions.clear();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "signed out");
    this.status("offline", "Offline");
  }

  get isOpen() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  status(state, text) {
    this.state = state;
    this.onStatus({ state, text });
  }

  async connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.status(this.connects ? "reconnecting" : "connecting", this.connects ? "Reconnecting…" : "Connecting…");
    let url;
    this.connecting = true;
    try {
      url = (await this.ticket()).url;
    } catch (error) {
      this.connecting = false;
      if (this.stopped) return;
      if (this.isFatal(error)) {
        this.stop();
        return;
      }
      this.scheduleReconnect();
      return;
    }
    this.connecting = false;
    if (this.stopped || this.ws) return;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.connectionId = null;
    setTimeout(() => {
      // a handshake that hangs counts as a failed one
      if (this.ws === ws && ws.readyState === WebSocket.CONNECTING) this.drop();
    }, CONNECT_TIMEOUT_MS);
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.openedAt = Date.now();
      this.connects += 1;
      this.status("live", "Live");
      for (const chatId of this.subscriptions) this.sendSubscribe(chatId);
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ action: "ping" }), PING_EVERY_MS);
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return; // not a frame: ignore it
      }
      if (!frame || typeof frame !== "object" || typeof frame.type !== "string") return;
      if (frame.type === "Subscribed" && typeof frame.data?.connection_id === "string") {
        this.connectionId = frame.data.connection_id;
      }
      this.onFrame(frame);
    });
    ws.addEventListener("close", () => this.closed(ws));
    // "error" is always followed by "close", which schedules the reconnect
  }

  /** The socket is gone (its close event, or dropped on purpose): reconnect unless stopped. */
  closed(ws) {
    if (this.ws !== ws) return; // an old socket we already replaced or let go
    this.ws = null;
    this.connectionId = null;
    clearInterval(this.pinger);
    if (this.openedAt && Date.now() - this.openedAt > STABLE_AFTER_MS) this.attempts = 0;
    this.openedAt = 0;
    if (!this.stopped) this.scheduleReconnect();
  }

  scheduleReconnect() {
    clearTimeout(this.timer);
    const backoff = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempts);
    this.attempts += 1;
    const jittered = Math.round(backoff * (0.75 + Math.random() * 0.5));
    const delay = Math.max(jittered, this.holdUntil - Date.now());
    this.holdUntil = 0;
    const seconds = Math.max(1, Math.round(delay / 1000));
    this.status("reconnecting", `Reconnecting in ${seconds} s…`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    this.attempts = 0;
    if (this.ws || this.connecting) return;
    this.connect();
  }

  /** Close the socket as a network failure would: reconnection (with resume) stays on. */
  drop({ holdMs = 0 } = {}) {
    this.holdUntil = holdMs ? Date.now() + holdMs : 0;
    const ws = this.ws;
    if (!ws) return;
    // the closing handshake may never finish on a dead network: do not wait for it
    this.closed(ws);
    ws.close(4000, "dropped");
  }

  /** The socket a post may name as its origin (no echo push to it), or null when not live. */
  get originId() {
    return this.isOpen ? this.connectionId : null;
  }

  send(action) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(action));
    return true;
  }

  sendSubscribe(chatId) {
    const after = this.afterSequence(chatId);
    const action = { action: "subscribe", chat_id: chatId };
    if (after !== null && after !== undefined) action.after_sequence = after;
    this.send(action);
  }

  subscribe(chatId) {
    this.subscriptions.add(chatId);
    if (this.isOpen) this.sendSubscribe(chatId);
  }

  unsubscribe(chatId) {
    if (!this.subscriptions.delete(chatId)) return;
    this.send({ action: "unsubscribe", chat_id: chatId });
  }
}
