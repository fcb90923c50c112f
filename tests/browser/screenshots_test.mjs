// Screenshots of the demo page and the admin console at desktop and phone width, saved to
// $HERALD_ARTIFACTS; the phone layouts must not scroll sideways.
import assert from 'node:assert/strict';
import path from 'node:path';
import { API_KEY, artifactsDir, openInbox, sleep } from './harness.mjs';

const USER = 105;
const SIZES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true },
];

async function seed(daemon) {
  const bodies = [
    { user_id: USER, title: 'Welcome to Acme Workspace', content: 'Take the two-minute tour to set up your profile and team.', sender: 'onboarding' },
    { audience: 'org/1', title: 'Quarterly planning moved to Thursday', content: 'Same room, 10:00. Agenda in the shared folder.', sender: 'calendar' },
    { user_id: USER, title: 'Dana commented on “Q3 roadmap”', content: '“Can we pull the billing work forward by a sprint?”', sender: 'comments' },
    { user_id: USER, title: 'Order #1042 shipped', content: 'Arriving Tuesday. Tracking: 1Z999AA10123456784', sender: 'orders', data: { order: 1042 } },
    { audience: 'org/1/role/admin', title: 'New sign-in from Firefox on Linux', content: 'If this was not you, reset your password.', sender: 'security', retention: 'important' },
    { user_id: USER, title: 'Your export is ready', content: 'orders-2026-11.csv (2.4 MB) is ready to download for 7 days.', sender: 'exports' },
  ];
  for (const body of bodies) await daemon.notify(body);
}

function overflowX(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

export const tests = [
  {
    name: 'demo page and admin console render at desktop and phone width (screenshots saved)',
    async run({ daemon, browser }) {
      const dir = artifactsDir();
      await seed(daemon);
      // Read the oldest one so the list shows both states.
      for (const size of SIZES) {
        const context = await browser.newContext({
          viewport: size.viewport, isMobile: size.isMobile ?? false, hasTouch: size.hasTouch ?? false,
          deviceScaleFactor: 1,
        });
        try {
          const page = await openInbox(context, daemon, USER, ['org/1', 'role/admin']);
          await page.waitForSelector('#inbox-list .item', { state: 'attached' });
          await page.screenshot({ path: path.join(dir, `demo-${size.name}-closed.png`) });
          await page.click('#bell');
          await page.waitForSelector('#inbox-list .item');
          if (size.name === 'desktop') {
            const oldest = await page.evaluate(() => Math.min(...window.heraldDemo.ids));
            await page.evaluate((id) => window.heraldDemo.client.read(id), oldest);
            await page.waitForSelector(`.item[data-id="${oldest}"][data-read="true"]`, { timeout: 3000 });
          }
          await sleep(1300); // let the arrival highlight fade
          await page.screenshot({ path: path.join(dir, `demo-${size.name}-inbox.png`) });
          assert.ok(await overflowX(page) <= 0, `demo page scrolls sideways at ${size.viewport.width}px`);
          const box = await page.locator('#inbox').boundingBox();
          assert.ok(box.x >= 0 && box.x + box.width <= size.viewport.width + 1, 'inbox fits the screen');

          const admin = await context.newPage();
          await admin.goto(`${daemon.internalUrl}/admin/`);
          await admin.fill('#api-key', API_KEY);
          await admin.click('#key-save');
          await admin.waitForSelector('#key-state.ok', { timeout: 5000 });
          await admin.click('label:has(input[value="group"])');
          await admin.fill('#f-audience', 'org/1');
          await admin.fill('#f-title', 'Office closed on Friday');
          await admin.fill('#f-content', 'Enjoy the long weekend!');
          await admin.fill('#f-sender', 'people-ops');
          await admin.click('#send-button');
          await admin.waitForSelector('#send-result.ok', { timeout: 5000 });
          await admin.fill('#presence-id', String(USER));
          await admin.click('#presence-form button');
          await admin.waitForSelector('#presence-result.ok', { timeout: 5000 });
          await admin.evaluate(() => window.scrollTo(0, 0));
          await admin.screenshot({ path: path.join(dir, `admin-${size.name}.png`), fullPage: size.name === 'phone' });
          assert.ok(await overflowX(admin) <= 0, `admin console scrolls sideways at ${size.viewport.width}px`);
        } finally {
          await context.close();
        }
      }
      console.log(`     screenshots in ${dir}`);
    },
  },
];
