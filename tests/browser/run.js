#!/usr/bin/env node
// Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
// The demo page of make run (README, "The two commands") in a real browser: Debian's headless
// Chromium, driven by playwright-core, against scripts/run-demo.sh started
// here on a free loopback port with its own var dir.  Screenshots go to
// BUILD/browser/, and each is checked against the page's content.
//
// Usage: node tests/browser/run.js [--build DIR]   (from anywhere)
// Prints "ok - NAME" or "FAIL - NAME: WHY" per test, then
// "N passed, N failed"; exits 1 on a failure.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const { chromium } = require('playwright-core');

const TOP = path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KiB = 1024;
const MiB = 1024 * KiB;

function parseArgs(argv) {
	let build = 'build';
	for (let i = 2; i < argv.length; i++) {
		if (argv[i] === '--build' && i + 1 < argv.length)
			build = argv[++i];
		else
			throw new Error('usage: run.js [--build DIR]');
	}
	return path.resolve(TOP, build);
}

const BUILD = parseArgs(process.argv);
const OUT = path.join(BUILD, 'browser');
const VAR = path.join(OUT, 'var');
const FILES = path.join(OUT, 'files');

// --- checks -------------------------------------------------------------

class Failure extends Error {}

function check(cond, why) {
	if (!cond)
		throw new Failure(why);
}

function eq(got, want, what) {
	check(got === want, `${what}: got ${JSON.stringify(got)}, want ` +
	    JSON.stringify(want));
}

function has(text, part, what) {
	check(typeof text === 'string' && text.includes(part),
	    `${what}: ${JSON.stringify(part)} not in ${JSON.stringify(text)}`);
}

// A PNG's width and height, from its IHDR chunk.
function pngSize(file) {
	const b = fs.readFileSync(file);
	check(b.length > 1000 && b.toString('latin1', 1, 4) === 'PNG',
	    `${file} is not a PNG`);
	return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

// --- the demo server ----------------------------------------------------

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// One request on loopback; resolves with {status, headers, body}.
function request(port, method, urlPath, opts = {}) {
	return new Promise((resolve, reject) => {
		const headers = Object.assign({}, opts.headers || {});
		if (opts.user)
			headers.Authorization = 'Basic ' +
			    Buffer.from(opts.user + ':' + opts.user).toString('base64');
		const req = http.request({ host: '127.0.0.1', port, method,
		    path: urlPath, headers, timeout: 5000 }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode,
			    headers: res.headers,
			    body: Buffer.concat(chunks).toString('utf8') }));
		});
		req.on('timeout', () => req.destroy(new Error('timeout')));
		req.on('error', reject);
		req.end(opts.body);
	});
}

class Demo {
	constructor(port) {
		this.port = port;
		this.url = `http://127.0.0.1:${port}`;
		this.proc = null;
		this.exited = null;
		this.log = path.join(OUT, 'demo.log');
	}

	async start() {
		const log = fs.openSync(this.log, 'w');
		// A process group of its own: sh, lighttpd and upgate.fcgi end
		// together, whatever happens here.
		this.proc = spawn('sh', ['scripts/run-demo.sh', BUILD], {
			cwd: TOP, detached: true, stdio: ['ignore', log, log],
			env: Object.assign({}, process.env, {
				UPGATE_DEMO_PORT: String(this.port),
				UPGATE_DEMO_VAR: VAR })
		});
		fs.closeSync(log);
		this.exited = new Promise((r) => this.proc.on('exit', r));
		const until = Date.now() + 20000;
		while (Date.now() < until) {
			if (this.proc.exitCode !== null)
				break;
			try {
				const r = await request(this.port, 'GET', '/upload',
				    { user: 'alice', headers: { Accept: 'application/json' } });
				if (r.status === 200)
					return;
			} catch (e) {
				// not listening yet
			}
			await sleep(100);
		}
		throw new Error('the demo did not start: ' +
		    fs.readFileSync(this.log, 'utf8').slice(-800));
	}

	group() {
		return this.proc === null ? [] : groupMembers(this.proc.pid);
	}

	async stop() {
		if (this.proc === null)
			return;
		const pgid = this.proc.pid;
		const signal = (sig) => {
			try {
				process.kill(-pgid, sig);
			} catch (e) {
				// the group is gone
			}
		};
		signal('SIGTERM');
		const until = Date.now() + 8000;
		while (groupMembers(pgid).length > 0 && Date.now() < until)
			await sleep(100);
		signal('SIGKILL');
		await Promise.race([this.exited, sleep(2000)]);
	}
}

