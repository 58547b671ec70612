-- Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE.
-- wrk script of bench/ledger.py: one kind of request per run, one user
-- per wrk thread.
--
--   wrk -t T -c C -s ledger.lua URL -- METHOD PATH TAG BODYSIZE AUTH...
--
-- METHOD and PATH are the request's (PATH "/upload" or "/dav", say).  TAG
-- "-" sends PATH itself every time; any other TAG makes each request's
-- target new: PATH/TAG-cK-N.bin, K the thread, N its count, so that every
-- PUT creates a file.  BODYSIZE bytes of body go with each request (0:
-- none) with their Content-Length and no Expect.  AUTH... are
-- Authorization header values; thread K uses the K-th, round robin.
--
-- wrk gives each thread C/T connections and exposes no connection to the
-- script, so the thread is the unit a user is bound to: with T = C every
-- connection authenticates as its own thread's user, and with one AUTH
-- all of them as the same user.
--
-- Each thread counts the statuses it got; done() prints one line that
-- bench/ledger.py reads:
--   ledger-wrk: requests=N duration_us=D connect=N read=N write=N
--     timeout=N status=N codes=201:N,507:N
-- where requests, duration and the errors are wrk's own summary.

local threads = {}

function setup(thread)
	table.insert(threads, thread)
	thread:set("id", #threads)
end

function init(args)
	method, path, tag = args[1], args[2], args[3]
	local size = tonumber(args[4])
	local auths = {}
	for i = 5, #args do
		table.insert(auths, args[i])
	end
	headers = { ["Authorization"] = auths[(id - 1) % #auths + 1] }
	-- wrk.format adds the Content-Length of a body (none without)
	body = nil
	if size > 0 then
		body = string.rep("x", size)
	end
	count = 0
	codes = {}
	-- a fixed request is built once per thread
	if tag == "-" then
		fixed = wrk.format(method, path, headers, body)
	end
end

function request()
	if fixed then
		return fixed
	end
	count = count + 1
	local target = string.format("%s/%s-c%d-%d.bin", path, tag, id, count)
	return wrk.format(method, target, headers, body)
end

function response(status, hdrs, rbody)
	codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
	local all = {}
	for _, t in ipairs(threads) do
		for status, n in pairs(t:get("codes")) do
			all[status] = (all[status] or 0) + n
		end
	end
	local parts = {}
	for status, n in pairs(all) do
		table.insert(parts, string.format("%d:%d", status, n))
	end
	table.sort(parts)
	local e = summary.errors
	io.write(string.format("ledger-wrk: requests=%d duration_us=%d "
		.. "connect=%d read=%d write=%d timeout=%d status=%d codes=%s\n",
		summary.requests, summary.duration, e.connect, e.read, e.write,
		e.timeout, e.status, table.concat(parts, ",")))
end
