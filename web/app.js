// Herald demo inbox: a bell with an unread badge, a dropdown inbox and a dev sign-in panel,
// all driven by herald-client.js.
import { connect } from '/herald-client.js';

const SESSION_KEY = 'herald-demo-session';
// Demo tokens live 90 s: with the server's default refresh window (60 s) the server warns
// 30 s after each token is minted, and the page refreshes it on the open connection, so a
// person watching sees a refresh every half minute.
const DEV_TOKEN_TTL_S = 90;
const PAGE_SIZE = 20;

const $ = (id) => document.getElementById(id);
const ui = {
  conn: $('conn'), bell: $('bell'), badge: $('badge'), inbox: $('inbox'), list: $('inbox-list'),
  scroll: $('inbox-scroll'), empty: $('inbox-empty'), more: $('inbox-more'), markAll: $('mark-all'),
  avatar: $('avatar'), hello: $('hello-user'), devForm: $('dev-form'), devUser: $('dev-user'),
  devGroups: $('dev-groups'), signOut: $('sign-out'), tokenForm: $('token-form'),
  tokenInput: $('token-input'), tokenState: $('token-state'), tokenLine: $('token-line'), signinError: $('signin-error'), desktopEnable: $('desktop-enable'),
  desktopState: $('desktop-state'), toasts: $('toasts'), detail: $('detail'),
  detailMeta: $('detail-meta'), detailTitle: $('detail-title'), detailContent: $('detail-content'),
  detailData: $('detail-data'), detailDelete: $('detail-delete'), curl: $('curl-example'),
};

const state = {
  session: null,     // {mode: 'dev', user_id, groups} or {mode: 'token', token}
  token: null,
  client: null,
  items: new Map(),  // id -> item, as shown in the list
  rows: new Map(),   // id -> <li>
  fresh: new Set(),  // ids that just arrived, highlighted once
  filter: 'all',
  nextBefore: null,
  loaded: false,
  loading: false,
  epoch: 0,          // bumped when the list is reset, so stale answers are dropped
  unread: 0,
  openId: null,
};

// ---- tokens and sessions ----

function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')));
  } catch {
    return {};
  }
}

async function mintDevToken(userId, groups) {
  const response = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user_id: userId, groups, ttl_s: DEV_TOKEN_TTL_S }),
  });
  const body = await response.json().catch(() => null);
  if (response.status === 404) {
    throw new Error('Demo tokens need the server in --dev mode. Paste a token instead.');
  }
  if (!response.ok) throw new Error(body?.error?.message ?? `token request failed (${response.status})`);
  return body.token;
}

async function getToken() {
  const session = state.session;
  if (!session) throw new Error('signed out');
  if (session.mode === 'token') return session.token;
  // Called when the server warns of expiry too: always a new token, never the cached one.
  state.token = await mintDevToken(session.user_id, session.groups);
  return state.token;
}

function showTokenState(text, kind = '') {
  ui.tokenState.textContent = text;
  ui.tokenState.className = `pill ${kind}`.trim();
}

function clockTime(epochS) {
  return new Date(epochS * 1000).toLocaleTimeString();
}

async function signIn(session) {
  signOut();
  state.session = session;
  ui.signinError.hidden = true;
  try {
    await getToken();
  } catch (error) {
    state.session = null;
    showSigninError(error.message);
    return;
  }
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  const userId = session.mode === 'dev' ? session.user_id : tokenClaims(session.token).sub;
  ui.avatar.textContent = `U${userId}`.slice(0, 4);
  ui.avatar.title = `User ${userId}`;
  ui.hello.textContent = `, user ${userId}`;
  ui.signOut.hidden = false;
  ui.curl.textContent = curlExample(userId);

  const client = connect({ getToken, maxDelayMs: 8000 });
  state.client = client;
  client.on('open', () => setConn('open', 'Live'));
  client.on('close', ({ retryInMs }) => {
    if (retryInMs !== null) setConn('waiting', `Reconnecting in ${Math.max(1, Math.round(retryInMs / 1000))}s`);
  });
  client.on('count', ({ unread }) => onCount(unread));
  client.on('notification', ({ notification, live }) => onNotification(notification, live));
  // State frames: a read, read-all or removal in any tab or device updates this list in place.
  client.on('changed', ({ id }) => onChanged(id));
  client.on('read_all', ({ up_to: upTo }) => onReadAll(upTo));
  client.on('removed', ({ id }) => onRemoved(id));
  client.on('reset', () => resetList());
  client.on('click', ({ notification }) => { if (notification) openItem(notification.id); });
  client.on('error', ({ code, message }) => {
    if (code === 'unauthenticated') showSigninError(`The server refused this token: ${message}`);
    if (code === 'refresh_failed') {
      showTokenState('refresh failed', 'denied');
      showSigninError(`Could not get a new token: ${message}. The connection ends when the token expires.`);
    }
  });
  // Token life: the server warns before expiry, the client refreshes on the open connection.
  ui.tokenLine.hidden = false;
  const firstExp = tokenClaims(state.token ?? session.token ?? '').exp;
  showTokenState(firstExp ? `valid until ${clockTime(firstExp)}` : 'valid');
  client.on('token_expiring', ({ exp }) => showTokenState(`expires at ${clockTime(exp)}, refreshing…`));
  client.on('refreshed', ({ exp }) => {
    state.refreshes = (state.refreshes ?? 0) + 1;
    showTokenState(`refreshed ×${state.refreshes}, valid until ${clockTime(exp)}`, 'granted');
  });
  client.on('expired', () => {
    showTokenState('expired', 'denied');
    setConn('waiting', 'Token expired');
  });
  client.on('revoked', ({ reason }) => {
    showTokenState(reason === 'revoked' ? 'revoked' : 'refused', 'denied');
    setConn('closed', 'Disconnected by the server');
    showSigninError(reason === 'revoked'
      ? 'Your session was revoked by the server. Sign in again to continue.'
      : 'The server closed this session. Sign in again to continue.');
  });
  client.on('open', () => { ui.signinError.hidden = true; });
  setConn('connecting', 'Connecting…');
  resetList();
}

