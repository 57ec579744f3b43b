// Support for the browser tests: real tuitalk-server processes on loopback (each with
// its own temporary data directory, stopped by PID), headless Debian Chromium driven
// by Playwright, the terminal client in a private tmux server, REST posts, and the
// page helpers the tests share.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TARGET_DIR = resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target');
/** Where the tuitalk-server and tuitalk binaries are (cargo build --workspace). */
export const BIN_DIR = resolve(ROOT, process.env.TUITALK_E2E_BIN_DIR || join(TARGET_DIR, 'debug'));
/** Screenshots, server logs and the TUI's screen: documented in docs/web.md. */
export const ARTIFACTS = resolve(ROOT, process.env.TUITALK_E2E_ARTIFACTS || join(TARGET_DIR, 'web-e2e'));
export const DIST = join(ROOT, 'crates/web/dist');
export const CHROMIUM = process.env.TUITALK_E2E_CHROMIUM || '/usr/bin/chromium';

mkdirSync(ARTIFACTS, { recursive: true });

/** Every child process still running, by PID: killed when the test process exits. */
const children = new Map();
process.on('exit', () => {
  for (const pid of children.keys()) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function waitFor(what, check, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** One tuitalk-server process on 127.0.0.1:`port` with its data in `dataDir`. */
export class Server {
  constructor(port, dataDir, env) {
    this.port = port;
    this.dataDir = dataDir;
    this.env = env;
    this.base = `http://127.0.0.1:${port}`;
    this.child = null;
  }

  /** Starts a server on `port` (a free one by default) with a fresh data directory and
   *  the extra environment `env` (settings as TUITALK__SECTION__KEY). */
  static async start(env = {}, port = undefined) {
    const dataDir = mkdtempSync(join(tmpdir(), 'tuitalk-e2e-'));
    const server = new Server(port ?? await freePort(), dataDir, env);
    await server.launch();
    return server;
  }

  /** Starts (or restarts) the process on the same port and data directory. */
  async launch() {
    const log = openSync(join(ARTIFACTS, `server-${this.port}.log`), 'a');
    this.child = spawn(join(BIN_DIR, 'tuitalk-server'), ['--listen', `127.0.0.1:${this.port}`], {
      env: {
        ...process.env,
        TUITALK__STORE__DATA_DIR: this.dataDir,
        RUST_LOG: 'info',
        ...this.env,
      },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    const child = this.child;
    children.set(child.pid, child);
    child.once('exit', () => children.delete(child.pid));
    await waitFor(`tuitalk-server on port ${this.port}`, async () => {
      if (child.exitCode !== null) throw new Error(`tuitalk-server exited with ${child.exitCode}`);
      try {
        return (await fetch(`${this.base}/readyz`)).status === 200;
      } catch {
        return false;
      }
    });
  }

  get pid() {
    return this.child?.pid;
  }

  /** `kill -9` by PID, and waits for the process to be gone. */
  async kill9() {
    await this.signal('SIGKILL');
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its data. */
  async stop() {
    await this.signal('SIGTERM', 5_000);
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async signal(signal, grace = 0) {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    process.kill(child.pid, signal);
    if (grace > 0) {
      const timer = setTimeout(() => process.kill(child.pid, 'SIGKILL'), grace);
      await exited;
      clearTimeout(timer);
    } else {
      await exited;
    }
  }

  /** The server's metrics (read from loopback): {name: value} of the unlabelled samples. */
  async metrics() {
    const text = await (await fetch(`${this.base}/metrics`)).text();
    const values = {};
    for (const line of text.split('\n')) {
      const sample = /^([a-z_]+) (\S+)$/.exec(line);
      if (sample) values[sample[1]] = Number(sample[2]);
    }
    return values;
  }

  /** A new account over REST (no Origin: as a bot would): the answer of POST /api/users. */
  async register({ email, handle, name, password }) {
    const answer = await fetch(`${this.base}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, handle, name, password }),
    });
    if (answer.status !== 201) throw new Error(`POST /api/users: ${answer.status} ${await answer.text()}`);
    return answer.json();
  }

  /** Revokes every session of the token's identity (DELETE /api/sessions). */
  async revokeAll(token) {
    const answer = await fetch(`${this.base}/api/sessions`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    if (answer.status !== 204) throw new Error(`DELETE /api/sessions: ${answer.status}`);
  }

  /** An identity's live sessions (GET /api/sessions). */
  async sessions(token) {
    const answer = await fetch(`${this.base}/api/sessions`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: answer.status, body: await answer.json() };
  }

  /** A guest identity over REST: its token. */
  async session(name) {
    const answer = await fetch(`${this.base}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (answer.status !== 201) throw new Error(`POST /api/sessions: ${answer.status}`);
    return (await answer.json()).token;
  }

  /** Posts over REST; returns the ack ({room, id, seq, ts}). */
  async post(token, room, id, text) {
    const answer = await fetch(`${this.base}/api/rooms/${room}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ id, text }),
    });
    if (answer.status !== 201 && answer.status !== 200) {
      throw new Error(`POST message: ${answer.status} ${await answer.text()}`);
    }
    return answer.json();
  }

  /** Every stored message of a room, oldest first (REST history, paged). */
  async history(token, room) {
    const all = [];
    let before = '';
    for (;;) {
      const answer = await fetch(`${this.base}/api/rooms/${room}/messages?limit=200${before}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const page = await answer.json();
      all.unshift(...page.messages);
      if (!page.has_more || page.messages.length === 0) return all;
      before = `&before=${page.messages[0].seq}`;
    }
  }
}

/** A mail server of the tests' own: plain SMTP on 127.0.0.1 that takes every mail and
 *  keeps it (point a server at it with `env()`). Enough of RFC 5321 for one client. */
export class MailSink {
  constructor() {
    this.mails = [];
    this.server = net.createServer((socket) => this.session(socket));
  }

  static async start() {
    const sink = new MailSink();
    await new Promise((done) => sink.server.listen(0, '127.0.0.1', done));
    sink.port = sink.server.address().port;
    return sink;
  }

  /** The settings of a tuitalk-server that mails through this sink. */
  env() {
    return {
      TUITALK__SMTP__HOST: '127.0.0.1',
      TUITALK__SMTP__PORT: String(this.port),
      TUITALK__SMTP__TLS: 'none',
    };
  }

  session(socket) {
    let buffer = '';
    let data = null;
    let to = [];
    socket.setEncoding('utf8');
    socket.write('220 sink ESMTP\r\n');
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (;;) {
        if (data !== null) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          this.mails.push({ to, text: decodeMail(data + buffer.slice(0, end)) });
          buffer = buffer.slice(end + 5);
          data = null;
          to = [];
          socket.write('250 kept\r\n');
          continue;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') socket.write('250 sink\r\n');
        else if (verb === 'RCPT') { to.push(/<([^>]*)>/.exec(line)?.[1]); socket.write('250 ok\r\n'); }
        else if (verb === 'DATA') { data = ''; socket.write('354 go on\r\n'); }
        else if (verb === 'QUIT') { socket.end('221 bye\r\n'); return; }
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => {});
  }

  /** Waits for a mail to `address` whose text matches `pattern`; returns the code in it
   *  ("Your code: …"). */
  async code(address, pattern) {
    const mail = await waitFor(`a mail to ${address}`, () => this.mails
      .find((m) => m.to.includes(address) && pattern.test(m.text) && !m.used));
    mail.used = true;
    return /Your code: (\S+)/.exec(mail.text)[1];
  }

  stop() {
    this.server.close();
  }
}

/** The text of a mail as sent (headers and body), its body decoded from quoted-printable
 *  or base64 when it says so. */
function decodeMail(raw) {
  const split = raw.indexOf('\r\n\r\n');
  const headers = raw.slice(0, split);
  let body = raw.slice(split + 4).replace(/^\.\./gm, '.');
  if (/content-transfer-encoding:\s*base64/i.test(headers)) {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  } else if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) {
    body = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
  }
  return `${headers}\r\n\r\n${body}`;
}

/** Headless Debian Chromium, driven over the DevTools protocol by Playwright. Playwright
 *  gives every launch a new empty profile (user-data-dir) of its own. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A page of its own (own context: own storage) that logs its errors. */
export async function newPage(browser, viewport = { width: 1200, height: 760 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(String(error)));
  page.on('console', (message) => {
    // A refused WebSocket connection while a server is down is expected, and so is a
    // refused REST call (a taken handle, a wrong password): the browser logs those.
    const refusedApiCall = /status of [45]\d\d/.test(message.text())
      && new URL(message.location().url || 'about:blank', 'http://x').pathname.startsWith('/api/');
    if (message.type() === 'error' && !refusedApiCall
      && !/WebSocket connection|ERR_CONNECTION_REFUSED/.test(message.text())) {
      page.errors.push(message.text());
    }
  });
  return page;
}

/** Opens the web client of `server`, picks `name` and joins `room`, with the keyboard
 *  only; returns once the server welcomed the session. */
export async function openChat(browser, server, name, room = 'lobby', viewport) {
  const page = await newPage(browser, viewport);
  await page.goto(`${server.base}/`);
  await page.locator('#login-name').fill(name);
  await page.locator('#login-room').fill(room);
  await page.locator('#login-room').press('Enter');
  await page.locator('#me-name').filter({ hasText: name }).waitFor();
  await page.locator('#banner').waitFor({ state: 'hidden' });
  await page.locator('#room-title').filter({ hasText: `#${room}` }).waitFor();
  return page;
}

/** Opens the start screen of `server` in a page of its own and signs in with `email` and
 *  `password` through the form; returns once the server welcomed the session. */
export async function signIn(browser, server, email, password, name) {
  const page = await newPage(browser);
  await page.goto(`${server.base}/`);
  await page.locator('#tab-signin').click();
  await page.locator('#signin-email').fill(email);
  await page.locator('#signin-password').fill(password);
  await page.locator('#signin-password').press('Enter');
  await page.locator('#me-name').filter({ hasText: name }).waitFor();
  await page.locator('#banner').waitFor({ state: 'hidden' });
  return page;
}

/** Opens the account menu (the button with the own name in the header). */
export async function openMenu(page) {
  if (!(await page.locator('#me').evaluate((details) => details.open))) {
    await page.locator('#me > summary').click();
  }
  await page.locator('#account').waitFor({ state: 'visible' });
}

/** Types `text` into the composer and presses Enter. */
export async function send(page, text) {
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
}

/** The stored messages shown in the timeline: [{seq, author, handle, guest, text, time,
 *  colour}] (`handle`: the `@handle` shown after an account's name, or null; `guest`:
 *  whether the guest badge is shown). */
export function shownMessages(page) {
  return page.$$eval('#log li.msg:not(.pending)', (items) => items.map((item) => ({
    seq: Number(item.dataset.seq),
    authorId: item.dataset.authorId,
    author: item.querySelector('.author').textContent,
    handle: item.querySelector('.handle')?.textContent ?? null,
    guest: item.querySelector('.guest-badge') !== null,
    text: item.querySelector('.text').textContent,
    time: item.querySelector('.time').textContent,
    colour: [...item.querySelector('.author').classList].find((c) => c.startsWith('author-c')),
  })));
}

/** The author colour class of a user id: FNV-1a (64 bits) modulo the 12 colours, the
 *  same function as the TUI's and crates/web/src/colour.rs. */
export function authorClass(userId) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(userId)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return `author-c${hash % 12n}`;
}

/** Waits until a stored message with `text` is shown. */
export function waitForText(page, text, ms = 15_000) {
  return page.waitForFunction(
    (wanted) => [...document.querySelectorAll('#log li.msg:not(.pending) .text')]
      .some((node) => node.textContent === wanted),
    text,
    { timeout: ms },
  );
}

/** Saves a screenshot into the artifacts directory; returns its path. */
export async function screenshot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The terminal client in a tmux server of its own (its own socket), stopped by
 *  killing that server only. */
export class Tui {
  constructor(socket) {
    this.socket = socket;
  }

  /** Starts `tuitalk` in tmux as a new guest `name` (or, with `name` null, as whatever
   *  session is saved in `configHome`), waiting for `connected as ${expect}`. Each TUI
   *  keeps its saved session in a config directory of its own (`configHome`, else a new
   *  temporary one), never the user's. */
  static async start(server, name, { configHome = Tui.configHome(), expect = name } = {}) {
    const tui = new Tui(`tuitalk-e2e-${process.pid}-${Date.now()}`);
    tui.configHome = configHome;
    const nameArg = name ? ` --name ${name}` : '';
    const command = `env XDG_CONFIG_HOME=${configHome} ${join(BIN_DIR, 'tuitalk')} --url ws://127.0.0.1:${server.port}/ws${nameArg}`;
    tui.tmux('new-session', '-d', '-s', 'tui', '-x', '110', '-y', '30', command);
    await waitFor('the TUI to connect', () => tui.screen().includes(`connected as ${expect}`));
    return tui;
  }

  /** A new empty config directory for a TUI. */
  static configHome() {
    return mkdtempSync(join(tmpdir(), 'tuitalk-e2e-home-'));
  }

  /** `tuitalk login` into `configHome` with the password on standard input. */
  static login(server, configHome, email, password) {
    return execFileSync(join(BIN_DIR, 'tuitalk'),
      ['login', '--server', `ws://127.0.0.1:${server.port}/ws`, '--email', email, '--password-stdin'],
      { input: `${password}\n`, encoding: 'utf8', env: { ...process.env, XDG_CONFIG_HOME: configHome } });
  }

  tmux(...args) {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The text on the TUI's screen. */
  screen() {
    try {
      return this.tmux('capture-pane', '-p', '-t', 'tui');
    } catch {
      return '';
    }
  }

  /** Types a line and presses Enter. */
  type(line) {
    this.tmux('send-keys', '-t', 'tui', '-l', line);
    this.tmux('send-keys', '-t', 'tui', 'Enter');
  }

  stop() {
    try { this.tmux('kill-server'); } catch { /* already gone */ }
  }
}
