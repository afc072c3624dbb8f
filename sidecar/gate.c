/* rdind - the policy gate of one connection: frames the client's requests
 * with http-parser, forwards those that need no look as they come, holds
 * the ones that do (headers and body, raw, chunked or not) until the body
 * is complete, and asks policy.c.  What passes is forwarded byte for byte
 * as the client sent it; what does not gets a Docker-style error
 * ({"message": ...}, 403 or 400) in its place.
 *
 * Answers must keep the order of the requests (HTTP/1.1 pipelining): a
 * refusal cannot jump ahead of an answer dockerd still owes for an earlier
 * request.  So dockerd's answers are framed too (only while the policy is
 * on) and counted; a refusal waits until every earlier answer is through,
 * and the client's later bytes wait behind it.
 *
 * After attach, exec start, BuildKit's /session and /grpc, or any upgrade,
 * the connection carries raw streams: both directions become a tunnel and
 * are no longer parsed.  A body over max_body, or bytes that are not
 * HTTP/1.1, end the connection after a 400: never passed on unchecked. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <jansson.h>

#include "log.h"
#include "policy.h"
#include "util.h"

#define GATE_MAX_HEADERS (64u * 1024)
#define GATE_MAX_INFLIGHT 64u

struct gbuf
{
  char *p;
  size_t len, cap;
};

struct gate
{
  const struct conf_policy *p;
  char *peer;
  http_parser req, resp;

  /* the request being read */
  bool headers_done, forwarded, msg_done;
  enum policy_need need;
  bool hijack, too_big;
  struct policy_decision pre; /* NEED_TARGET: decided on the headers */
  char method[16];
  struct gbuf url, hold, body;

  /* answers dockerd owes, oldest first: was it a HEAD (no body)? */
  unsigned inflight, fifo_r;
  bool head_fifo[GATE_MAX_INFLIGHT];

  struct gbuf pending; /* a refusal waiting for earlier answers */
  bool pending_close;
  struct gbuf input;   /* client bytes behind that refusal */

  bool tunnel, resp_tunnel, resp_broken, dead;
};

static void
gbuf_add (struct gbuf *b, const char *d, size_t n)
{
  if (n == 0)
    return;
  if (b->len + n > b->cap)
    {
      b->cap = (b->len + n) * 2;
      b->p = xrealloc (b->p, b->cap);
    }
  memcpy (b->p + b->len, d, n);
  b->len += n;
}

static void
gbuf_free (struct gbuf *b)
{
  free (b->p);
  memset (b, 0, sizeof *b);
}

static void
out_up (struct gate_out *o, const char *d, size_t n)
{
  struct gbuf b = { o->up, o->up_len, o->up_cap };
  gbuf_add (&b, d, n);
  o->up = b.p, o->up_len = b.len, o->up_cap = b.cap;
}

static void
out_down (struct gate_out *o, const char *d, size_t n)
{
  struct gbuf b = { o->down, o->down_len, o->down_cap };
  gbuf_add (&b, d, n);
  o->down = b.p, o->down_len = b.len, o->down_cap = b.cap;
}

void
gate_out_reset (struct gate_out *o)
{
  o->up_len = o->down_len = 0;
  o->close = false;
}

void
gate_out_free (struct gate_out *o)
{
  free (o->up);
  free (o->down);
  memset (o, 0, sizeof *o);
}

/* --- request side ------------------------------------------------------ */

static int
on_req_begin (http_parser *hp)
{
  struct gate *g = hp->data;
  g->headers_done = g->forwarded = g->msg_done = g->hijack = g->too_big = false;
  g->need = POLICY_NEED_NOTHING;
  g->url.len = g->body.len = 0;
  return 0;
}

static int
on_req_url (http_parser *hp, const char *at, size_t n)
{
  struct gate *g = hp->data;
  if (g->url.len + n > GATE_MAX_HEADERS)
    return 1;
  /* Kept NUL-terminated at every step: a refusal may name a target that
   * is still incomplete (found by fuzz-policy). */
  gbuf_add (&g->url, at, n);
  gbuf_add (&g->url, "", 1);
  g->url.len--;
  return 0;
}

static int
on_req_headers (http_parser *hp)
{
  struct gate *g = hp->data;
  if (g->url.p == NULL)
    gbuf_add (&g->url, "", 1), g->url.len = 0;
  snprintf (g->method, sizeof g->method, "%s", http_method_str ((enum http_method) hp->method));
  g->need = policy_classify (g->method, g->url.p, &g->hijack);
  g->headers_done = true;
  /* Decided on the target alone: an allowed one streams its body (docker
   * import uploads a whole image through /images/create), a refused one's
   * body is read and dropped. */
  if (g->need == POLICY_NEED_TARGET)
    {
      policy_check (g->p, g->method, g->url.p, NULL, 0, &g->pre);
      if (g->pre.verdict == POLICY_ALLOW)
        g->need = POLICY_NEED_NOTHING;
      g->hold.len = 0;
    }
  if (g->need == POLICY_NEED_BODY && (hp->flags & F_CONTENTLENGTH) && hp->content_length > g->p->max_body)
    g->too_big = true;
  return 0;
}