function signOut() {
  state.client?.close();
  state.client = null;
  state.session = null;
  state.token = null;
  sessionStorage.removeItem(SESSION_KEY);
  ui.avatar.textContent = '?';
  ui.avatar.title = 'Not signed in';
  ui.hello.textContent = '';
  ui.signOut.hidden = true;
  ui.tokenLine.hidden = true;
  state.refreshes = 0;
  setConn('signed-out', 'Signed out');
  state.items.clear();
  state.epoch += 1;
  state.loaded = false;
  setBadge(0);
  render();
}

function showSigninError(message) {
  ui.signinError.textContent = message;
  ui.signinError.hidden = false;
}

function setConn(kind, label) {
  ui.conn.dataset.state = kind;
  ui.conn.textContent = label;
}

function curlExample(userId) {
  return `curl -H "Authorization: Bearer $HERALD_API_KEY" \\\n  -d '{"user_id": ${userId}, "title": "Hello"}' \\\n  http://127.0.0.1:8081/v1/notify`;
}

// ---- counts ----

function setBadge(unread) {
  const before = state.unread;
  state.unread = unread;
  ui.badge.hidden = unread <= 0;
  ui.badge.textContent = unread > 99 ? '99+' : String(unread);
  ui.bell.setAttribute('aria-label', unread > 0 ? `Notifications, ${unread} unread` : 'Notifications');
  document.title = `${unread > 0 ? `(${unread}) ` : ''}Herald · demo inbox`;
  if (unread > before) {
    ui.badge.classList.remove('pop');
    void ui.badge.offsetWidth; // restart the animation
    ui.badge.classList.add('pop');
  }
  ui.markAll.disabled = unread <= 0;
}

function onCount(unread) {
  setBadge(unread);
}

// ---- state changes (from any tab or device, applied without fetching a page) ----

function onChanged(id) {
  const item = state.items.get(id);
  if (!item || item.read) return;
  item.read = true;
  state.stateChanges = (state.stateChanges ?? 0) + 1;
  render();
}

function onReadAll(upTo) {
  for (const item of state.items.values()) if (item.id <= upTo) item.read = true;
  state.stateChanges = (state.stateChanges ?? 0) + 1;
  render();
}

function onRemoved(id) {
  if (!state.items.delete(id)) return;
  state.fresh.delete(id);
  state.stateChanges = (state.stateChanges ?? 0) + 1;
  render();
}

// ---- list ----

function resetList() {
  state.epoch += 1;
  state.items.clear();
  state.nextBefore = null;
  state.loaded = false;
  state.loading = false;
  render();
  loadMore();
}

async function loadMore() {
  const client = state.client;
  if (!client || state.loading || (state.loaded && state.nextBefore === null)) return;
  state.loading = true;
  const epoch = state.epoch;
  ui.more.classList.add('loading');
  try {
    const page = await client.list({
      limit: PAGE_SIZE, status: state.filter, before: state.nextBefore ?? undefined,
    });
    if (epoch !== state.epoch) return;
    for (const item of page.notifications) state.items.set(item.id, item);
    state.nextBefore = page.next_before;
    state.loaded = true;
    setBadge(page.unread);
  } catch (error) {
    if (epoch === state.epoch) toast('Could not load notifications', error.message, null, true);
  } finally {
    if (epoch === state.epoch) {
      state.loading = false;
      ui.more.classList.remove('loading');
      render();
      if (!ui.inbox.hidden && sentinelVisible()) loadMore();
    }
  }
}

