// Parley web client: sign in, chats, live conversation. Plain DOM, no dependencies, no build step.

import { AnalyticsPanel } from "./analytics.js";
import { Api, ApiError } from "./api.js";
import { OAuth, loadConfig } from "./auth.js";
import { renderBlocks } from "./blocks.js";
import { ExtensionsPanel } from "./extensions.js";
import { Inbox, lastActivity, preview, shadowNotice } from "./inbox.js";
import { PeoplePanel } from "./people.js";
import { Realtime } from "./realtime.js";
import { SettingsPanel, TURN_MODES } from "./settings.js";
import { el as h } from "./dom.js";

const SESSION_KEY = "parley.session";
const TYPING_EVERY_MS = 2000; // send `typing` at most this often
const HISTORY_PAGE = 100;
const SEEN_LIMIT = 5000; // remembered sequences / event ids per chat, for dropping duplicate frames
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const EVENTS_PAGE = 200;
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000; // renew the token this long before it expires
const MIN_REFRESH_DELAY_MS = 30 * 1000; // a clock far ahead of the issuer's must not renew in a loop
const MODERATOR_ROLES = new Set(["owner", "moderator"]);

// -- small helpers -------------------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function randomId(length = 6) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

function uuid() {
  // randomUUID needs a secure context; http://<LAN address> is not one
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${randomId(8)}-${randomId(4)}-${randomId(4)}-${randomId(4)}-${randomId(12)}`;
}

function slug(name) {
  const base = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return base || "user";
}

function hue(text) {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.codePointAt(0)) | 0;
  return Math.abs(hash) % 360;
}

function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

function remember(set, value) {
  set.add(value);
  if (set.size > SEEN_LIMIT) set.delete(set.values().next().value);
}

function chatIdFromHash() {
  const match = /(?:^#|[#&])chat=([^&]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function chatIdFromInput(value) {
  const text = value.trim();
  const match = /[#?&]chat=([^&\s]+)/.exec(text);
  return match ? decodeURIComponent(match[1]) : text;
}

function inviteLink(chatId) {
  return `${location.origin}/#chat=${encodeURIComponent(chatId)}`;
}

// -- state -------------------------------------------------------------------------------------------

const state = {
  session: null, // {user_id, name, token, expires_at}
  chats: new Map(), // chat_id -> ChatOut, for the list
  current: null, // the open chat (see newChatState)
  opening: 0, // guards against an older openChat finishing after a newer one
};

function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    return session && typeof session.user_id === "string" ? session : null;
  } catch {
    return null;
  }
}

function saveSession(session) {
  try {
    localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  } catch {
    // private mode or full storage: the session lives as long as the tab
  }
}

let refreshing = null;
let oauth = null; // the authorization server from /config.json, if any
let refreshTimer = null;
let tokenRefreshes = 0;

/** A new token: from the refresh token after an OAuth sign-in; else the local sign-in again, silently
 * (the local stack signs tokens with a key made at start, so a restart invalidates them). */
