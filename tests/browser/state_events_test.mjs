// State events in the demo inbox: a read or delete in one tab updates the other tab's list in
// place (read dot, removal) within a second, without fetching an inbox page; a tab whose network
// was cut while another tab read and deleted comes back consistent, again without a page fetch.
import assert from 'node:assert/strict';
import { openInbox, sleep, within } from './harness.mjs';

// Counts the inbox page requests (GET /v1/inbox, not single items) a page makes from now on.
function countPageFetches(page) {
  const seen = { n: 0 };
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() === 'GET' && url.pathname === '/v1/inbox') seen.n += 1;
  });
  return seen;
}

async function listed(page, id) {
  await page.waitForSelector(`.item[data-id="${id}"]`, { state: 'attached', timeout: 5000 });
}

// Records the page's WebSockets so that a test can cut one (as a dropped network would).
async function trackSockets(context) {
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
}

export const tests = [
  {
    name: 'a read and a delete in one tab update the other tab in place within a second, no page fetch',
    async run({ daemon, browser }) {
      const USER = 801;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const tabA = await openInbox(context, daemon, USER);
        const tabB = await openInbox(context, daemon, USER);
        const first = await daemon.notify({ user_id: USER, title: 'Read me in tab A' });
        const second = await daemon.notify({ user_id: USER, title: 'Delete me in tab A' });
        for (const tab of [tabA, tabB]) {
          await listed(tab, first.id);
          await listed(tab, second.id);
        }
        await sleep(300);  // let any page fetch of the initial load finish before counting
        const fetchesB = countPageFetches(tabB);
        assert.equal(await tabB.getAttribute(`.item[data-id="${first.id}"]`, 'data-read'), 'false');

        let started = Date.now();
        await tabA.evaluate((id) => window.heraldDemo.client.read(id), first.id);
        await tabB.waitForSelector(`.item[data-id="${first.id}"][data-read="true"]`,
          { state: 'attached', timeout: 3000 });
        let elapsed = Date.now() - started;
        console.log(`     tab B showed the read ${elapsed} ms after tab A read it`);
        assert.ok(elapsed <= 1000, `tab B updated after ${elapsed} ms, want <= 1000`);

        started = Date.now();
        await tabA.evaluate((id) => window.heraldDemo.client.delete(id), second.id);
        await tabB.waitForSelector(`.item[data-id="${second.id}"]`, { state: 'detached', timeout: 3000 });
        elapsed = Date.now() - started;
        console.log(`     tab B dropped the deleted item ${elapsed} ms after tab A deleted it`);
        assert.ok(elapsed <= 1000, `tab B updated after ${elapsed} ms, want <= 1000`);
        assert.ok(await tabB.evaluate(() => window.heraldDemo.stateChanges) >= 2);
        assert.equal(fetchesB.n, 0, `tab B fetched ${fetchesB.n} inbox pages`);
        // The client's own list follows the frames too.
        const known = await tabB.evaluate((ids) => ids.map((id) => window.heraldDemo.client.item(id)?.read ?? null),
          [first.id, second.id]);
        assert.deepEqual(known, [true, null]);
      } finally {
        await context.close();
      }
    },
  },
  {
    name: 'a tab cut off while another reads and deletes comes back consistent without a page fetch',
    async run({ daemon, browser }) {
      const USER = 802;
      const contextA = await browser.newContext();
      const contextB = await browser.newContext();
      try {
        await trackSockets(contextB);
        const tabA = await openInbox(contextA, daemon, USER);
        const tabB = await openInbox(contextB, daemon, USER);
        const items = [];
        for (const title of ['Will be read', 'Will be deleted', 'Stays unread']) {
          items.push((await daemon.notify({ user_id: USER, title })).id);
        }
        for (const id of items) {
          await listed(tabA, id);
          await listed(tabB, id);
        }
        await sleep(300);
        const fetchesB = countPageFetches(tabB);
        // Broadcasts of earlier tests on the shared daemon are unread for this user too.
        const before = Number((await tabB.textContent('#badge')) || 0);

        // Cut tab B's network (its WebSocket drops, reconnects fail) while tab A acts.
        await contextB.setOffline(true);
        await tabB.evaluate(() => window.__sockets.at(-1).close());
        await tabB.waitForSelector('#conn[data-state="waiting"]', { timeout: 5000 });
        await tabA.evaluate((id) => window.heraldDemo.client.read(id), items[0]);
        await tabA.evaluate((id) => window.heraldDemo.client.delete(id), items[1]);
        const arrived = (await daemon.notify({ user_id: USER, title: 'Sent while B was away' })).id;
        await sleep(500);
        assert.equal(await tabB.getAttribute(`.item[data-id="${items[0]}"]`, 'data-read'), 'false',
          'tab B cannot know yet');

        await contextB.setOffline(false);
        await within(15000, 'tab B to reconnect and catch up', () => tabB.waitForFunction(
          ([read, gone, fresh]) =>
            document.querySelector(`.item[data-id="${read}"][data-read="true"]`) !== null &&
            document.querySelector(`.item[data-id="${gone}"]`) === null &&
            document.querySelector(`.item[data-id="${fresh}"]`) !== null,
          [items[0], items[1], arrived], { polling: 50, timeout: 15000 }));
        assert.equal(await tabB.getAttribute(`.item[data-id="${items[2]}"]`, 'data-read'), 'false');
        // Two of the three read or deleted, one new: the badge ends one lower.
        await tabB.waitForFunction((n) => document.getElementById('badge').textContent === String(n),
          before - 1, { timeout: 3000 });
        assert.equal(fetchesB.n, 0, `tab B fetched ${fetchesB.n} inbox pages`);
        const opened = await tabB.evaluate(() => window.__sockets.length);
        assert.ok(opened >= 2, 'tab B opened a new WebSocket');
        const lastUrl = await tabB.evaluate(() => window.__sockets.at(-1).url);
        assert.match(lastUrl, /[?&]since=\d+/);
        assert.match(lastUrl, /[?&]changes_since=\d+/);
      } finally {
        await contextB.setOffline(false).catch(() => {});
        await contextA.close();
        await contextB.close();
      }
    },
  },
];
