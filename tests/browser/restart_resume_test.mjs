// Test 4: the daemon restarts while the page is open; what was sent before the page reconnected
// shows up after it does, and nothing shows twice.
import assert from 'node:assert/strict';
import { badgeOf, openInbox, sleep, within } from './harness.mjs';

const USER = 103;

async function itemIds(page) {
  return page.evaluate(() => [...document.querySelectorAll('#inbox-list .item')].map((row) => Number(row.dataset.id)));
}

export const tests = [
  {
    name: 'after a daemon restart the page resyncs what it missed and shows nothing twice',
    async run({ daemon, browser }) {
      const context = await browser.newContext();
      try {
        const page = await openInbox(context, daemon, USER);
        // Record every item the client delivers to the page, to catch duplicates.
        await page.evaluate(() => {
          window.__delivered = [];
          window.heraldDemo.client.on('notification', ({ notification }) => window.__delivered.push(notification.id));
        });
        const before = await daemon.notify({ user_id: USER, title: 'Before the restart' });
        await page.waitForSelector(`.item[data-id="${before.id}"]`, { state: 'attached', timeout: 3000 });

        const code = await daemon.stop();
        assert.equal(code, 0, 'herald exits 0 after SIGTERM');
        await page.waitForSelector('#conn[data-state="waiting"]', { timeout: 5000 });
        // Keep the page from reconnecting until the missed notifications exist.
        await context.setOffline(true);
        await daemon.start();
        await sleep(2000); // long enough for the page's first retries to hit the (blocked) daemon
        const missed = [];
        for (const title of ['Sent while you were away', 'Also sent while away']) {
          const answer = await daemon.notify({ user_id: USER, title });
          assert.equal(answer.online, 0, 'the page is not connected yet');
          missed.push(answer.id);
        }
        const broadcast = await daemon.notify({ user_id: -1, title: 'Broadcast while away' });
        missed.push(broadcast.id);
        await context.setOffline(false);

        await within(15000, 'the page to reconnect and show the missed items', async () => {
          for (;;) {
            const ids = await itemIds(page);
            if (missed.every((id) => ids.includes(id))) return;
            await sleep(50);
          }
        });
        await page.waitForSelector('#conn[data-state="open"]', { timeout: 5000 });
        const live = await daemon.notify({ user_id: USER, title: 'After the reconnect' });
        await page.waitForSelector(`.item[data-id="${live.id}"]`, { state: 'attached', timeout: 3000 });
        await sleep(500);

        const ids = await itemIds(page);
        assert.equal(new Set(ids).size, ids.length, `no row twice: ${ids}`);
        const delivered = await page.evaluate(() => window.__delivered);
        assert.equal(new Set(delivered).size, delivered.length, `no notification delivered twice: ${delivered}`);
        for (const id of [...missed, live.id]) assert.ok(delivered.includes(id), `item ${id} delivered`);
        const all = [before.id, ...missed, live.id];
        assert.ok(all.every((id) => ids.includes(id)), `all items listed: want ${all}, got ${ids}`);
        assert.equal(await badgeOf(page), all.length, 'every item is unread');
      } finally {
        await context.setOffline(false).catch(() => {});
        await context.close();
      }
    },
  },
];
