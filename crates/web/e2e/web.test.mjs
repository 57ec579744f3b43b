// Browser tests of the TuiTalk web client, in headless Debian Chromium driven by
// Playwright, against real tuitalk-server processes on loopback. Run by
// scripts/test-web.sh (part of scripts/test.sh); screenshots go to the artifacts
// directory (support.mjs, docs/web.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ARTIFACTS, DIST, MailSink, Server, Tui, authorClass, freePort, launchBrowser, newPage, openChat, openMenu,
  screenshot, send, shownMessages, signIn, sleep, waitFor, waitForText,
} from './support.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Closes the pages' contexts and fails on any error a page reported. */
async function closeAll(...pages) {
  for (const page of pages) {
    await page.context().close();
  }
  for (const page of pages) {
    assert.deepEqual(page.errors, [], 'the page reported no errors');
  }
}

/** The texts of the stored messages shown, in order. */
async function texts(page) {
  return (await shownMessages(page)).map((message) => message.text);
}

test('the server serves the built client with the right content types', async () => {
  const server = await Server.start();
  try {
    const index = await fetch(`${server.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    const csp = index.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
    assert.match(csp, /connect-src 'self'$/, 'no other server by default, no ws:/wss: wildcard');
    assert.match(await index.text(), /<title>TuiTalk<\/title>/);
    const wasm = await fetch(`${server.base}/assets/tuitalk_web_bg.wasm`);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    const served = Buffer.from(await wasm.arrayBuffer());
    assert.ok(
      served.equals(readFileSync(join(DIST, 'tuitalk_web_bg.wasm'))),
      'the module served is the one in crates/web/dist (rebuild the server after the client)',
    );
    const glue = await fetch(`${server.base}/assets/tuitalk_web.js`);
    assert.match(glue.headers.get('content-type'), /^text\/javascript/);
    const again = await fetch(`${server.base}/assets/tuitalk_web_bg.wasm`, {
      headers: { 'if-none-match': wasm.headers.get('etag') },
    });
    assert.equal(again.status, 304, 'an unchanged file is not sent again');
    assert.equal((await fetch(`${server.base}/assets/nothing.js`)).status, 404);
  } finally {
    await server.stop();
  }
});

test('the page talks to its own server, or to a ?server= its server lists', async () => {
  // The page's server lists the other in web.servers; the other allows the page's
  // origin in web.allowed_origins.
  const [pagePort, otherPort] = [await freePort(), await freePort()];
  const pageServer = await Server.start({ TUITALK__WEB__SERVERS: `ws://127.0.0.1:${otherPort}/ws` }, pagePort);
  const other = await Server.start({ TUITALK__WEB__ALLOWED_ORIGINS: `http://127.0.0.1:${pagePort}` }, otherPort);
  try {
    const page = await newPage(browser);
    await page.goto(`${pageServer.base}/?server=ws://127.0.0.1:${other.port}/ws`);
    await page.locator('#login-name').fill('roamer');
    await page.locator('#login-name').press('Enter');
    await page.locator('#me-name').filter({ hasText: 'roamer' }).waitFor();
    await send(page, 'stored on the other server');
    await waitForText(page, 'stored on the other server');
    const token = await other.session('checker');
    const stored = await other.history(token, 'lobby');
    assert.deepEqual(stored.map((m) => [m.author, m.text]), [['roamer', 'stored on the other server']]);
    const own = await pageServer.history(await pageServer.session('checker'), 'lobby');
    assert.deepEqual(own, [], 'nothing went to the server of the page');
    await closeAll(page);
  } finally {
    await pageServer.stop();
    await other.stop();
  }
});

/** The identity the tab keeps for the server at ws://127.0.0.1:`port`, and whether any
 *  unscoped key of older versions is left. */
async function kept(page, port) {
  return page.evaluate((key) => ({
    session: JSON.parse(sessionStorage.getItem(key) ?? 'null'),
    legacy: ['tuitalk.user_id', 'tuitalk.user_name', 'tuitalk.token']
      .some((old) => sessionStorage.getItem(old) !== null || localStorage.getItem(old) !== null),
  }), `tuitalk.session.ws://127.0.0.1:${port}`);
}

test('a session stays with its server: ?server= never carries its token elsewhere', async () => {
  const [aPort, bPort] = [await freePort(), await freePort()];
  // A's page may use B (A's web.servers), and B takes A's pages (B's web.allowed_origins).
  const a = await Server.start({ TUITALK__WEB__SERVERS: `ws://127.0.0.1:${bPort}/ws` }, aPort);
  const b = await Server.start({ TUITALK__WEB__ALLOWED_ORIGINS: `http://127.0.0.1:${aPort}` }, bPort);
  // The attacker's server: listed nowhere.
  const evil = await Server.start();
  try {
    const page = await newPage(browser);
    // An unscoped token an older version left behind is removed, never sent anywhere.
    await page.goto(`${a.base}/`);
    await page.evaluate(() => {
      sessionStorage.setItem('tuitalk.user_id', 'old');
      sessionStorage.setItem('tuitalk.user_name', 'old');
      sessionStorage.setItem('tuitalk.token', 'old-token');
    });
    await page.reload();
    await page.locator('#login-name').fill('ada');
    await page.locator('#login-name').press('Enter');
    await page.locator('#me-name').filter({ hasText: 'ada' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    const onA = await kept(page, aPort);
    assert.equal(onA.legacy, false, 'the unscoped keys are gone');
    assert.equal(onA.session.name, 'ada');
    assert.ok(onA.session.token);

    // The attack: the same tab opened with ?server= naming a server A does not list.
    await page.goto(`${a.base}/?server=ws://127.0.0.1:${evil.port}/ws`);
    await page.locator('#notice').filter({ hasText: `ws://127.0.0.1:${evil.port}/ws` }).waitFor();
    await page.locator('#me-name').filter({ hasText: 'ada' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#login').isHidden(), 'resumed on A, its own server');
    const seen = await evil.metrics();
    assert.equal(seen.tuitalk_connections_opened_total, 0, 'the other server saw no connection');
    assert.equal(seen.tuitalk_hello_failures_total, 0, 'and no token');
    await screenshot(page, 'server-param-refused');

    // A listed server: the page connects to B, with no token (B has no identity kept).
    await page.goto(`${a.base}/?server=ws://127.0.0.1:${bPort}/ws`);
    assert.ok(await page.locator('#notice').isHidden());
    await page.locator('#login-name').fill('bea');
    await page.locator('#login-name').press('Enter');
    await page.locator('#me-name').filter({ hasText: 'bea' }).waitFor();
    await send(page, 'posted on B');
    await waitForText(page, 'posted on B');
    const onB = await b.metrics();
    assert.ok(onB.tuitalk_connections_opened_total >= 1, 'B was used');
    // A's token sent to B would have been refused there (another signing key).
    assert.equal(onB.tuitalk_hello_failures_total, 0, "B never received A's token");
    const bStored = await b.history(await b.session('checker'), 'lobby');
    assert.deepEqual(bStored.map((m) => [m.author, m.text]), [['bea', 'posted on B']]);
    const both = await kept(page, bPort);
    assert.notEqual(both.session.user_id, onA.session.user_id, 'a new guest on B');
    assert.notEqual(both.session.token, onA.session.token);

    // Back on A: A's session is intact and resumes.
    await page.goto(`${a.base}/`);
    await page.locator('#me-name').filter({ hasText: 'ada' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#login').isHidden());
    const again = (await kept(page, aPort)).session;
    // The same identity (the welcome of a resume hands out a fresh token for it).
    assert.deepEqual([again.user_id, again.name], [onA.session.user_id, 'ada']);
    assert.equal((await a.metrics()).tuitalk_hello_failures_total, 0);
    await closeAll(page);
  } finally {
    await a.stop();
    await b.stop();
    await evil.stop();
  }
});

test('two browser pages join a room and chat', async () => {
  const server = await Server.start();
  try {
    const alice = await openChat(browser, server, 'alice');
    const bob = await openChat(browser, server, 'bob');
    await alice.locator('#member-list').getByText('bob').waitFor();
    const tricky = 'Hello Bob! <b>not bold</b> & <img src=x onerror="window.pwned=1">';
    await send(alice, tricky);
    await waitForText(bob, tricky);
    await send(bob, 'Hi Alice 👋\nsecond line');
    await waitForText(alice, 'Hi Alice 👋\nsecond line');
    await alice.locator('#log li.pending').waitFor({ state: 'detached' });
    await bob.locator('#log li.pending').waitFor({ state: 'detached' });

    const seen = [];
    for (const page of [alice, bob]) {
      const messages = await shownMessages(page);
      assert.deepEqual(
        messages.map(({ seq, author, text }) => [seq, author, text]),
        [[1, 'alice', tricky], [2, 'bob', 'Hi Alice 👋\nsecond line']],
      );
      for (const { time } of messages) assert.match(time, /^\d\d:\d\d$/);
      seen.push(messages.map((message) => message.colour));
      // Text stays text: no element was made from it, no script ran.
      assert.equal(await page.locator('#log b, #log img').count(), 0);
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      const members = await page.locator('#member-list li').allTextContents();
      assert.equal(members.length, 2, `${members}`);
    }
    assert.deepEqual(seen[0], seen[1], 'an author has the same colour on every page');
    for (const { authorId, colour } of await shownMessages(alice)) {
      assert.equal(colour, authorClass(authorId), 'the colour is the hash of the user id');
    }
    const localTime = await alice.evaluate(() => {
      const now = new Date();
      return `${String(now.getHours()).padStart(2, '0')}:${String(now.getMinutes()).padStart(2, '0')}`;
    });
    const shown = (await shownMessages(alice)).at(-1).time;
    assert.ok(
      Math.abs(Number(shown.slice(0, 2)) * 60 + Number(shown.slice(3)) -
        (Number(localTime.slice(0, 2)) * 60 + Number(localTime.slice(3)))) % (24 * 60 - 1) <= 1,
      `message time ${shown} is the browser's local time (${localTime})`,
    );
    await screenshot(alice, 'chat-alice');
    await screenshot(bob, 'chat-bob');
    await closeAll(alice, bob);
  } finally {
    await server.stop();
  }
});

test('rooms: unread counts, switching, leaving, and name changes shown', async () => {
  const server = await Server.start();
  try {
    const alice = await openChat(browser, server, 'alice');
    const bob = await openChat(browser, server, 'bob');
    await bob.locator('#join-input').fill('side');
    await bob.locator('#join-input').press('Enter');
    await bob.locator('#room-title').filter({ hasText: '#side' }).waitFor();
    await send(alice, 'first while bob is away');
    await send(alice, 'second while bob is away');
    const lobby = bob.locator('#room-list button[data-room="lobby"]');
    await lobby.locator('.badge').filter({ hasText: '2' }).waitFor();
    assert.equal(await lobby.locator('.badge').getAttribute('aria-label'), '2 unread');
    assert.match(await bob.title(), /^\(2\) #side/);
    await screenshot(bob, 'rooms-unread');

    // Alt+Up in the composer: the previous room.
    await bob.locator('#composer-input').press('Alt+ArrowUp');
    await bob.locator('#room-title').filter({ hasText: '#lobby' }).waitFor();
    assert.equal(await lobby.locator('.badge').count(), 0, 'read once shown');
    assert.deepEqual(await texts(bob), ['first while bob is away', 'second while bob is away']);

    // A click on a room, then the leave button.
    await bob.locator('#room-list button[data-room="side"]').click();
    await bob.locator('#room-title').filter({ hasText: '#side' }).waitFor();
    await bob.getByRole('button', { name: 'Leave #side' }).click();
    await bob.locator('#room-title').filter({ hasText: '#lobby' }).waitFor();
    assert.deepEqual(
      await bob.locator('#room-list button').evaluateAll((buttons) => buttons.map((b) => b.dataset.room)),
      ['lobby'],
    );

    // alice renames herself with the form under her name.
    await alice.locator('#me > summary').click();
    await alice.locator('#rename-input').fill('alicia');
    await alice.locator('#rename-input').press('Enter');
    await alice.locator('#me-name').filter({ hasText: 'alicia' }).waitFor();
    const renamed = bob.locator('#log li.sys').filter({ hasText: 'is now known as alicia' });
    await renamed.waitFor();
    assert.equal(await renamed.locator('.subject').textContent(), 'alice');
    assert.equal(await renamed.locator('.guest-badge').textContent(), 'guest', 'a guest is marked');
    await bob.locator('#member-list').getByText('alicia').waitFor();
    await send(alice, 'new name, same colour');
    await waitForText(bob, 'new name, same colour');
    const messages = await shownMessages(bob);
    assert.equal(messages.at(-1).author, 'alicia');
    assert.equal(messages.at(-1).colour, messages[0].colour, 'the colour follows the user, not the name');
    await screenshot(bob, 'rooms-renamed');
    await closeAll(alice, bob);
  } finally {
    await server.stop();
  }
});

test('a reload resumes the same identity with its rooms', async () => {
  const server = await Server.start();
  try {
    const page = await openChat(browser, server, 'stayer');
    await send(page, '/room upstairs');
    await page.locator('#room-title').filter({ hasText: '#upstairs' }).waitFor();
    await send(page, 'before the reload');
    await waitForText(page, 'before the reload');
    const [before] = await shownMessages(page);
    await page.reload();
    // No name form: the tab kept the session; the server's welcome brings the rooms back.
    await page.locator('#me-name').filter({ hasText: 'stayer' }).waitFor();
    assert.ok(await page.locator('#login').isHidden());
    await page.locator('#room-list button[data-room="upstairs"]').waitFor();
    await page.locator('#room-list button[data-room="lobby"]').waitFor();
    await page.locator('#room-list button[data-room="upstairs"]').click();
    await waitForText(page, 'before the reload');
    await send(page, 'after the reload');
    await waitForText(page, 'after the reload');
    const messages = await shownMessages(page);
    assert.deepEqual(messages.map((m) => m.text), ['before the reload', 'after the reload']);
    assert.ok(messages.every((m) => m.authorId === before.authorId), 'the same user before and after');
    await closeAll(page);
  } finally {
    await server.stop();
  }
});

test('keyboard alone, labels for screen readers', async () => {
  const server = await Server.start();
  try {
    const page = await newPage(browser);
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: 'Join the chat' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'login.png') });
    // The name field has the focus; Tab reaches the room; Enter starts.
    await page.keyboard.type('kay');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('keys');
    await page.keyboard.press('Enter');
    await page.locator('#me-name').filter({ hasText: 'kay' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'composer-input');
    await page.keyboard.type('typed, never clicked');
    await page.keyboard.press('Enter');
    await waitForText(page, 'typed, never clicked');
    await page.keyboard.type('/room second');
    await page.keyboard.press('Enter');
    await page.locator('#room-title').filter({ hasText: '#second' }).waitFor();
    // Every control has an accessible name.
    for (const [role, name] of [
      ['navigation', 'Rooms'],
      ['log', undefined],
      ['textbox', 'Message'],
      ['textbox', 'Room to join'],
      ['button', 'Send'],
      ['button', 'Join'],
      ['button', 'Leave #second'],
      ['complementary', 'In #second (1)'],
    ]) {
      const found = page.getByRole(role, name ? { name, exact: true } : {});
      await found.first().waitFor({ state: 'attached' });
      assert.equal(await found.count(), 1, `one ${role} named ${name}`);
    }
    assert.equal(await page.locator('#log-wrap').getAttribute('aria-label'), 'Messages in #second');
    await closeAll(page);
  } finally {
    await server.stop();
  }
});

test('usable on a narrow phone screen', async () => {
  const server = await Server.start();
  try {
    const phone = { width: 390, height: 780 };
    const other = await openChat(browser, server, 'desk');
    const page = await openChat(browser, server, 'pocket', 'lobby', phone);
    await send(other, 'Does this fit on a phone? A rather long line of text that has to wrap nicely.');
    await send(page, 'It does 📱');
    await waitForText(page, 'It does 📱');
    await waitForText(page, 'Does this fit on a phone? A rather long line of text that has to wrap nicely.');
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'nothing sticks out sideways',
    );
    const composer = await page.locator('#composer-input').boundingBox();
    assert.ok(composer.y + composer.height <= phone.height && composer.width > 200, 'composer on screen');
    await screenshot(page, 'chat-phone');
    const toggle = page.getByRole('button', { name: 'People (2)' });
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await page.locator('#member-list').getByText('desk').waitFor({ state: 'visible' });
    await screenshot(page, 'chat-phone-people');
    await page.keyboard.press('Escape');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await page.locator('#people').waitFor({ state: 'hidden' });
    // The account menu fits the screen too.
    await openMenu(page);
    const menu = await page.locator('#account').boundingBox();
    assert.ok(menu.x >= 0 && menu.x + menu.width <= phone.width, `the menu is on screen (${JSON.stringify(menu)})`);
    assert.ok(
      await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'nothing sticks out sideways with the menu open',
    );
    await screenshot(page, 'account-menu-phone');
    await page.keyboard.press('Escape');
    await page.locator('#account').waitFor({ state: 'hidden' });
    // And the start screen's registration form.
    const start = await newPage(browser, phone);
    await start.goto(`${server.base}/`);
    await start.locator('#tab-register').click();
    await start.getByRole('button', { name: 'Create account' }).click();
    await start.locator('#register-email-error').filter({ hasText: 'Enter your email address.' }).waitFor();
    assert.ok(
      await start.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'the start screen fits',
    );
    await screenshot(start, 'start-register-phone');
    await closeAll(other, page, start);
  } finally {
    await server.stop();
  }
});

test('a browser and the terminal client chat with each other', async () => {
  const server = await Server.start();
  let tui;
  try {
    tui = await Tui.start(server, 'tui-bob');
    const page = await openChat(browser, server, 'web-alice');
    await send(page, 'hello from the browser');
    await waitFor('the TUI to show the browser post', () => tui.screen().includes('hello from the browser'));
    tui.type('hello from the terminal');
    await waitForText(page, 'hello from the terminal');
    const messages = await shownMessages(page);
    assert.deepEqual(
      messages.map(({ seq, author, text }) => [seq, author, text]),
      [[1, 'web-alice', 'hello from the browser'], [2, 'tui-bob', 'hello from the terminal']],
    );
    await page.locator('#member-list').getByText('tui-bob').waitFor();
    await waitFor('the TUI to show its own post as stored', () => !tui.screen().includes('(pending)'));
    writeFileSync(join(ARTIFACTS, 'tui-screen.txt'), tui.screen());
    await screenshot(page, 'browser-and-tui');
    await closeAll(page);
  } finally {
    tui?.stop();
    await server.stop();
  }
});

test('history: older messages load when scrolling to the top and with the button', async (t) => {
  const server = await Server.start({ TUITALK__LIMITS__POSTS_PER_SECOND: '1000' });
  try {
    const token = await server.session('bot');
    for (let i = 1; i <= 120; i += 1) {
      await server.post(token, 'history', `h-${i}`, `message ${i}`);
    }
    const page = await openChat(browser, server, 'reader', 'history');
    const seqs = async () => (await shownMessages(page)).map((message) => message.seq);
    const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    await waitFor('the first page', async () => (await seqs()).length === 50);
    assert.deepEqual(await seqs(), range(71, 120));
    await page.getByRole('button', { name: 'Load older messages' }).waitFor();
    assert.ok(await page.$eval('#log-wrap', (el) => el.scrollHeight - el.scrollTop - el.clientHeight < 50),
      'opens at the newest message');

    // Scrolling to the top loads the next page and keeps the reader's place.
    await page.$eval('#log-wrap', (el) => { el.scrollTop = 0; });
    await waitFor('a page loaded by scrolling', async () => (await seqs()).length === 100);
    assert.deepEqual(await seqs(), range(21, 120));
    const top = await page.$eval('#log-wrap', (el) => el.scrollTop);
    t.diagnostic(`scrollTop after the page above came in: ${top}px`);
    assert.ok(top > 100, 'the message read before stays in view');
    await screenshot(page, 'history-scrolled');

    // The button loads the rest; then it goes away.
    await page.$eval('#log-wrap', (el) => { el.scrollTop = 400; });
    await page.getByRole('button', { name: 'Load older messages' }).click();
    await waitFor('the last page', async () => (await seqs()).length === 120);
    assert.deepEqual(await seqs(), range(1, 120));
    assert.deepEqual((await texts(page)).slice(0, 2), ['message 1', 'message 2']);
    await page.locator('#older').waitFor({ state: 'hidden' });
    await page.locator('#log li.sys').filter({ hasText: 'beginning of #history' }).waitFor();
    await closeAll(page);
  } finally {
    await server.stop();
  }
});

test('the banner shows while the backend is down; posts made meanwhile arrive once', async (t) => {
  const server = await Server.start();
  try {
    const alice = await openChat(browser, server, 'alice');
    const bob = await openChat(browser, server, 'bob');
    await send(alice, 'before the crash');
    await waitForText(bob, 'before the crash');

    await server.kill9();
    const killedAt = Date.now();
    for (const page of [alice, bob]) {
      await page.locator('#banner').waitFor({ state: 'visible' });
      assert.match(await page.locator('#banner-text').textContent(), /^Connection lost\. Reconnecting in \d+ s…/);
    }
    t.diagnostic(`banner shown ${Date.now() - killedAt} ms after kill -9`);
    await send(alice, 'sent while down 1');
    await send(alice, 'sent while down 2');
    await send(bob, 'bob, also while down');
    await alice.locator('#log li.pending').nth(1).waitFor();
    assert.deepEqual(await alice.locator('#log li.pending .mark').allTextContents(), ['pending', 'pending']);
    await alice.locator('#banner-text').filter({ hasText: '2 messages wait to be sent' }).waitFor();
    await screenshot(alice, 'banner-backend-down');

    await sleep(1500);
    await server.launch(); // same port, same data directory
    const restartedAt = Date.now();
    for (const page of [alice, bob]) {
      await page.locator('#banner').waitFor({ state: 'hidden', timeout: 45_000 });
    }
    t.diagnostic(`both pages reconnected ${Date.now() - restartedAt} ms after the restart`);
    const expected = ['before the crash', 'sent while down 1', 'sent while down 2', 'bob, also while down'];
    const shown = [];
    for (const page of [alice, bob]) {
      for (const text of expected) await waitForText(page, text);
      await page.locator('#log li.pending').waitFor({ state: 'detached' });
      await sleep(500); // anything doubled would be here by now
      const messages = await shownMessages(page);
      for (const text of expected) {
        assert.equal(messages.filter((m) => m.text === text).length, 1, `"${text}" shown once`);
      }
      const order = messages.map((m) => m.seq);
      assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in sequence order');
      assert.equal(new Set(order).size, order.length, 'no sequence twice');
      shown.push(messages.map(({ seq, text }) => [seq, text]));
    }
    assert.deepEqual(shown[0], shown[1], 'both pages show the same messages in the same order');
    const indexOf = (text) => shown[0].findIndex(([, t]) => t === text);
    assert.ok(indexOf('sent while down 1') < indexOf('sent while down 2'), 'the outbox kept its order');

    const stored = await server.history(await server.session('checker'), 'lobby');
    for (const text of expected) {
      assert.equal(stored.filter((m) => m.text === text).length, 1, `"${text}" stored once`);
    }
    assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1), 'sequences 1..n');
    await screenshot(alice, 'after-reconnect');
    await closeAll(alice, bob);
  } finally {
    await server.stop();
  }
});

// ----- accounts and sessions -----

/** A password the server's guessability check takes. */
const PASSWORD = 'plum kettle 92 orbit';

/** The identity the page keeps for the server at ws://127.0.0.1:`port`: where (tab or
 *  browser storage) and what. */
async function keptSession(page, port) {
  return page.evaluate((key) => ({
    tab: JSON.parse(sessionStorage.getItem(key) ?? 'null'),
    browser: JSON.parse(localStorage.getItem(key) ?? 'null'),
  }), `tuitalk.session.ws://127.0.0.1:${port}`);
}

test('register in the page: checks next to the fields, @handle in the header and on own posts', async () => {
  const server = await Server.start();
  try {
    await server.register({ email: 'taken@example.org', handle: 'taken', name: 'First', password: PASSWORD });
    const page = await newPage(browser);
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: 'Join the chat' }).waitFor();
    await screenshot(page, 'start-guest');

    // Forgot password on a server without mail: whom to ask.
    await page.locator('#tab-signin').click();
    await screenshot(page, 'start-signin');
    await page.getByRole('button', { name: 'Forgot your password?' }).click();
    await page.locator('#reset-email').fill('ada@example.org');
    await page.locator('#reset-email').press('Enter');
    await page.locator('#reset-request-error').filter({ hasText: 'ask the operator to reset your password' }).waitFor();

    await page.locator('#tab-register').click();
    // The page's own checks, each next to its field, before anything is sent.
    await page.locator('#register-email').fill('not-an-address');
    await page.locator('#register-handle').fill('9lives');
    await page.locator('#register-name').fill('Ada');
    await page.locator('#register-password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-email-error').filter({ hasText: 'like name@example.org' }).waitFor();
    assert.equal(await page.locator('#register-handle-error').textContent(), 'Start with a letter.');
    assert.match(await page.locator('#register-password-error').textContent(), /at least 8 characters/);
    assert.equal(await page.locator('#register-email').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'register-email', 'the first field in error has the focus');
    await screenshot(page, 'start-register-errors');

    // The server's refusals, next to the right field.
    await page.locator('#register-email').fill('taken@example.org');
    await page.locator('#register-handle').fill('ada');
    await page.locator('#register-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-email-error').filter({ hasText: 'An account with this email exists' }).waitFor();
    assert.equal(await page.locator('#register-handle-error').textContent(), '');
    await page.locator('#register-email').fill('ada@example.org');
    await page.locator('#register-handle').fill('Taken');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-handle-error').filter({ hasText: 'This handle is taken' }).waitFor();
    assert.equal(await page.locator('#register-email-error').textContent(), '');

    await page.locator('#register-handle').fill('@Ada');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#me-handle').filter({ hasText: '@ada' }).waitFor();
    assert.equal(await page.locator('#me-name').textContent(), 'Ada');
    assert.ok(await page.locator('#me-guest').isHidden(), 'no guest badge for an account');
    await page.locator('#room-title').filter({ hasText: '#lobby' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    await send(page, 'my first post as an account');
    await waitForText(page, 'my first post as an account');
    await page.locator('#log li.pending').waitFor({ state: 'detached' });
    const [mine] = await shownMessages(page);
    assert.deepEqual([mine.author, mine.handle, mine.guest], ['Ada', '@ada', false]);
    assert.equal(await page.locator('#member-list li').filter({ hasText: 'Ada' }).locator('.handle').textContent(), '@ada');
    const stored = (await server.history(await server.session('checker'), 'lobby')).at(-1);
    assert.equal(stored.author_handle, 'ada', 'the server stored the handle with the post');

    // An account is kept for the browser (every tab), not the tab only.
    const kept = await keptSession(page, server.port);
    assert.equal(kept.tab, null);
    assert.equal(kept.browser.handle, 'ada');
    assert.ok(kept.browser.session_id);
    await screenshot(page, 'chat-account');

    // The menu of an account.
    await openMenu(page);
    await page.locator('#session-list li').first().waitFor();
    assert.equal(await page.locator('#account-email').textContent(), 'ada@example.org');
    assert.equal(await page.locator('#session-list li').count(), 1);
    assert.equal(await page.locator('#session-list .this-device').count(), 1);
    await screenshot(page, 'account-menu');

    // Sign out: the session is revoked, the start screen is back, nothing is kept.
    await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.locator('#start-notice').filter({ hasText: 'Signed out.' }).waitFor();
    assert.equal(await page.locator('#tab-signin').getAttribute('aria-pressed'), 'true', 'back on sign in');
    assert.equal(await page.locator('#signin-email').inputValue(), 'ada@example.org', 'the email is remembered');
    assert.deepEqual(await keptSession(page, server.port), { tab: null, browser: null });
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible' });
    const { status } = await server.sessions(kept.browser.token);
    assert.equal(status, 401, 'the token is no good any more');
    await closeAll(page);
  } finally {
    await server.stop();
  }
});

test('a new user registers in the page, logs in from the terminal, and chats from both', async () => {
  const server = await Server.start();
  let tui;
  try {
    const page = await newPage(browser);
    await page.goto(`${server.base}/`);
    await page.locator('#tab-register').click();
    await page.locator('#register-email').fill('Nia@Example.org');
    await page.locator('#register-handle').fill('nia');
    await page.locator('#register-name').fill('Nia');
    await page.locator('#register-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#me-handle').filter({ hasText: '@nia' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });

    // The same account on the terminal: `tuitalk login`, then the TUI resumes it.
    const home = Tui.configHome();
    const said = Tui.login(server, home, 'nia@example.org', PASSWORD);
    assert.match(said, /@nia/);
    tui = await Tui.start(server, null, { configHome: home, expect: 'Nia @nia' });
    await send(page, 'typed in the browser');
    await waitFor('the TUI to show the browser post with the handle',
      () => tui.screen().includes('Nia @nia: typed in the browser'));
    tui.type('typed in the terminal');
    await waitForText(page, 'typed in the terminal');
    const messages = await shownMessages(page);
    assert.deepEqual(
      messages.map(({ author, handle, text }) => [author, handle, text]),
      [['Nia', '@nia', 'typed in the browser'], ['Nia', '@nia', 'typed in the terminal']],
    );
    await waitFor('the TUI to show its own post as stored', () => !tui.screen().includes('(pending)'));
    writeFileSync(join(ARTIFACTS, 'tui-account-screen.txt'), tui.screen());
    await screenshot(page, 'account-browser-and-tui');
    await closeAll(page);
  } finally {
    tui?.stop();
    await server.stop();
  }
});

test('a guest creates its account from the menu and keeps its user, room and history', async (t) => {
  const server = await Server.start();
  try {
    const page = await openChat(browser, server, 'gus', 'den');
    const other = await openChat(browser, server, 'watcher', 'den');
    await send(page, 'posted as a guest 1');
    await send(page, 'posted as a guest 2');
    await waitForText(page, 'posted as a guest 2');
    await page.locator('#log li.pending').waitFor({ state: 'detached' });
    const before = await shownMessages(page);
    assert.ok(before.every((m) => m.guest && m.handle === null), 'guests are marked');
    assert.ok(await page.locator('#me-guest').isVisible(), 'the header marks a guest');

    await openMenu(page);
    await screenshot(page, 'account-menu-guest');
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    assert.equal(await page.locator('#register-name').inputValue(), 'gus', 'the name is offered');
    await page.locator('#register-email').fill('gus@example.org');
    await page.locator('#register-handle').fill('gus');
    await page.locator('#register-password').fill(PASSWORD);
    await screenshot(page, 'upgrade-form');
    await page.locator('#register-password').press('Enter');
    await page.locator('#me-handle').filter({ hasText: '@gus' }).waitFor();
    await page.locator('#banner').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#me-guest').isHidden());
    await page.locator('#room-title').filter({ hasText: '#den' }).waitFor();
    assert.deepEqual(
      (await shownMessages(page)).map((m) => [m.seq, m.authorId, m.text]),
      before.map((m) => [m.seq, m.authorId, m.text]),
      'the same room and history, by the same user',
    );
    await send(page, 'posted as an account');
    await waitForText(page, 'posted as an account');
    const after = (await shownMessages(page)).at(-1);
    assert.equal(after.authorId, before[0].authorId, 'the same user id');
    assert.equal(after.handle, '@gus');
    await page.locator('#member-list li').filter({ hasText: 'gus' }).locator('.handle').filter({ hasText: '@gus' }).waitFor();
    // The other page sees the handle on the new post. (Its member list learns the handle
    // only from a presence event; the server sends none for an upgrade that keeps the
    // name, so it may still show the guest until the next one.)
    await waitForText(other, 'posted as an account');
    assert.equal((await shownMessages(other)).at(-1).handle, '@gus');
    const othersList = await other.locator('#member-list li').filter({ hasText: 'gus' }).textContent();
    t.diagnostic(`the other page's member list after the upgrade: ${JSON.stringify(othersList)}`);

    // A reload resumes the account (kept for the browser now).
    const kept = await keptSession(page, server.port);
    assert.equal(kept.tab, null);
    assert.equal(kept.browser.user_id, before[0].authorId);
    await page.reload();
    await page.locator('#me-handle').filter({ hasText: '@gus' }).waitFor();
    await page.locator('#room-list button[data-room="den"]').waitFor();
    await waitForText(page, 'posted as a guest 1');

    // Its session revoked while the page was away: the kept token is refused at the
    // next visit (invalid_token), the page forgets it and says so.
    const { token } = (await keptSession(page, server.port)).browser;
    await page.goto('about:blank');
    await server.revokeAll(token);
    await page.goto(`${server.base}/`);
    await page.locator('#start-notice').filter({ hasText: 'You were signed out' }).waitFor();
    assert.ok(await page.locator('#chat').isHidden());
    assert.deepEqual(await keptSession(page, server.port), { tab: null, browser: null });
    await closeAll(page, other);
  } finally {
    await server.stop();
  }
});

test('sessions: both devices listed, renamed and revoked; sign out everywhere ends both', async (t) => {
  const server = await Server.start();
  try {
    const registered = await server.register({ email: 'sam@example.org', handle: 'sam', name: 'Sam', password: PASSWORD });
    // Only the two pages' sessions are to be listed: end the registration's own.
    await server.revokeAll(registered.token);
    // A wrong password first: one message for the form, nothing signed in.
    const probe = await newPage(browser);
    await probe.goto(`${server.base}/`);
    await probe.locator('#tab-signin').click();
    await probe.locator('#signin-email').fill('sam@example.org');
    await probe.locator('#signin-password').fill('not the password');
    await probe.locator('#signin-password').press('Enter');
    await probe.locator('#signin-error').filter({ hasText: 'Wrong email or password.' }).waitFor();
    await closeAll(probe);

    const laptop = await signIn(browser, server, 'sam@example.org', PASSWORD, 'Sam');
    let phone = await signIn(browser, server, 'sam@example.org', PASSWORD, 'Sam');
    await openMenu(laptop);
    await waitFor('two sessions listed', async () => (await laptop.locator('#session-list li').count()) === 2);
    const current = laptop.locator('#session-list li.current');
    assert.equal(await current.count(), 1);
    assert.equal(await current.locator('.this-device').textContent(), 'this device');
    assert.match(await current.locator('.session-dates').textContent(), /^created today \d\d:\d\d · last seen today \d\d:\d\d$/);

    // Rename this device's session.
    await current.getByRole('button', { name: /^Rename/ }).click();
    await laptop.locator('#session-list input[name="label"]').fill('laptop');
    await laptop.locator('#session-list input[name="label"]').press('Enter');
    await laptop.locator('#session-list li.current .session-label').filter({ hasText: /^laptop$/ }).waitFor();
    await screenshot(laptop, 'account-menu-sessions');

    // Revoke the other one: that page is sent to the start screen.
    await laptop.locator('#session-list li:not(.current)').getByRole('button', { name: /^Revoke/ }).click();
    await phone.locator('#login').waitFor({ state: 'visible', timeout: 5_000 });
    await phone.locator('#start-notice').filter({ hasText: 'You were signed out' }).waitFor();
    assert.deepEqual(await keptSession(phone, server.port), { tab: null, browser: null });
    await waitFor('one session left', async () => (await laptop.locator('#session-list li').count()) === 1);
    await closeAll(phone);

    // Sign in again on the phone, then sign out everywhere from the laptop.
    phone = await signIn(browser, server, 'sam@example.org', PASSWORD, 'Sam');
    await laptop.locator('#me > summary').click(); // close
    await openMenu(laptop);
    await waitFor('two sessions again', async () => (await laptop.locator('#session-list li').count()) === 2);
    const clickedAt = Date.now();
    await laptop.getByRole('button', { name: 'Sign out everywhere' }).click();
    const ended = await Promise.all([laptop, phone].map(async (page) => {
      await page.locator('#login').waitFor({ state: 'visible', timeout: 5_000 });
      return Date.now() - clickedAt;
    }));
    t.diagnostic(`start screen after "Sign out everywhere": this page ${ended[0]} ms, the other ${ended[1]} ms`);
    assert.ok(Math.max(...ended) <= 2_000, `both pages on the start screen within 2 s (${ended})`);
    await phone.locator('#start-notice').filter({ hasText: 'You were signed out' }).waitFor();
    await laptop.locator('#start-notice').filter({ hasText: 'Signed out on every device.' }).waitFor();
    await screenshot(phone, 'start-signed-out');
    for (const page of [laptop, phone]) {
      assert.deepEqual(await keptSession(page, server.port), { tab: null, browser: null });
      assert.ok(await page.locator('#chat').isHidden());
      assert.equal(await page.locator('#log li').count(), 0, 'the chat of the old session is cleared');
    }
    await closeAll(laptop, phone);
  } finally {
    await server.stop();
  }
});

test('with mail: the email is verified with its code, a forgotten password is reset', async () => {
  const sink = await MailSink.start();
  const server = await Server.start(sink.env());
  try {
    const page = await newPage(browser);
    await page.goto(`${server.base}/`);
    await page.locator('#tab-register').click();
    await page.locator('#register-email').fill('vera@example.org');
    await page.locator('#register-handle').fill('vera');
    await page.locator('#register-name').fill('Vera');
    await page.locator('#register-password').fill(PASSWORD);
    await page.locator('#register-password').press('Enter');
    await page.locator('#me-handle').filter({ hasText: '@vera' }).waitFor();
    await page.locator('#me-unverified').waitFor({ state: 'visible' });
    const code = await sink.code('vera@example.org', /confirm your email/i);

    await openMenu(page);
    await page.locator('#verify-form').waitFor({ state: 'visible' });
    await page.getByLabel('Your email is unverified: enter the code from the mail').fill('WRONG-CODE');
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#verify-code-error').filter({ hasText: 'unknown, used or expired' }).waitFor();
    await screenshot(page, 'account-menu-unverified');
    await page.locator('#verify-code').fill(code);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('#account-status').filter({ hasText: 'Your email address is verified.' }).waitFor();
    await page.locator('#me-unverified').waitFor({ state: 'hidden' });
    assert.ok(await page.locator('#verify-form').isHidden());
    assert.equal((await keptSession(page, server.port)).browser.email_verified, true);

    // Signed out, the password forgotten: a mailed code sets a new one.
    await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Forgot your password?' }).click();
    assert.equal(await page.locator('#reset-email').inputValue(), 'vera@example.org', 'the email carried over');
    await page.getByRole('button', { name: 'Send a code' }).click();
    await page.locator('#reset-sent').filter({ hasText: 'a code is on its way' }).waitFor();
    const reset = await sink.code('vera@example.org', /reset/i);
    await page.locator('#reset-code').fill(reset);
    await page.locator('#reset-password').fill('short');
    await page.locator('#reset-password').press('Enter');
    await page.locator('#reset-password-error').filter({ hasText: 'at least 8 characters' }).waitFor();
    await page.locator('#reset-password').fill('another plum kettle 37');
    await screenshot(page, 'start-reset');
    await page.locator('#reset-password').press('Enter');
    await page.locator('#start-notice').filter({ hasText: 'Your password is changed' }).waitFor();
    assert.equal(await page.locator('#tab-signin').getAttribute('aria-pressed'), 'true');
    await page.locator('#signin-password').fill('another plum kettle 37');
    await page.locator('#signin-password').press('Enter');
    await page.locator('#me-handle').filter({ hasText: '@vera' }).waitFor();
    assert.ok(await page.locator('#me-unverified').isHidden(), 'still verified');
    await closeAll(page);
  } finally {
    await server.stop();
    sink.stop();
  }
});
