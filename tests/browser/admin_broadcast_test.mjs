// Test 5: a broadcast sent from the admin console UI reaches a user's page.
import assert from 'node:assert/strict';
import { API_KEY, badgeOf, openInbox } from './harness.mjs';

const USER = 104;

export const tests = [
  {
    name: 'a broadcast sent from the admin console reaches a user page',
    async run({ daemon, browser }) {
      const userContext = await browser.newContext();
      const adminContext = await browser.newContext();
      try {
        const page = await openInbox(userContext, daemon, USER, ['org/1']);
        const badgeBefore = await badgeOf(page);

        // Dev mode hands the key to the console test on the internal listener only.
        const config = await (await fetch(`${daemon.internalUrl}/v1/dev/config`)).json();
        assert.equal(config.api_key.split(',')[0], API_KEY);

        const admin = await adminContext.newPage();
        admin.on('pageerror', (error) => console.error(`  [admin] ${error.message}`));
        await admin.goto(`${daemon.internalUrl}/admin`);
        await admin.fill('#api-key', config.api_key.split(',')[0]);
        await admin.click('#key-save');
        await admin.waitForSelector('#key-state.ok', { timeout: 5000 });
        assert.equal(await admin.evaluate(() => sessionStorage.getItem('herald-admin-key')), API_KEY);
        assert.equal(await admin.evaluate(() => localStorage.length), 0, 'the key is not kept in localStorage');
        await admin.waitForFunction(() => Number(document.getElementById('stat-connections').textContent) >= 1, null, { timeout: 5000 });

        await admin.click('label:has(input[value="broadcast"])');
        await admin.fill('#f-title', 'Maintenance tonight at 22:00');
        await admin.fill('#f-content', 'The workspace will be read-only for about 10 minutes.');
        await admin.fill('#f-sender', 'ops');
        await admin.fill('#f-data', '{"window": "22:00-22:10"}');
        await admin.selectOption('#f-retention', 'important');
        await admin.click('#send-button');
        await admin.waitForSelector('#send-result.ok', { timeout: 5000 });
        const result = await admin.textContent('#send-result');
        const id = Number(/id (\d+)/.exec(result)?.[1]);
        assert.ok(Number.isSafeInteger(id), `console shows the stored id: ${result}`);

        const row = page.locator(`.item[data-id="${id}"]`);
        await row.waitFor({ state: 'attached', timeout: 3000 });
        assert.equal(await row.getAttribute('data-kind'), 'broadcast');
        assert.equal(await row.locator('.item-title').textContent(), 'Maintenance tonight at 22:00');
        assert.equal(await badgeOf(page), badgeBefore + 1);

        // The page's item carries every field the console sent.
        const item = await page.evaluate((wanted) => window.heraldDemo.client.get(wanted, { markRead: false }), id);
        assert.equal(item.kind, 'broadcast');
        assert.equal(item.sender, 'ops');
        assert.equal(item.retention, 'important');
        assert.equal(item.expires_at, null);
        assert.deepEqual(item.data, { window: '22:00-22:10' });

        // Retract from the console's history: the user's badge drops back live.
        await admin.click('#sent-list li button.danger');
        await admin.waitForSelector('#retract-result.ok', { timeout: 5000 });
        await page.waitForFunction((n) => {
          const badge = document.getElementById('badge');
          return (badge.hidden ? 0 : Number(badge.textContent)) === n;
        }, badgeBefore, { timeout: 5000 });
      } finally {
        await userContext.close();
        await adminContext.close();
      }
    },
  },
];
