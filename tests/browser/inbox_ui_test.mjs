// The dropdown inbox: infinite scroll by `before`, newest first, delete, mark all read, filters.
import assert from 'node:assert/strict';
import { badgeOf, openInbox, within } from './harness.mjs';

const USER = 106;
const COUNT = 47; // more than two pages of 20

async function rowIds(page) {
  return page.evaluate(() => [...document.querySelectorAll('#inbox-list .item')].map((row) => Number(row.dataset.id)));
}

export const tests = [
  {
    name: 'the inbox scrolls through every page newest first, deletes, and marks all read',
    async run({ daemon, browser }) {
      // Broadcasts from earlier tests are in this user's inbox too: note them first.
      const probe = await browser.newContext();
      const before = await (await openInbox(probe, daemon, USER)).evaluate(() =>
        window.heraldDemo.client.list({ limit: 100 }));
      await probe.close();
      const existing = before.notifications.map((item) => item.id);
      const { body: batchAnswer, status } = await daemon.internal('POST', '/v1/notify/batch', {
        notifications: Array.from({ length: COUNT }, (_, i) => ({ user_id: USER, title: `Report ${i + 1} is ready`, sender: 'reports' })),
      });
      assert.equal(status, 200);
      const sent = batchAnswer.results.map((result) => result.id);
      assert.equal(sent.length, COUNT);

      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const page = await openInbox(context, daemon, USER);
        assert.equal(await badgeOf(page), COUNT + before.unread);
        await page.click('#bell');
        await page.waitForSelector('#inbox-list .item');
        assert.ok((await rowIds(page)).length < COUNT, 'the first page is not everything');

        await within(10000, 'every page to load while scrolling', async () => {
          while ((await rowIds(page)).length < COUNT + existing.length) {
            await page.evaluate(() => {
              const box = document.getElementById('inbox-scroll');
              box.scrollTop = box.scrollHeight;
            });
            await page.waitForTimeout(100);
          }
        });
        const ids = await rowIds(page);
        assert.deepEqual(ids, [...sent, ...existing].sort((a, b) => b - a), 'all items, newest first, once each');

        // Delete the newest from the list: it disappears and the count drops by one.
        const newest = ids[0];
        await page.hover(`.item[data-id="${newest}"]`);
        await page.click(`.item[data-id="${newest}"] .item-delete`);
        await page.waitForSelector(`.item[data-id="${newest}"]`, { state: 'detached', timeout: 3000 });
        await page.waitForFunction((n) => document.getElementById('badge').textContent === String(n), COUNT + before.unread - 1, { timeout: 3000 });
        const gone = await page.evaluate((id) => window.heraldDemo.client.get(id).then(() => 'found', (e) => e.status), newest);
        assert.equal(gone, 404, 'a deleted item is gone for this user');

        // Unread filter, then mark all read: the badge clears and nothing is marked unread.
        await page.click('.tab[data-filter="unread"]');
        await page.waitForSelector('#inbox-list .item');
        await page.click('#mark-all');
        await page.waitForFunction(() => document.getElementById('badge').hidden, null, { timeout: 3000 });
        assert.equal(await page.locator('#inbox-list .item[data-read="false"]').count(), 0);
        const { unread } = await page.evaluate(() => window.heraldDemo.client.list({ status: 'unread' }));
        assert.equal(unread, 0);
      } finally {
        await context.close();
      }
    },
  },
];