// The processes of process group pgid, from /proc.
function groupMembers(pgid) {
	const found = [];
	for (const d of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(d))
			continue;
		let stat;
		try {
			stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1');
		} catch (e) {
			continue;
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces
		const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		if (Number(f[2]) === pgid && f[0] !== 'Z')
			found.push(Number(d));
	}
	return found;
}

// --- the browser --------------------------------------------------------

const CHROMIUM_ARGS = [
	'--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update',
	'--disable-sync', '--disable-dev-shm-usage'
];

// A page in a context of its own, with what it logs and loads recorded:
// console errors, uncaught exceptions, and every URL it asked for.
async function openPage(t, user, javaScript = true) {
	const context = await t.browser.newContext({
		httpCredentials: { username: user, password: user },
		javaScriptEnabled: javaScript,
		viewport: { width: 760, height: 900 },
		deviceScaleFactor: 1
	});
	const page = await context.newPage();
	const seen = { errors: [], requests: [] };
	page.on('console', (m) => {
		if (m.type() === 'error')
			seen.errors.push(m.text());
	});
	page.on('pageerror', (e) => seen.errors.push('exception: ' + e.message));
	context.on('request', (r) => seen.requests.push(r.url()));
	page.setDefaultTimeout(10000);
	t.pages.push(page);
	await page.goto(t.demo.url + '/');
	return { context, page, seen };
}

// Closes what a test opened, with a screenshot first if it failed.
async function closePages(t, failedShot) {
	for (const page of t.pages) {
		if (failedShot !== null && !page.isClosed())
			await page.screenshot({ path: path.join(OUT, failedShot),
			    fullPage: true }).catch(() => {});
		await page.context().close().catch(() => {});
	}
}

// Nothing from outside the demo server, and no console error but the
// "Failed to load resource" line Chromium writes for a refusal expected.
function checkClean(demo, seen, allowed = []) {
	for (const u of seen.requests) {
		const ok = u.startsWith(demo.url + '/') || u.startsWith('data:') ||
		    u.startsWith('blob:');
		check(ok, `a request outside ${demo.url}: ${u}`);
	}
	for (const e of seen.errors) {
		const expected = allowed.some((s) => e.includes(
		    `the server responded with a status of ${s}`));
		check(expected, `console error: ${e}`);
	}
}

function makeFile(name, size, sparse = false) {
	const file = path.join(FILES, name);
	if (sparse) {
		fs.writeFileSync(file, '');
		fs.truncateSync(file, size);
	} else {
		const b = Buffer.alloc(size);
		for (let i = 0; i < size; i++)
			b[i] = (i * 31 + (i >> 8)) & 0xff;
		fs.writeFileSync(file, b);
	}
	return file;
}

async function screenshot(page, name) {
	const file = path.join(OUT, name);
	await page.screenshot({ path: file, fullPage: true });
	const size = pngSize(file);
	check(size.width === 760 && size.height >= 400,
	    `${name}: ${size.width}x${size.height}`);
	return file;
}

// What the page shows, read in the page.
function state(page) {
	return page.evaluate(() => {
		const $ = (id) => document.getElementById(id);
		const p = $('upload-progress');
		const m = $('quota-meter');
		const r = $('result');
		return {
			progress: { value: p.value, max: p.max,
			    text: $('progress-text').textContent.trim() },
			meter: { value: m.value, max: m.max,
			    text: $('quota-text').textContent.trim() },
			who: $('who').textContent,
			result: { hidden: r.hidden, cls: r.className,
			    text: r.textContent },
			stored: Array.from(document.querySelectorAll('#stored-list li'),
			    (li) => li.textContent),
			storedHidden: $('stored').hidden
		};
	});
}

