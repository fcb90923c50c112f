// Runs every browser test against one herald daemon and one Chromium; exits 1 on any failure.
// Usage: HERALD_BIN=path/to/herald node run_all.mjs [name-filter]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeraldDaemon, launchBrowser, tempDir } from './harness.mjs';
import * as twoTabs from './two_tabs_test.mjs';
import * as desktopOnce from './desktop_once_test.mjs';
import * as restartResume from './restart_resume_test.mjs';
import * as adminBroadcast from './admin_broadcast_test.mjs';
import * as inboxUi from './inbox_ui_test.mjs';
import * as screenshots from './screenshots_test.mjs';
import * as tokenRefresh from './token_refresh_test.mjs';
import * as stateEvents from './state_events_test.mjs';
import * as adminSent from './admin_sent_test.mjs';
import * as acks from './acks_test.mjs';
import * as adminQueues from './admin_queues_test.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const suites = [twoTabs, desktopOnce, restartResume, adminBroadcast, inboxUi, screenshots, tokenRefresh, stateEvents, adminSent, acks, adminQueues];
const filter = process.argv[2] ?? '';

const bin = process.env.HERALD_BIN;
if (!bin || !fs.existsSync(bin)) {
  console.error(`HERALD_BIN must name the herald binary (got ${bin ?? 'nothing'})`);
  process.exit(2);
}

const daemon = new HeraldDaemon({
  bin,
  dir: tempDir(),
  webRoot: process.env.HERALD_WEB_ROOT ?? path.resolve(here, '../../web'),
});
let browser = null;
const cleanup = () => daemon.kill();
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

let failed = 0;
let passed = 0;
try {
  await daemon.init();
  await daemon.start();
  browser = await launchBrowser();
  for (const suite of suites) {
    for (const test of suite.tests) {
      if (filter && !test.name.includes(filter)) continue;
      const started = Date.now();
      const context = { daemon, browser };
      try {
        await test.run(context);
        passed += 1;
        console.log(`ok   ${test.name} (${Date.now() - started} ms)`);
      } catch (error) {
        failed += 1;
        console.log(`FAIL ${test.name} (${Date.now() - started} ms)\n     ${error.stack ?? error}`);
        console.log(`     herald log tail:\n${daemon.tail(15).replace(/^/gm, '       ')}`);
      }
      if (daemon.child.exitCode !== null) await daemon.start(); // a failed restart test must not sink the rest
    }
  }
} catch (error) {
  failed += 1;
  console.log(`FAIL setup\n     ${error.stack ?? error}\n${daemon.tail()}`);
} finally {
  await browser?.close().catch(() => {});
  const code = await daemon.stop().catch(() => null);
  if (code !== 0 && code !== null) {
    failed += 1;
    console.log(`FAIL herald exited with ${code} after SIGTERM`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