static int
on_req_body (http_parser *hp, const char *at, size_t n)
{
  struct gate *g = hp->data;
  if (g->need != POLICY_NEED_BODY)
    return 0;
  if (g->body.len + n > g->p->max_body)
    {
      g->too_big = true;
      http_parser_pause (hp, 1);
      return 0;
    }
  gbuf_add (&g->body, at, n);
  return 0;
}

static int
on_req_complete (http_parser *hp)
{
  struct gate *g = hp->data;
  g->msg_done = true;
  /* Stop here: the bytes after this message belong to the next one (or,
   * after a hijack, to a raw stream). */
  http_parser_pause (hp, 1);
  return 0;
}

static const http_parser_settings req_settings = {
  .on_message_begin = on_req_begin,
  .on_url = on_req_url,
  .on_headers_complete = on_req_headers,
  .on_body = on_req_body,
  .on_message_complete = on_req_complete,
};

/* --- answers ------------------------------------------------------------ */

static void
push_inflight (struct gate *g)
{
  g->head_fifo[(g->fifo_r + g->inflight) % GATE_MAX_INFLIGHT] = strcmp (g->method, "HEAD") == 0;
  g->inflight++;
}

static int
on_resp_headers (http_parser *hp)
{
  struct gate *g = hp->data;
  /* The answer to the request that hijacked the connection: what follows
   * is its raw stream. */
  if (g->tunnel && g->inflight <= 1 && (hp->status_code < 100 || hp->status_code >= 200 || hp->status_code == 101))
    {
      g->resp_tunnel = true;
      http_parser_pause (hp, 1);
      return 0;
    }
  /* A HEAD answer announces a length it does not send. */
  return g->inflight && g->head_fifo[g->fifo_r] ? 1 : 0;
}

static int
on_resp_complete (http_parser *hp)
{
  struct gate *g = hp->data;
  /* 100 Continue and other interim answers precede the real one. */
  if (hp->status_code >= 100 && hp->status_code < 200 && hp->status_code != 101)
    return 0;
  if (g->inflight)
    {
      g->inflight--;
      g->fifo_r = (g->fifo_r + 1) % GATE_MAX_INFLIGHT;
    }
  return 0;
}

static const http_parser_settings resp_settings = {
  .on_headers_complete = on_resp_headers,
  .on_message_complete = on_resp_complete,
};

/* --- refusals ------------------------------------------------------------ */

static void
refuse (struct gate *g, int code, bool close, const char *rule, const char *why, struct gate_out *out)
{
  cleanup_free char *text = NULL, *head = NULL;
  char *json;
  json_t *o;

  if (rule)
    xasprintf (&text, "rdind policy (peer %s): %s (rule [policy] %s)", g->peer, why, rule);
  else
    xasprintf (&text, "rdind policy (peer %s): %s", g->peer, why);
  /* The reason may quote the client's bytes (a target, a field): only
   * printable ASCII goes back, so the message is always valid JSON text
   * (jansson refuses strings that are not UTF-8; found by fuzz-policy). */
  for (char *q = text; *q; q++)
    if ((unsigned char) *q < 0x20 || (unsigned char) *q > 0x7e)
      *q = '?';
  o = json_pack ("{s:s}", "message", text);
  json = o ? json_dumps (o, JSON_COMPACT) : NULL;
  json_decref (o);
  if (json == NULL)
    json = xstrdup ("{\"message\":\"rdind policy: request refused\"}");
  xasprintf (&head,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", code,
             code == 403 ? "Forbidden" : "Bad Request", strlen (json) + 1, close ? "Connection: close\r\n" : "");
  log_warn ("policy refused", "peer=%s status=%d rule=%s method=%s path=%s reason=%s", log_quote (0, g->peer), code,
            rule ? rule : "-", g->method[0] ? g->method : "-", log_quote (1, g->url.len ? g->url.p : "-"),
            log_quote (2, why));
  struct gbuf *dst = &g->pending;
  if (g->inflight == 0 || g->resp_broken)
    {
      out_down (out, head, strlen (head));
      out_down (out, json, strlen (json));
      out_down (out, "\n", 1);
      out->close = out->close || close;
    }
  else
    {
      gbuf_add (dst, head, strlen (head));
      gbuf_add (dst, json, strlen (json));
      gbuf_add (dst, "\n", 1);
      g->pending_close = close;
    }
  free (json);
  if (close)
    g->dead = true;
}

/* The current request is complete: decide, forward or refuse. */
static void
finish_request (struct gate *g, struct gate_out *out)
{
  struct policy_decision d;

  if (g->need != POLICY_NEED_NOTHING)
    {
      if (g->need == POLICY_NEED_TARGET)
        d = g->pre;
      else
        policy_check (g->p, g->method, g->url.p, g->body.p, g->body.len, &d);
      if (d.verdict == POLICY_ALLOW)
        {
          out_up (out, g->hold.p, g->hold.len);
          push_inflight (g);
        }
      else
        {
          refuse (g, d.verdict == POLICY_DENY ? 403 : 400, false, d.rule, d.msg, out);
          g->hijack = false; /* nothing was forwarded: no stream follows */
        }
      g->hold.len = 0;
    }
  if (g->hijack || (g->req.upgrade && !g->dead))
    g->tunnel = true;
  g->headers_done = g->msg_done = false;
  g->method[0] = '\0';
}