function refreshToken() {
  const session = state.session;
  if (!session) return Promise.resolve(false);
  if (!refreshing) {
    const renewed =
      session.via === "oauth" && oauth
        ? oauth.refresh(session)
        : api.signIn(session.user_id, session.name).then((answer) => ({
            ...session,
            token: answer.token,
            expires_at: answer.expires_at,
          }));
    refreshing = renewed
      .then((next) => {
        if (state.session !== session) return false;
        state.session = next;
        saveSession(state.session);
        tokenRefreshes += 1;
        scheduleRefresh();
        return true;
      })
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Renew the token before it expires, so no request meets a 401 first. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const session = state.session;
  if (!session || !session.expires_at) return;
  const delay = Math.max(MIN_REFRESH_DELAY_MS, session.expires_at * 1000 - Date.now() - REFRESH_BEFORE_EXPIRY_MS);
  refreshTimer = setTimeout(() => {
    refreshToken().then((ok) => {
      if (!ok && state.session === session) signOut("Your session ended. Please sign in again.");
    });
  }, delay);
}

const api = new Api({ token: () => (state.session ? state.session.token : null), refresh: refreshToken });

const realtime = new Realtime({
  ticket: () => api.ticket(),
  afterSequence: (chatId) => (state.current && state.current.id === chatId ? state.current.lastEventSeq : null),
  onFrame: (frame) => onFrame(frame),
  onStatus: (status) => renderConnection(status),
  isFatal: (error) => {
    if (error instanceof ApiError && error.status === 401) {
      signOut("Your session ended. Please sign in again.");
      return true;
    }
    return false;
  },
});

const inbox = new Inbox({
  chats: () => state.chats,
  markRead: (chatId, sequence) => api.markRead(chatId, sequence),
  me: () => me(),
  render: () => renderChatList(),
  onScreen: (chatId) => Boolean(state.current) && state.current.id === chatId && onScreen(state.current),
});

/** The open chat is what the person sees: the tab is visible and the conversation is not behind the list. */
function onScreen(cs) {
  return Boolean(cs) && state.current === cs && document.visibilityState === "visible" && $("app").dataset.pane !== "list";
}

const analytics = new AnalyticsPanel({
  api,
  root: $("analytics-panel"),
  onError: (message) => showBanner(message),
});

const people = new PeoplePanel({
  root: $("people-panel"),
  grant: (participantId) => grantFloor(participantId),
});

const settings = new SettingsPanel({
  root: $("settings-panel"),
  save: (patch) => saveSettings(patch),
});

const extensions = new ExtensionsPanel({
  api,
  root: $("extensions-panel"),
  onError: (message) => showBanner(message),
});

// the drawers share the space over the conversation: one open at a time
const DRAWERS = {
  analytics: { panel: analytics, button: "analytics-button", open: (cs) => analytics.open(cs.id) },
  people: { panel: people, button: "people-button", open: (cs) => (renderPeople(cs), people.open()) },
  settings: { panel: settings, button: "settings-button", open: (cs) => settings.open(cs.chat) },
  extensions: { panel: extensions, button: "extensions-button", open: (cs) => extensions.open(cs.id) },
};

function toggleDrawer(name) {
  const cs = state.current;
  if (!cs) return;
  const wasOpen = DRAWERS[name].panel.isOpen;
  closeDrawers();
  if (!wasOpen) DRAWERS[name].open(cs);
  syncDrawerButtons();
}

function closeDrawers() {
  for (const drawer of Object.values(DRAWERS)) if (drawer.panel.isOpen) drawer.panel.close();
  syncDrawerButtons();
}

function syncDrawerButtons() {
  for (const drawer of Object.values(DRAWERS)) {
    $(drawer.button).setAttribute("aria-expanded", String(drawer.panel.isOpen));
  }
}

function toggleAnalytics() {
  toggleDrawer("analytics");
}

function isAuthError(error) {
  return error instanceof ApiError && error.status === 401;
}

// -- sign in / out -----------------------------------------------------------------------------------

async function signIn(name) {
  const error = $("signin-error");
  error.textContent = "";
  const clean = name.trim();
  if (!clean) {
    error.textContent = "Please enter a name.";
    $("signin-name").focus();
    return;
  }
  // the same name on this browser is the same person again: keep their id (and so their chats)
  const previous = loadSession();
  const userId = previous && previous.name === clean ? previous.user_id : `${slug(clean)}-${randomId()}`;
  const button = $("signin-form").querySelector("button");
  button.disabled = true;
  try {
    const answer = await api.signIn(userId, clean);
    state.session = { user_id: answer.user_id, name: answer.name, token: answer.token, expires_at: answer.expires_at };
    saveSession(state.session);
    enterApp();
  } catch (failure) {
    error.textContent =
      failure instanceof ApiError && failure.status === 422
        ? "Names are 1 to 64 characters."
        : `Could not sign in: ${failure.message}`;
  } finally {
    button.disabled = false;
  }
}

function signOut(message = "") {
  clearTimeout(refreshTimer);
  realtime.stop();
  closeChat();
  const session = state.session;
  state.session = null;
  state.chats.clear();
  if (session) saveSession({ user_id: session.user_id, name: session.name, token: null, expires_at: 0 });
  showSignIn(message, session ? session.name : "");
}

function showSignIn(message = "", name = "") {
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message;
  $("signin-invite").hidden = !chatIdFromHash();
  const input = $("signin-name");
  if (name) input.value = name;
  input.focus();
}

function enterApp() {
  const { name, user_id: userId } = state.session;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = name;
  $("me-id").textContent = userId;
  const avatar = $("me-avatar");
  avatar.textContent = initials(name);
  avatar.style.setProperty("--hue", hue(userId));
  scheduleRefresh();
  realtime.start();
  loadChats().then(() => {
    // first visit: the "new chat" form is what to do; afterwards the list matters more
    $("create-panel").open = state.chats.size === 0 && !chatIdFromHash();
    routeFromHash();
  });
}

// -- chat list ---------------------------------------------------------------------------------------

async function loadChats() {
  try {
    const page = await api.listChats();
    state.chats = new Map(page.items.map((chat) => [chat.chat_id, chat]));
    renderChatList();
    if (onScreen(state.current)) inbox.read(state.current.id);
  } catch (error) {
    if (isAuthError(error)) signOut("Your session ended. Please sign in again.");
    else showBanner(`Could not load your chats: ${error.message}`);
  }
}

function renderChatList() {
  const list = $("chat-list");
  const chats = [...state.chats.values()].sort((a, b) => lastActivity(b).localeCompare(lastActivity(a)));
  list.replaceChildren(
    ...chats.map((chat) => {
      const people = chat.participants.length;
      const mode = (TURN_MODES[chat.turn_mode] || chat.turn_mode).toLowerCase();
      const active = state.current && state.current.id === chat.chat_id;
      const button = h(
        "button",
        {
          type: "button",
          className: "chat-item",
          "data-testid": "chat-item",
          "data-chat-id": chat.chat_id,
          "aria-current": active ? "true" : null,
        },
        h("span", { className: "chat-item-title", text: chat.title }),
        h("span", {
          className: "chat-item-meta muted",
          text: `${people} ${people === 1 ? "person" : "people"} · ${mode}${chat.status === "completed" ? " · closed" : ""}`,
        }),
        chat.last_message
          ? h("span", { className: "chat-item-preview muted", "data-testid": "chat-item-preview", text: preview(chat, me()) })
          : null,
        chat.unread > 0
          ? h("span", {
              className: "chat-item-unread",
              "data-testid": "chat-item-unread",
              "aria-label": `${chat.unread} unread`,
              text: chat.unread > 99 ? "99+" : String(chat.unread),
            })
          : null,
      );
      button.addEventListener("click", () => navigate(chat.chat_id));
      return h("li", {}, button);
    }),
  );
  $("chat-list-empty").hidden = chats.length > 0;
}

function navigate(chatId) {
  const hash = `#chat=${encodeURIComponent(chatId)}`;
  if (location.hash !== hash) {
    location.hash = hash; // the hashchange listener opens it
  } else {
    openChat(chatId);
  }
}

function routeFromHash() {
  if (!state.session) return;
  const chatId = chatIdFromHash();
  if (chatId) openChat(chatId);
  else showPane("list"); // e.g. the browser's back button on a phone
}

// -- create / join -----------------------------------------------------------------------------------

async function createChat() {
  const error = $("create-error");
  error.textContent = "";
  const title = $("chat-title").value.trim();
  if (!title) {
    error.textContent = "Give the chat a title.";
    $("chat-title").focus();
    return;
  }
  const turnMode = $("create-form").querySelector("input[name=turn_mode]:checked").value;
  const aiName = $("ai-name").value.trim();
  const aiId = $("ai-id").value.trim() || (aiName ? slug(aiName) : "");
  const aiParticipants = [];
  if (aiName || aiId) {
    if (!aiName) {
      error.textContent = "Give the AI participant a name.";
      return;
    }
    if (!ID_PATTERN.test(aiId)) {
      error.textContent = "AI ids are 1 to 64 letters, digits, '-', '_' or '.'.";
      return;
    }
    aiParticipants.push({ id: aiId, name: aiName });
  }
  const button = $("create-form").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const chat = await api.createChat({ title, turnMode, aiParticipants });
    state.chats.set(chat.chat_id, chat);
    renderChatList();
    $("create-form").reset();
    $("create-form").querySelector(".ai-options").open = false;
    navigate(chat.chat_id);
  } catch (failure) {
    error.textContent = failure.fields && failure.fields.length
      ? failure.fields.map((f) => `${f.field}: ${f.problem}`).join("; ")
      : `Could not create the chat: ${failure.message}`;
  } finally {
    button.disabled = false;
  }
}

function joinFromForm() {
  const error = $("join-error");
  error.textContent = "";
  const chatId = chatIdFromInput($("join-id").value);
  if (!chatId) {
    error.textContent = "Paste a chat id or an invite link.";
    return;
  }
  $("join-id").value = "";
  navigate(chatId);
}

// -- the open chat -----------------------------------------------------------------------------------

function newChatState(chat) {
  return {
    id: chat.chat_id,
    chat,
    participants: new Map(chat.participants.map((p) => [p.id, p])),
    baseSeq: chat.last_event_sequence, // the snapshot already reflects events up to here
    lastEventSeq: chat.last_event_sequence, // highest event sequence seen: resume point
    seenSeq: new Set(),
    seenIds: new Set(),
    messages: new Map(), // message_id -> <li>
    versions: new Map(), // message_id -> the highest version shown (MessageUpdated)
    chosen: new Map(), // message_id -> Map(poll action_id -> this member's last vote)
    commands: null, // the chat's slash commands (GET /chats/{id}/commands), fetched on the first "/"
    pending: new Map(), // client_message_id -> {el, text, clientMessageId}
    typing: new Map(), // participant_id -> timer
    streams: new Map(), // AI request_id -> {el, participantId, chunks, messageId}
    finishedStreams: new Set(),
    highestMessageSeq: 0,
    firstLoadedSeq: 1,
    noticeCount: 0,
    orderCounter: 0,
    lastTypingSentAt: 0,
    rateLimitedUntil: 0,
    online: new Set(), // members with a socket on the chat now (PresenceChanged)
    turnMove: null, // the last TurnChanged: {reason, previous, actor}
    gapFill: null, // frames held while a skipped range is fetched from /events
    gapFetches: 0,
  };
}

