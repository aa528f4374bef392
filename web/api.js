// The HTTP API, as the web client uses it. Every failure becomes an ApiError with a stable `code`.

export class ApiError extends Error {
  constructor(status, code, message, { details = {}, fields = [], retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0 when the server could not be reached
    this.code = code;
    this.details = details;
    this.fields = fields;
    this.retryAfter = retryAfter; // seconds, from the Retry-After header
  }
}

function retryAfterSeconds(header) {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

// A request that has not answered in this long is given up (and a read retried once): a spinner
// that never ends is worse than an error with a way to try again.
const TIMEOUT_MS = 15_000;
// Answers worth one more try for a read: the request may never have reached a healthy server.
const TRANSIENT = new Set([0, 502, 503, 504]);
const MAX_RETRY_WAIT_S = 5;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  /**
   * @param {{token: () => string | null, refresh: () => Promise<boolean>}} auth
   *   `refresh` gets a new token after a 401 (the local stack signs a new key at every start).
   */
  constructor(auth) {
    this.auth = auth;
    this.base = ""; // the API's origin when it is not the page's (config.json `api_url`)
  }

  async request(method, path, body = undefined, options = {}) {
    try {
      return await this.attempt(method, path, body, options);
    } catch (error) {
      // only reads are retried here: a write's retry belongs to its caller (client_message_id)
      if (method !== "GET" || !(error instanceof ApiError) || !TRANSIENT.has(error.status)) throw error;
      await sleep(1000 * Math.min(error.retryAfter ?? 1, MAX_RETRY_WAIT_S));
      return this.attempt(method, path, body, options);
    }
  }

  async attempt(method, path, body = undefined, { authenticated = true, retried = false, raw = false } = {}) {
    const headers = { Accept: raw ? "text/csv, application/json" : "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = authenticated ? this.auth.token() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    let text;
    try {
      response = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      if (response.status === 401 && authenticated && !retried && (await this.auth.refresh())) {
        return this.attempt(method, path, body, { authenticated, retried: true, raw });
      }
      text = await response.text();
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const late = error && error.name === "TimeoutError";
      throw new ApiError(
        0,
        late ? "timeout" : "network",
        late ? "The server did not answer in time. Try again." : "Cannot reach the server. Check your connection.",
      );
    }
    if (raw && response.ok) return text;
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(
        response.status,
        error.code || (response.status === 401 ? "unauthorized" : `http_${response.status}`),
        error.message || (data && data.message) || response.statusText || "Request failed",
        {
          details: error.details || {},
          fields: error.fields || [],
          retryAfter: retryAfterSeconds(response.headers.get("Retry-After")),
        },
      );
    }
    return data;
  }

  signIn(userId, name) {
    return this.request("POST", "/local/token", { user_id: userId, name }, { authenticated: false });
  }

  listChats() {
    return this.request("GET", "/chats");
  }

  getChat(chatId) {
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}`);
  }

  createChat({ title, turnMode, aiParticipants = [] }) {
    return this.request("POST", "/chats", {
      title,
      turn_mode: turnMode,
      ai_participants: aiParticipants,
    });
  }

  joinChat(chatId) {
    return this.request("POST", `/chats/${encodeURIComponent(chatId)}/members`);
  }

  messages(chatId, { after = null, before = null, limit = 100 } = {}) {
    const query = new URLSearchParams({ limit: String(limit) });
    if (after !== null) query.set("after", String(after));
    if (before !== null) query.set("before", String(before));
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/messages?${query}`);
  }

  /**
   * `to` (participant ids) makes it a whisper: only the sender and they see it.
   * `originConnectionId`: this tab's socket, which then gets no push of the message (the answer is its copy).
   */
  postMessage(chatId, text, clientMessageId, to = null, originConnectionId = null) {
    const body = { text, client_message_id: clientMessageId };
    if (to && to.length) body.to = to;
    if (originConnectionId) body.origin_connection_id = originConnectionId;
    return this.request("POST", `/chats/${encodeURIComponent(chatId)}/messages`, body);
  }

  /** The slash commands of the chat's enabled extensions (the composer's hint). */
  commands(chatId) {
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/commands`);
  }

  /** A click, a choice, a form's submit or a vote on an extension's message (202; once per clientActionId). */
  submitAction(chatId, messageId, { actionId, values = {}, clientActionId }) {
    return this.request(
      "POST",
      `/chats/${encodeURIComponent(chatId)}/messages/${encodeURIComponent(messageId)}/actions`,
      { action_id: actionId, values, client_action_id: clientActionId },
    );
  }

  events(chatId, { after = 0, limit = 200 } = {}) {
    const query = new URLSearchParams({ after: String(after), limit: String(limit) });
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/events?${query}`);
  }

  markRead(chatId, sequence) {
    return this.request("POST", `/chats/${encodeURIComponent(chatId)}/read`, { sequence });
  }

  changeSettings(chatId, patch) {
    return this.request("PATCH", `/chats/${encodeURIComponent(chatId)}/settings`, patch);
  }

  grantTurn(chatId, participantId) {
    return this.request("POST", `/chats/${encodeURIComponent(chatId)}/turn`, { participant_id: participantId });
  }

  listExtensions() {
    return this.request("GET", "/extensions");
  }

  installs(chatId) {
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/extensions`);
  }

  putInstall(chatId, extensionId, { enabled, config }) {
    const path = `/chats/${encodeURIComponent(chatId)}/extensions/${encodeURIComponent(extensionId)}`;
    return this.request("PUT", path, { enabled, config });
  }

  uninstall(chatId, extensionId) {
    const path = `/chats/${encodeURIComponent(chatId)}/extensions/${encodeURIComponent(extensionId)}`;
    return this.request("DELETE", path);
  }

  ticket() {
    return this.request("POST", "/realtime/tickets");
  }

  analytics(chatId) {
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/analytics`);
  }

  /** The same analytics as CSV text (RFC 4180, a header row), for download. */
  analyticsCsv(chatId) {
    return this.request("GET", `/chats/${encodeURIComponent(chatId)}/analytics?format=csv`, undefined, { raw: true });
  }
}
