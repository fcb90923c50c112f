// Tests 1 and 2: two tabs of one user see a new notification within a second, and reading it in
// one tab clears the badge in the other.
import assert from 'node:assert/strict';
import { badgeOf, openInbox, within } from './harness.mjs';

const USER = 101;

async function shown(page, id) {
  await page.waitForFunction(
    (wanted) => !document.getElementById('badge').hidden &&
      document.getElementById('badge').textContent === '1' &&
      document.querySelector(`.item[data-id="${wanted}"]`) !== null,
    id, { polling: 20, timeout: 5000 });
}

export const tests = [
  {
    name: 'two tabs of one user both show a new notification and the badge within one second',
    async run({ daemon, browser }) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      try {
        const tabA = await openInbox(context, daemon, USER);
        const tabB = await openInbox(context, daemon, USER);
        assert.equal(await badgeOf(tabA), 0);
        assert.equal(await badgeOf(tabB), 0);

        const started = Date.now();
        const answer = await daemon.notify({ user_id: USER, title: 'Invoice #881 is ready', content: 'Total: 42.00 EUR', sender: 'billing' });
        assert.ok(Number.isSafeInteger(answer.id), 'notify returns an id');
        assert.equal(answer.online, 2, 'pushed to both tabs');
        // Both waits poll while the clock runs, so the slower tab sets the elapsed time.
        await Promise.all([shown(tabA, answer.id), shown(tabB, answer.id)]);
        const elapsed = Date.now() - started;
        console.log(`     both tabs showed it ${elapsed} ms after the notify was sent`);
        assert.ok(elapsed <= 1000, `both tabs updated after ${elapsed} ms, want <= 1000`);

        for (const tab of [tabA, tabB]) {
          const row = tab.locator(`.item[data-id="${answer.id}"]`);
          assert.equal(await row.getAttribute('data-read'), 'false');
          assert.equal(await row.locator('.item-title').textContent(), 'Invoice #881 is ready');
        }

        // Test 2: open it in tab A (marks it read); tab B's badge clears and its row turns read.
        await tabA.click('#bell');
        await tabA.click(`.item[data-id="${answer.id}"]`);
        await tabA.waitForSelector('#detail[open]');
        assert.equal(await tabA.textContent('#detail-title'), 'Invoice #881 is ready');
        await within(2000, 'tab B badge to clear', () =>
          tabB.waitForFunction(() => document.getElementById('badge').hidden, null, { polling: 20 }));
        await tabB.waitForSelector(`.item[data-id="${answer.id}"][data-read="true"]`, { state: 'attached', timeout: 3000 });
        assert.equal(await badgeOf(tabA), 0);
        const { body } = await daemon.internal('GET', `/v1/users/${USER}/presence`);
        assert.equal(body.connections, 2);
      } finally {
        await context.close();
      }
    },
  },
];