// The quota meter filled from GET /upload.
async function quotaShown(page) {
	await page.waitForFunction(() =>
	    /used \(/.test(document.getElementById('quota-text').textContent));
}

// Chooses files and submits the form; waits for the answer on the page.
async function upload(page, files) {
	await page.setInputFiles('#file', files);
	await page.click('button[type="submit"]');
	await page.waitForFunction(() => {
		const r = document.getElementById('result');
		return !r.hidden && r.className !== '';
	}, null, { timeout: 30000 });
}

// --- the tests ----------------------------------------------------------

const tests = [];

function test(name, fn) {
	tests.push({ name, fn });
}

test('page: a form that posts files to /upload, labelled progress and meter',
    async (t) => {
	const { page, seen, context } = await openPage(t, 'alice');
	{
		const form = await page.evaluate(() => {
			const f = document.querySelector('form');
			const input = f.querySelector('input[type="file"]');
			const label = (e) => Array.from(e.labels, (l) => l.textContent)
			    .join(' ');
			return {
				action: f.getAttribute('action'), method: f.method,
				enctype: f.enctype, name: input.name,
				inputLabel: label(input),
				button: f.querySelector('button[type="submit"]').textContent,
				progressLabel: label(document.querySelector('progress')),
				meterLabel: label(document.querySelector('meter')),
				h1: document.querySelector('h1').textContent,
				landmarks: ['header', 'main', 'footer'].every(
				    (t) => document.querySelector(t) !== null)
			};
		});
		eq(form.action, '/upload', 'form action');
		eq(form.method, 'post', 'form method');
		eq(form.enctype, 'multipart/form-data', 'form enctype');
		eq(form.name, 'file', 'file field name');
		eq(form.inputLabel, 'File to upload', 'file input label');
		eq(form.button, 'Upload', 'submit button');
		eq(form.progressLabel, 'Upload progress', 'progress label');
		eq(form.meterLabel, 'Space used', 'meter label');
		eq(form.h1, 'upgate demo', 'heading');
		check(form.landmarks, 'header, main and footer');
		await quotaShown(page);
		const s = await state(page);
		eq(s.meter.max, 10 * MiB, 'meter max (alice: 10 MiB)');
		eq(s.meter.value, 0, 'meter value');
		eq(s.meter.text, '0 bytes of 10.0 MiB used (0.0 %), 10.0 MiB ' +
		    'available.', 'quota figures');
		eq(s.who, 'Signed in as alice.', 'user');
		has(s.progress.text, 'Choose a file', 'progress text');
		check(s.result.hidden && s.storedHidden, 'no result yet');
		await screenshot(page, 'page.png');
		const loaded = seen.requests.map((u) => u.slice(t.demo.url.length));
		for (const want of ['/', '/demo.css', '/demo.js', '/upload'])
			check(loaded.includes(want), `${want} not loaded: ${loaded}`);
		checkClean(t.demo, seen);
	}
});

test('js: upload through XMLHttpRequest, progress to 100 %, file listed',
    async (t) => {
	const file = makeFile('holiday.bin', 3 * MiB);
	const { page, seen, context } = await openPage(t, 'alice');
	{
		await quotaShown(page);
		// Slow uploads down (3 MiB in about 1.5 s) to watch them go.
		const cdp = await context.newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.emulateNetworkConditions', {
			offline: false, latency: 0, downloadThroughput: -1,
			uploadThroughput: 2 * MiB });
		await page.evaluate(() => {
			const p = document.getElementById('upload-progress');
			window.progressSeen = [];
			new MutationObserver(() => window.progressSeen.push(
			    [p.value, p.max])).observe(p, { attributes: true });
		});
		await page.setInputFiles('#file', file);
		await page.click('button[type="submit"]');
		// Halfway: the bar and its figures move.
		await page.waitForFunction(() => {
			const p = document.getElementById('upload-progress');
			return p.value > p.max * 0.2 && p.value < p.max * 0.8;
		}, null, { timeout: 15000, polling: 20 });
		const mid = await state(page);
		await screenshot(page, 'upload-progress.png');
		check(/^\d+\.\d [KM]iB of 3\.0 MiB sent \(\d+ %\)\.$/.test(
		    mid.progress.text), `mid-upload figures: ${mid.progress.text}`);
		check(await page.isDisabled('button[type="submit"]'),
		    'the button is disabled during the upload');
		await page.waitForFunction(() =>
		    !document.getElementById('result').hidden, null,
		    { timeout: 30000 });
		await cdp.send('Network.emulateNetworkConditions', {
			offline: false, latency: 0, downloadThroughput: -1,
			uploadThroughput: -1 });
		await page.waitForFunction(() => document.getElementById(
		    'quota-text').textContent.startsWith('3.0 MiB of'));
		const s = await state(page);
		eq(s.result.cls, 'success', 'result');
		eq(s.result.text, 'Stored holiday.bin.', 'result message');
		eq(s.progress.value, s.progress.max, 'progress at its max');
		eq(s.progress.max, 3 * MiB, 'progress max: the file size');
		eq(s.progress.text, '3.0 MiB of 3.0 MiB sent (100 %): stored.',
		    'progress figures');
		const steps = await page.evaluate(() => window.progressSeen);
		check(steps.some(([v, m]) => v > 0 && v < m),
		    `no intermediate progress: ${JSON.stringify(steps)}`);
		eq(s.stored.length, 1, 'files listed');
		eq(s.stored[0], 'holiday.bin 3.0 MiB', 'file listed');
		eq(s.meter.value, 3 * MiB, 'meter after the upload');
		eq(s.meter.text, '3.0 MiB of 10.0 MiB used (30.0 %), 7.0 MiB ' +
		    'available.', 'quota figures after');
		await screenshot(page, 'upload-done.png');
		checkClean(t.demo, seen);
		// The gate has it, counted.
		const r = await request(t.demo.port, 'GET', '/upload',
		    { user: 'alice', headers: { Accept: 'application/json' } });
		eq(JSON.parse(r.body).quota.used, 3 * MiB, 'GET /upload used');
		eq(fs.statSync(path.join(VAR, 'uploads', 'alice', 'holiday.bin')).size,
		    3 * MiB, 'stored file');
	}
});