async function openChat(chatId) {
  if (!state.session) return;
  if (state.current && state.current.id === chatId) {
    showPane("conversation");
    return;
  }
  const ticket = ++state.opening;
  const known = state.chats.has(chatId);
  closeChat();
  $("chat-pane").dataset.chatId = chatId;
  $("chat-pane").dataset.loaded = "false";
  $("no-chat").hidden = true;
  $("chat-pane").hidden = false;
  $("chat-title-heading").textContent = known ? state.chats.get(chatId).title : "Joining…";
  $("messages-loading").hidden = false;
  showPane("conversation");
  let chat;
  try {
    // joining twice is harmless, but only chats we are not in need it
    chat = known ? await api.getChat(chatId) : await api.joinChat(chatId);
  } catch (error) {
    if (ticket !== state.opening) return;
    if (known && error instanceof ApiError && error.status === 404) {
      state.chats.delete(chatId);
      renderChatList();
    }
    $("chat-pane").hidden = true;
    $("no-chat").hidden = false;
    history.replaceState(null, "", location.pathname + location.search);
    if (isAuthError(error)) {
      signOut("Your session ended. Please sign in again.");
      return;
    }
    const reason =
      error.code === "chat_not_found"
        ? "There is no chat with that id (or it is not open to you)."
        : error.code === "chat_completed"
          ? "That chat is closed: nobody can join it any more."
          : error.message;
    showBanner(`Could not open the chat. ${reason}`, { global: true });
    return;
  }
  if (ticket !== state.opening) return;
  const cs = newChatState(chat);
  state.current = cs;
  state.chats.set(chat.chat_id, { ...state.chats.get(chat.chat_id), ...chat }); // keeps its inbox fields
  renderChatList();
  renderHeader(cs);
  renderComposer(cs);
  realtime.subscribe(cs.id); // with after_sequence = the snapshot's last event: nothing falls in between
  await loadHistory(cs);
  if (state.current === cs && window.matchMedia("(min-width: 721px)").matches) $("composer-input").focus();
}

function closeChat() {
  const cs = state.current;
  if (cs) {
    realtime.unsubscribe(cs.id);
    for (const timer of cs.typing.values()) clearTimeout(timer);
    clearInterval(cs.rateTimer);
  }
  state.current = null;
  closeDrawers();
  $("turn-reason").hidden = true;
  $("message-list").replaceChildren();
  $("typing-indicator").hidden = true;
  $("load-earlier").hidden = true;
  $("share-row").hidden = true;
  hideBanner();
  $("chat-pane").hidden = true;
  $("no-chat").hidden = false;
}

function showPane(pane) {
  $("app").dataset.pane = pane;
  if (pane === "conversation" && onScreen(state.current)) inbox.read(state.current.id);
}

async function loadHistory(cs) {
  let after = Math.max(0, cs.chat.last_sequence - HISTORY_PAGE); // message sequences have no gaps
  cs.firstLoadedSeq = after + 1;
  try {
    for (;;) {
      const page = await api.messages(cs.id, { after, limit: HISTORY_PAGE });
      if (state.current !== cs) return;
      for (const message of page.items) upsertMessage(cs, message, { scroll: false });
      if (!page.next) break;
      after = Number(page.next);
    }
  } catch (error) {
    if (state.current === cs) showBanner(`Could not load the messages: ${error.message}`);
  } finally {
    if (state.current === cs) {
      $("chat-pane").dataset.loaded = "true"; // history is in (tests wait for this)
      if (onScreen(cs)) inbox.read(cs.id);
      $("messages-loading").hidden = true;
      $("load-earlier").hidden = cs.firstLoadedSeq <= 1;
      scrollToBottom();
    }
  }
}