function sentinelVisible() {
  const box = ui.scroll.getBoundingClientRect();
  const mark = ui.more.getBoundingClientRect();
  return mark.top <= box.bottom + 80;
}

function onNotification(item, live) {
  if (state.filter === 'unread' && item.read) return;
  state.items.set(item.id, item);
  state.fresh.add(item.id);
  render();
  if (live) toast(item.title, item.content, item.id);
}

function render() {
  const ids = [...state.items.keys()].sort((a, b) => b - a);
  const keep = new Set(ids);
  for (const [id, row] of state.rows) {
    if (!keep.has(id)) {
      row.remove();
      state.rows.delete(id);
    }
  }
  let previous = null;
  for (const id of ids) {
    const item = state.items.get(id);
    let row = state.rows.get(id);
    if (!row) {
      row = createRow(id);
      state.rows.set(id, row);
    }
    fillRow(row, item);
    if (state.fresh.delete(id)) row.classList.add('fresh');
    const wanted = previous ? previous.nextSibling : ui.list.firstChild;
    if (wanted !== row) ui.list.insertBefore(row, wanted);
    previous = row;
  }
  ui.empty.hidden = !(state.loaded && ids.length === 0);
}

function createRow(id) {
  const row = document.createElement('li');
  row.className = 'item';
  row.dataset.id = String(id);
  row.tabIndex = 0;
  row.innerHTML = `
    <div class="item-icon"></div>
    <div class="item-body">
      <div class="item-title"></div>
      <div class="item-content"></div>
      <div class="item-meta"></div>
    </div>
    <div class="item-side">
      <span class="dot" title="Unread"></span>
      <button class="item-delete" type="button" aria-label="Delete">
        <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M9 3h6l1 2h4v2H4V5h4Zm-3 6h12l-1 12H7Zm4 2v8h1.5v-8Zm3 0v8H15v-8Z"/></svg>
      </button>
    </div>`;
  row.addEventListener('click', (event) => {
    if (event.target.closest('.item-delete')) {
      event.stopPropagation();
      deleteItem(id);
    } else {
      openItem(id);
    }
  });
  row.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') openItem(id);
    if (event.key === 'Delete') deleteItem(id);
  });
  return row;
}

const KIND_LETTER = { personal: 'P', broadcast: 'B', group: 'G' };

function fillRow(row, item) {
  row.dataset.read = String(Boolean(item.read));
  row.dataset.kind = item.kind;
  const icon = row.querySelector('.item-icon');
  icon.className = `item-icon ${item.kind}`;
  icon.textContent = (item.sender ?? KIND_LETTER[item.kind] ?? '?').slice(0, 1).toUpperCase();
  row.querySelector('.item-title').textContent = item.title;
  const content = row.querySelector('.item-content');
  content.textContent = item.content ?? '';
  content.hidden = !item.content;
  fillMeta(row.querySelector('.item-meta'), item);
}

function fillMeta(box, item) {
  box.replaceChildren();
  const add = (text, className) => {
    const span = document.createElement('span');
    span.textContent = text;
    if (className) span.className = className;
    box.append(span);
  };
  if (item.kind === 'broadcast') add('Everyone', 'chip');
  if (item.kind === 'group') add(item.audience ?? 'group', 'chip');
  if (item.retention === 'important') add('Important', 'chip important');
  if (item.sender) add(item.sender);
  const time = document.createElement('time');
  time.dateTime = item.created_at;
  time.title = new Date(item.created_at).toLocaleString();
  time.textContent = relativeTime(item.created_at);
  if (box.childElementCount) add('·');
  box.append(time);
}

function relativeTime(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  if (seconds < 7 * 86400) return `${Math.round(seconds / 86400)} d ago`;
  return new Date(iso).toLocaleDateString();
}

// ---- actions ----

async function openItem(id) {
  const client = state.client;
  if (!client) return;
  let item = state.items.get(id);
  if (!item) {
    try {
      item = await client.get(id, { markRead: false });
    } catch (error) {
      toast('Notification unavailable', error.message, null, true);
      return;
    }
  }
  state.openId = id;
  fillMeta(ui.detailMeta, item);
  ui.detailTitle.textContent = item.title;
  ui.detailContent.textContent = item.content || '';
  ui.detailData.hidden = !item.data;
  ui.detailData.textContent = item.data ? JSON.stringify(item.data, null, 2) : '';
  if (!ui.detail.open) ui.detail.showModal();
  if (!item.read) {
    item.read = true;
    render();
    client.read(id).catch((error) => toast('Could not mark as read', error.message, null, true));
  }
}

