// Receipts from the browser client: an item the demo page received live, and one it received in
// the connection after a reconnect, count as delivered for that user (GET /v1/notifications/{id} stats)
// within 5 s; an item for another user is never acked by this page.
import assert from 'node:assert/strict';
import { openInbox, sleep } from './harness.mjs';

async function eventually(ms, what, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(100);
  }
}

async function delivered(daemon, id) {
  const { status, body } = await daemon.internal('GET', `/v1/notifications/${id}`);
  assert.equal(status, 200, `GET /v1/notifications/${id}: ${status}`);
  return body.stats.delivered;
}

export const tests = [
  {
    name: 'the client acks the items it receives, live and by sync; another user\'s item is not acked',
    async run({ daemon, browser }) {
      const USER = 901;
      const OTHER = 902;
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
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
      try {
        const page = await openInbox(context, daemon, USER);
        const live = await daemon.notify({ user_id: USER, title: 'Acked when it arrives' });
        const foreign = await daemon.notify({ user_id: OTHER, title: 'Not for this page' });
        await page.waitForSelector(`.item[data-id="${live.id}"]`, { state: 'attached', timeout: 5000 });
        await eventually(5000, 'the live item counted as delivered', async () =>
          (await delivered(daemon, live.id)) === 1);
        assert.equal(await delivered(daemon, foreign.id), 0);

        // The socket drops; the next item reaches the client again after its reconnect (in the
        // sync of `since`, or live if the reconnect was quicker than the notify).
        await page.evaluate(() => window.__sockets.at(-1).close());
        const missed = await daemon.notify({ user_id: USER, title: 'Acked after the reconnect' });
        await page.waitForSelector(`.item[data-id="${missed.id}"]`, { state: 'attached', timeout: 10000 });
        await eventually(5000, 'the item after the reconnect counted as delivered', async () =>
          (await delivered(daemon, missed.id)) === 1);
        assert.equal(await delivered(daemon, live.id), 1, 'two acks by one user count once');
      } finally {
        await context.close();
      }
    },
  },
];