async function loadEarlier() {
  const cs = state.current;
  if (!cs || cs.firstLoadedSeq <= 1) return;
  const before = cs.firstLoadedSeq;
  const after = Math.max(0, before - 1 - HISTORY_PAGE);
  const scroller = $("messages-scroll");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const button = $("load-earlier");
  button.disabled = true;
  try {
    const page = await api.messages(cs.id, { after, before, limit: HISTORY_PAGE });
    if (state.current !== cs) return;
    for (const message of page.items) upsertMessage(cs, message, { scroll: false });
    cs.firstLoadedSeq = after + 1;
    button.hidden = cs.firstLoadedSeq <= 1;
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
  } catch (error) {
    showBanner(`Could not load earlier messages: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// -- rendering the conversation ------------------------------------------------------------------------

function me() {
  return state.session ? state.session.user_id : null;
}

function nameOf(cs, participantId, fallback = null) {
  const participant = cs.participants.get(participantId);
  if (participant) return participant.name;
  return fallback || participantId;
}

function isAI(cs, participantId) {
  const participant = cs.participants.get(participantId);
  return Boolean(participant && participant.kind === "ai");
}

function isModerator(cs, participantId = me()) {
  const participant = cs.participants.get(participantId);
  return Boolean(participant && MODERATOR_ROLES.has(participant.role));
}

function renderHeader(cs) {
  $("chat-title-heading").textContent = cs.chat.title;
  const names = [...cs.participants.values()].map((p) => {
    if (p.id === me()) return `${p.name} (you)`;
    return p.kind === "ai" ? `${p.name} (AI)` : p.name;
  });
  const online = cs.online.size ? ` · ${cs.online.size} online` : "";
  $("participants").textContent = `${names.length} in chat: ${names.join(", ")}${online}`;
  $("share-link").value = inviteLink(cs.id);
  const moderates = isModerator(cs);
  $("settings-button").hidden = !moderates;
  $("extensions-button").hidden = !moderates;
  if (!moderates && (settings.isOpen || extensions.isOpen)) closeDrawers();
  renderTurn(cs);
}

// -- whispers: the composer's recipients ------------------------------------------------------------

const MAX_WHISPER_RECIPIENTS = 5;

function whisperRecipients() {
  return [...document.querySelectorAll("#whisper-recipients input:checked")].map((box) => box.value);
}

function clearWhisper() {
  for (const box of document.querySelectorAll("#whisper-recipients input")) box.checked = false;
  $("whisper").open = false;
  renderWhisperState();
}

/** A tick box per other member (people and AI participants); kept ticks survive a roster change. */
function renderWhisper(cs) {
  const chosen = new Set(whisperRecipients());
  const fieldset = $("whisper-recipients");
  for (const label of fieldset.querySelectorAll("label")) label.remove();
  for (const participant of cs.participants.values()) {
    if (participant.id === me()) continue;
    const box = h("input", {
      type: "checkbox",
      value: participant.id,
      "data-testid": "whisper-recipient",
      checked: chosen.has(participant.id),
    });
    box.addEventListener("change", renderWhisperState);
    fieldset.append(h("label", {}, box, h("span", { text: participant.name })));
  }
  renderWhisperState();
}

function renderWhisperState() {
  const cs = state.current;
  const chosen = whisperRecipients();
  for (const box of document.querySelectorAll("#whisper-recipients input")) {
    box.disabled = !box.checked && chosen.length >= MAX_WHISPER_RECIPIENTS;
  }
  const summary = $("whisper").querySelector("summary");
  summary.textContent = chosen.length && cs ? `Whisper to ${chosen.map((id) => nameOf(cs, id)).join(", ")}` : "Whisper";
  $("composer").classList.toggle("whispering", chosen.length > 0);
  $("composer-input").placeholder = chosen.length && cs ? whisperNote(cs, me(), chosen).replace("can see this", "will see it") : "Write a message…";
}

function renderPeople(cs) {
  if (state.current !== cs) return;
  renderWhisper(cs);
  people.render({
    participants: [...cs.participants.values()],
    online: cs.online,
    holder: cs.chat.turn ? cs.chat.turn.holder_id : null,
    me: me(),
    canGrant: cs.chat.turn_mode === "moderated" && cs.chat.status !== "completed" && isModerator(cs),
  });
}

/** Why the floor is where it is, from the last TurnChanged (its reason, previous holder and actor). */
function turnReasonText(cs, holder) {
  const move = cs.turnMove;
  if (!move || cs.chat.turn_mode === "free") return "";
  const who = (id) => (id === me() ? "you" : `${nameOf(cs, id)}${isAI(cs, id) ? " (AI)" : ""}`);
  const previous = move.previous ? who(move.previous) : "the last holder";
  const reasons = {
    started: "the chat started",
    message: `${previous} posted`,
    joined: "someone joined",
    left: `${previous} left`,
    timeout: `${previous} did not take the turn in time`,
    mode_changed: `turn taking became ${(TURN_MODES[cs.chat.turn_mode] || cs.chat.turn_mode).toLowerCase()}`,
    granted: `${move.actor && move.actor.id !== me() ? move.actor.name || move.actor.id : "you"} gave the floor`,
    ai_failed: `${previous} could not answer`,
  };
  const why = reasons[move.reason] || move.reason;
  const where = holder ? `${who(holder)[0].toUpperCase()}${who(holder).slice(1)} ${holder === me() ? "have" : "has"} the floor` : "The floor is open";
  return `${where}: ${why}.`;
}

function renderTurn(cs) {
  const indicator = $("turn-indicator");
  const holder = cs.chat.turn ? cs.chat.turn.holder_id : null;
  let text;
  let kind;
  if (cs.chat.status === "completed") {
    text = "Chat closed";
    kind = "closed";
  } else if (!holder) {
    text = cs.chat.turn_mode === "free" ? "Free for all" : "Open floor";
    kind = "open";
  } else if (holder === me()) {
    text = "Your turn";
    kind = "mine";
  } else {
    text = `${nameOf(cs, holder)}${isAI(cs, holder) ? " (AI)" : ""}'s turn`;
    kind = "other";
  }
  indicator.textContent = text;
  indicator.dataset.kind = kind;
  indicator.dataset.holderId = holder || "";
  indicator.dataset.mode = cs.chat.turn_mode;
  indicator.title = `Turn taking: ${TURN_MODES[cs.chat.turn_mode] || cs.chat.turn_mode}`;
  const reason = $("turn-reason");
  reason.textContent = cs.chat.status === "completed" ? "" : turnReasonText(cs, holder);
  reason.dataset.reason = cs.turnMove ? cs.turnMove.reason : "";
  reason.hidden = !reason.textContent;
  renderComposer(cs);
  renderPeople(cs);
}

function renderComposer(cs) {
  const input = $("composer-input");
  const button = $("send-button");
  const hint = $("composer-hint");
  const holder = cs.chat.turn ? cs.chat.turn.holder_id : null;
  const waitMs = cs.rateLimitedUntil - Date.now();
  let blocked = false;
  let message = "";
  if (cs.chat.status === "completed") {
    blocked = true;
    message = "This chat is closed: no new messages.";
  } else if (holder && holder !== me()) {
    blocked = true;
    const name = nameOf(cs, holder);
    message = isAI(cs, holder)
      ? `${name} (AI) has the turn. You can write when it comes back to you.`
      : `It's ${name}'s turn. You can write when it comes back to you.`;
  } else if (waitMs > 0) {
    blocked = true;
    message = `You're sending too fast. You can send again in ${Math.ceil(waitMs / 1000)} s.`;
  } else if (holder === me() && cs.chat.turn_mode !== "free") {
    message = "It's your turn.";
  } else {
    message = "Enter to send · Shift+Enter for a new line";
  }
  input.disabled = blocked;
  button.disabled = blocked;
  hint.textContent = message;
  hint.dataset.blocked = blocked ? "true" : "false";
  input.placeholder = blocked ? "Waiting…" : "Write a message…";
}

function nearBottom() {
  const scroller = $("messages-scroll");
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
}

function scrollToBottom() {
  const scroller = $("messages-scroll");
  scroller.scrollTop = scroller.scrollHeight;
}

function insertOrdered(li) {
  const list = $("message-list");
  const order = Number(li.dataset.order);
  const last = list.lastElementChild;
  if (!last || Number(last.dataset.order) <= order) {
    list.append(li);
    return;
  }
  for (const child of list.children) {
    if (Number(child.dataset.order) > order) {
      list.insertBefore(li, child);
      return;
    }
  }
  list.append(li);
}

/** "Only you and Bob can see this": a whisper's audience (its sender and addressees) but me. */
function whisperNote(cs, senderId, to) {
  const others = [senderId, ...to].filter((id, i, all) => id !== me() && all.indexOf(id) === i);
  const names = others.map((id) => nameOf(cs, id));
  const list = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
  return `Only you and ${list || "no one else"} can see this`;
}

function bubble(cs, { senderId, senderName, kind, text, createdAt, to = null, blocks = null, editedAt = null }) {
  const mine = senderId === me();
  const meta = h(
    "div",
    { className: "meta" },
    h("span", { className: "sender", text: mine ? "You" : senderName }),
    kind === "ai" ? h("span", { className: "badge", text: "AI" }) : null,
    createdAt ? h("time", { datetime: createdAt, text: formatTime(createdAt) }) : null,
    editedAt
      ? h("span", { className: "edited", "data-testid": "edited-marker", title: `Edited ${formatTime(editedAt)}`, text: "edited" })
      : null,
  );
  const note = to
    ? h("p", { className: "whisper-note", "data-testid": "whisper-marker", text: whisperNote(cs, senderId, to) })
    : null;
  // a message with blocks shows them; its text is their fallback (for clients that cannot)
  const content = blocks ? blocks : h("p", { className: "text", text });
  const body = h("div", { className: "bubble" }, meta, content, note);
  const li = h(
    "li",
    { className: `message ${mine ? "mine" : "theirs"}${kind === "ai" ? " ai" : ""}${to ? " whisper" : ""}` },
    body,
  );
  li.style.setProperty("--hue", hue(senderId));
  return li;
}

function upsertMessage(cs, message, { scroll = true } = {}) {
  if (cs.messages.has(message.message_id)) return false;
  const follow = scroll && nearBottom();
  if (message.client_message_id && message.sender_id === me()) {
    const pending = cs.pending.get(message.client_message_id);
    if (pending) {
      pending.el.remove();
      cs.pending.delete(message.client_message_id);
    }
  }
  if (message.sender_kind === "ai") {
    // the stored AI message replaces its streamed bubble
    // the responder uses the request id as the reply's client_message_id; older servers may not
    for (const [requestId, stream] of cs.streams) {
      const same =
        requestId === message.client_message_id ||
        stream.messageId === message.message_id ||
        (!stream.messageId &&
          stream.participantId === message.sender_id &&
          message.sequence > stream.afterMessageSeq);
      if (same) {
        stream.el.remove();
        cs.streams.delete(requestId);
        cs.finishedStreams.add(requestId);
      }
    }
  }
  const li = messageBubble(cs, message);
  li.dataset.sequence = String(message.sequence);
  li.dataset.messageId = message.message_id;
  li.dataset.senderId = message.sender_id;
  li.dataset.order = String(message.sequence);
  insertOrdered(li);
  cs.messages.set(message.message_id, li);
  inbox.noteMessage(cs.id, message);
  if (onScreen(cs)) inbox.read(cs.id);
  if (message.sequence > cs.highestMessageSeq) {
    cs.highestMessageSeq = message.sequence;
    cs.noticeCount = 0;
  }
  clearTyping(cs, message.sender_id);
  if (scroll && (follow || message.sender_id === me())) scrollToBottom();
  return true;
}

/** A stored message's bubble: its text, or its blocks with their actions wired to this chat. */
function messageBubble(cs, message) {
  const hidden = message.filtered === "hidden";
  // a filtered message comes without blocks (what they show was ruled on with the text): never draw any
  const blocks =
    message.blocks && message.blocks.length && !message.filtered
      ? renderBlocks(message.blocks, {
          onAction: (actionId, values) => submitAction(cs, message.message_id, actionId, values),
          chosen: chosenIn(cs, message.message_id),
        })
      : null;
  const li = bubble(cs, {
    senderId: message.sender_id,
    senderName: message.sender_name,
    kind: message.sender_kind,
    // a read filter (an extension's on_read hook) hid it from this viewer: its place stays, its text does not
    text: hidden ? "(hidden for you by a filter)" : message.text,
    createdAt: message.created_at,
    to: message.to || null,
    blocks,
    editedAt: message.edited_at || null,
  });
  li.setAttribute("data-testid", "message");
  if (message.filtered) li.dataset.filtered = message.filtered;
  if (blocks) li.classList.add("interactive");
  cs.versions.set(message.message_id, message.version || 1);
  return li;
}

function chosenIn(cs, messageId) {
  if (!cs.chosen.has(messageId)) cs.chosen.set(messageId, new Map());
  return cs.chosen.get(messageId);
}

/** A MessageUpdated: the newer version replaces the bubble in place (an older one arriving late is dropped). */
function updateMessage(cs, message) {
  const old = cs.messages.get(message.message_id);
  if (!old) return;
  if ((message.version || 1) <= (cs.versions.get(message.message_id) || 1)) return;
  const li = messageBubble(cs, message);
  // the update's own filtered mark (set by messageBubble) stands: each version is ruled on afresh
  for (const key of ["sequence", "messageId", "senderId", "order"]) {
    if (old.dataset[key] !== undefined) li.dataset[key] = old.dataset[key];
  }
  old.replaceWith(li);
  cs.messages.set(message.message_id, li);
}

/** A click, a choice, a form's submit or a vote: posted once (a retry keeps its client_action_id). */
async function submitAction(cs, messageId, actionId, values) {
  const clientActionId = uuid();
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await api.submitAction(cs.id, messageId, { actionId, values, clientActionId });
    } catch (error) {
      const transient = error.status === 0 || error.status >= 500;
      if (!transient || attempt === 2) {
        showBanner(error.code === "poll_closed" ? "This poll is closed." : `That did not go through: ${error.message}`);
        return null;
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
    }
  }
  return null;
}