test('js: over quota, the 507 answer inline with figures and actions',
    async (t) => {
	const first = makeFile('archive.tar', 900 * KiB);
	const second = makeFile('photo.jpg', 600 * KiB);
	const { page, seen, context } = await openPage(t, 'bob');
	{
		await quotaShown(page);
		await upload(page, first);
		let s = await state(page);
		eq(s.result.cls, 'success', 'first upload (900 KiB)');
		await upload(page, second);
		await page.waitForFunction(() =>
		    /87\.[89] %/.test(document.getElementById('quota-text')
		    .textContent));
		s = await state(page);
		eq(s.result.cls, 'refusal', 'result');
		const r = await page.evaluate(() => {
			const res = document.getElementById('result');
			return {
				h3: res.querySelector('h3').textContent,
				message: res.querySelector('.message').textContent,
				figures: Array.from(res.querySelectorAll('dt'),
				    (dt) => dt.textContent + ': ' +
				    dt.nextElementSibling.textContent),
				actions: Array.from(res.querySelectorAll('.actions a'),
				    (a) => [a.getAttribute('href'), a.textContent]),
				largest: Array.from(res.querySelectorAll('.largest li'),
				    (li) => li.textContent),
				focused: document.activeElement === res
			};
		});
		eq(r.h3, '507 Insufficient Storage', 'heading');
		has(r.message, 'would exceed your quota of 1.0 MiB', 'message');
		has(r.message, '900.0 KiB used', 'message');
		has(r.figures.join('; '), 'Quota: 1.0 MiB', 'figures');
		has(r.figures.join('; '), 'Used: 900.0 KiB', 'figures');
		has(r.figures.join('; '), 'Available: 124.0 KiB', 'figures');
		check(/This upload: 600\.\d KiB/.test(r.figures.join('; ')),
		    `upload size in ${r.figures}`);
		eq(JSON.stringify(r.actions.map((a) => a[0])),
		    '["/#upgrade","/#cleanup"]', 'action links');
		check(r.actions.every((a) => a[1].length > 5),
		    `action descriptions: ${r.actions}`);
		eq(r.largest.length, 1, 'largest files');
		has(r.largest[0], 'archive.tar 900.0 KiB', 'largest file');
		check(r.focused, 'the answer has the focus');
		eq(s.meter.max, MiB, 'meter max (bob: 1 MiB)');
		eq(s.meter.value, 900 * KiB, 'meter value');
		eq(s.meter.text, '900.0 KiB of 1.0 MiB used (87.8 %), 124.0 KiB ' +
		    'available.', 'quota figures');
		eq(page.url(), t.demo.url + '/', 'still on the page');
		has(s.progress.text, 'refused.', 'progress figures');
		await screenshot(page, 'quota-exceeded.png');
		checkClean(t.demo, seen, [507]);
		check(!fs.existsSync(path.join(VAR, 'uploads', 'bob', 'photo.jpg')),
		    'photo.jpg was stored');

		// The refusal's cleanup: delete the large file, then it fits.
		await page.click('.largest button');
		await page.waitForSelector('.largest .done');
		await page.waitForFunction(() =>
		    /^0 bytes of 1\.0 MiB/.test(document.getElementById('quota-text')
		    .textContent));
		await upload(page, second);
		s = await state(page);
		eq(s.result.cls, 'success', 'after the cleanup');
		eq(s.result.text, 'Stored photo.jpg.', 'after the cleanup');
		eq(s.meter.value, 600 * KiB, 'meter after the cleanup');
		eq(s.stored.length, 2, 'files listed');
		check(!fs.existsSync(path.join(VAR, 'uploads', 'bob',
		    'archive.tar')), 'archive.tar is still there');
		checkClean(t.demo, seen, [507]);
	}
});

