// Herald browser client: one WebSocket per tab with automatic reconnect and resume, the inbox
// HTTP API as promises, and desktop popups shown once across all tabs of the same user.
// An ES module with no dependencies: `import { connect } from '/herald-client.js'`.

const DEFAULTS = Object.freeze({
  minDelayMs: 500,        // first reconnect delay
  maxDelayMs: 30000,      // reconnect delay cap
  pingIntervalMs: 25000,  // application ping, so a dead link is noticed without waiting for TCP
  pongTimeoutMs: 10000,   // no frame for ping interval + this: drop and reconnect
  desktop: true,          // show desktop popups when the page has permission
  electionMs: 150,        // how long tabs collect claims before one shows a popup
  seenLimit: 2000,        // ids remembered for de-duplication
});

/** An error answer of the Herald HTTP API, or a transport failure (status 0). */
export class HeraldError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the request never got an answer
   * @param {string} code the API's error code, e.g. `not_found`
   * @param {string} message human-readable reason
   * @param {string} [field] the offending field for `invalid_argument`
   */
  constructor(status, code, message, field) {
    super(message);
    this.name = 'HeraldError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/**
 * Opens a Herald connection and keeps it open until `close()`.
 *
 * @param {object} options
 * @param {string} [options.url] WebSocket URL, default `ws(s)://<page host>/v1/ws`
 * @param {string} [options.token] a user token (JWT); give this or `getToken`
 * @param {() => (string|Promise<string>)} [options.getToken] called for a fresh token before
 *   every connection attempt, when an HTTP call is refused with 401, and when the server says
 *   the connection's token is about to expire (`token_expiring`): the new token is sent as a
 *   `refresh` frame on the open connection, without reconnecting
 * @param {number} [options.since] resume after this notification id. Without it the client
 *   asks the inbox for the newest id first, so nothing created after `connect()` is missed.
 * @param {number} [options.changesSince] resume state changes after this seq (with `since`)
 * @param {string} [options.httpBase] base URL of the inbox API, default derived from `url`
 * @param {boolean} [options.desktop=true] show desktop popups (needs Notification permission)
 * @param {number} [options.minDelayMs=500] first reconnect delay
 * @param {number} [options.maxDelayMs=30000] reconnect delay cap
 * @param {() => boolean} [options.hasFocus] focus test for popups, default `document.hasFocus()`
 * @returns {HeraldClient}
 */
export function connect(options) {
  const client = new HeraldClient(options);
  client.start();
  return client;
}

/**
 * A live connection to Herald. Events (subscribe with `on`):
 * - `open` `{}`: the WebSocket is up;
 * - `count` `{unread}`: the unread count changed (count frames, new notifications, read calls);
 * - `notification` `{notification, unread, live}`: an item this client had not seen, from a live
 *   frame (`live: true`, `unread` is the new count) or from a resume `sync` (`live: false`);
 * - `sync` `{notifications, more, changes, reset}`: a sync frame, `notifications` holding only
 *   unseen items, `changes` the state changes it carried (already applied, like live ones);
 * - `changed` `{id, read, seq, item}`: an item was read (here or in another tab or device);
 * - `read_all` `{up_to, seq}`: every item with id <= up_to is read;
 * - `removed` `{id, reason, seq, item}`: an item left the inbox (`deleted`, `retracted`,
 *   `expired`);
 * - `reset` `{}`: the client was away longer than the server keeps changes: reload the list
 *   (`items` was cleared);
 * - `desktop` `{title, content, data}`: a transient popup frame;
 * - `click` `{notification | desktop}`: a desktop popup shown by this tab was clicked;
 * - `close` `{code, reason, retryInMs}`: the WebSocket closed; `retryInMs` is null after close()
 *   and after a close the client does not come back from (4003);
 * - `token_expiring` `{exp}`: the server will close at `exp` (epoch seconds) unless refreshed;
 *   with `getToken` the client refreshes by itself;
 * - `refreshed` `{exp}`: the server took the new token; the connection now lives until `exp`;
 * - `expired` `{reason}`: the server closed the connection at its token's expiry (4001); with
 *   `getToken` the client reconnects at once with a fresh token, without it the client stops;
 * - `revoked` `{code, reason}`: the server cut this user off (4003, `revoked`, or a refresh for
 *   another user); the client stops for good (state `closed`), the page should say so;
 * - `error` `{code, message, error}`: a server error frame or a failed connection step
 *   (`refresh_failed` when `getToken` failed or gave nothing on `token_expiring`).
 */
export class HeraldClient {
  #options;
  #wsUrl;
  #httpBase;
  #getToken;
  #token;
  #lastId;
  #seq = null;          // the highest state seq applied; the next connection resumes after it
  #items = new Map();   // id -> item, the items this client knows, kept current by state frames
  #listeners = new Map();
  #seen = new Set();
  #seenOrder = [];
  #unread = null;
  #ws = null;
  #state = 'idle';
  #closed = false;
  #attempt = 0;
  #timer = null;
  #pingTimer = null;
  #lastFrameAt = 0;
  #desktop = null;
  #refreshing = null;  // the refresh in progress, so that one token_expiring gets one refresh
  #sentToken = null;   // the token sent in the last refresh frame, adopted on `refreshed`
  #lastRefreshAt = 0;
  #acks = [];          // ids received and not acked yet (the server records their delivery)
  #ackTimer = null;
  #wake = () => this.#reconnectNow();

  /** @param {object} options see {@link connect} */
  constructor(options = {}) {
    if (!options.token && !options.getToken) {
      throw new TypeError('Herald connect() needs a token or getToken');
    }
    this.#options = { ...DEFAULTS, ...options };
    this.#wsUrl = resolveWsUrl(options.url);
    this.#httpBase = (options.httpBase ?? httpBaseFromWs(this.#wsUrl)).replace(/\/+$/, '');
    this.#token = options.token ?? null;
    this.#getToken = options.getToken ?? null;
    this.#lastId = Number.isSafeInteger(options.since) ? options.since : null;
    this.#seq = Number.isSafeInteger(options.changesSince) ? options.changesSince : null;
  }

  /** Starts connecting; `connect()` calls it. Calling it again does nothing. */
  start() {
    if (this.#state !== 'idle' || this.#closed) return;
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.#wake);
      document.addEventListener('visibilitychange', this.#wake);
    }
    this.#open();
  }

  /**
   * Subscribes to an event.
   * @param {string} event one of the events listed on the class
   * @param {(payload: object) => void} fn listener
   * @returns {() => void} a function that unsubscribes
   */
  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(fn);
    return () => this.off(event, fn);
  }

  /** Removes a listener added with `on`. */
  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  /** The last unread count received, or null before the first one. */
  get unread() { return this.#unread; }

  /** The highest notification id received; the next connection resumes after it. */
  get lastId() { return this.#lastId; }

  /** The highest state-change seq applied (`changes_since` of the next connection), or null. */
  get seq() { return this.#seq; }

  /** The items this client knows (from list, get and frames), newest first, kept current. */
  get items() { return [...this.#items.values()].sort((a, b) => b.id - a.id); }

  /** One known item by id, or undefined. */
  item(id) { return this.#items.get(Number(id)); }

  /** `connecting`, `open`, `waiting` (between attempts) or `closed`. */
  get state() { return this.#state; }

  /** Closes the connection for good: no reconnect, no more events. */
  close() {
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#timer);
    clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    this.#stopPing();
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.#wake);
      document.removeEventListener('visibilitychange', this.#wake);
    }
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      detach(ws);
      try { ws.close(1000, 'client closed'); } catch { /* already closing */ }
    }
    this.#desktop?.close();
    this.#emit('close', { code: 1000, reason: 'client closed', retryInMs: null });
    this.#listeners.clear();
  }

  /**
   * Lists the inbox, newest first.
   * @param {{before?: number, limit?: number, status?: 'all'|'unread',
   *          kind?: 'all'|'personal'|'broadcast'|'group'}} [query]
   * @returns {Promise<{notifications: object[], next_before: number|null, unread: number}>}
   */
  async list(query = {}) {
    const params = new URLSearchParams();
    for (const key of ['before', 'limit', 'status', 'kind']) {
      if (query[key] !== undefined && query[key] !== null) params.set(key, String(query[key]));
    }
    const qs = params.toString();
    const page = await this.#request('GET', `/v1/inbox${qs ? `?${qs}` : ''}`);
    for (const item of page.notifications) {
      this.#remember(item.id);
      this.#keep(item);
    }
    this.#setUnread(page.unread);
    return page;
  }

  /**
   * Fetches one item; by default it is marked read.
   * @param {number} id
   * @param {{markRead?: boolean}} [opts]
   * @returns {Promise<object>} the item as it is after being marked
   */
  async get(id, { markRead = true } = {}) {
    const item = await this.#request('GET', `/v1/inbox/${idPath(id)}${markRead ? '' : '?mark_read=false'}`);
    this.#remember(item.id);
    this.#keep(item);
    return item;
  }

  /**
   * Marks one item read; reading twice changes nothing.
   * @param {number} id
   * @returns {Promise<{unread: number}>}
   */
  async read(id) {
    const answer = await this.#request('POST', `/v1/inbox/${idPath(id)}/read`);
    this.#setUnread(answer.unread);
    return answer;
  }

  /**
   * Marks every visible item read.
   * @returns {Promise<{unread: number}>}
   */
  async readAll() {
    const answer = await this.#request('POST', '/v1/inbox/read_all');
    this.#setUnread(answer.unread);
    return answer;
  }

  /**
   * Deletes one item from this user's inbox (other users keep theirs).
   * @param {number} id
   * @returns {Promise<void>}
   */
  async delete(id) {
    await this.#request('DELETE', `/v1/inbox/${idPath(id)}`);
  }

  /**
   * Asks the server for the unread count.
   * @returns {Promise<number>}
   */
  async unreadCount() {
    const answer = await this.#request('GET', '/v1/inbox/unread_count');
    this.#setUnread(answer.unread);
    return answer.unread;
  }

  // ---- connection ----

  async #open() {
    if (this.#closed) return;
    this.#state = 'connecting';
    let token;
    try {
      token = await this.#freshToken();
      this.#ensureDesktop(token);
      if (this.#lastId === null) {
        // Learn where the inbox stands so the first connection can resume from it.
        const page = await this.#request('GET', '/v1/inbox?limit=1', { token });
        for (const item of page.notifications) this.#remember(item.id);
        this.#lastId = page.notifications.length ? page.notifications[0].id : 0;
        this.#setUnread(page.unread);
      }
    } catch (error) {
      if (this.#closed) return;
      this.#emit('error', { code: error.code ?? 'connect_failed', message: error.message, error });
      this.#scheduleReconnect(0, 'connect failed');
      return;
    }
    if (this.#closed) return;
    const url = new URL(this.#wsUrl);
    url.searchParams.set('token', token);
    if (this.#lastId !== null) url.searchParams.set('since', String(this.#lastId));
    // Ids and seqs come from one sequence: a state that includes item N includes every change
    // with a lower seq, so without a seq of its own the client resumes changes after its id.
    if (this.#lastId !== null && this.#seq === null) this.#seq = this.#lastId;
    if (this.#lastId !== null) url.searchParams.set('changes_since', String(this.#seq));
    let ws;
    try {
      ws = new WebSocket(url.toString());
    } catch (error) {
      this.#emit('error', { code: 'connect_failed', message: error.message, error });
      this.#scheduleReconnect(0, 'connect failed');
      return;
    }
    this.#ws = ws;
    ws.onopen = () => {
      this.#state = 'open';
      this.#lastFrameAt = Date.now();
      this.#startPing();
      this.#emit('open', {});
    };
    ws.onmessage = (event) => {
      this.#lastFrameAt = Date.now();
      this.#attempt = 0; // a frame proves the token was accepted
      this.#onFrame(event.data);
    };
    ws.onerror = () => { /* a close event always follows */ };
    ws.onclose = (event) => this.#lost(ws, event.code, event.reason);
  }

  #lost(ws, code, reason) {
    if (ws !== this.#ws) return;
    detach(ws);
    this.#ws = null;
    this.#stopPing();
    if (this.#closed) return;
    if (code === 4003) {
      // Revoked (or a refresh for another user): coming back would only be refused again.
      this.#stop();
      this.#emit('close', { code, reason, retryInMs: null });
      this.#emit('revoked', { code, reason });
      return;
    }
    if (code === 4001) {
      this.#emit('expired', { reason });
      if (!this.#getToken) {
        // The one token given has expired: nothing to reconnect with.
        this.#stop();
        this.#emit('close', { code, reason, retryInMs: null });
        return;
      }
      // Expiry is not a failure: reconnect at once with a fresh token, no backoff.
      this.#state = 'waiting';
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#open(), 0);
      this.#emit('close', { code, reason, retryInMs: 0 });
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  #stop() {
    this.#closed = true;
    this.#state = 'closed';
    clearTimeout(this.#timer);
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.#wake);
      document.removeEventListener('visibilitychange', this.#wake);
    }
    this.#desktop?.close();
  }

  // The server warned that the token expires at `exp`: get a new one and send it on this
  // connection. A failure is reported; the server then closes with 4001 at `exp` and the
  // client reconnects with whatever getToken gives then.
  async #refresh(exp) {
    this.#emit('token_expiring', { exp });
    if (!this.#getToken || this.#refreshing) return;
    const ws = this.#ws;
    this.#refreshing = (async () => {
      try {
        // A server whose refresh window is longer than the tokens' life warns again at once
        // after each refresh: space refreshes by a second rather than loop.
        const wait = this.#lastRefreshAt + 1000 - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        this.#lastRefreshAt = Date.now();
        const token = await this.#getToken();
        if (!token) throw new HeraldError(0, 'no_token', 'getToken returned no token');
        if (ws !== this.#ws || this.#closed) return;
        this.#sentToken = token;
        this.#send({ type: 'refresh', token });
      } catch (error) {
        if (!this.#closed) {
          this.#emit('error', { code: 'refresh_failed', message: error?.message ?? String(error), error });
        }
      } finally {
        this.#refreshing = null;
      }
    })();
    await this.#refreshing;
  }

  #scheduleReconnect(code, reason) {
    const { minDelayMs, maxDelayMs } = this.#options;
    const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(this.#attempt, 20));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2)); // jitter in [c/2, c]
    this.#attempt += 1;
    this.#state = 'waiting';
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(), delay);
    this.#emit('close', { code, reason, retryInMs: delay });
  }

  #reconnectNow() {
    if (this.#closed || this.#state !== 'waiting') return;
    if (typeof document !== 'undefined' && document.visibilityState === 'hidden') return;
    clearTimeout(this.#timer);
    this.#open();
  }

  #startPing() {
    this.#stopPing();
    const { pingIntervalMs, pongTimeoutMs } = this.#options;
    this.#pingTimer = setInterval(() => {
      const ws = this.#ws;
      if (!ws) return;
      if (Date.now() - this.#lastFrameAt > pingIntervalMs + pongTimeoutMs) {
        try { ws.close(4000, 'ping timeout'); } catch { /* closing anyway */ }
        this.#lost(ws, 4000, 'ping timeout');
        return;
      }
      this.#send({ type: 'ping' });
    }, pingIntervalMs);
  }

  #stopPing() {
    clearInterval(this.#pingTimer);
    this.#pingTimer = null;
  }

  #send(frame) {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }

  // Receipts: each item received (live or in a sync) is acked once, in frames of at most 100
  // ids, 250 ms after the first one waiting. Acks are never answered; ids still waiting when
  // the connection drops are acked on the next one.
  #ack(id) {
    this.#acks.push(id);
    if (this.#ackTimer === null) this.#ackTimer = setTimeout(() => this.#flushAcks(), 250);
  }

  #flushAcks() {
    this.#ackTimer = null;
    if (this.#closed) return;
    if (this.#ws?.readyState !== WebSocket.OPEN) {
      if (this.#acks.length) this.#ackTimer = setTimeout(() => this.#flushAcks(), 1000);
      return;
    }
    while (this.#acks.length) this.#send({ type: 'ack', ids: this.#acks.splice(0, 100) });
  }

  // ---- frames ----

  #onFrame(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    switch (frame.type) {
      case 'count':
        this.#setUnread(frame.unread, true);
        break;
      case 'notification':
        this.#onNotification(frame);
        break;
      case 'sync':
        this.#onSync(frame);
        break;
      case 'changed':
      case 'read_all':
      case 'removed':
        this.#applyChange(frame, true);
        break;
      case 'desktop':
        this.#emit('desktop', { title: frame.title, content: frame.content, data: frame.data });
        this.#desktop?.offer(desktopKey(frame), frame.title, frame.content, { desktop: frame });
        break;
      case 'error':
        this.#emit('error', { code: frame.code, message: frame.message });
        break;
      case 'token_expiring':
        this.#refresh(frame.exp);
        break;
      case 'refreshed':
        if (this.#sentToken) this.#token = this.#sentToken;
        this.#sentToken = null;
        this.#emit('refreshed', { exp: frame.exp });
        break;
      default:
        break; // pong and future frame types
    }
  }

  #onNotification(frame) {
    const item = frame.notification;
    if (!item || !Number.isSafeInteger(item.id)) return;
    this.#advance(item.id);
    this.#advanceSeq(frame.seq ?? item.seq);
    this.#keep(item);
    const fresh = this.#remember(item.id);
    if (fresh) {
      this.#ack(item.id);
      this.#emit('notification', { notification: item, unread: frame.unread, live: true });
      if (item.desktop) {
        this.#desktop?.offer(`n:${item.id}`, item.title, item.content, { notification: item });
      }
    }
    if (typeof frame.unread === 'number') this.#setUnread(frame.unread, true);
  }

  #onSync(frame) {
    const items = Array.isArray(frame.notifications) ? frame.notifications : [];
    const changes = Array.isArray(frame.changes) ? frame.changes : [];
    const reset = frame.reset === true;
    if (reset) {
      // Away longer than the server keeps changes: what this client holds may be stale.
      this.#items.clear();
      this.#seq = 0;
      this.#emit('reset', {});
    }
    const fresh = [];
    for (const item of items) {
      if (!item || !Number.isSafeInteger(item.id)) continue;
      this.#advance(item.id);
      this.#keep(item);
      if (this.#remember(item.id)) {
        fresh.push(item);
        this.#ack(item.id);
      }
    }
    // Changes first (they are older than the page's items' state), then the new items.
    for (const change of changes) this.#applyChange(change, false);
    for (const item of items) this.#advanceSeq(item?.seq);
    this.#emit('sync', { notifications: fresh, more: Boolean(frame.more), changes, reset });
    for (const item of fresh) this.#emit('notification', { notification: item, unread: null, live: false });
    if (frame.more && (items.length || changes.length)) {
      const next = { type: 'sync', since: this.#lastId };
      if ('changes' in frame && this.#seq !== null) next.changes_since = this.#seq;
      this.#send(next);
    }
  }

  // A state frame (live, or from a sync's `changes`): the known list follows it, then the
  // event. Applying a change twice changes nothing.
  #applyChange(change, live) {
    if (!change || !Number.isSafeInteger(change.seq)) return;
    this.#advanceSeq(change.seq);
    if (change.type === 'changed' && Number.isSafeInteger(change.id)) {
      const item = this.#items.get(change.id);
      if (item) item.read = true;
      this.#emit('changed', { id: change.id, read: true, seq: change.seq, item, live });
    } else if (change.type === 'read_all' && Number.isSafeInteger(change.up_to)) {
      for (const item of this.#items.values()) if (item.id <= change.up_to) item.read = true;
      this.#emit('read_all', { up_to: change.up_to, seq: change.seq, live });
    } else if (change.type === 'removed' && Number.isSafeInteger(change.id)) {
      const item = this.#items.get(change.id);
      this.#items.delete(change.id);
      this.#emit('removed', { id: change.id, reason: change.reason, seq: change.seq, item, live });
    }
  }

  #advanceSeq(seq) {
    if (Number.isSafeInteger(seq) && (this.#seq === null || seq > this.#seq)) this.#seq = seq;
  }

  #keep(item) {
    if (!item || !Number.isSafeInteger(item.id)) return;
    const known = this.#items.get(item.id);
    if (known) Object.assign(known, item); else this.#items.set(item.id, { ...item });
    if (this.#items.size > this.#options.seenLimit) {
      const oldest = Math.min(...this.#items.keys());
      this.#items.delete(oldest);
    }
  }

  #advance(id) {
    if (this.#lastId === null || id > this.#lastId) this.#lastId = id;
  }

  // Returns true when the id had not been seen before.
  #remember(id) {
    if (this.#seen.has(id)) return false;
    this.#seen.add(id);
    this.#seenOrder.push(id);
    if (this.#seenOrder.length > this.#options.seenLimit) this.#seen.delete(this.#seenOrder.shift());
    return true;
  }

  #setUnread(unread, force = false) {
    if (typeof unread !== 'number') return;
    if (!force && unread === this.#unread) return;
    this.#unread = unread;
    this.#emit('count', { unread });
  }

  #emit(event, payload) {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        fn(payload);
      } catch (error) {
        setTimeout(() => { throw error; }); // report without breaking the other listeners
      }
    }
  }

  // ---- desktop ----

  #ensureDesktop(token) {
    if (this.#desktop || !this.#options.desktop || typeof window === 'undefined') return;
    const user = tokenSubject(token) ?? 'anonymous';
    this.#desktop = new DesktopNotifier({
      channelName: `herald-desktop:${user}`,
      electionMs: this.#options.electionMs,
      hasFocus: this.#options.hasFocus ?? (() => document.hasFocus()),
      onClick: (what) => this.#emit('click', what),
    });
  }

  // ---- HTTP ----

  async #freshToken() {
    if (this.#getToken) this.#token = await this.#getToken();
    if (!this.#token) throw new HeraldError(0, 'no_token', 'getToken returned no token');
    return this.#token;
  }

  async #request(method, path, { token, retried = false } = {}) {
    const bearer = token ?? this.#token ?? await this.#freshToken();
    let response;
    try {
      response = await fetch(`${this.#httpBase}${path}`, {
        method,
        headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' },
      });
    } catch (error) {
      throw new HeraldError(0, 'network', error.message);
    }
    if (response.status === 401 && this.#getToken && !retried) {
      await this.#freshToken();
      return this.#request(method, path, { retried: true });
    }
    if (response.status === 204) return null;
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: keep null */ }
    if (!response.ok) {
      const error = body?.error ?? {};
      throw new HeraldError(response.status, error.code ?? `http_${response.status}`,
        error.message ?? response.statusText, error.field);
    }
    return body;
  }
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
}

function idPath(id) {
  if (!Number.isSafeInteger(Number(id)) || Number(id) <= 0) throw new TypeError(`bad id ${id}`);
  return String(Number(id));
}

function resolveWsUrl(url) {
  if (url) {
    const resolved = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
    if (resolved.protocol === 'http:') resolved.protocol = 'ws:';
    if (resolved.protocol === 'https:') resolved.protocol = 'wss:';
    return resolved.toString();
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/ws`;
}

function httpBaseFromWs(wsUrl) {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = url.pathname.replace(/\/v1\/ws\/?$/, '');
  url.search = '';
  url.hash = '';
  return url.toString();
}

// The `sub` claim of a JWT, without checking it: only used to name the tabs' shared channel.
function tokenSubject(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
    return claims.sub === undefined ? null : String(claims.sub);
  } catch {
    return null;
  }
}

function desktopKey(frame) {
  const text = `${frame.title ?? ''}\u0000${frame.content ?? ''}\u0000${JSON.stringify(frame.data ?? null)}`;
  let hash = 0x811c9dc5; // FNV-1a: tabs only need the same key for the same frame
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `d:${hash.toString(16)}:${text.length}`;
}

// Shows each desktop popup in exactly one tab of the same user. Tabs that got the same item
// announce a claim on a BroadcastChannel, wait `electionMs`, and the claimant with the smallest
// tab id shows it, unless any claimant has focus (the user is looking at the site already).
// A tab whose frame arrives late finds the item already marked `shown` and stays silent.
class DesktopNotifier {
  #channel = null;
  #tabId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  #claims = new Map(); // key -> {at, tabs: Map(tabId -> focused), mine, shown}
  #electionMs;
  #hasFocus;
  #onClick;

  constructor({ channelName, electionMs, hasFocus, onClick }) {
    this.#electionMs = electionMs;
    this.#hasFocus = hasFocus;
    this.#onClick = onClick;
    if (typeof BroadcastChannel !== 'undefined') {
      this.#channel = new BroadcastChannel(channelName);
      this.#channel.onmessage = (event) => this.#onMessage(event.data);
    }
  }

  offer(key, title, body, what) {
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    const entry = this.#entry(key);
    if (entry.mine || entry.shown) return;
    entry.mine = true;
    const focused = Boolean(this.#hasFocus());
    entry.tabs.set(this.#tabId, focused);
    this.#post({ type: 'claim', key, tab: this.#tabId, focused });
    setTimeout(() => this.#decide(key, title, body, what), this.#electionMs);
  }

  close() {
    this.#channel?.close();
    this.#channel = null;
  }

  #decide(key, title, body, what) {
    const entry = this.#claims.get(key);
    if (!entry || entry.shown) return;
    for (const focused of entry.tabs.values()) if (focused) return;
    const winner = [...entry.tabs.keys()].sort()[0];
    if (winner !== this.#tabId || this.#hasFocus()) return;
    entry.shown = true;
    this.#post({ type: 'shown', key, tab: this.#tabId });
    try {
      const popup = new Notification(title || 'Notification', { body: body ?? '', tag: key });
      popup.onclick = () => {
        window.focus();
        popup.close();
        this.#onClick?.(what);
      };
    } catch {
      // Some platforms only allow popups from a service worker; the in-page inbox still shows it.
    }
  }

  #onMessage(message) {
    if (!message || typeof message.key !== 'string') return;
    const entry = this.#entry(message.key);
    if (message.type === 'claim') entry.tabs.set(String(message.tab), Boolean(message.focused));
    if (message.type === 'shown') entry.shown = true;
  }

  #post(message) {
    try {
      this.#channel?.postMessage(message);
    } catch {
      // A closed channel leaves this tab deciding alone.
    }
  }

  #entry(key) {
    const now = Date.now();
    for (const [k, e] of this.#claims) {
      // Transient popups have no id, so their keys are forgotten quickly to let repeats through.
      const life = k.startsWith('d:') ? 3000 : 120000;
      if (now - e.at > life) this.#claims.delete(k);
    }
    let entry = this.#claims.get(key);
    if (!entry) {
      entry = { at: now, tabs: new Map(), mine: false, shown: false };
      this.#claims.set(key, entry);
    }
    return entry;
  }
}