function notice(cs, text, { kind = "info" } = {}) {
  const follow = nearBottom();
  cs.noticeCount += 1;
  const li = h("li", { className: `notice ${kind}`, "data-testid": "notice" }, h("span", { text }));
  li.dataset.order = String(cs.highestMessageSeq + 0.1 + Math.min(cs.noticeCount, 800) * 0.001);
  insertOrdered(li);
  if (follow) scrollToBottom();
}

/** A message for this member alone (never stored): shown once, marked, and gone on reload. */
function ephemeralMessage(cs, data, frame) {
  if (typeof data.text !== "string") return;
  const follow = nearBottom();
  const li = bubble(cs, {
    senderId: data.sender_id || "",
    senderName: data.sender_name || "Parley",
    kind: data.sender_kind,
    text: data.text,
    createdAt: frame.occurred_at || null,
  });
  li.classList.add("ephemeral");
  li.setAttribute("data-testid", "ephemeral-message");
  li.querySelector(".meta").append(
    h("span", { className: "only-you", "data-testid": "only-you", title: "Not saved: gone when you reload", text: "Only you can see this" }),
  );
  cs.noticeCount += 1; // placed like a notice: after the latest message, in arrival order
  li.dataset.order = String(cs.highestMessageSeq + 0.1 + Math.min(cs.noticeCount, 800) * 0.001);
  insertOrdered(li);
  if (follow) scrollToBottom();
}

// -- moderation: the floor and the settings -----------------------------------------------------------

async function grantFloor(participantId) {
  const cs = state.current;
  if (!cs) return;
  try {
    const chat = await api.grantTurn(cs.id, participantId);
    if (state.current !== cs) return;
    cs.chat.turn = chat.turn; // its TurnChanged frame says why, a moment later
    renderTurn(cs);
  } catch (error) {
    showBanner(`Could not give the floor: ${error.message}`);
  }
}

async function saveSettings(patch) {
  const cs = state.current;
  const chat = await api.changeSettings(cs.id, patch);
  if (state.current === cs) {
    cs.chat = { ...cs.chat, settings: chat.settings, turn_mode: chat.turn_mode, turn: chat.turn };
    state.chats.set(cs.id, { ...state.chats.get(cs.id), turn_mode: chat.turn_mode });
    renderTurn(cs);
    renderChatList();
  }
  return chat;
}

// -- sending -----------------------------------------------------------------------------------------

function sendFromComposer() {
  const cs = state.current;
  const input = $("composer-input");
  if (!cs || input.disabled) return;
  const text = input.value.trim();
  if (!text) return;
  const clientMessageId = uuid();
  const to = whisperRecipients();
  const li = bubble(cs, {
    senderId: me(),
    senderName: state.session.name,
    kind: "human",
    text,
    createdAt: null,
    to: to.length ? to : null,
  });
  li.classList.add("pending");
  li.setAttribute("data-testid", "pending-message");
  li.dataset.order = String(1e9 + ++cs.orderCounter);
  const pending = { el: li, text, clientMessageId, to };
  clearWhisper(); // one whisper at a time: the next message goes to everyone unless chosen again
  cs.pending.set(clientMessageId, pending);
  insertOrdered(li);
  scrollToBottom();
  input.value = "";
  autosize();
  renderCommandHint(cs);
  input.focus(); // a click on Send took it away
  cs.lastTypingSentAt = 0;
  deliver(cs, pending);
}

