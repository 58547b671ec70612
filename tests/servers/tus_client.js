#!/usr/bin/env node
// Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
//
// tus-js-client (the npm package of tests/browser/package-lock.json) in
// Node, as a site's users run it, for test_tus_client.py (README,
// "Resumable uploads"):
//
//   node tus_client.js cut    ENDPOINT USER FILE NAME STORE CHUNK CUT_AT
//   node tus_client.js resume ENDPOINT USER FILE NAME STORE CHUNK
//
// "cut" uploads FILE in PATCHes of CHUNK bytes and aborts the upload in
// the middle of the PATCH that holds byte CUT_AT; the upload's URL
// stays in STORE (tus-js-client's FileUrlStorage) under the file's
// fingerprint.  "resume", a new process, finds it there
// (findPreviousUploads), asks the server's offset and sends the rest.
// Both print one JSON line: the requests seen (method, status,
// Upload-Offset) and the offsets the server acknowledged, so that the
// test can check that no acknowledged byte was sent again or lost.
// The password of the test users is their name (servers.py).

"use strict";

const fs = require("fs");
const { Readable } = require("stream");
const path = require("path");
const tus = require(path.join(__dirname, "..", "browser", "node_modules",
  "tus-js-client"));

const [phase, endpoint, user, file, name, store, chunk, cutAt] =
  process.argv.slice(2);
if (!["cut", "resume"].includes(phase) || !store || !chunk ||
    (phase === "cut" && !cutAt)) {
  process.stderr.write("usage: tus_client.js cut|resume ENDPOINT USER " +
    "FILE NAME STORE CHUNK [CUT_AT]\n");
  process.exit(2);
}

const data = fs.readFileSync(file);
const requests = [];
const acked = [];
let upload = null;
let cut = false;

// The default HTTP stack of Node, except that in "cut" the PATCH that
// holds byte CUT_AT sends its body up to there, stalls, and is aborted
// half a second later: a connection dropped in the middle of a PATCH.
// Only how much of the stalled part reached the server depends on time,
// and the test accepts any amount.
const base = new tus.DefaultHttpStack();
const httpStack = {
  getName() {
    return "cut-off";
  },
  createRequest(method, url) {
    const req = base.createRequest(method, url);
    if (phase !== "cut" || method !== "PATCH") {
      return req;
    }
    const send = req.send.bind(req);
    req.send = (body) => {
      const offset = Number(req.getHeader("Upload-Offset"));
      const keep = Number(cutAt) - offset;
      if (cut || keep <= 0 || keep >= body.length) {
        return send(body);
      }
      cut = true;
      // the whole chunk's length, as a browser announces it
      req.setHeader("Content-Length", String(body.length));
      const stalled = new Readable({ read() {} });
      stalled.push(body.subarray(0, keep));
      setTimeout(() => {
        upload.abort(false).then(() => report("cut", { sent: offset + keep }));
      }, 500);
      return send(stalled);
    };
    return req;
  },
};

function report(outcome, extra) {
  process.stdout.write(JSON.stringify(Object.assign({
    outcome, requests, acked, url: upload.url,
  }, extra || {})) + "\n");
}

upload = new tus.Upload(data, {
  endpoint,
  chunkSize: Number(chunk),
  metadata: { filename: name },
  headers: {
    Authorization: "Basic " + Buffer.from(user + ":" + user)
      .toString("base64"),
  },
  urlStorage: new tus.FileUrlStorage(store),
  httpStack,
  // The cut run must not retry its PATCH.  The resumed run retries as
  // tus-js-client does by default: a handler still busy with the PATCH
  // that was cut off answers 409 (upgate(8), "Resumable uploads") until
  // its server notices the dropped connection; the client then asks the
  // offset again.
  retryDelays: phase === "cut" ? null : [0, 1000, 3000, 5000],
  onAfterResponse(req, res) {
    requests.push({
      method: req.getMethod(),
      status: res.getStatus(),
      offset: res.getHeader("Upload-Offset") === undefined ? null
        : Number(res.getHeader("Upload-Offset")),
    });
  },
  onChunkComplete(size, accepted) {
    acked.push(accepted);
  },
  onSuccess() {
    report("finished");
  },
  onError(err) {
    report("error", { error: String(err) });
    process.exitCode = 1;
  },
});

if (phase === "cut") {
  upload.start();
} else {
  upload.findPreviousUploads().then((previous) => {
    if (previous.length !== 1) {
      report("error", { error: previous.length + " stored uploads" });
      process.exitCode = 1;
      return;
    }
    upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}