test('js: over the size limit, the 413 answer inline', async (t) => {
	const big = makeFile('movie.mkv', 21 * MiB, true);
	const { page, seen, context } = await openPage(t, 'alice');
	{
		await quotaShown(page);
		await upload(page, big);
		const s = await state(page);
		eq(s.result.cls, 'refusal', 'result');
		has(s.result.text, '413 Content Too Large', 'heading');
		has(s.result.text, 'larger than the limit of 20.0 MiB', 'message');
		has(s.result.text, 'Limit20.0 MiB', 'figures');
		eq(s.meter.value, 3 * MiB, 'meter unchanged');
		eq(page.url(), t.demo.url + '/', 'still on the page');
		await screenshot(page, 'too-large.png');
		checkClean(t.demo, seen, [413]);
	}
});

test('no js: the form posts and the gate answers with its HTML page',
    async (t) => {
	const file = makeFile('notes.txt', 5000);
	const { page, seen, context } = await openPage(t, 'alice',
	    false);
	{
		const before = await state(page);
		has(before.progress.text, 'Without JavaScript', 'progress text');
		has(before.meter.text, 'The gate shows your quota at /upload',
		    'quota text');
		eq(before.meter.value, 0, 'meter not filled');
		await screenshot(page, 'nojs-page.png');
		await page.setInputFiles('#file', file);
		await Promise.all([page.waitForNavigation(),
		    page.click('button[type="submit"]')]);
		eq(page.url(), t.demo.url + '/upload', 'answer URL');
		const a = await page.evaluate(() => ({
			title: document.title,
			h1: document.querySelector('h1').textContent,
			text: document.body.innerText,
			meter: document.querySelector('meter') &&
			    Number(document.querySelector('meter').getAttribute('value'))
		}));
		eq(a.title, '201 Created', 'title');
		eq(a.h1, '201 Created', 'heading');
		has(a.text, 'Stored notes.txt (4.9 KiB).', 'message');
		has(a.text, 'Stored files', 'file list');
		eq(a.meter, 3 * MiB + 5000, 'usage bar');
		await screenshot(page, 'nojs-answer.png');
		checkClean(t.demo, seen);
		eq(fs.statSync(path.join(VAR, 'uploads', 'alice', 'notes.txt')).size,
		    5000, 'stored file');
	}
});

test('no js: over quota, the gate\'s HTML 507 page', async (t) => {
	const file = makeFile('video.mp4', 700 * KiB);
	const { page, seen, context } = await openPage(t, 'bob',
	    false);
	{
		await page.setInputFiles('#file', file);
		await Promise.all([page.waitForNavigation(),
		    page.click('button[type="submit"]')]);
		const a = await page.evaluate(() => ({
			h1: document.querySelector('h1').textContent,
			text: document.body.innerText,
			links: Array.from(document.querySelectorAll('a'),
			    (l) => l.getAttribute('href'))
		}));
		eq(a.h1, '507 Insufficient Storage', 'heading');
		has(a.text, 'would exceed your quota of 1.0 MiB', 'message');
		eq(JSON.stringify(a.links), '["/#upgrade","/#cleanup"]',
		    'action links');
		has(a.text, 'photo.jpg (600.0 KiB)', 'largest files');
		const bar = await page.evaluate(() => Number(document
		    .querySelector('meter').getAttribute('value')));
		eq(bar, 600 * KiB, 'usage bar');
		await screenshot(page, 'nojs-quota-exceeded.png');
		checkClean(t.demo, seen, [507]);
	}
});