async function deliver(cs, pending) {
  const li = pending.el;
  li.dataset.state = "sending";
  li.querySelector(".retry")?.remove();
  setPendingNote(li, "Sending…");
  try {
    // this tab's socket is skipped by the push of its own message: the answer is its copy
    const origin = realtime.originId;
    const message = await api.postMessage(cs.id, pending.text, pending.clientMessageId, pending.to, origin);
    if (message && message.command_id) {
      // a slash command: its extension got it and nothing was stored; its answer comes as a message
      li.remove();
      cs.pending.delete(pending.clientMessageId);
      return;
    }
    if (state.current === cs) {
      upsertMessage(cs, message);
      // its MessageStored frame, in sequence order like any other (so no gap to fetch)
      if (origin && message.frame && typeof message.frame.sequence === "number") receive(cs, message.frame);
    }
  } catch (error) {
    if (state.current !== cs || !cs.pending.has(pending.clientMessageId)) return;
    const transient =
      error.status === 0 || error.status >= 500 || error.code === "contention" || error.code === "conflict";
    if (transient) {
      // same client_message_id on retry: the server stores it at most once
      li.dataset.state = "failed";
      setPendingNote(li, "Not sent.");
      const retry = h("button", { type: "button", className: "retry ghost small", "data-testid": "retry-button", text: "Retry" });
      retry.addEventListener("click", () => deliver(cs, pending));
      li.querySelector(".bubble").append(retry);
      showBanner(`Your message was not sent: ${error.message}`);
      return;
    }
    li.remove();
    cs.pending.delete(pending.clientMessageId);
    const input = $("composer-input");
    if (!input.value) {
      input.value = pending.text;
      autosize();
    }
    explainSendError(cs, error);
  }
}

function setPendingNote(li, text) {
  let note = li.querySelector(".pending-note");
  if (!note) {
    note = h("span", { className: "pending-note" });
    li.querySelector(".meta").append(note);
  }
  note.textContent = text;
}

function explainSendError(cs, error) {
  switch (error.code) {
    case "not_your_turn": {
      const holder = error.details.turn_holder_id || null;
      cs.chat.turn = { ...(cs.chat.turn || {}), holder_id: holder, turn_number: error.details.turn_number };
      renderTurn(cs);
      showBanner(holder ? `It's not your turn: ${nameOf(cs, holder)} has the floor.` : "It's not your turn yet.");
      break;
    }
    case "rate_limited": {
      const seconds = error.retryAfter ?? error.details.retry_after ?? 5;
      cs.rateLimitedUntil = Date.now() + seconds * 1000;
      clearInterval(cs.rateTimer);
      cs.rateTimer = setInterval(() => {
        if (state.current !== cs) return clearInterval(cs.rateTimer);
        renderComposer(cs);
        if (Date.now() >= cs.rateLimitedUntil) {
          clearInterval(cs.rateTimer);
          hideBanner();
        }
      }, 1000);
      renderComposer(cs);
      showBanner(`Slow down: you can send again in ${seconds} s.`, { timeoutMs: seconds * 1000 });
      break;
    }
    case "chat_completed":
      cs.chat.status = "completed";
      renderTurn(cs);
      showBanner("This chat is closed: no new messages.");
      break;
    case "chat_not_found":
      showBanner("You are no longer a member of this chat.");
      break;
    case "unauthorized":
      signOut("Your session ended. Please sign in again.");
      break;
    default: {
      const fields = (error.fields || []).map((f) => f.problem).join("; ");
      showBanner(`Your message was not sent: ${fields || error.message}`);
    }
  }
}

