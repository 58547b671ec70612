/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
// The demo page's enhancement (README "The demo"): with JavaScript on,
// the form goes through XMLHttpRequest (for upload progress), the quota
// meter is filled from GET /upload, refusals are shown on the page, and
// the user's folder is listed as a WebDAV client sees it: PROPFIND
// Depth 1 (a sub-folder's on a click), with a download link (GET) and a
// Delete button (DELETE) for each file, and the RFC 4331 quota
// properties.  Without it the form posts to the gate and its HTML answer
// replaces the page.
// Every answer is asked for as JSON (upgate(8), Responses) but
// PROPFIND's multistatus; nothing comes from elsewhere than this server.
// Files above 8 MiB go as resumable uploads (tus), with Pause and Resume.
'use strict';

(function () {
	const GATE = '/upload';
	const $ = (id) => document.getElementById(id);
	const form = $('upload-form');
	const fileInput = $('file');
	const button = form.querySelector('button[type="submit"]');
	const progress = $('upload-progress');
	const progressText = $('progress-text');
	const meter = $('quota-meter');
	const quotaText = $('quota-text');
	const result = $('result');
	let sentBytes = 0;	// of the files, in the upload under way

	// Sizes as the gate writes them: binary units, one decimal.
	function humanSize(bytes) {
		const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
		if (bytes < 1024)
			return bytes + (bytes === 1 ? ' byte' : ' bytes');
		let v = bytes / 1024;
		let u = 0;
		while (Math.round(v * 10) / 10 >= 1024 && u < units.length - 1) {
			v /= 1024;
			u++;
		}
		return v.toFixed(1) + ' ' + units[u];
	}

	function el(tag, text, cls) {
		const e = document.createElement(tag);
		if (text !== undefined && text !== null)
			e.textContent = text;
		if (cls)
			e.className = cls;
		return e;
	}

	// The path of a stored file as a URL under the gate, each component
	// encoded on its own.
	function gateUrl(storedAs) {
		return GATE + '/' + storedAs.split('/').map(encodeURIComponent).join('/');
	}

	function showQuota(q, user) {
		if (user) {
			const who = $('who');
			who.textContent = 'Signed in as ' + user + '.';
			who.hidden = false;
		}
		if (!q)
			return;
		if (q.limit === null) {
			meter.max = 1;
			meter.value = 0;
			meter.textContent = 'no limit';
			quotaText.textContent = humanSize(q.used) + ' used; no quota limit.';
			return;
		}
		const pct = q.percentage_used === null ? 0 : q.percentage_used;
		meter.max = Math.max(q.limit, 1);
		meter.low = q.limit * 0.8;
		meter.high = q.limit * 0.9;
		meter.optimum = 0;
		meter.value = Math.min(q.used + q.reserved, meter.max);
		meter.textContent = pct.toFixed(1) + ' %';
		quotaText.textContent = humanSize(q.used) + ' of ' +
		    humanSize(q.limit) + ' used (' + pct.toFixed(1) + ' %), ' +
		    humanSize(q.available) + ' available.';
	}

	// GET /upload: the user's quota status.
	function loadQuota() {
		return fetch(GATE, {
			headers: { Accept: 'application/json' },
			cache: 'no-store',
			credentials: 'same-origin'
		}).then((r) => r.json()).then((body) => {
			if (body.status === 200)
				showQuota(body.quota, body.user);
		}).catch(() => {
			quotaText.textContent = 'The quota could not be read.';
		});
	}

	function setProgress(loaded, total, note) {
		progress.max = Math.max(total, 1);
		progress.value = Math.min(loaded, progress.max);
		const pct = total > 0 ? Math.floor(loaded * 100 / total) : 100;
		progress.textContent = pct + ' %';
		progressText.textContent = humanSize(loaded) + ' of ' +
		    humanSize(total) + ' sent (' + pct + ' %)' +
		    (note ? ': ' + note : '.');
	}

	function clearResult(kind) {
		result.replaceChildren();
		result.className = kind;
		result.hidden = false;
	}

	function showStored(files) {
		const list = $('stored-list');
		for (const f of files) {
			const li = el('li');
			li.append(el('strong', f.stored_as));
			li.append(' ' + humanSize(f.size));
			if (f.stored_as !== f.name)
				li.append(' (sent as ' + f.name + ')');
			list.append(li);
		}
		$('stored').hidden = false;
	}

	function figures(rows) {
		const dl = el('dl', null, 'figures-list');
		for (const [name, value] of rows) {
			if (value === undefined || value === null)
				continue;
			dl.append(el('dt', name), el('dd', value));
		}
		return dl;
	}

	// --- Your files: WebDAV PROPFIND (RFC 4918 §9.1), RFC 4331 quota
	const DAV = 'DAV:';
	const PROPFIND_BODY = '<?xml version="1.0" encoding="utf-8"?>' +
	    '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/>' +
	    '<D:getcontentlength/><D:getlastmodified/><D:quota-used-bytes/>' +
	    '<D:quota-available-bytes/></D:prop></D:propfind>';
	const filesList = $('files-list');

	// The properties of one <D:response> that came with 200 (those the
	// gate does not keep come under 404).
	function davEntry(response) {
		const href = response.getElementsByTagNameNS(DAV, 'href')[0];
		const entry = { props: {} };
		const path = new URL(href.textContent, location.href).pathname;
		// the path under the gate, decoded a component at a time
		entry.path = path.slice(GATE.length + 1).split('/')
		    .map(decodeURIComponent).join('/');
		for (const ps of response.getElementsByTagNameNS(DAV, 'propstat')) {
			const st = ps.getElementsByTagNameNS(DAV, 'status')[0];
			if (!st || !/ 200 /.test(st.textContent))
				continue;
			for (const p of ps.getElementsByTagNameNS(DAV, 'prop')[0]
			    .children)
				entry.props[p.localName] = p;
		}
		const type = entry.props.resourcetype;
		entry.isFolder = !!type && type.getElementsByTagNameNS(DAV,
		    'collection').length > 0;
		const num = (name) => entry.props[name] ?
		    Number(entry.props[name].textContent) : null;
		entry.size = num('getcontentlength');
		entry.used = num('quota-used-bytes');
		entry.available = num('quota-available-bytes');
		entry.modified = entry.props.getlastmodified ?
		    new Date(entry.props.getlastmodified.textContent) : null;
		return entry;
	}

	// PROPFIND Depth 1 of folder ('' for the user's, else 'a/b/'):
	// resolves with its own entry and its children's.
	function propfind(folder) {
		return fetch(gateUrl(folder), {
			method: 'PROPFIND',
			headers: { Depth: '1',
			    'Content-Type': 'application/xml; charset=utf-8' },
			body: PROPFIND_BODY,
			cache: 'no-store',
			credentials: 'same-origin'
		}).then((r) => {
			if (r.status !== 207)
				throw new Error('PROPFIND answered ' + r.status);
			return r.text();
		}).then((text) => {
			const doc = new DOMParser().parseFromString(text,
			    'application/xml');
			const all = Array.from(doc.getElementsByTagNameNS(DAV,
			    'response'), davEntry);
			const self = all.find((e) => e.path === folder) || null;
			const children = all.filter((e) => e !== self);
			children.sort((a, b) => (b.isFolder - a.isFolder) ||
			    (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
			return { self, children };
		});
	}

	function showDavQuota(self) {
		if (!self || self.used === null)
			return;
		const p = $('files-quota');
		p.dataset.used = self.used;
		p.dataset.available = self.available;
		p.textContent = 'Your folder: ' +
		    humanSize(self.used) + ' used' + (self.available === null ?
		    '.' : ', ' + humanSize(self.available) + ' available.');
	}

	// A row of the listing, indented by its depth; folders open on click.
	function fileRow(entry, depth) {
		const tr = el('tr');
		tr.dataset.path = entry.path;
		const name = entry.path.replace(/\/$/, '').split('/').pop();
		const cell = el('td');
		cell.style.paddingLeft = (depth * 1.5) + 'em';
		const size = el('td', entry.isFolder ? '' :
		    humanSize(entry.size), 'size');
		const when = el('td', entry.modified ? entry.modified
		    .toISOString().slice(0, 16).replace('T', ' ') : '');
		const actions = el('td');
		if (entry.isFolder) {
			const b = el('button', name + '/', 'folder');
			b.type = 'button';
			b.setAttribute('aria-expanded', 'false');
			b.addEventListener('click', () => toggleFolder(tr, b, entry,
			    depth));
			cell.append(b);
		} else {
			const a = el('a', name, 'download');
			a.href = gateUrl(entry.path);
			a.download = name;
			cell.append(a);
			const del = el('button', 'Delete', 'small');
			del.type = 'button';
			del.setAttribute('aria-label', 'Delete ' + entry.path);
			del.addEventListener('click', () => {
				del.disabled = true;
				deleteEntry(entry.path);
			});
			actions.append(del);
		}
		tr.append(cell, size, when, actions);
		return tr;
	}

	// Opens a folder (its rows below its own) or closes it again.
	function toggleFolder(tr, button, entry, depth) {
		if (button.getAttribute('aria-expanded') === 'true') {
			for (const row of Array.from(filesList.rows))
				if (row !== tr && row.dataset.path.startsWith(entry.path))
					row.remove();
			button.setAttribute('aria-expanded', 'false');
			return;
		}
		button.setAttribute('aria-expanded', 'true');
		propfind(entry.path).then(({ children }) => {
			tr.after(...children.map((c) => fileRow(c, depth + 1)));
		}).catch((e) => {
			const row = el('tr');
			row.dataset.path = entry.path;
			const td = el('td', 'Not listed: ' + e.message, 'error');
			td.colSpan = 4;
			row.append(td);
			tr.after(row);
		});
	}

	function loadFiles() {
		return propfind('').then(({ self, children }) => {
			showDavQuota(self);
			filesList.replaceChildren(...children.map((c) =>
			    fileRow(c, 0)));
			$('files-table').hidden = children.length === 0;
			$('files-empty').hidden = children.length !== 0;
		}).catch((e) => {
			$('files-quota').textContent = 'Your files could not be ' +
			    'listed (' + e.message + ').';
		});
	}

	function deleteEntry(rel) {
		fetch(gateUrl(rel), {
			method: 'DELETE',
			headers: { Accept: 'application/json' },
			credentials: 'same-origin'
		}).then((r) => {
			if (r.status !== 204)
				$('files-quota').textContent = rel + ' was not deleted (' +
				    r.status + ').';
		}).finally(() => {
			loadFiles();
			loadQuota();
		});
	}

	function deleteFile(name, item) {
		const xhr = new XMLHttpRequest();
		xhr.open('DELETE', gateUrl(name));
		xhr.setRequestHeader('Accept', 'application/json');
		xhr.onload = () => {
			if (xhr.status === 204) {
				item.replaceChildren(el('span', name + ' deleted.', 'done'));
			} else {
				item.append(el('span', ' Not deleted (' + xhr.status + ').',
				    'error'));
			}
			loadQuota();
			loadFiles();
		};
		xhr.send();
	}

	function largestFiles(list, canDelete) {
		const ul = el('ul', null, 'largest');
		for (const f of list) {
			const li = el('li');
			li.append(el('span', f.name, 'name'), ' ' + humanSize(f.size));
			if (canDelete) {
				const b = el('button', 'Delete', 'small');
				b.type = 'button';
				b.setAttribute('aria-label', 'Delete ' + f.name);
				b.addEventListener('click', () => {
					b.disabled = true;
					deleteFile(f.name, li);
				});
				li.append(' ', b);
			}
			ul.append(li);
		}
		return ul;
	}

	function quotaRefusal(body) {
		const rows = [['This upload', humanSize(body.upload.size)],
		    ['Missing', humanSize(body.upload.shortage)]];
		if (body.quota && body.quota.limit !== null) {
			rows.push(['Quota', humanSize(body.quota.limit)],
			    ['Used', humanSize(body.quota.used)],
			    ['Available', humanSize(body.quota.available)]);
		}
		result.append(figures(rows));
		const actions = body.actions || {};
		const links = el('ul', null, 'actions');
		for (const key of ['upgrade', 'cleanup']) {
			if (!actions[key])
				continue;
			const a = el('a', actions[key].description);
			a.href = actions[key].url;
			a.className = 'action ' + key;
			const li = el('li');
			li.append(a);
			links.append(li);
		}
		if (links.childElementCount > 0)
			result.append(links);
		const largest = body.storage_analysis &&
		    body.storage_analysis.largest_files;
		if (largest && largest.length > 0) {
			result.append(el('h4', 'Your largest files'));
			result.append(largestFiles(largest, true));
		}
		showQuota(body.quota);
	}

	function showRefusal(body) {
		clearResult('refusal');
		result.append(el('h3', body.status + ' ' + body.error));
		result.append(el('p', body.message, 'message'));
		if (body.reason === 'quota_exceeded') {
			quotaRefusal(body);
		} else if (body.reason === 'disk_full' && body.details) {
			result.append(figures([
			    ['This upload', humanSize(body.details.required_space)],
			    ['Free for uploads', humanSize(body.details.available_space)],
			    ['Missing', humanSize(body.details.shortage)],
			    ['Try again in', body.retry_after + ' s']]));
		} else if (body.reason === 'too_large') {
			// bytes, but a count for max_files (a few, or hundreds)
			const bytes = body.limit > 1000;
			result.append(figures([
			    ['This upload', bytes ? humanSize(body.size) : body.size],
			    ['Limit', bytes ? humanSize(body.limit) : body.limit]]));
		}
		result.focus();
	}

	function parse(xhr) {
		try {
			return JSON.parse(xhr.responseText);
		} catch (e) {
			return null;
		}
	}

	function finished(xhr, total) {
		const body = parse(xhr);
		button.disabled = false;
		progress.classList.remove('busy');
		if (xhr.status === 201 && body) {
			setProgress(total, total, 'stored.');
			clearResult('success');
			const names = body.files.map((f) => f.stored_as === f.name ?
			    f.name : f.name + ' as ' + f.stored_as);
			result.append(el('p', 'Stored ' + names.join(', ') + '.',
			    'message'));
			showStored(body.files);
			showQuota(body.quota);
			form.reset();
		} else if (body && body.message) {
			setProgress(sentBytes, total, 'refused.');
			showRefusal(body);
		} else {
			setProgress(sentBytes, total, 'failed.');
			clearResult('refusal');
			result.append(el('p', 'The gate answered ' + xhr.status + ' ' +
			    xhr.statusText + '.', 'message'));
		}
		loadQuota();
		loadFiles();
	}

	function send(event) {
		if (!window.FormData || fileInput.files.length === 0)
			return;
		event.preventDefault();
		const files = Array.from(fileInput.files);
		if (window.tus && tus.isSupported &&
		    files.some((f) => f.size > LARGE)) {
			sendResumable(files);
			return;
		}
		let total = 0;
		for (const f of fileInput.files)
			total += f.size;
		const data = new FormData(form);
		const xhr = new XMLHttpRequest();
		sentBytes = 0;
		button.disabled = true;
		progress.classList.add('busy');
		result.hidden = true;
		setProgress(0, total, 'starting.');
		xhr.upload.addEventListener('progress', (e) => {
			// e.total counts the multipart framing too: scale to the files.
			sentBytes = e.lengthComputable && e.total > 0 ?
			    Math.floor(total * e.loaded / e.total) : e.loaded;
			setProgress(sentBytes, total);
		});
		xhr.addEventListener('load', () => finished(xhr, total));
		xhr.addEventListener('error', () => {
			button.disabled = false;
			progress.classList.remove('busy');
			setProgress(sentBytes, total, 'the connection ended.');
			clearResult('refusal');
			result.append(el('p', 'The connection ended before the gate ' +
			    'answered.', 'message'));
			loadQuota();
		});
		xhr.open('POST', form.action);
		xhr.setRequestHeader('Accept', 'application/json');
		xhr.send(data);
	}

	// --- Resumable uploads (README, "Resumable uploads"): a selection
	// with a file above 8 MiB goes file by file through tus-js-client, in
	// PATCHes of 4 MiB, so that a dropped connection costs at most a
	// chunk, even behind a server that spools request bodies (it keeps
	// nothing of a PATCH cut short).  tus-js-client keeps each upload's
	// URL in localStorage under the file's fingerprint (name, type, size,
	// date): the same file chosen again, after a reload too, carries on
	// from the offset the gate reports (HEAD).
	const LARGE = 8 * 1024 * 1024;
	const CHUNK = 4 * 1024 * 1024;
	const pauseButton = $('pause');
	const resumeButton = $('resume');
	let current = null;	// the tus.Upload under way, for Pause and Resume
	const shown = { sent: 0, total: 0 };	// what the bar shows of it

	function resumableControls(running) {
		pauseButton.hidden = resumeButton.hidden = current === null;
		pauseButton.disabled = !running;
		resumeButton.disabled = running;
	}

	function resumableEnd() {
		current = null;
		resumableControls(false);
		button.disabled = false;
		progress.classList.remove('busy');
		loadQuota();
		loadFiles();
	}

	// Retried as tus-js-client does by default (a dropped connection, a
	// 5xx, a 409 while the gate still holds a PATCH that was cut off),
	// but not a 507: the disk or the quota will not have grown.
	function shouldRetry(err) {
		const res = err.originalResponse;
		const status = res ? res.getStatus() : 0;
		const again = status !== 507 && (status < 400 || status >= 500 ||
		    status === 409 || status === 423);
		if (again)
			progressText.textContent += ' The connection was lost; ' +
			    'trying again…';
		return again;
	}

	function resumableFailed(err, sent, total) {
		const res = err.originalResponse;
		let body = null;
		try {
			body = res ? JSON.parse(res.getBody()) : null;
		} catch (e) {
			body = null;
		}
		if (body && body.message) {
			setProgress(sent, total, 'refused.');
			showRefusal(body);
		} else {
			setProgress(sent, total, 'interrupted.');
			clearResult('refusal');
			result.append(el('p', 'The upload stopped (' + (res ?
			    'the gate answered ' + res.getStatus() :
			    'the connection ended') + '). Choose the same file ' +
			    'again, after a reload too, to carry on where it stopped.',
			    'message'));
		}
		resumableEnd();
	}

	function sendResumable(files) {
		let total = 0;
		for (const f of files)
			total += f.size;
		let done = 0;	// bytes of the files finished
		const names = [];
		button.disabled = true;
		progress.classList.add('busy');
		result.hidden = true;
		setProgress(0, total, 'starting.');
		shown.sent = 0;
		shown.total = total;
		const next = (i) => {
			if (i === files.length) {
				setProgress(total, total, 'stored.');
				clearResult('success');
				result.append(el('p', 'Stored ' + names.join(', ') +
				    ' (resumable).', 'message'));
				form.reset();
				resumableEnd();
				return;
			}
			const file = files[i];
			let resumedAt = null;
			const upload = new tus.Upload(file, {
				endpoint: new URL(GATE, location.href).href,
				chunkSize: CHUNK,
				retryDelays: [0, 1000, 3000, 5000],
				metadata: { filename: file.name },
				headers: { Accept: 'application/json' },
				removeFingerprintOnSuccess: true,
				onShouldRetry: shouldRetry,
				onProgress: (sent) => {
					shown.sent = done + sent;
					setProgress(shown.sent, total, resumedAt === null ?
					    null : 'resumed at ' + humanSize(resumedAt) + '.');
				},
				// HEAD: the offset that an upload found again goes on from
				onAfterResponse: (req, res) => {
					const offset = Number(res.getHeader('Upload-Offset'));
					if (req.getMethod() === 'HEAD' && offset > 0)
						resumedAt = offset;
				},
				onSuccess: () => {
					done += file.size;
					names.push(file.name);
					next(i + 1);
				},
				onError: (err) => resumableFailed(err, shown.sent, total)
			});
			current = upload;
			resumableControls(true);
			upload.findPreviousUploads().then((previous) => {
				if (previous.length > 0)
					upload.resumeFromPreviousUpload(previous[0]);
				upload.start();
			});
		};
		next(0);
	}

	pauseButton.addEventListener('click', () => {
		if (current === null)
			return;
		// abort() without terminating: the upload stays on the gate
		current.abort();
		resumableControls(false);
		setProgress(shown.sent, shown.total, 'paused.');
	});
	resumeButton.addEventListener('click', () => {
		if (current === null)
			return;
		resumableControls(true);
		current.start();
	});

	form.addEventListener('submit', send);
	progressText.textContent = 'Choose a file: its progress shows here.';
	quotaText.textContent = 'Reading your quota…';
	$('files-quota').textContent = 'Listing your files…';
	loadQuota();
	loadFiles();
})();
