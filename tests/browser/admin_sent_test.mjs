// The admin console's Sent view: a broadcast read by two users shows its read count and bar,
// and its detail view shows the stats from GET /v1/notifications/{id}.
import assert from 'node:assert/strict';
import { API_KEY } from './harness.mjs';

const READERS = [121, 122];

async function devToken(daemon, userId) {
  const r = await fetch(`${daemon.publicUrl}/v1/dev/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user_id: userId }),
  });
  return (await r.json()).token;
}

export const tests = [
  {
    name: 'the admin Sent view shows read rates and a detail view',
    async run({ daemon, browser }) {
      const context = await browser.newContext();
      try {
        const title = `Rates ${Date.now()}`;
        const sent = await fetch(`${daemon.internalUrl}/v1/notify`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ user_id: -1, title }),
        });
        const { id } = await sent.json();
        for (const user of READERS) {
          const token = await devToken(daemon, user);
          const r = await fetch(`${daemon.publicUrl}/v1/inbox/${id}/read`, {
            method: 'POST', headers: { Authorization: `Bearer ${token}` },
          });
          assert.equal(r.status, 200);
        }

        const admin = await context.newPage();
        admin.on('pageerror', (error) => console.error(`  [admin] ${error.message}`));
        await admin.goto(`${daemon.internalUrl}/admin`);
        await admin.fill('#api-key', API_KEY);
        await admin.click('#key-save');
        const row = admin.locator(`#sent-rows tr[data-id="${id}"]`);
        await row.waitFor({ state: 'attached', timeout: 5000 });
        assert.equal(await row.locator('td').nth(1).textContent(), title);
        assert.match(await row.locator('td.read').textContent(), /^2 /);
        assert.equal(await row.locator('td.deleted').textContent(), '0');
        assert.ok(await row.locator('td.read .bar').count() === 1, 'the read cell has a bar');

        // The group filter leaves the broadcast out.
        await admin.click('#sent-kind label:has(input[data-kind="group"])');
        await row.waitFor({ state: 'detached', timeout: 5000 });
        await admin.click('#sent-kind label:has(input[data-kind="all"])');
        await row.waitFor({ state: 'attached', timeout: 5000 });

        await row.click();
        await admin.waitForSelector('#detail-view:not([hidden])', { timeout: 5000 });
        await admin.waitForFunction((t) => document.getElementById('detail-title').textContent.includes(t), title, { timeout: 5000 });
        assert.match(await admin.textContent('#detail-read'), /^2 /);
        assert.equal(await admin.textContent('#detail-deleted'), '0');
        assert.equal(await admin.textContent('#detail-delivered'), '0');
      } finally {
        await context.close();
      }
    },
  },
];