function autosize() {
  const input = $("composer-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

function onComposerInput() {
  autosize();
  renderCommandHint(state.current);
  const cs = state.current;
  if (!cs || !$("composer-input").value.trim()) return;
  const now = Date.now();
  if (now - cs.lastTypingSentAt >= TYPING_EVERY_MS && realtime.send({ action: "typing", chat_id: cs.id })) {
    cs.lastTypingSentAt = now;
  }
}

// -- slash commands: the composer's hint ----------------------------------------------------------------

/** While the text is `/name...`, list the chat's commands that start with it, with their usage. */
async function renderCommandHint(cs) {
  const hint = $("command-hint");
  const text = $("composer-input").value;
  const typed = /^\/([a-z0-9_-]*)(\s|$)/.exec(text);
  if (!cs || !hint || !typed || text.startsWith("//")) {
    if (hint) hint.replaceChildren();
    return;
  }
  if (cs.commands === null) {
    cs.commands = [];
    try {
      cs.commands = (await api.commands(cs.id)).items;
    } catch {
      cs.commands = null; // asked again on the next keystroke
      return;
    }
  }
  const name = typed[1];
  const matches = cs.commands.filter((c) => (typed[2] ? c.name === name : c.name.startsWith(name)));
  hint.replaceChildren(
    ...matches.map((c) =>
      h(
        "li",
        { "data-testid": "command-suggestion" },
        h("code", { text: `/${c.name} ${c.usage}`.trim() }),
        h("span", { className: "muted", text: ` ${c.description}` }),
      ),
    ),
  );
}

// -- typing indicator --------------------------------------------------------------------------------

function showTyping(cs, participantId, seconds) {
  clearTimeout(cs.typing.get(participantId));
  cs.typing.set(
    participantId,
    setTimeout(() => clearTyping(cs, participantId), Math.max(1, seconds) * 1000),
  );
  renderTyping(cs);
}

function clearTyping(cs, participantId) {
  if (!cs.typing.has(participantId)) return;
  clearTimeout(cs.typing.get(participantId));
  cs.typing.delete(participantId);
  renderTyping(cs);
}

function renderTyping(cs) {
  if (state.current !== cs) return;
  const indicator = $("typing-indicator");
  const names = [...cs.typing.keys()].map((id) => nameOf(cs, id));
  if (!names.length) {
    indicator.hidden = true;
    indicator.replaceChildren();
    return;
  }
  let text;
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else text = `${names.length} people are typing…`;
  indicator.replaceChildren(
    h("span", { className: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
    h("span", { text }),
  );
  indicator.hidden = false;
}

// -- AI replies streaming in -------------------------------------------------------------------------

function stream(cs, requestId, participantId) {
  let current = cs.streams.get(requestId);
  if (current || cs.finishedStreams.has(requestId)) return current || null;
  const li = bubble(cs, {
    senderId: participantId,
    senderName: nameOf(cs, participantId),
    kind: "ai",
    text: "",
    createdAt: null,
  });
  li.classList.add("streaming");
  li.setAttribute("data-testid", "ai-stream");
  li.dataset.requestId = requestId;
  li.dataset.order = String(2e9 + ++cs.orderCounter);
  li.querySelector(".text").append(h("span", { className: "dots", "aria-label": "thinking" }, h("i"), h("i"), h("i")));
  current = { el: li, participantId, chunks: [], messageId: null, afterMessageSeq: cs.highestMessageSeq };
  cs.streams.set(requestId, current);
  const follow = nearBottom();
  insertOrdered(li);
  if (follow) scrollToBottom();
  return current;
}

function renderStream(current) {
  const text = current.el.querySelector(".text");
  text.textContent = current.chunks.join("");
  if (!current.done) text.append(h("span", { className: "cursor", "aria-hidden": "true" }));
}

// -- frames ------------------------------------------------------------------------------------------

/** false for a frame already handled (a resume replay may overlap what came live). */
function firstSeen(cs, frame) {
  const hasSeq = typeof frame.sequence === "number";
  if (hasSeq && (frame.sequence <= cs.baseSeq || cs.seenSeq.has(frame.sequence))) return false;
  if (frame.event_id && cs.seenIds.has(frame.event_id)) return false;
  if (hasSeq) {
    remember(cs.seenSeq, frame.sequence);
    cs.lastEventSeq = Math.max(cs.lastEventSeq, frame.sequence);
  }
  if (frame.event_id) remember(cs.seenIds, frame.event_id);
  return true;
}

const HANDLERS = {
  MessageStored(cs, data) {
    if (data.message) upsertMessage(cs, data.message);
  },
  MessageUpdated(cs, data) {
    if (data.message) updateMessage(cs, data.message);
  },
  Withheld() {
    // a stored event this member may not see (a whisper between others): its sequence only, which
    // firstSeen() has already counted, so no gap is fetched for it; nothing to show
  },
  TurnChanged(cs, data, frame) {
    cs.turnMove = { reason: data.reason, previous: data.previous_holder_id ?? null, actor: frame.actor || null };
    cs.chat.turn = { ...(cs.chat.turn || {}), holder_id: data.holder_id ?? null, turn_number: data.turn_number };
    if (data.turn_mode) cs.chat.turn_mode = data.turn_mode;
    renderTurn(cs);
  },
  UserJoined(cs, data) {
    const participant = data.participant;
    if (!participant) return;
    cs.participants.set(participant.id, participant);
    cs.chat.participants = [...cs.participants.values()];
    renderHeader(cs);
    renderChatList();
    const who = participant.id === me() ? "You" : participant.name;
    notice(cs, `${who}${participant.kind === "ai" ? " (AI)" : ""} joined`);
  },
  UserLeft(cs, data) {
    const name = data.participant_id === me() ? "You" : nameOf(cs, data.participant_id);
    cs.participants.delete(data.participant_id);
    cs.chat.participants = [...cs.participants.values()];
    clearTyping(cs, data.participant_id);
    renderHeader(cs);
    renderChatList();
    notice(cs, `${name} ${data.reason === "removed" ? "was removed" : "left"}`);
  },
  TypingStarted(cs, data) {
    if (data.participant_id && data.participant_id !== me()) {
      showTyping(cs, data.participant_id, data.expires_in_seconds || 5);
    }
  },
  TypingStopped(cs, data) {
    clearTyping(cs, data.participant_id);
  },
  PresenceChanged(cs, data) {
    if (!Array.isArray(data.online_ids)) return;
    cs.online = new Set(data.online_ids);
    renderHeader(cs);
  },
  EphemeralMessage(cs, data, frame) {
    ephemeralMessage(cs, data, frame);
  },
  ExtensionDisabled(cs, data) {
    notice(cs, `The extension ${data.extension_id} was disabled${data.reason ? `: ${data.reason}` : ""}.`, { kind: "error" });
    if (extensions.isOpen) extensions.refresh();
  },
  ExtensionShadowOutput(cs, data) {
    const text = shadowNotice(data); // pushed to owners and moderators only
    if (text) notice(cs, text, { kind: "shadow" });
  },
  AIResponseStarted(cs, data) {
    stream(cs, data.request_id, data.participant_id);
  },
  AIResponseChunk(cs, data) {
    const current = stream(cs, data.request_id, data.participant_id);
    if (!current || typeof data.text !== "string") return;
    current.chunks[Number(data.index) || 0] = data.text;
    const follow = nearBottom();
    renderStream(current);
    if (follow) scrollToBottom();
  },
  AIResponseCompleted(cs, data) {
    cs.finishedStreams.add(data.request_id);
    const current = cs.streams.get(data.request_id);
    if (!current) return;
    if (cs.messages.has(data.message_id)) {
      current.el.remove();
      cs.streams.delete(data.request_id);
      return;
    }
    current.messageId = data.message_id; // its MessageStored replaces this bubble
    current.done = true;
    current.el.classList.remove("streaming");
    renderStream(current);
  },
  AIResponseFailed(cs, data) {
    cs.finishedStreams.add(data.request_id);
    const current = cs.streams.get(data.request_id);
    if (current) {
      current.el.remove();
      cs.streams.delete(data.request_id);
    }
    const reasons = {
      model_error: "the model failed",
      throttled: "the model is busy",
      timeout: "it took too long",
      cancelled: "it was cancelled",
    };
    notice(cs, `${nameOf(cs, data.participant_id)} (AI) could not answer: ${reasons[data.reason] || data.reason}.`, {
      kind: "error",
    });
  },
  ChatSettingsChanged(cs, data) {
    if (data.settings) cs.chat.settings = data.settings;
    const modeChanged = data.turn_mode && data.turn_mode !== cs.chat.turn_mode;
    if (data.turn_mode) cs.chat.turn_mode = data.turn_mode;
    renderTurn(cs);
    renderChatList();
    if (modeChanged) {
      notice(cs, `Turn taking is now ${(TURN_MODES[data.turn_mode] || data.turn_mode).toLowerCase()}.`);
    } else {
      notice(cs, "The chat's settings changed.");
    }
  },
  ChatCompleted(cs) {
    cs.chat.status = "completed";
    renderTurn(cs);
    renderChatList();
    notice(cs, "The chat was closed.");
  },
};

function onFrame(frame) {
  const cs = state.current;
  switch (frame.type) {
    case "pong":
    case "Ack":
    case "Unsubscribed":
      return;
    case "Subscribed":
      // the replay (if any) came before this frame: everything up to `sequence` is here, unless it
      // stopped at its bound (`complete` false): the rest, after `replayed_through`, comes over HTTP
      if (cs && frame.chat_id === cs.id && typeof frame.sequence === "number") {
        const data = frame.data || {};
        if (data.complete === false && typeof data.replayed_through === "number") {
          catchUp(cs, data.replayed_through).catch((error) => showBanner(`Some updates are missing: ${error.message}`));
        } else {
          cs.lastEventSeq = Math.max(cs.lastEventSeq, frame.sequence);
        }
      }
      return;
    case "Error":
      onErrorFrame(cs, frame);
      return;
    case "ReadMarkerMoved":
      // another tab (or this one's POST) moved the caller's marker: the list's count follows
      inbox.moved(frame.chat_id, frame.data || {});
      return;
    default:
      break;
  }
  if (!cs || frame.chat_id !== cs.id) return;
  receive(cs, frame);
}

function apply(cs, frame) {
  if (!firstSeen(cs, frame)) return; // (an unknown type still moves the resume point on)
  const handler = Object.hasOwn(HANDLERS, frame.type) ? HANDLERS[frame.type] : null;
  if (handler) handler(cs, frame.data || {}, frame); // unknown frame types: ignored, never answered
  analytics.onFrame(frame.type);
}

/** Gap detection: a frame whose sequence skips ahead waits while the missed range comes from /events. */
function receive(cs, frame) {
  if (typeof frame.sequence !== "number") {
    apply(cs, frame); // ephemeral (typing, presence, AI chunks): never in the log, never a gap
  } else if (cs.gapFill) {
    cs.gapFill.push(frame);
  } else if (frame.sequence > cs.lastEventSeq + 1) {
    fillGap(cs, frame);
  } else {
    apply(cs, frame);
  }
}

function frameOfEvent(cs, item) {
  const meta = item.metadata || {};
  return {
    type: item.event_type,
    chat_id: cs.id,
    sequence: item.sequence,
    event_id: item.event_id,
    occurred_at: item.occurred_at,
    actor: meta.actor || null,
    data: item.data,
  };
}

async function fillGap(cs, frame) {
  cs.gapFill = [frame];
  cs.gapFetches += 1;
  let after = cs.lastEventSeq;
  try {
    while (after < frame.sequence - 1) {
      const page = await api.events(cs.id, { after, limit: EVENTS_PAGE });
      if (state.current !== cs) return;
      const missed = page.items.filter((item) => item.sequence > after && item.sequence < frame.sequence);
      for (const item of missed) apply(cs, frameOfEvent(cs, item));
      if (!missed.length || !page.next) break;
      after = missed[missed.length - 1].sequence;
    }
  } catch {
    if (state.current !== cs) return;
    // could not fetch: resume instead (the socket reconnects and subscribes with after_sequence)
    cs.gapFill = null;
    realtime.drop();
    return;
  }
  const [first, ...later] = cs.gapFill.sort((a, b) => a.sequence - b.sequence);
  cs.gapFill = null;
  apply(cs, first); // everything before it is fetched (or was never visible to this member)
  for (const next of later) receive(cs, next); // a later skip starts a fill of its own
}

/** The events a bounded replay left out, page by page, handled as the frames they would have been. */
async function catchUp(cs, after) {
  let cursor = after;
  while (cursor !== null && state.current === cs) {
    const page = await api.events(cs.id, { after: cursor, limit: EVENTS_PAGE });
    if (state.current !== cs) return;
    for (const item of page.items) apply(cs, frameOfEvent(cs, item));
    cursor = page.next ? Number(page.next) : null;
  }
}

function onErrorFrame(cs, frame) {
  const data = frame.data || {};
  if (data.action === "subscribe" && cs && frame.chat_id === cs.id) {
    showBanner(`Live updates are off for this chat: ${data.message || data.code}`);
  } else if (data.action !== "typing") {
    console.warn("parley: the server refused an action", data);
  }
}

// -- chrome: connection status, banner, share ---------------------------------------------------------

function renderConnection({ state: connection, text }) {
  const node = $("connection-status");
  node.dataset.state = connection;
  node.querySelector(".connection-text").textContent = text;
  const bar = $("connection-bar");
  bar.textContent = connection === "live" ? "" : `${text} Messages will catch up when the connection is back.`;
  bar.dataset.state = connection;
  bar.hidden = connection === "live" || connection === "connecting";
}

let bannerTimer = null;

function showBanner(text, { timeoutMs = 8000, global = false } = {}) {
  const banner = $("banner");
  $("banner-text").textContent = text;
  banner.hidden = false;
  if (global) {
    // no chat pane to host it: show it over the empty state
    $("chat-pane").hidden = state.current === null;
    if (!state.current) {
      $("no-chat").hidden = false;
      $("no-chat").querySelector(".no-chat-inner").prepend(banner);
    }
  } else if (banner.parentElement !== $("chat-pane")) {
    $("chat-pane").insertBefore(banner, $("messages-scroll"));
  }
  clearTimeout(bannerTimer);
  if (timeoutMs) bannerTimer = setTimeout(hideBanner, timeoutMs);
}

function hideBanner() {
  clearTimeout(bannerTimer);
  $("banner").hidden = true;
}

async function share() {
  const cs = state.current;
  if (!cs) return;
  const row = $("share-row");
  row.hidden = false;
  const input = $("share-link");
  input.value = inviteLink(cs.id);
  input.focus();
  input.select();
  const status = $("share-copied");
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = "Copied!";
  } catch {
    status.textContent = "Copy the link and send it to whoever should join.";
  }
}

// -- wiring ------------------------------------------------------------------------------------------

function wire() {
  const header = document.querySelector(".chat-header");
  new ResizeObserver(() => {
    $("chat-pane").style.setProperty("--drawer-top", `${header.offsetHeight}px`);
  }).observe(header);
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("signin-name").value);
  });
  $("signout-button").addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    signOut();
  });
  $("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    createChat();
  });
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    joinFromForm();
  });
  $("refresh-chats").addEventListener("click", () => loadChats());
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendFromComposer();
  });
  const input = $("composer-input");
  input.addEventListener("input", onComposerInput);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendFromComposer();
    }
  });
  $("load-earlier").addEventListener("click", loadEarlier);
  $("banner-close").addEventListener("click", hideBanner);
  $("share-button").addEventListener("click", share);
  $("analytics-button").addEventListener("click", toggleAnalytics);
  $("people-button").addEventListener("click", () => toggleDrawer("people"));
  $("settings-button").addEventListener("click", () => toggleDrawer("settings"));
  $("extensions-button").addEventListener("click", () => toggleDrawer("extensions"));
  for (const drawer of ["analytics-panel", "people-panel", "settings-panel", "extensions-panel"]) {
    // each drawer's own close button: its toggle button says so (after the drawer closed itself)
    $(drawer).querySelector("[data-action=close]").addEventListener("click", () => setTimeout(syncDrawerButtons));
  }
  $("back-button").addEventListener("click", () => showPane("list"));
  window.addEventListener("hashchange", routeFromHash);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.session) loadChats();
  });
}