async function deleteItem(id) {
  const client = state.client;
  if (!client) return;
  const item = state.items.get(id);
  state.items.delete(id);
  render();
  try {
    await client.delete(id);
  } catch (error) {
    if (error.status !== 404 && item) {
      state.items.set(id, item);
      render();
    }
    if (error.status !== 404) toast('Could not delete', error.message, null, true);
  }
}

async function markAllRead() {
  const client = state.client;
  if (!client) return;
  for (const item of state.items.values()) item.read = true;
  render();
  try {
    await client.readAll();
  } catch (error) {
    toast('Could not mark all as read', error.message, null, true);
  }
}

function toggleInbox(open = ui.inbox.hidden) {
  ui.inbox.hidden = !open;
  ui.bell.setAttribute('aria-expanded', String(open));
  if (open && state.loaded && sentinelVisible()) loadMore();
}

function setFilter(filter) {
  if (filter === state.filter) return;
  state.filter = filter;
  for (const tab of document.querySelectorAll('.tab')) {
    tab.setAttribute('aria-selected', String(tab.dataset.filter === filter));
  }
  resetList();
}

function toast(title, body, id, isError = false) {
  const box = document.createElement('div');
  box.className = 'toast';
  if (isError) box.style.borderLeftColor = 'var(--danger)';
  const strong = document.createElement('strong');
  strong.textContent = title;
  const span = document.createElement('span');
  span.textContent = body ?? '';
  box.append(strong, span);
  if (id !== null) box.addEventListener('click', () => { box.remove(); openItem(id); });
  ui.toasts.append(box);
  while (ui.toasts.childElementCount > 3) ui.toasts.firstElementChild.remove();
  setTimeout(() => box.remove(), isError ? 8000 : 5000);
}

function showDesktopState() {
  const permission = typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  ui.desktopState.textContent = permission === 'default' ? 'not asked' : permission;
  ui.desktopState.className = `pill ${permission}`;
  ui.desktopEnable.hidden = permission !== 'default';
}

// ---- wiring ----

ui.bell.addEventListener('click', (event) => {
  event.stopPropagation();
  toggleInbox();
});
document.addEventListener('click', (event) => {
  if (!ui.inbox.hidden && !ui.inbox.contains(event.target) && !ui.detail.open &&
      !event.target.closest('.toast')) toggleInbox(false);
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !ui.inbox.hidden && !ui.detail.open) toggleInbox(false);
});
ui.markAll.addEventListener('click', markAllRead);
for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => setFilter(tab.dataset.filter));
}
new IntersectionObserver((entries) => {
  if (entries.some((entry) => entry.isIntersecting)) loadMore();
}, { root: ui.scroll, rootMargin: '80px' }).observe(ui.more);

ui.detailDelete.addEventListener('click', () => {
  if (state.openId !== null) deleteItem(state.openId);
  ui.detail.close();
});
ui.detail.addEventListener('close', () => { state.openId = null; });

ui.devForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const userId = Number(ui.devUser.value);
  const groups = ui.devGroups.value.split(',').map((g) => g.trim()).filter(Boolean);
  signIn({ mode: 'dev', user_id: userId, groups });
});
ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.tokenInput.value.trim();
  if (token) signIn({ mode: 'token', token });
});
ui.signOut.addEventListener('click', signOut);
ui.desktopEnable.addEventListener('click', async () => {
  if (typeof Notification !== 'undefined') await Notification.requestPermission();
  showDesktopState();
});

setInterval(() => {
  for (const time of ui.list.querySelectorAll('time')) time.textContent = relativeTime(time.dateTime);
}, 30000);

function start() {
  showDesktopState();
  setBadge(0);
  render();
  const params = new URLSearchParams(location.search);
  if (params.has('user_id')) {
    const groups = (params.get('groups') ?? '').split(',').map((g) => g.trim()).filter(Boolean);
    ui.devUser.value = params.get('user_id');
    ui.devGroups.value = groups.join(', ');
    signIn({ mode: 'dev', user_id: Number(params.get('user_id')), groups });
    return;
  }
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (saved?.mode === 'dev') {
      ui.devUser.value = saved.user_id;
      ui.devGroups.value = saved.groups.join(', ');
    }
    if (saved) signIn(saved);
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
  }
}

// Read-only view for end-to-end tests and the curious.
window.heraldDemo = {
  get client() { return state.client; },
  get unread() { return state.unread; },
  get ids() { return [...state.items.keys()].sort((a, b) => b - a); },
  // State frames applied to the list so far (reads, read-alls, removals).
  get stateChanges() { return state.stateChanges ?? 0; },
  read(id) { return state.items.get(id)?.read; },
};

start();