// The listing of the user's folder (PROPFIND), waited for until the
// row of path is there (or gone, with gone).
async function fileRows(page, path, gone = false) {
	await page.waitForFunction(([p, g]) => {
		const rows = document.querySelectorAll('#files-list tr');
		return Array.from(rows).some((r) => r.dataset.path === p) !== g;
	}, [path, gone]);
	return page.evaluate(() => Array.from(
	    document.querySelectorAll('#files-list tr'), (r) => ({
		path: r.dataset.path,
		cells: Array.from(r.cells, (c) => c.textContent.trim()),
		href: r.querySelector('a') &&
		    r.querySelector('a').getAttribute('href')
	})));
}

test('js: your files listed (PROPFIND), downloaded, deleted', async (t) => {
	const file = makeFile('report.txt', 40 * KiB);
	const { page, seen } = await openPage(t, 'alice');
	{
		const before = JSON.parse((await request(t.demo.port, 'GET',
		    '/upload', { user: 'alice',
		    headers: { Accept: 'application/json' } })).body).quota;
		await quotaShown(page);
		await upload(page, file);
		let rows = await fileRows(page, 'report.txt');
		const row = rows.find((r) => r.path === 'report.txt');
		eq(row.href, '/upload/report.txt', 'download link');
		eq(row.cells[0], 'report.txt', 'name');
		eq(row.cells[1], '40.0 KiB', 'size');
		check(rows.some((r) => r.path === 'holiday.bin'),
		    `holiday.bin not listed: ${JSON.stringify(rows)}`);

		// RFC 4331's figures, as the gate's quota status gives them
		const q = JSON.parse((await request(t.demo.port, 'GET', '/upload',
		    { user: 'alice', headers: { Accept: 'application/json' } }))
		    .body).quota;
		await page.waitForFunction((u) => document.getElementById(
		    'files-quota').dataset.used === String(u),
		    q.used + q.reserved);
		const dav = await page.evaluate(() => Object.assign({},
		    document.getElementById('files-quota').dataset));
		eq(dav.available, String(q.available), 'quota-available-bytes');
		eq(q.used, before.used + 40 * KiB, 'used after the upload');

		// the download link: the same bytes
		const [dl] = await Promise.all([page.waitForEvent('download'),
		    page.click('#files-list a[href="/upload/report.txt"]')]);
		eq(dl.suggestedFilename(), 'report.txt', 'download name');
		const got = fs.readFileSync(await dl.path());
		check(got.equals(fs.readFileSync(file)),
		    `downloaded ${got.length} bytes, not the file's`);

		// a sub-folder made by a WebDAV client, opened on a click
		const map = Buffer.from('a map\n'.repeat(100));
		eq((await request(t.demo.port, 'MKCOL', '/upload/trip/',
		    { user: 'alice' })).status, 201, 'MKCOL trip/');
		eq((await request(t.demo.port, 'PUT', '/upload/trip/map.txt',
		    { user: 'alice', body: map, headers:
		    { 'Content-Length': String(map.length) } })).status, 201,
		    'PUT trip/map.txt');
		await page.reload();
		await fileRows(page, 'trip/');
		await page.click('#files-list button.folder');
		rows = await fileRows(page, 'trip/map.txt');
		eq(rows.find((r) => r.path === 'trip/map.txt').href,
		    '/upload/trip/map.txt', 'link of a file in a sub-folder');
		await screenshot(page, 'files.png');

		// Delete: gone from the list and from the disk
		await page.click('button[aria-label="Delete trip/map.txt"]');
		await fileRows(page, 'trip/map.txt', true);
		await page.click('button[aria-label="Delete report.txt"]');
		rows = await fileRows(page, 'report.txt', true);
		check(rows.some((r) => r.path === 'holiday.bin'),
		    'holiday.bin is still listed');
		for (const gone of ['report.txt', 'trip/map.txt'])
			check(!fs.existsSync(path.join(VAR, 'uploads', 'alice', gone)),
			    `${gone} is still on the disk`);
		const after = JSON.parse((await request(t.demo.port, 'GET',
		    '/upload', { user: 'alice',
		    headers: { Accept: 'application/json' } })).body).quota;
		eq(after.used, before.used, 'used after the deletes');
		checkClean(t.demo, seen);
	}
});

// The tus upload's URL that tus-js-client keeps in the page's
// localStorage, as a path, or null.
function storedTusPath(page) {
	return page.evaluate(() => {
		for (let i = 0; i < localStorage.length; i++) {
			const k = localStorage.key(i);
			if (k.startsWith('tus::'))
				return new URL(JSON.parse(localStorage.getItem(k))
				    .uploadUrl, location.href).pathname;
		}
		return null;
	});
}

