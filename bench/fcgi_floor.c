/* Copyright (c) 2026 The upgate authors.  ISC licence: see LICENSE. */
/*
 * fcgi_floor: the least a FastCGI responder can do, for bench/ledger.py.
 * It answers every request with a fixed answer of the size upgate's
 * would have, touching no file: 507 with a JSON body for a PUT to
 * /refused.bin (reading nothing), 201 for any other PUT once its body
 * is read, 200 with the quota JSON for anything else.  The cost of the
 * FastCGI round trip through the server and libfcgi, which every answer
 * of upgate.fcgi pays too.  Threads as the libfcgi example
 * (threaded.c): each accepts under one mutex.
 *
 * Started by lighttpd (bin-path), the socket on descriptor 0.
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <string.h>

#define THREADS 4

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static const char refusal[] =
    "Status: 507 Insufficient Storage\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "X-Quota-Limit: 1024\r\nX-Quota-Used: 0\r\nX-Quota-Remaining: 1024\r\n"
    "Connection: close\r\n"	/* as upgate's: the body stays unread */
    "\r\n"
    "{\"error\":\"quota_exceeded\",\"message\":\"The upload of 4096 bytes "
    "would pass your quota of 1024 bytes: 1024 bytes are left.\","
    "\"quota\":{\"limit\":1024,\"used\":0,\"reserved\":0,\"available\":1024,"
    "\"percentage_used\":0},\"upload\":{\"size\":4096,\"name\":"
    "\"refused.bin\"},\"actions\":{\"upgrade_url\":null,\"cleanup_url\":"
    "null},\"analysis\":{\"largest_files\":[]}}\n";

static const char status[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "X-Quota-Limit: 1099511627776\r\nX-Quota-Used: 0\r\n"
    "X-Quota-Remaining: 1099511627776\r\n"
    "\r\n"
    "{\"user\":\"user01\",\"quota\":{\"limit\":1099511627776,\"used\":0,"
    "\"reserved\":0,\"available\":1099511627776,\"percentage_used\":0}}\n";

static const char stored[] =
    "Status: 201 Created\r\n"
    "Content-Type: application/json\r\n"
    "Cache-Control: no-store\r\n"
    "Location: /floor/f.bin\r\n"
    "X-Quota-Limit: 1099511627776\r\nX-Quota-Used: 4096\r\n"
    "X-Quota-Remaining: 1099511623680\r\n"
    "\r\n"
    "{\"status\":201,\"files\":[{\"name\":\"f.bin\",\"size\":4096}],"
    "\"quota\":{\"limit\":1099511627776,\"used\":4096,\"reserved\":0,"
    "\"available\":1099511623680,\"percentage_used\":0}}\n";

/* The answer for a request, reading the body of a PUT it stores. */
static const char *
answer_for(FCGX_Request *req)
{
	const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
	const char *info = FCGX_GetParam("PATH_INFO", req->envp);
	char        buf[16384];

	if (method == NULL || strcmp(method, "PUT") != 0)
		return status;
	if (info != NULL && strcmp(info, "/refused.bin") == 0)
		return refusal;
	while (FCGX_GetStr(buf, sizeof buf, req->in) > 0)
		;
	return stored;
}

static void *
serve(void *arg)
{
	FCGX_Request req;
	const char  *answer;
	int          rc;

	(void)arg;
	if (FCGX_InitRequest(&req, 0, 0) != 0)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&accept_lock);
		rc = FCGX_Accept_r(&req);
		pthread_mutex_unlock(&accept_lock);
		if (rc < 0)
			break;
		answer = answer_for(&req);
		FCGX_PutStr(answer, (int)strlen(answer), req.out);
		FCGX_Finish_r(&req);
	}
	FCGX_Free(&req, 1);
	return NULL;
}

int
main(void)
{
	pthread_t t[THREADS];
	int       i;

	if (FCGX_Init() != 0)
		return 1;
	for (i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, serve, NULL) != 0)
			return 1;
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return 0;
}