async function boot() {
  wire();
  const config = await loadConfig();
  api.base = String(config.api_url || "").replace(/\/+$/, "");
  if (config.auth) {
    oauth = new OAuth(config.auth);
    $("signin-oauth").hidden = false;
    $("local-signin").hidden = config.auth.local_sign_in === false;
    $("signin-oauth").addEventListener("click", () => oauth.start(location.hash));
    try {
      const returned = await oauth.complete();
      if (returned) {
        state.session = returned;
        saveSession(returned);
        enterApp();
        return;
      }
    } catch (error) {
      showSignIn(`Could not sign in: ${error.message}`);
      return;
    }
  }
  const session = loadSession();
  if (session && session.token) {
    state.session = session;
    if (!session.expires_at || session.expires_at * 1000 < Date.now() + 60_000) {
      // expired: the local sign-in gives the same user a new token without asking
      refreshToken().then((ok) => (ok ? enterApp() : signOut("Your session ended. Please sign in again.")));
    } else {
      enterApp();
    }
  } else {
    showSignIn("", session ? session.name : "");
  }
}

// a small hook for tests and for trying reconnects by hand in the console
window.parley = {
  /** Close the socket as a network failure would; it reconnects (and resumes) by itself. */
  dropSocket: (options) => realtime.drop(options),
  get connectionState() {
    return realtime.state;
  },
  get connects() {
    return realtime.connects;
  },
  /** How many times the token was renewed (before expiry, or after a 401). */
  get tokenRefreshes() {
    return tokenRefreshes;
  },
  get lastEventSequence() {
    return state.current ? state.current.lastEventSeq : null;
  },
  /** How many times a skipped sequence made the page fetch the missed range from /events. */
  get gapFetches() {
    return state.current ? state.current.gapFetches : 0;
  },
};

boot();
