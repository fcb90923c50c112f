// The admin console's queue cards: a second daemon consuming a Redis stream (the real
// redis-server of HERALD_TEST_REDIS_URL) shows what it consumed and refused; the shared daemon,
// which consumes no queue, shows no queue card.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { API_KEY, HeraldDaemon, tempDir, within, sleep } from './harness.mjs';

async function openAdmin(context, daemon) {
  const admin = await context.newPage();
  admin.on('pageerror', (error) => console.error(`  [admin] ${error.message}`));
  await admin.goto(`${daemon.internalUrl}/admin`);
  await admin.fill('#api-key', API_KEY);
  await admin.click('#key-save');
  await admin.waitForFunction(() => document.getElementById('stat-nodes').textContent !== '–', null, { timeout: 5000 });
  return admin;
}

export const tests = [
  {
    name: 'the admin console shows the queue consumer counts, and no queue card without a queue',
    async run({ daemon, browser }) {
      const redisUrl = process.env.HERALD_TEST_REDIS_URL;
      if (!redisUrl) {
        if (process.env.HERALD_REQUIRE_REDIS === '1') throw new Error('HERALD_REQUIRE_REDIS=1 but HERALD_TEST_REDIS_URL is not set');
        console.log('     (skipped: no HERALD_TEST_REDIS_URL)');
        return;
      }
      const key = `herald:browser:${process.pid}:${Date.now()}`;
      const queued = new HeraldDaemon({
        bin: daemon.bin, dir: tempDir(), webRoot: daemon.webRoot, env: { HERALD_STREAM: `${redisUrl}/${key}` },
      });
      const context = await browser.newContext();
      try {
        await queued.init();
        await queued.start();
        const add = (...fields) => execFileSync('redis-cli', ['-u', redisUrl, 'XADD', key, '*', ...fields]);
        add('body', JSON.stringify({ user_id: 131, title: 'from the stream 1' }));
        add('body', JSON.stringify({ user_id: 131, title: 'from the stream 2' }));
        add('body', 'not json');
        await within(10000, 'the three entries consumed', async () => {
          for (;;) {
            const { body } = await queued.internal('GET', '/v1/stats');
            const stream = body.queues?.stream;
            if (stream && stream.consumed === 3 && stream.in_flight === 0) return;
            await sleep(100);
          }
        });

        const admin = await openAdmin(context, queued);
        const card = admin.locator('#queue-stats .stat[data-source="stream"]');
        await card.waitFor({ state: 'visible', timeout: 5000 });
        assert.equal(await card.locator('.consumed').textContent(), '3');
        assert.match(await card.locator('.stat-detail').textContent(), /refused 1 · redelivered 0 · in flight 0/);
        assert.equal(await card.locator('.pill').textContent(), 'up');
        assert.equal(await admin.locator('#queue-stats .stat').count(), 1, 'one card: only the stream is configured');

        const plain = await openAdmin(context, daemon);
        assert.equal(await plain.locator('#queue-stats').isHidden(), true, 'no queue, no queue card');
      } finally {
        await context.close();
        await queued.stop().catch(() => queued.kill());
        execFileSync('redis-cli', ['-u', redisUrl, 'DEL', key, `${key}:dead`]);
      }
    },
  },
];