async function tusOffset(port, urlPath) {
	const r = await request(port, 'HEAD', urlPath, { user: 'alice',
	    headers: { 'Tus-Resumable': '1.0.0' } });
	eq(r.status, 200, `HEAD ${urlPath}`);
	return Number(r.headers['upload-offset']);
}

test('js: a large file goes as a resumable upload (tus), is cut off, ' +
    'resumes after a reload, pauses and resumes, byte-exact', async (t) => {
	const SIZE = 12 * MiB;
	const file = makeFile('film.mkv', SIZE);
	const quotaFile = path.join(VAR, 'quota');
	const quotas = fs.readFileSync(quotaFile, 'utf8');
	// alice's 10 MiB would not hold it (the gate reads the file anew)
	fs.writeFileSync(quotaFile, quotas.replace(/^alice .*$/m, 'alice 40M'));
	try {
		const { page, seen, context } = await openPage(t, 'alice');
		await quotaShown(page);
		const used = JSON.parse((await request(t.demo.port, 'GET',
		    '/upload', { user: 'alice',
		    headers: { Accept: 'application/json' } })).body).quota.used;
		const tusSeen = [];
		page.on('request', (r) => {
			if (/\/upload(\/\.resumable\/.*)?$/.test(r.url()) &&
			    r.method() !== 'GET')
				tusSeen.push(r.method());
		});
		// The connection drops after a PATCH of 4 MiB: every PATCH from
		// the second on fails as a reset connection would.
		let patches = 0;
		const cut = (route) => {
			if (route.request().method() === 'PATCH' && ++patches > 1)
				return route.abort('connectionreset');
			return route.continue();
		};
		await page.route('**/upload/.resumable/*', cut);
		await page.setInputFiles('#file', file);
		await page.click('button[type="submit"]');
		await page.waitForFunction(() => /trying again/.test(
		    document.getElementById('progress-text').textContent), null,
		    { timeout: 20000 });
		eq(tusSeen[0], 'POST', 'the creation');
		const urlPath = await storedTusPath(page);
		check(/^\/upload\/\.resumable\/[0-9a-f]{32}$/.test(urlPath),
		    `the upload's URL in localStorage: ${urlPath}`);
		eq(await tusOffset(t.demo.port, urlPath), 4 * MiB,
		    'the offset on the gate after the cut');
		check(!fs.existsSync(path.join(VAR, 'uploads', 'alice', 'film.mkv')),
		    'film.mkv under its name before the end');

		// A reload, the same file chosen again: it carries on from the
		// gate's offset, without a new creation.  (The cut lasts until
		// the page is gone, or a retry of the old page would go through.)
		await page.reload();
		await page.unroute('**/upload/.resumable/*', cut);
		await quotaShown(page);
		tusSeen.length = 0;
		// 4 MiB/s, to pause on the way
		const cdp = await context.newCDPSession(page);
		await cdp.send('Network.enable');
		await cdp.send('Network.emulateNetworkConditions', {
			offline: false, latency: 0, downloadThroughput: -1,
			uploadThroughput: 4 * MiB });
		await page.setInputFiles('#file', file);
		await page.click('button[type="submit"]');
		await page.waitForFunction(() => {
			const p = document.getElementById('upload-progress');
			return p.value > 5 * 1024 * 1024;
		}, null, { timeout: 20000, polling: 20 });
		has((await state(page)).progress.text, 'resumed at 4.0 MiB',
		    'progress figures');
		await page.click('#pause');
		check(await page.isEnabled('#resume'), 'Resume after Pause');
		check(await page.isDisabled('#pause'), 'Pause after Pause');
		has((await state(page)).progress.text, 'paused', 'when paused');
		const paused = await tusOffset(t.demo.port, urlPath);
		check(paused >= 4 * MiB && paused < SIZE,
		    `offset when paused: ${paused}`);
		await screenshot(page, 'resumable-paused.png');
		await cdp.send('Network.emulateNetworkConditions', {
			offline: false, latency: 0, downloadThroughput: -1,
			uploadThroughput: -1 });
		await page.click('#resume');
		await page.waitForFunction(() =>
		    !document.getElementById('result').hidden, null,
		    { timeout: 30000 });
		const s = await state(page);
		eq(s.result.cls, 'success', `result (${s.result.text})`);
		eq(s.result.text, 'Stored film.mkv (resumable).', 'result message');
		eq(s.progress.value, SIZE, 'progress at the end');
		eq(tusSeen[0], 'HEAD', `the first request after the reload ` +
		    `(${tusSeen})`);
		check(!tusSeen.includes('POST'), `a new creation: ${tusSeen}`);
		await screenshot(page, 'resumable-done.png');

		// the gate has it, whole, and holds nothing more for it
		const got = fs.readFileSync(path.join(VAR, 'uploads', 'alice',
		    'film.mkv'));
		check(got.equals(fs.readFileSync(file)),
		    `stored ${got.length} bytes, not the file's`);
		const q = JSON.parse((await request(t.demo.port, 'GET', '/upload',
		    { user: 'alice', headers: { Accept: 'application/json' } }))
		    .body).quota;
		eq(q.used, used + SIZE, 'used');
		eq(q.reserved, 0, 'reserved');
		const tmp = fs.readdirSync(path.join(VAR, 'uploads', 'alice'))
		    .filter((n) => n.startsWith('.upgate-tmp-'));
		eq(tmp.length, 0, 'temporary files');
		eq(await storedTusPath(page), null,
		    'the URL left in localStorage after the end');
		// the resets of the cut, and the 409s of a gate still busy with
		// a PATCH cut off, are expected
		seen.errors = seen.errors.filter((e) =>
		    !e.includes('net::ERR_CONNECTION_RESET'));
		checkClean(t.demo, seen, ['409']);
		eq((await request(t.demo.port, 'DELETE', '/upload/film.mkv',
		    { user: 'alice' })).status, 204, 'DELETE film.mkv');
	} finally {
		fs.writeFileSync(quotaFile, quotas);
	}
});

