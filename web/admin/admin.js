// Herald admin console: served by the internal listener, talks to the internal API on the same
// origin with the pasted API key. The key lives in sessionStorage only (gone with the tab).
const KEY_STORAGE = 'herald-admin-key';
const STATS_EVERY_MS = 3000;

const $ = (id) => document.getElementById(id);
const ui = {
  keyForm: $('key-form'), keyInput: $('api-key'), keyForget: $('key-forget'), keyState: $('key-state'),
  connections: $('stat-connections'), users: $('stat-users'), nodes: $('stat-nodes'), stored: $('stat-stored'),
  queueStats: $('queue-stats'),
  sendForm: $('send-form'), sendButton: $('send-button'), sendResult: $('send-result'),
  userId: $('f-user-id'), userIds: $('f-user-ids'), audience: $('f-audience'), title: $('f-title'),
  titleCount: $('title-count'), content: $('f-content'), sender: $('f-sender'), idem: $('f-idem'),
  data: $('f-data'), retention: $('f-retention'), ttl: $('f-ttl'), persist: $('f-persist'),
  desktop: $('f-desktop'), presenceForm: $('presence-form'), presenceId: $('presence-id'),
  presenceResult: $('presence-result'), retractForm: $('retract-form'), retractId: $('retract-id'),
  retractResult: $('retract-result'), sentList: $('sent-list'), sentEmpty: $('sent-empty'),
};

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';
let statsTimer = null;

