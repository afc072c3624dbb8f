/* rdind sidecar: the small HTTP readers of its own (no policy, no
 * proxying): dockerd's answer to GET /_ping, which alone opens the endpoint,
 * the request line of the plain-HTTP status endpoint, and a whole answer of
 * dockerd's read to its end (the effect checks' and the cache's own
 * requests).  Pure functions, apart from the event loop, for the unit tests
 * and the fuzzer. */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "sidecar-int.h"
#include "util.h"

/* Only "HTTP/1.x 200" counts: a proxy's or a half-started daemon's other
 * answer must not open the listener. */
bool
ready_answer_ok (const char *buf, size_t have)
{
  return have >= 12 && strncmp (buf, "HTTP/1.", 7) == 0 && strncmp (buf + 8, " 200", 4) == 0;
}

int
status_request_path (const char *req, char *path, size_t size)
{
  size_t n;
  if (strncmp (req, "GET /", 5) != 0)
    return -1;
  n = strcspn (req + 4, " \r\n");
  if (n >= size || strncmp (req + 4 + n, " HTTP/1.", 8) != 0)
    return -1;
  memcpy (path, req + 4, n);
  path[n] = '\0';
  return 0;
}


struct answer
{
  int status;
  char *body;
  size_t len;
  bool done;
};

static int
answer_body (http_parser *hp, const char *at, size_t n)
{
  struct answer *a = hp->data;
  a->body = xrealloc (a->body, a->len + n + 1);
  memcpy (a->body + a->len, at, n);
  a->len += n;
  a->body[a->len] = '\0';
  return 0;
}

static int
answer_done (http_parser *hp)
{
  struct answer *a = hp->data;
  a->status = hp->status_code;
  a->done = true;
  return 0;
}

int
sidecar_http_answer (const char *buf, size_t len, bool at_eof, char **body, size_t *body_len)
{
  static const http_parser_settings s = { .on_body = answer_body, .on_message_complete = answer_done };
  struct answer a = { 0 };
  http_parser hp;

  http_parser_init (&hp, HTTP_RESPONSE);
  hp.data = &a;
  http_parser_execute (&hp, &s, buf, len);
  if (at_eof && !a.done)
    http_parser_execute (&hp, &s, NULL, 0);
  /* http-parser takes a status of 0 to 999: only 100 to 599 is an answer. */
  if (!a.done || a.status < 100 || a.status > 599)
    {
      free (a.body);
      *body = NULL;
      *body_len = 0;
      return 0;
    }
  *body = a.body;
  *body_len = a.len;
  return a.status;
}
