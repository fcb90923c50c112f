// Shared parts of the browser tests: the real Herald daemon on free loopback ports with a temp
// SQLite store, headless Chromium through playwright-core, and waits that always have deadlines.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const JWT_SECRET = 'browser-tests-jwt-secret-0123456789abcdef';
export const API_KEY = 'browser-tests-api-key';

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Resolves with fn's value, or rejects after ms with a message naming what was awaited. */
export async function within(ms, what, fn) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([fn(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** One herald process at a time, restartable on the same ports and database. */
export class HeraldDaemon {
  constructor({ bin, dir, webRoot, env = {} }) {
    this.bin = bin;
    this.dir = dir;
    this.webRoot = webRoot;
    this.extraEnv = env; // more HERALD_* settings for this daemon
    this.child = null;
    this.exited = null;
    this.log = path.join(dir, 'herald.log');
  }

  async init() {
    this.publicPort = await freePort();
    this.internalPort = await freePort();
    this.publicUrl = `http://127.0.0.1:${this.publicPort}`;
    this.internalUrl = `http://127.0.0.1:${this.internalPort}`;
  }

  async start() {
    const out = fs.openSync(this.log, 'a');
    const args = [
      '--dev',
      '--public-addr', `127.0.0.1:${this.publicPort}`,
      '--internal-addr', `127.0.0.1:${this.internalPort}`,
      '--store', `sqlite:${path.join(this.dir, 'herald.db')}`,
    ];
    this.child = spawn(this.bin, args, {
      stdio: ['ignore', out, out],
      env: {
        ...process.env,
        HERALD_JWT_SECRET: JWT_SECRET,
        HERALD_API_KEY: API_KEY,
        HERALD_WEB_ROOT: this.webRoot,
        HERALD_LOG_LEVEL: process.env.HERALD_LOG_LEVEL ?? 'info',
        HERALD_THREADS: '2',
        ...this.extraEnv,
      },
    });
    fs.closeSync(out);
    fs.writeFileSync(path.join(this.dir, 'herald.pid'), String(this.child.pid));
    const child = this.child;
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await within(15000, 'herald /readyz', async () => {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`herald exited early: ${this.tail()}`);
        try {
          const response = await fetch(`${this.internalUrl}/readyz`);
          if (response.status === 200) return;
        } catch {
          // not listening yet
        }
        await sleep(100);
      }
    });
  }

  /** SIGTERM and wait; resolves with the exit code. */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const { code } = await within(12000, 'herald to exit after SIGTERM', () => this.exited);
    return code;
  }

  kill() {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.log, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** Calls the internal API with the API key; resolves with {status, body}. */
  async internal(method, route, body) {
    const response = await fetch(`${this.internalUrl}${route}`, {
      method,
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  /** POST /v1/notify, asserting 200; resolves with the answer. */
  async notify(body) {
    const { status, body: answer } = await this.internal('POST', '/v1/notify', body);
    if (status !== 200) throw new Error(`notify answered ${status}: ${JSON.stringify(answer)}`);
    return answer;
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/** The directory screenshots go to. */
export function artifactsDir() {
  const dir = process.env.HERALD_ARTIFACTS ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Opens the demo page signed in as a dev user and waits for the live connection. */
export async function openInbox(context, daemon, userId, groups = []) {
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`  [page ${userId}] ${error.message}`));
  const query = new URLSearchParams({ user_id: String(userId), groups: groups.join(',') });
  await page.goto(`${daemon.publicUrl}/?${query}`);
  await page.waitForSelector('#conn[data-state="open"]', { timeout: 10000 });
  return page;
}

/** The badge's number, 0 when hidden. */
export async function badgeOf(page) {
  return page.evaluate(() => {
    const badge = document.getElementById('badge');
    return badge.hidden ? 0 : Number(badge.textContent);
  });
}

export function tempDir() {
  return fs.mkdtempSync(path.join(process.env.HERALD_TEST_TMP ?? os.tmpdir(), 'herald-browser-'));
}