class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(error.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error.code ?? `http_${status}`;
    this.field = error.field;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const parsed = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

function describe(error) {
  const field = error.field ? ` (${error.field})` : '';
  return `${error.code ?? 'error'}${field}: ${error.message}`;
}

function setResult(element, text, ok) {
  element.textContent = text;
  element.className = `result ${ok ? 'ok' : 'bad'}`;
}

// ---- key and stats ----

function setKeyState(text, kind) {
  ui.keyState.textContent = text;
  ui.keyState.className = `pill ${kind ?? ''}`;
}

async function refreshStats() {
  if (!apiKey) return;
  try {
    const stats = await api('GET', '/v1/stats');
    const show = (element, value) => { element.textContent = value ?? '–'; };
    show(ui.connections, stats.connections);
    show(ui.users, stats.users_online);
    show(ui.nodes, stats.nodes);
    show(ui.stored, stats.notifications_stored);
    showQueues(stats.queues ?? {});
    setKeyState('connected', 'ok');
  } catch (error) {
    setKeyState(error.status === 401 ? 'key refused' : 'unreachable', 'bad');
  }
}

const QUEUE_NAMES = { amqp: 'AMQP queue', stream: 'Redis stream' };

// One card per configured queue consumer (GET /v1/stats `queues`): messages consumed, and
// refused, redelivered and in flight under it; hidden when the node consumes no queue.
function showQueues(queues) {
  const sources = Object.keys(queues);
  ui.queueStats.hidden = sources.length === 0;
  ui.queueStats.replaceChildren(...sources.map((source) => {
    const q = queues[source];
    const card = document.createElement('div');
    card.className = 'stat';
    card.dataset.source = source;
    const label = document.createElement('span');
    label.className = 'stat-label';
    label.textContent = `${QUEUE_NAMES[source] ?? source} consumed`;
    const state = document.createElement('span');
    state.className = `pill ${q.up ? 'ok' : 'bad'}`;
    state.textContent = q.up ? 'up' : 'unreachable';
    label.append(' ', state);
    const value = document.createElement('span');
    value.className = 'stat-value consumed';
    value.textContent = String(q.consumed);
    const detail = document.createElement('span');
    detail.className = 'stat-detail';
    detail.textContent = `refused ${q.refused} · redelivered ${q.redelivered} · in flight ${q.in_flight}`;
    card.append(label, value, detail);
    return card;
  }));
}

function useKey(key) {
  apiKey = key;
  clearInterval(statsTimer);
  if (key) {
    sessionStorage.setItem(KEY_STORAGE, key);
    ui.keyInput.value = '';
    ui.keyInput.placeholder = 'Key saved';
    ui.keyForget.hidden = false;
    refreshStats();
    loadSent(false);
    statsTimer = setInterval(refreshStats, STATS_EVERY_MS);
  } else {
    sessionStorage.removeItem(KEY_STORAGE);
    ui.keyInput.placeholder = 'Paste API key';
    ui.keyForget.hidden = true;
    setKeyState('no key');
  }
}

// ---- send ----

function target() {
  return ui.sendForm.querySelector('input[name="target"]:checked').value;
}

function showTargetFields() {
  const chosen = target();
  for (const element of ui.sendForm.querySelectorAll('[data-target]')) {
    element.hidden = element.dataset.target !== chosen;
  }
}

// Builds the notify body from the form; throws with a message naming the bad field.
function notifyBody() {
  const body = {};
  switch (target()) {
    case 'user':
      if (!ui.userId.value) throw new Error('user_id: enter a user id');
      body.user_id = Number(ui.userId.value);
      break;
    case 'users': {
      const ids = ui.userIds.value.split(/[\s,]+/).filter(Boolean).map(Number);
      if (!ids.length || ids.some((id) => !Number.isSafeInteger(id))) throw new Error('user_ids: enter numeric ids');
      body.user_ids = ids;
      break;
    }
    case 'group':
      if (!ui.audience.value.trim()) throw new Error('audience: enter a group path');
      body.audience = ui.audience.value.trim();
      break;
    default:
      body.user_id = -1;
  }
  body.title = ui.title.value;
  if (ui.content.value) body.content = ui.content.value;
  if (ui.sender.value.trim()) body.sender = ui.sender.value.trim();
  if (ui.data.value.trim()) {
    try {
      body.data = JSON.parse(ui.data.value);
    } catch {
      throw new Error('data: not valid JSON');
    }
  }
  body.persist = ui.persist.checked;
  body.desktop = ui.desktop.checked;
  body.retention = ui.retention.value;
  if (ui.ttl.value) body.ttl_s = Number(ui.ttl.value);
  if (ui.idem.value.trim()) body.idempotency_key = ui.idem.value.trim();
  return body;
}

function targetLabel(body) {
  if (body.user_id === -1) return 'everyone';
  if (body.user_id !== undefined) return `user ${body.user_id}`;
  if (body.user_ids) return `${body.user_ids.length} users`;
  return `group ${body.audience}`;
}

async function send(event) {
  event.preventDefault();
  if (!apiKey) {
    setResult(ui.sendResult, 'Paste the API key first.', false);
    return;
  }
  let body;
  try {
    body = notifyBody();
  } catch (error) {
    setResult(ui.sendResult, error.message, false);
    return;
  }
  ui.sendButton.disabled = true;
  try {
    const answer = await api('POST', '/v1/notify', body);
    const ids = answer.ids ?? [answer.id];
    const stored = ids.filter((id) => id !== null);
    const idText = stored.length ? `id ${stored.join(', ')}` : 'not stored';
    setResult(ui.sendResult, `Sent (${idText}), pushed to ${answer.online} connection${answer.online === 1 ? '' : 's'}.`, true);
    addSent(body, stored, answer.online);
    refreshStats();
  } catch (error) {
    setResult(ui.sendResult, describe(error), false);
  } finally {
    ui.sendButton.disabled = false;
  }
}

function addSent(body, ids, online) {
  ui.sentEmpty.hidden = true;
  const row = document.createElement('li');
  const title = document.createElement('span');
  title.className = 'sent-title';
  title.textContent = body.title;
  const meta = document.createElement('span');
  meta.className = 'sent-meta';
  const when = new Date().toLocaleTimeString();
  meta.textContent = `${targetLabel(body)} · ${ids.length ? `#${ids.join(', #')}` : 'transient'} · ${online} online · ${when}`;
  row.append(title, meta);
  if (ids.length === 1) {
    const retract = document.createElement('button');
    retract.className = 'danger';
    retract.type = 'button';
    retract.textContent = 'Retract';
    retract.addEventListener('click', async () => {
      if (await retractId(ids[0], ui.retractResult)) {
        retract.disabled = true;
        retract.textContent = 'Retracted';
      }
    });
    row.append(retract);
  }
  ui.sentList.prepend(row);
  if (body.user_id === -1 || body.audience !== undefined) loadSent(false);
}

// ---- presence and retract ----

async function lookUpPresence(event) {
  event.preventDefault();
  const id = Number(ui.presenceId.value);
  if (!Number.isSafeInteger(id) || id <= 0) {
    setResult(ui.presenceResult, 'Enter a positive user id.', false);
    return;
  }
  try {
    const presence = await api('GET', `/v1/users/${id}/presence`);
    const text = presence.online
      ? `User ${id} is online with ${presence.connections} connection${presence.connections === 1 ? '' : 's'}.`
      : `User ${id} is offline.`;
    setResult(ui.presenceResult, text, presence.online);
  } catch (error) {
    setResult(ui.presenceResult, describe(error), false);
  }
}

async function retractId(id, resultElement) {
  try {
    await api('DELETE', `/v1/notifications/${id}`);
    setResult(resultElement, `Notification ${id} retracted.`, true);
    refreshStats();
    return true;
  } catch (error) {
    setResult(resultElement, error.status === 404 ? `Notification ${id} not found (or already retracted).` : describe(error), false);
    return false;
  }
}

// ---- sent view (read rates) and detail view ----

const sent = {
  rows: $('sent-rows'), none: $('sent-none'), more: $('sent-more'), result: $('sent-result'),
  refresh: $('sent-refresh'), kind: $('sent-kind'), before: null, items: [],
};
const detail = {
  view: $('detail-view'), title: $('detail-title'), fields: $('detail-fields'),
  delivered: $('detail-delivered'), read: $('detail-read'), readBar: $('detail-read-bar'),
  deleted: $('detail-deleted'), result: $('detail-result'), refresh: $('detail-refresh'),
  retract: $('detail-retract'), close: $('detail-close'), id: null,
};

function percent(part, whole) {
  return whole > 0 ? Math.round((100 * part) / whole) : 0;
}

function bar(fraction, kind) {
  const outer = document.createElement('span');
  outer.className = 'bar';
  const fill = document.createElement('span');
  fill.className = `bar-fill ${kind}`;
  fill.style.width = `${Math.max(0, Math.min(100, fraction * 100)).toFixed(1)}%`;
  outer.append(fill);
  return outer;
}

function sentKind() {
  return sent.kind.querySelector('input:checked').dataset.kind;
}

function renderSent() {
  sent.rows.replaceChildren();
  const most = Math.max(1, ...sent.items.map((n) => n.stats.delivered));
  for (const n of sent.items) {
    const row = document.createElement('tr');
    row.dataset.id = String(n.id);
    const cell = (text, cls) => {
      const td = document.createElement('td');
      if (cls) td.className = cls;
      td.textContent = text;
      row.append(td);
      return td;
    };
    cell(`#${n.id}`, 'num');
    cell(n.title);
    cell(n.kind === 'group' ? n.audience : 'everyone');
    cell(new Date(n.created_at).toLocaleString());
    const delivered = cell(String(n.stats.delivered), 'num delivered');
    delivered.append(bar(n.stats.delivered / most, 'delivered'));
    const read = cell(`${n.stats.read} (${percent(n.stats.read, n.stats.delivered)}%)`, 'num read');
    read.append(bar(n.stats.delivered > 0 ? n.stats.read / n.stats.delivered : 0, 'read'));
    cell(String(n.stats.deleted), 'num deleted');
    row.addEventListener('click', () => showDetail(n.id));
    sent.rows.append(row);
  }
  sent.none.hidden = sent.items.length > 0;
  sent.more.hidden = sent.before === null;
}

async function loadSent(older) {
  if (!apiKey) return;
  const params = new URLSearchParams({ kind: sentKind(), limit: '20' });
  if (older && sent.before !== null) params.set('before', String(sent.before));
  try {
    const page = await api('GET', `/v1/notifications?${params}`);
    sent.items = older ? sent.items.concat(page.notifications) : page.notifications;
    sent.before = page.next_before;
    renderSent();
    sent.result.textContent = '';
  } catch (error) {
    setResult(sent.result, describe(error), false);
  }
}

function field(name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  detail.fields.append(dt, dd);
}

async function showDetail(id) {
  detail.id = id;
  detail.view.hidden = false;
  detail.retract.disabled = false;
  try {
    const n = await api('GET', `/v1/notifications/${id}`);
    detail.title.textContent = `#${n.id} · ${n.title}`;
    detail.delivered.textContent = String(n.stats.delivered);
    detail.read.textContent = `${n.stats.read} (${percent(n.stats.read, n.stats.delivered)}% of delivered)`;
    detail.readBar.style.width = `${percent(n.stats.read, n.stats.delivered)}%`;
    detail.deleted.textContent = String(n.stats.deleted);
    detail.fields.replaceChildren();
    field('Kind', n.kind);
    if (n.kind === 'group') field('Audience', n.audience);
    if (n.kind === 'personal') field('User', String(n.user_id));
    field('Content', n.content || '—');
    field('Sender', n.sender ?? '—');
    field('Sent', new Date(n.created_at).toLocaleString());
    field('Retention', n.retention);
    field('Expires', n.expires_at ? new Date(n.expires_at).toLocaleString() : 'never');
    if (n.data !== undefined) field('Data', JSON.stringify(n.data));
    detail.result.textContent = '';
    detail.view.scrollIntoView({ block: 'nearest' });
  } catch (error) {
    detail.title.textContent = `#${id}`;
    setResult(detail.result, error.status === 404 ? `Notification ${id} not found (or retracted).` : describe(error), false);
  }
}

sent.refresh.addEventListener('click', () => loadSent(false));
sent.more.addEventListener('click', () => loadSent(true));
for (const radio of sent.kind.querySelectorAll('input')) radio.addEventListener('change', () => loadSent(false));
detail.refresh.addEventListener('click', () => detail.id && showDetail(detail.id));
detail.close.addEventListener('click', () => { detail.view.hidden = true; detail.id = null; });
detail.retract.addEventListener('click', async () => {
  if (detail.id && (await retractId(detail.id, detail.result))) {
    detail.retract.disabled = true;
    loadSent(false);
  }
});

// ---- wiring ----

ui.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  if (key) useKey(key);
});
ui.keyForget.addEventListener('click', () => useKey(''));
for (const radio of ui.sendForm.querySelectorAll('input[name="target"]')) {
  radio.addEventListener('change', showTargetFields);
}
ui.title.addEventListener('input', () => {
  ui.titleCount.textContent = `${[...ui.title.value].length} / 200`;
});
ui.retention.addEventListener('change', () => {
  ui.ttl.disabled = ui.retention.value === 'important';
  if (ui.ttl.disabled) ui.ttl.value = '';
});
ui.sendForm.addEventListener('submit', send);
ui.presenceForm.addEventListener('submit', lookUpPresence);
ui.retractForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const id = Number(ui.retractId.value);
  if (Number.isSafeInteger(id) && id > 0) retractId(id, ui.retractResult);
  else setResult(ui.retractResult, 'Enter a notification id.', false);
});

showTargetFields();
useKey(apiKey);
