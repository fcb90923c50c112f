// Tokens for the life of a connection, in the demo page: its dev tokens are cut to 5 s (the
// page's token request is rewritten on the way), so the server's token_expiring comes at
// once and the page refreshes on the open connection.
// 1. a tab whose getToken() works stays on one WebSocket for 20 s and misses no item;
// 2. a tab whose getToken() fails after sign-in is closed at expiry (4001) and shows it.
// Both need the server's side of the token lifecycle (token_expiring, refresh, the 4001 close).
import assert from 'node:assert/strict';
import { sleep, within } from './harness.mjs';

const TOKEN_TTL_S = 5;

// Opens the demo page as `userId`; dev tokens live TOKEN_TTL_S. `failAfter` token requests, the
// rest answer 503, as an identity provider that went away would.
async function openWithShortTokens(context, daemon, userId, { failAfter = Infinity } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`  [page ${userId}] ${error.message}`));
  const sockets = [];
  page.on('websocket', (ws) => {
    const entry = { url: ws.url(), closed: false };
    ws.on('close', () => { entry.closed = true; });
    sockets.push(entry);
  });
  const minted = { ok: 0, refused: 0 };
  await page.route('**/v1/dev/token', async (route) => {
    if (minted.ok >= failAfter) {
      minted.refused += 1;
      await route.fulfill({ status: 503, contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'unavailable', message: 'identity provider down' } }) });
      return;
    }
    minted.ok += 1;
    const body = JSON.parse(route.request().postData() ?? '{}');
    await route.continue({ postData: JSON.stringify({ ...body, ttl_s: TOKEN_TTL_S }) });
  });
  const query = new URLSearchParams({ user_id: String(userId), groups: 'org/1' });
  await page.goto(`${daemon.publicUrl}/?${query}`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 10000 });
  return { page, sockets, minted };
}

const tokenState = (page) => page.textContent('#token-state');

export const tests = [
  {
    name: 'a tab with 5-second tokens and getToken stays on one connection for 20 s and misses nothing',
    async run({ daemon, browser }) {
      const USER = 701;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const { page, sockets, minted } = await openWithShortTokens(context, daemon, USER);
        // Broadcasts of earlier tests on the shared daemon are unread for this user too.
        await page.waitForFunction(() => document.getElementById('badge').textContent !== '', null,
          { timeout: 3000 }).catch(() => {});
        const before = Number((await page.textContent('#badge')) || 0);
        const sent = [];
        const started = Date.now();
        while (Date.now() - started < 20000) {
          const answer = await daemon.notify({ user_id: USER, title: `tick ${sent.length + 1}` });
          sent.push(answer.id);
          await sleep(2000);
        }
        // Every item is in the list and the badge counts them all.
        await within(5000, 'every item in the list', () => page.waitForFunction(
          (ids) => ids.every((id) => document.querySelector(`.item[data-id="${id}"]`) !== null),
          sent, { polling: 50 }));
        await page.waitForFunction((n) => document.getElementById('badge').textContent === String(n),
          before + sent.length, { timeout: 3000 });
        // One WebSocket the whole time, still open, and refreshed many times over it.
        assert.equal(sockets.length, 1, `the page opened ${sockets.length} WebSockets: it reconnected`);
        assert.equal(sockets[0].closed, false, 'the WebSocket closed');
        assert.equal(await page.getAttribute('#conn', 'data-state'), 'open');
        const text = await tokenState(page);
        const refreshes = Number(/refreshed ×(\d+)/.exec(text)?.[1] ?? 0);
        console.log(`     ${sent.length} items, ${refreshes} refreshes, ${minted.ok} tokens minted, 1 WebSocket`);
        assert.ok(refreshes >= 20000 / 1000 / TOKEN_TTL_S, `only ${refreshes} refreshes in 20 s of ${TOKEN_TTL_S}-second tokens (${text})`);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'a tab whose getToken fails is closed when its token expires and says so',
    async run({ daemon, browser }) {
      const USER = 702;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        // Sign-in and the first connection get tokens; every request after that fails.
        const opened = Date.now();
        const { page, sockets, minted } = await openWithShortTokens(context, daemon, USER, { failAfter: 2 });
        await within((TOKEN_TTL_S + 4) * 1000, 'the page to show the expiry', () =>
          page.waitForFunction(() => document.getElementById('token-state').textContent === 'expired',
            null, { polling: 50 }));
        const shownAfter = (Date.now() - opened) / 1000;
        assert.ok(shownAfter <= TOKEN_TTL_S + 3, `expiry shown ${shownAfter}s after opening`);
        assert.ok(sockets[0].closed, 'the first WebSocket is closed');
        assert.notEqual(await page.getAttribute('#conn', 'data-state'), 'open');
        assert.ok(minted.refused >= 1, 'the page asked for a new token');
        // The page tells the person why.
        const error = await page.textContent('#signin-error');
        assert.match(error, /new token/i);
        // And it is not connected afterwards: no item reaches it.
        const answer = await daemon.notify({ user_id: USER, title: 'after expiry' });
        assert.equal(answer.online, 0, 'a connection of the expired tab still counts as online');
      } finally {
        await context.close();
      }
    },
  },
];
