// Test 3: a desktop popup fires once across two tabs of one user, never while a tab has focus,
// and not for notifications sent with desktop: false.
import assert from 'node:assert/strict';
import { openInbox, sleep, within } from './harness.mjs';

const USER = 102;
const SETTLE_MS = 1200; // well past the tabs' 150 ms election

// Counts Notification constructions per page and lets the test decide whether the page has focus
// (headless pages all report focus, so the test sets it explicitly).
function instrument() {
  window.__popups = [];
  window.__focused = false;
  document.hasFocus = () => window.__focused;
  const Native = window.Notification;
  function Counting(title, options) {
    window.__popups.push({ title, body: options?.body ?? '', tag: options?.tag ?? '' });
    try {
      return new Native(title, options);
    } catch {
      return { close() {} };
    }
  }
  Object.defineProperty(Counting, 'permission', { get: () => Native.permission });
  Counting.requestPermission = (...args) => Native.requestPermission(...args);
  window.Notification = Counting;
}

async function popups(tabs) {
  const lists = await Promise.all(tabs.map((tab) => tab.evaluate(() => window.__popups)));
  return lists.flat();
}

async function waitForItem(tabs, id) {
  await Promise.all(tabs.map((tab) =>
    tab.waitForSelector(`.item[data-id="${id}"]`, { state: 'attached', timeout: 3000 })));
}

export const tests = [
  {
    name: 'a desktop popup fires once across two tabs and never while a tab has focus',
    async run({ daemon, browser }) {
      const context = await browser.newContext({ permissions: ['notifications'] });
      await context.addInitScript(instrument);
      try {
        const tabs = [await openInbox(context, daemon, USER), await openInbox(context, daemon, USER)];
        for (const tab of tabs) {
          assert.equal(await tab.evaluate(() => Notification.permission), 'granted');
          assert.equal(await tab.evaluate(() => document.hasFocus()), false);
        }

        const first = await daemon.notify({ user_id: USER, title: 'Build #311 failed', content: 'main · 2 tests failing', desktop: true });
        await waitForItem(tabs, first.id);
        await sleep(SETTLE_MS);
        let shown = await popups(tabs);
        assert.equal(shown.length, 1, `one popup for a persisted item, got ${JSON.stringify(shown)}`);
        assert.equal(shown[0].title, 'Build #311 failed');
        assert.equal(shown[0].body, 'main · 2 tests failing');

        const quiet = await daemon.notify({ user_id: USER, title: 'Weekly digest', desktop: false });
        await waitForItem(tabs, quiet.id);
        await sleep(SETTLE_MS);
        assert.equal((await popups(tabs)).length, 1, 'desktop: false shows no popup');

        const transient = await daemon.notify({ user_id: USER, title: 'Call from Dana', content: 'Join now', persist: false, desktop: true });
        assert.equal(transient.id, null);
        await within(3000, 'the transient popup', async () => {
          while ((await popups(tabs)).length < 2) await sleep(50);
        });
        await sleep(SETTLE_MS);
        shown = await popups(tabs);
        assert.equal(shown.length, 2, `one popup for a desktop frame, got ${JSON.stringify(shown)}`);
        assert.equal(shown.filter((p) => p.title === 'Call from Dana').length, 1);

        await tabs[0].evaluate(() => { window.__focused = true; });
        const focused = await daemon.notify({ user_id: USER, title: 'Seen in the page already', desktop: true });
        await waitForItem(tabs, focused.id);
        await sleep(SETTLE_MS);
        assert.equal((await popups(tabs)).length, 2, 'no popup while one of the tabs has focus');
      } finally {
        await context.close();
      }
    },
  },
];