// --- running ------------------------------------------------------------

async function main() {
	const started = Date.now();
	fs.rmSync(VAR, { recursive: true, force: true });
	fs.rmSync(FILES, { recursive: true, force: true });
	fs.mkdirSync(FILES, { recursive: true });
	for (const f of fs.readdirSync(OUT))
		if (f.endsWith('.png'))
			fs.rmSync(path.join(OUT, f));

	const demo = new Demo(await freePort());
	let browser = null;
	let passed = 0;
	let failed = 0;
	let interrupted = false;
	const report = (name, err) => {
		if (interrupted)
			return;
		if (err === null) {
			passed++;
			console.log(`ok - ${name}`);
		} else {
			failed++;
			const why = err instanceof Failure ? err.message :
			    String(err && err.stack || err).split('\n').slice(0, 3)
			    .join(' | ');
			console.log(`FAIL - ${name}: ${why}`);
		}
	};
	const stopAll = async () => {
		if (browser !== null)
			await browser.close().catch(() => {});
		browser = null;
		await demo.stop();
	};
	for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
		process.on(sig, () => {
			report(`interrupted by ${sig}`, new Failure('stopped'));
			interrupted = true;
			stopAll().then(() => {
				console.log(`${passed} passed, ${failed} failed`);
				process.exit(1);
			});
		});
	}

	try {
		await demo.start();
		browser = await chromium.launch({
			executablePath: CHROMIUM, headless: true,
			args: CHROMIUM_ARGS, timeout: 30000,
			// ours close it, and the demo too
			handleSIGINT: false, handleSIGTERM: false, handleSIGHUP: false
		});
		const only = process.env.BROWSER_ONLY;
		for (const t of tests) {
			if (interrupted)
				break;
			if (only && !t.name.includes(only))
				continue;
			const ctx = { browser, demo, pages: [] };
			let err = null;
			try {
				await t.fn(ctx);
			} catch (e) {
				err = e;
			}
			report(t.name, err);
			await closePages(ctx, err === null ? null :
			    `failed-${tests.indexOf(t) + 1}.png`);
		}
	} catch (e) {
		report('start the demo and Chromium', e);
	} finally {
		const pgid = demo.proc === null ? null : demo.proc.pid;
		await stopAll();
		let err = null;
		if (pgid !== null && groupMembers(pgid).length > 0)
			err = new Failure(`left running: ${groupMembers(pgid)}`);
		report('the demo stopped, no process left behind', err);
	}
	console.log(`browser: ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
	    `screenshots in ${path.relative(TOP, OUT)}/`);
	console.log(`${passed} passed, ${failed} failed`);
	process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
	console.log(`FAIL - run: ${e && e.stack || e}`);
	console.log('0 passed, 1 failed');
	process.exit(1);
});