/* Bytes [DATA, DATA+N) that the parser has just consumed for the current
 * request. */
static void
account (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (g->headers_done && g->need == POLICY_NEED_TARGET)
    return; /* refused already: its body is dropped */
  if (!g->headers_done || g->need != POLICY_NEED_NOTHING)
    {
      gbuf_add (&g->hold, data, n);
      return;
    }
  if (!g->forwarded)
    {
      out_up (out, g->hold.p, g->hold.len);
      g->hold.len = 0;
      g->forwarded = true;
      push_inflight (g);
    }
  out_up (out, data, n);
}

static void
process (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  while (n > 0 && !g->dead)
    {
      if (g->tunnel)
        {
          out_up (out, data, n);
          return;
        }
      if (g->pending.len || g->inflight >= GATE_MAX_INFLIGHT)
        {
          /* Wait for dockerd's answers; a client that keeps sending
           * meanwhile is cut off rather than buffered without bound. */
          if (g->input.len + n > GATE_MAX_HEADERS + g->p->max_body)
            {
              g->dead = true;
              out->close = true;
              return;
            }
          gbuf_add (&g->input, data, n);
          return;
        }
      size_t used = http_parser_execute (&g->req, &req_settings, data, n);
      enum http_errno e = HTTP_PARSER_ERRNO (&g->req);
      account (g, data, used, out);
      data += used;
      n -= used;
      /* A held request that is not a JSON body (a pull, a plugin) still may
       * not grow without bound. */
      if (g->headers_done && g->need == POLICY_NEED_BODY && g->hold.len > GATE_MAX_HEADERS + 2 * g->p->max_body)
        g->too_big = true;
      if (g->too_big)
        {
          char why[128];
          snprintf (why, sizeof why, "request body is larger than max_body (%llu bytes)",
                    (unsigned long long) g->p->max_body);
          refuse (g, 400, true, NULL, why, out);
          return;
        }
      if (e != HPE_OK && e != HPE_PAUSED)
        {
          char why[160];
          snprintf (why, sizeof why, "malformed HTTP request: %s", http_errno_description (e));
          refuse (g, 400, true, NULL, why, out);
          return;
        }
      if (!g->headers_done && g->hold.len > GATE_MAX_HEADERS)
        {
          refuse (g, 400, true, NULL, "request headers are larger than 64 KiB", out);
          return;
        }
      if (e == HPE_PAUSED)
        http_parser_pause (&g->req, 0);
      if (g->msg_done)
        finish_request (g, out);
      else if (used == 0)
        return; /* nothing consumed and nothing to finish: wait for more */
    }
}

struct gate *
gate_new (const struct conf_policy *p, const char *peer)
{
  struct gate *g = xmalloc0 (sizeof *g);
  g->p = p;
  g->peer = xstrdup (peer ? peer : "-");
  http_parser_init (&g->req, HTTP_REQUEST);
  http_parser_init (&g->resp, HTTP_RESPONSE);
  g->req.data = g->resp.data = g;
  return g;
}

void
gate_free (struct gate *g)
{
  if (g == NULL)
    return;
  gbuf_free (&g->url);
  gbuf_free (&g->hold);
  gbuf_free (&g->body);
  gbuf_free (&g->pending);
  gbuf_free (&g->input);
  free (g->peer);
  free (g);
}

bool
gate_tunnel (const struct gate *g)
{
  return g->tunnel && g->resp_tunnel;
}

void
gate_from_client (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (g->dead)
    return;
  process (g, data, n, out);
}

void
gate_from_dockerd (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (!g->resp_tunnel && !g->resp_broken)
    {
      size_t used = http_parser_execute (&g->resp, &resp_settings, data, n);
      enum http_errno e = HTTP_PARSER_ERRNO (&g->resp);
      if (e == HPE_PAUSED)
        g->resp_tunnel = true; /* paused only to start the raw stream */
      else if (e != HPE_OK || (used < n && !g->resp.upgrade))
        {
          /* Answers can no longer be counted: a refusal still waiting goes
           * out now and ends the connection, whatever its place. */
          log_warn ("cannot follow dockerd's answers, a refusal ends the connection", "peer=%s error=%s",
                    log_quote (0, g->peer), http_errno_name (e));
          g->resp_broken = true;
          g->pending_close = g->pending_close || g->pending.len > 0;
        }
      else if (g->resp.upgrade)
        g->resp_tunnel = true;
    }
  if (g->pending.len && (g->inflight == 0 || g->resp_broken))
    {
      out_down (out, g->pending.p, g->pending.len);
      out->close = out->close || g->pending_close;
      g->pending.len = 0;
      if (!g->dead && g->input.len)
        {
          struct gbuf in = g->input;
          memset (&g->input, 0, sizeof g->input);
          process (g, in.p, in.len, out);
          gbuf_free (&in);
        }
    }
}
