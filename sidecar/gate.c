/* rdind - the policy gate of one connection: frames the client's requests
 * with http-parser, forwards those that need no look as they come, holds
 * the ones that do (headers and body, raw, chunked or not) until the body
 * is complete, and asks policy.c.  What passes is forwarded byte for byte
 * as the client sent it (a start goes to the container's full id, see
 * below); what does not gets a Docker-style error ({"message": ...}) in its
 * place.
 *
 * Answers must keep the order of the requests (HTTP/1.1 pipelining): a
 * refusal cannot jump ahead of an answer dockerd still owes for an earlier
 * request.  So dockerd's answers are framed too and counted; a refusal
 * waits until every earlier answer is through, and the client's later
 * bytes wait behind it.  Every byte for the client passes through here.
 *
 * A protocol switch is dockerd's to make, not the client's to announce:
 * after a request that may switch (attach, exec start, /session, /grpc,
 * anything with Upgrade or CONNECT) the client's next bytes stay unread
 * until dockerd's answer head is in.  Only a 101, or a hijacked stream's
 * 200 (attach and exec start without Upgrade), turns the connection into a
 * tunnel; any other answer and the next request is parsed as usual.
 *
 * The effect check: before a container start (or restart) or an exec start
 * is forwarded, dockerd's own record of it is read over a connection of
 * the sidecar's own (out->lookup, answered by gate_lookup_done) and
 * checked by policy_effect(): VolumesFrom, links, namespaces joined from
 * other containers and any deprecated field show there as their effect.
 * The start then goes to the full id that was checked, so no rename can
 * slip another container in between.  A create's and an exec create's 201
 * is held and checked the same way, so the client gets its 403 there; a
 * container refused then is removed.
 *
 * Memory: one copy of a held request, in mapped buffers once large (so a
 * free gives it back), released when the request ends, and a budget across
 * every connection.  A body over max_body, bytes that are not HTTP/1.1, or
 * a spent budget end the connection after the error: never passed on
 * unchecked. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include <http_parser.h>
#include <jansson.h>

#include "log.h"
#include "policy.h"
#include "util.h"

#define GATE_MAX_HEADERS (64u * 1024)
#define GATE_MAX_INFLIGHT 64u
#define GATE_MAX_LOOKUPS 16u
#define GATE_MAX_ANSWER (1u << 20) /* a held answer: a create's 201 is tiny */
#define GATE_BIG (128u * 1024)     /* from here buffers are mapped: a free unmaps */
#define GATE_BUDGET_MIN (64ull << 20)

/* Bytes held by every gate's buffers (capacity). */
static size_t held_total;

struct gbuf
{
  char *p;
  size_t len, cap;
};

enum ans_kind
{
  ANS_PLAIN,
  ANS_POST, /* a create or exec create: the 201 is held for the effect check */
};

struct ans
{
  bool head, hijack, may_switch;
  enum ans_kind kind;
  enum policy_effect effect;
  char method[16];
  char *target; /* ANS_POST: for the log */
};

struct doc
{
  char *path;
  int status;
  char *body;
  size_t len;
};

struct check
{
  bool active, post, cleanup, may_switch;
  enum policy_effect kind;
  char method[16];
  char *target;
  char action[16];
  char *primary;
  char *last;           /* the lookup in flight */
  struct gbuf req;      /* before a start: the request to forward */
  struct gbuf answer;   /* after a create: dockerd's held 201 */
  bool answer_close;    /* that answer ended the connection */
  unsigned ndocs;
  struct doc docs[GATE_MAX_LOOKUPS];
  struct policy_decision d;
};

struct gate
{
  const struct conf_policy *p;
  char *peer;
  http_parser req, resp;

  /* the request being read */
  bool headers_done, forwarded, msg_done, too_big, over_budget, may_switch;
  struct policy_class cls;
  struct policy_decision pre; /* NEED_TARGET: decided on the headers */
  char method[16];
  struct gbuf url, hold;
  uint64_t body_len;

  /* answers dockerd owes, oldest first */
  unsigned inflight, fifo_r;
  struct ans fifo[GATE_MAX_INFLIGHT];

  struct gbuf pending; /* a refusal waiting for earlier answers */
  bool pending_close;
  struct gbuf input; /* client bytes not parsed yet (behind a wait) */
  bool awaiting;     /* a request that may switch waits for its answer */

  /* the answer being read */
  bool resp_mid, holding, resp_done, resp_switch;
  char hfield[16], ctype[80];
  bool in_ctype;
  struct gbuf ahold, abody; /* a held answer, raw and its body */
  struct gbuf dq;           /* dockerd bytes behind a held answer */

  /* effect checks: before a start (blocks the client) and after a
   * create (holds dockerd's answers); out->lookup[CHECK_PRE|CHECK_POST] */
  struct check ck[2];
  bool tunnel, resp_tunnel, resp_broken, dead;
};

/* --- buffers ------------------------------------------------------------- */

static void
gbuf_reserve (struct gbuf *b, size_t want)
{
  size_t cap;
  char *np;

  if (want <= b->cap)
    return;
  cap = b->cap < 256 ? 256 : b->cap + b->cap / 2;
  if (cap < want)
    cap = want;
  if (cap >= GATE_BIG)
    {
      cap = (cap + 4095) & ~(size_t) 4095;
      if (b->cap >= GATE_BIG)
        np = mremap (b->p, b->cap, cap, MREMAP_MAYMOVE);
      else
        {
          np = mmap (NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (np != MAP_FAILED && b->len)
            memcpy (np, b->p, b->len);
          if (np != MAP_FAILED)
            free (b->p);
        }
      if (np == MAP_FAILED)
        abort ();
    }
  else
    np = xrealloc (b->p, cap);
  held_total += cap - b->cap;
  b->p = np;
  b->cap = cap;
}

static void
gbuf_add (struct gbuf *b, const char *d, size_t n)
{
  if (n == 0)
    return;
  gbuf_reserve (b, b->len + n);
  memcpy (b->p + b->len, d, n);
  b->len += n;
}

static void
gbuf_free (struct gbuf *b)
{
  if (b->cap >= GATE_BIG)
    munmap (b->p, b->cap);
  else
    free (b->p);
  held_total -= b->cap;
  memset (b, 0, sizeof *b);
}

/* Emptied; a large buffer is given back rather than kept for the next
 * request. */
static void
gbuf_done (struct gbuf *b)
{
  if (b->cap > GATE_MAX_HEADERS)
    gbuf_free (b);
  else
    b->len = 0;
}

static struct gbuf
gbuf_take (struct gbuf *b)
{
  struct gbuf t = *b;
  memset (b, 0, sizeof *b);
  return t;
}

size_t
gate_held_bytes (void)
{
  return held_total;
}

static void
out_add (char **p, size_t *len, size_t *cap, const char *d, size_t n)
{
  if (n == 0)
    return;
  if (*len + n > *cap)
    {
      *cap = (*len + n) * 2;
      *p = xrealloc (*p, *cap);
    }
  memcpy (*p + *len, d, n);
  *len += n;
}

static void
out_up (struct gate_out *o, const char *d, size_t n)
{
  out_add (&o->up, &o->up_len, &o->up_cap, d, n);
}

static void
out_down (struct gate_out *o, const char *d, size_t n)
{
  out_add (&o->down, &o->down_len, &o->down_cap, d, n);
}

void
gate_out_reset (struct gate_out *o)
{
  o->up_len = o->down_len = 0;
  o->close = false;
  for (int i = 0; i < 2; i++)
    {
      free (o->lookup[i]);
      o->lookup[i] = NULL;
      o->lookup_method[i] = NULL;
    }
}

void
gate_out_free (struct gate_out *o)
{
  free (o->up);
  free (o->down);
  free (o->lookup[0]);
  free (o->lookup[1]);
  memset (o, 0, sizeof *o);
}

static uint64_t
budget (const struct gate *g)
{
  uint64_t b = 16 * g->p->max_body;
  return b > GATE_BUDGET_MIN ? b : GATE_BUDGET_MIN;
}

/* --- request side ------------------------------------------------------ */

static int
on_req_begin (http_parser *hp)
{
  struct gate *g = hp->data;
  g->headers_done = g->forwarded = g->msg_done = g->too_big = g->may_switch = false;
  g->cls.need = POLICY_NEED_NOTHING;
  g->cls.effect = POLICY_EFFECT_NONE;
  g->url.len = 0;
  g->body_len = 0;
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
  policy_classify (g->method, g->url.p, &g->cls);
  g->headers_done = true;
  /* dockerd decides whether it switches; Go's handlers look at the
   * Upgrade header alone, http-parser at Upgrade with Connection: upgrade
   * (or CONNECT).  Either way the next bytes wait for the answer. */
  g->may_switch = g->cls.hijack || hp->upgrade || (hp->flags & F_UPGRADE);
  /* Decided on the target alone: an allowed one streams its body (docker
   * import uploads a whole image through /images/create), a refused one's
   * body is read and dropped. */
  if (g->cls.need == POLICY_NEED_TARGET)
    {
      policy_check (g->p, g->method, g->url.p, NULL, 0, &g->pre);
      if (g->pre.verdict == POLICY_ALLOW)
        g->cls.need = POLICY_NEED_NOTHING;
      gbuf_done (&g->hold);
    }
  if (g->cls.need == POLICY_NEED_BODY && (hp->flags & F_CONTENTLENGTH) && hp->content_length > g->p->max_body)
    g->too_big = true;
  return 0;
}

static int
on_req_body (http_parser *hp, const char *at UNUSED, size_t n)
{
  struct gate *g = hp->data;
  if (g->cls.need != POLICY_NEED_BODY)
    return 0;
  g->body_len += n;
  if (g->body_len > g->p->max_body)
    {
      g->too_big = true;
      http_parser_pause (hp, 1);
    }
  return 0;
}

static int
on_req_complete (http_parser *hp)
{
  struct gate *g = hp->data;
  g->msg_done = true;
  /* Stop here: the bytes after this message belong to the next one (or,
   * after a switch, to a raw stream). */
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

/* The body of the held request: the last bytes of HOLD with a length, or,
 * chunked, gathered by parsing HOLD once more into *SCRATCH (freed by the
 * caller at once). */
static struct gbuf scratch_body;

static int
on_scratch_body (http_parser *hp UNUSED, const char *at, size_t n)
{
  gbuf_add (&scratch_body, at, n);
  return 0;
}

static const char *
held_body (struct gate *g, size_t *len)
{
  if (!(g->req.flags & F_CHUNKED))
    {
      *len = (size_t) g->body_len;
      return g->hold.p + g->hold.len - g->body_len;
    }
  static const http_parser_settings s = { .on_body = on_scratch_body };
  http_parser hp;
  http_parser_init (&hp, HTTP_REQUEST);
  scratch_body.len = 0;
  http_parser_execute (&hp, &s, g->hold.p, g->hold.len);
  *len = scratch_body.len;
  return scratch_body.p;
}

/* --- refusals ------------------------------------------------------------ */

static const char *
status_text (int code)
{
  switch (code)
    {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* An error answer of CODE with MESSAGE, into B. */
static void
error_answer (struct gbuf *b, int code, bool close, const char *message)
{
  cleanup_free char *head = NULL, *text = xstrdup (message);
  char *json;
  json_t *o;

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
  xasprintf (&head, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", code,
             status_text (code), strlen (json) + 1, close ? "Connection: close\r\n" : "");
  gbuf_add (b, head, strlen (head));
  gbuf_add (b, json, strlen (json));
  gbuf_add (b, "\n", 1);
  free (json);
}

/* Refuses the request METHOD TARGET with CODE.  NOW: it takes the place of
 * the oldest answer (a held one); otherwise it waits for every answer
 * still owed. */
static void
refuse_as (struct gate *g, const char *method, const char *target, int code, bool close, const char *rule,
           const char *why, bool upstream, bool now, struct gate_out *out)
{
  cleanup_free char *text = NULL;
  struct gbuf b = { 0 };

  if (upstream)
    text = xstrdup (why); /* dockerd's own words, e.g. "No such container: x" */
  else if (rule)
    xasprintf (&text, "rdind policy (peer %s): %s (rule [policy] %s)", g->peer, why, rule);
  else
    xasprintf (&text, "rdind policy (peer %s): %s", g->peer, why);
  if (!upstream)
    log_warn ("policy refused", "peer=%s status=%d rule=%s method=%s path=%s reason=%s", log_quote (0, g->peer), code,
              rule ? rule : "-", method && method[0] ? method : "-", log_quote (1, target && *target ? target : "-"),
              log_quote (2, why));
  else
    log_info ("policy check answered by dockerd", "peer=%s status=%d method=%s path=%s reason=%s",
              log_quote (0, g->peer), code, method && method[0] ? method : "-",
              log_quote (1, target && *target ? target : "-"), log_quote (2, why));
  error_answer (&b, code, close, text);
  if (now || g->inflight == 0 || g->resp_broken)
    {
      out_down (out, b.p, b.len);
      out->close = out->close || close;
    }
  else
    {
      gbuf_add (&g->pending, b.p, b.len);
      g->pending_close = g->pending_close || close;
    }
  gbuf_free (&b);
  if (close)
    g->dead = true;
}

static void
refuse (struct gate *g, int code, bool close, const char *rule, const char *why, struct gate_out *out)
{
  refuse_as (g, g->method, g->url.len ? g->url.p : "-", code, close, rule, why, false, false, out);
}

/* --- answers ------------------------------------------------------------ */

static void
push_inflight (struct gate *g, enum ans_kind kind, enum policy_effect effect, const char *method,
               const char *target, bool hijack, bool may_switch)
{
  struct ans *a = &g->fifo[(g->fifo_r + g->inflight) % GATE_MAX_INFLIGHT];
  memset (a, 0, sizeof *a);
  a->head = strcmp (method, "HEAD") == 0;
  a->kind = kind;
  a->effect = effect;
  a->hijack = hijack;
  a->may_switch = may_switch;
  snprintf (a->method, sizeof a->method, "%s", method);
  if (kind == ANS_POST)
    a->target = xstrdup (target);
  g->inflight++;
}

static void
pop_inflight (struct gate *g)
{
  if (g->inflight == 0)
    return;
  free (g->fifo[g->fifo_r].target);
  g->fifo[g->fifo_r].target = NULL;
  g->inflight--;
  g->fifo_r = (g->fifo_r + 1) % GATE_MAX_INFLIGHT;
}

static struct ans *
oldest (struct gate *g)
{
  return g->inflight ? &g->fifo[g->fifo_r] : NULL;
}

static int
on_resp_begin (http_parser *hp)
{
  struct gate *g = hp->data;
  g->ctype[0] = g->hfield[0] = '\0';
  g->in_ctype = false;
  g->abody.len = 0;
  return 0;
}

static int
on_resp_hfield (http_parser *hp, const char *at, size_t n)
{
  struct gate *g = hp->data;
  size_t l = strlen (g->hfield);
  if (g->in_ctype)
    g->in_ctype = false, l = 0, g->hfield[0] = '\0';
  snprintf (g->hfield + l, sizeof g->hfield - l, "%.*s", (int) n, at);
  return 0;
}

static int
on_resp_hvalue (http_parser *hp, const char *at, size_t n)
{
  struct gate *g = hp->data;
  if (!g->in_ctype)
    {
      g->in_ctype = true;
      if (strcasecmp (g->hfield, "content-type") != 0)
        {
          g->hfield[0] = '\0';
          return 0;
        }
      g->ctype[0] = '\0';
    }
  if (strcasecmp (g->hfield, "content-type") == 0)
    {
      size_t l = strlen (g->ctype);
      snprintf (g->ctype + l, sizeof g->ctype - l, "%.*s", (int) n, at);
    }
  return 0;
}

static bool
is_stream_type (const char *t)
{
  return strncasecmp (t, "application/vnd.docker.raw-stream", 33) == 0
         || strncasecmp (t, "application/vnd.docker.multiplexed-stream", 41) == 0;
}

static int
on_resp_headers (http_parser *hp)
{
  struct gate *g = hp->data;
  struct ans *a = oldest (g);
  unsigned s = hp->status_code;

  if (s >= 100 && s < 200 && s != 101)
    return 0; /* 100 Continue and other interim answers precede the real one */
  if (a && a->may_switch)
    {
      /* dockerd switched: a 101, or the 200 of a hijacked attach or exec
       * start without Upgrade (a raw or multiplexed stream, no length). */
      if (s == 101
          || (a->hijack && s == 200 && is_stream_type (g->ctype) && !(hp->flags & (F_CHUNKED | F_CONTENTLENGTH))))
        {
          g->resp_switch = true;
          http_parser_pause (hp, 1);
          return 0;
        }
      /* Not switched: the next request is HTTP like any other. */
      g->awaiting = false;
      a->may_switch = false;
      http_parser_init (&g->req, HTTP_REQUEST);
      g->req.data = g;
    }
  else if (s == 101)
    {
      /* A switch nobody asked for: nothing after it can be followed. */
      g->resp_switch = true;
      http_parser_pause (hp, 1);
      return 0;
    }
  /* A HEAD answer announces a length it does not send. */
  return a && a->head ? 1 : 0;
}

static int
on_resp_body (http_parser *hp, const char *at, size_t n)
{
  struct gate *g = hp->data;
  if (g->holding && g->abody.len + n <= GATE_MAX_ANSWER)
    gbuf_add (&g->abody, at, n);
  return 0;
}

static int
on_resp_complete (http_parser *hp)
{
  struct gate *g = hp->data;
  g->resp_done = true;
  http_parser_pause (hp, 1);
  return 0;
}

static const http_parser_settings resp_settings = {
  .on_message_begin = on_resp_begin,
  .on_header_field = on_resp_hfield,
  .on_header_value = on_resp_hvalue,
  .on_headers_complete = on_resp_headers,
  .on_body = on_resp_body,
  .on_message_complete = on_resp_complete,
};

/* --- the effect check ------------------------------------------------------ */

static void process (struct gate *g, const char *data, size_t n, struct gate_out *out);
static void dockerd_bytes (struct gate *g, const char *data, size_t n, struct gate_out *out);
bool gate_wants_client (const struct gate *g);

/* After dockerd answered or a check ended: a refusal whose turn came goes
 * out, and the client's bytes that waited are read. */
static void
resume (struct gate *g, struct gate_out *out)
{
  if (g->pending.len && (g->inflight == 0 || g->resp_broken))
    {
      out_down (out, g->pending.p, g->pending.len);
      out->close = out->close || g->pending_close;
      gbuf_done (&g->pending);
    }
  if (!g->dead && g->input.len && gate_wants_client (g))
    {
      struct gbuf in = gbuf_take (&g->input);
      process (g, in.p, in.len, out);
      gbuf_free (&in);
    }
}

static const char *
fetch_doc (void *ctx, const char *path, int *status, size_t *len)
{
  struct check *c = ctx;
  for (unsigned i = 0; i < c->ndocs; i++)
    if (strcmp (c->docs[i].path, path) == 0)
      {
        *status = c->docs[i].status;
        *len = c->docs[i].len;
        return c->docs[i].body ? c->docs[i].body : "";
      }
  *status = 0;
  *len = 0;
  return NULL;
}

static void
check_clear (struct check *c)
{
  for (unsigned i = 0; i < c->ndocs; i++)
    {
      free (c->docs[i].path);
      free (c->docs[i].body);
    }
  free (c->target);
  free (c->primary);
  free (c->last);
  gbuf_free (&c->req);
  gbuf_free (&c->answer);
  memset (c, 0, sizeof *c);
}

/* A check is over: what waited behind it moves again. */
static void
check_end (struct gate *g, struct check *c, struct gate_out *out)
{
  bool post = c->post;
  check_clear (c);
  if (post && g->dq.len && !g->dead)
    {
      struct gbuf q = gbuf_take (&g->dq);
      dockerd_bytes (g, q.p, q.len, out);
      gbuf_free (&q);
    }
}

/* The start request held in C->req, sent to /containers/ID/ACTION instead
 * of the name the client used (same version prefix and query). */
static void
forward_start (struct check *c, struct gate_out *out)
{
  const char *r = c->req.p, *end = c->req.p + c->req.len;
  const char *sp1, *sp2, *t, *q, *ver_end;

  while (r < end && (*r == '\r' || *r == '\n'))
    r++;
  sp1 = memchr (r, ' ', (size_t) (end - r));
  sp2 = sp1 ? memchr (sp1 + 1, ' ', (size_t) (end - sp1 - 1)) : NULL;
  if (sp2 == NULL || c->kind != POLICY_EFFECT_START || c->d.id[0] == '\0')
    {
      out_up (out, c->req.p, c->req.len);
      return;
    }
  t = sp1 + 1;
  q = memchr (t, '?', (size_t) (sp2 - t));
  ver_end = t;
  if (sp2 - t > 2 && t[0] == '/' && t[1] == 'v')
    {
      const char *v = t + 2;
      while (v < sp2 && ((*v >= '0' && *v <= '9') || *v == '.'))
        v++;
      if (v > t + 2 && v < sp2 && *v == '/')
        ver_end = v;
    }
  cleanup_free char *target = NULL;
  xasprintf (&target, "%.*s/containers/%s/%s%.*s", (int) (ver_end - t), t, c->d.id, c->action,
             q ? (int) (sp2 - q) : 0, q ? q : "");
  out_up (out, c->req.p, (size_t) (t - c->req.p));
  out_up (out, target, strlen (target));
  out_up (out, sp2, (size_t) (end - sp2));
}

static void
ask (struct check *c, int slot, const char *method, const char *path, struct gate_out *out)
{
  free (c->last);
  c->last = xstrdup (path);
  free (out->lookup[slot]);
  out->lookup[slot] = xstrdup (path);
  out->lookup_method[slot] = method;
}

/* Runs check SLOT as far as the records fetched so far allow. */
static void
run_check (struct gate *g, int slot, struct gate_out *out)
{
  struct check *c = &g->ck[slot];
  cleanup_free char *need = NULL;

  if (policy_effect (g->p, c->kind, c->primary, fetch_doc, c, &need, &c->d) == 1)
    {
      if (c->ndocs < GATE_MAX_LOOKUPS)
        {
          ask (c, slot, "GET", need, out);
          return;
        }
      c->d.verdict = POLICY_BAD;
      c->d.rule = NULL;
      snprintf (c->d.msg, sizeof c->d.msg, "more than %u objects to inspect: not checked", GATE_MAX_LOOKUPS);
    }
  if (c->post)
    {
      if (c->d.verdict == POLICY_ALLOW)
        {
          out_down (out, c->answer.p, c->answer.len);
          check_end (g, c, out);
        }
      else if (c->kind == POLICY_EFFECT_CREATED && c->d.id[0])
        {
          /* Refused as dockerd recorded it: the container goes before the
           * client hears. */
          char path[160];
          snprintf (path, sizeof path, "/containers/%s?force=1&v=1", c->d.id);
          c->cleanup = true;
          ask (c, slot, "DELETE", path, out);
        }
      else
        {
          refuse_as (g, c->method, c->target, c->d.verdict == POLICY_DENY ? 403 : 400, c->answer_close, c->d.rule,
                     c->d.msg, false, true, out);
          check_end (g, c, out);
        }
      return;
    }
  if (c->d.verdict == POLICY_ALLOW)
    {
      bool hijack = c->kind == POLICY_EFFECT_EXEC_START;
      forward_start (c, out);
      push_inflight (g, ANS_PLAIN, POLICY_EFFECT_NONE, c->method, c->target, hijack, hijack || c->may_switch);
      g->awaiting = hijack || c->may_switch;
    }
  else if (c->d.verdict == POLICY_UPSTREAM)
    refuse_as (g, c->method, c->target, c->d.status, false, NULL, c->d.msg, true, false, out);
  else
    refuse_as (g, c->method, c->target, c->d.verdict == POLICY_DENY ? 403 : 400, false, c->d.rule, c->d.msg, false,
               false, out);
  check_end (g, c, out);
}

static struct check *
start_check (struct gate *g, int slot, enum policy_effect kind, const char *method, const char *target,
             const char *primary)
{
  struct check *c = &g->ck[slot];
  check_clear (c);
  c->active = true;
  c->post = slot == GATE_CHECK_POST;
  c->kind = kind;
  snprintf (c->method, sizeof c->method, "%s", method);
  c->target = xstrdup (target ? target : "-");
  c->primary = xstrdup (primary);
  return c;
}

/* The 201 of a create or exec create, held in AHOLD: check what it made. */
static void
post_check (struct gate *g, struct ans *a, struct gate_out *out)
{
  json_t *j = json_loadb (g->abody.p ? g->abody.p : "", g->abody.len, 0, NULL);
  const char *id = json_string_value (json_object_get (j, "Id"));
  char path[200];
  bool ok = id && *id && strlen (id) < 100 && strspn (id, "0123456789abcdef") == strlen (id);

  if (ok)
    snprintf (path, sizeof path, "%s/%s/json", a->effect == POLICY_EFFECT_CREATED ? "/containers" : "/exec", id);
  json_decref (j);
  if (!ok)
    {
      /* Not an answer we can read back: the start check still stands. */
      out_down (out, g->ahold.p, g->ahold.len);
      gbuf_done (&g->ahold);
      return;
    }
  struct check *c = start_check (g, GATE_CHECK_POST, a->effect, a->method, a->target, path);
  c->answer = gbuf_take (&g->ahold);
  c->answer_close = !http_should_keep_alive (&g->resp);
  run_check (g, GATE_CHECK_POST, out);
}

void
gate_lookup_done (struct gate *g, int slot, int status, const char *body, size_t len, struct gate_out *out)
{
  struct check *c;
  if (slot < 0 || slot > 1)
    return;
  c = &g->ck[slot];
  if (!c->active || g->dead)
    return;
  if (c->cleanup)
    {
      if (status < 200 || status >= 300)
        log_warn ("policy: a refused container could not be removed", "peer=%s id=%s status=%d",
                  log_quote (0, g->peer), c->d.id, status);
      refuse_as (g, c->method, c->target, c->d.verdict == POLICY_DENY ? 403 : 400, c->answer_close, c->d.rule,
                 c->d.msg, false, true, out);
      check_end (g, c, out);
    }
  else
    {
      struct doc *d = &c->docs[c->ndocs++];
      d->path = xstrdup (c->last ? c->last : "");
      /* No answer at all counts as dockerd failing it. */
      d->status = status > 0 ? status : 502;
      d->body = NULL;
      if (len)
        {
          d->body = xmalloc (len);
          memcpy (d->body, body, len);
        }
      d->len = len;
      run_check (g, slot, out);
    }
  resume (g, out);
}

/* --- requests, continued --------------------------------------------------- */

/* The current request is complete: decide, forward or refuse. */
static void
finish_request (struct gate *g, struct gate_out *out)
{
  struct policy_decision d;
  bool sent = g->forwarded;

  if (g->cls.need != POLICY_NEED_NOTHING)
    {
      if (g->cls.need == POLICY_NEED_TARGET)
        d = g->pre;
      else
        {
          size_t len;
          const char *body = held_body (g, &len);
          policy_check (g->p, g->method, g->url.p, body, len, &d);
          gbuf_free (&scratch_body);
          /* A chunked start carries a body of unknown length: dockerd
           * (API < 1.24) would read a HostConfig from it. */
          if (d.verdict == POLICY_ALLOW && g->cls.effect == POLICY_EFFECT_START && (g->req.flags & F_CHUNKED))
            {
              d.verdict = POLICY_BAD;
              d.rule = NULL;
              snprintf (d.msg, sizeof d.msg, "a start request with a chunked body is refused");
            }
        }
      bool close = !http_should_keep_alive (&g->req);
      if (d.verdict != POLICY_ALLOW)
        refuse (g, d.verdict == POLICY_DENY ? 403 : 400, close, d.rule, d.msg, out);
      else if (g->cls.effect == POLICY_EFFECT_START || g->cls.effect == POLICY_EFFECT_EXEC_START)
        {
          char path[300];
          snprintf (path, sizeof path, "%s/%s/json", g->cls.effect == POLICY_EFFECT_START ? "/containers" : "/exec",
                    g->cls.name);
          struct check *c = start_check (g, GATE_CHECK_PRE, g->cls.effect, g->method, g->url.p, path);
          snprintf (c->action, sizeof c->action, "%s", g->cls.action);
          c->may_switch = g->may_switch;
          c->req = gbuf_take (&g->hold);
          run_check (g, GATE_CHECK_PRE, out);
        }
      else
        {
          out_up (out, g->hold.p, g->hold.len);
          push_inflight (g,
                         g->cls.effect == POLICY_EFFECT_CREATED || g->cls.effect == POLICY_EFFECT_EXEC_MADE ? ANS_POST
                                                                                                       : ANS_PLAIN,
                         g->cls.effect, g->method, g->url.p, g->cls.hijack, g->may_switch);
          sent = true;
        }
      gbuf_done (&g->hold);
    }
  if (sent && g->may_switch && !g->dead)
    g->awaiting = true;
  g->headers_done = g->msg_done = false;
  g->method[0] = '\0';
}

/* Bytes [DATA, DATA+N) that the parser has just consumed for the current
 * request. */
static void
account (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (g->headers_done && g->cls.need == POLICY_NEED_TARGET)
    return; /* refused already: its body is dropped */
  if (!g->headers_done || g->cls.need != POLICY_NEED_NOTHING)
    {
      if (held_total + n > budget (g))
        {
          g->over_budget = true;
          return;
        }
      gbuf_add (&g->hold, data, n);
      return;
    }
  if (!g->forwarded)
    {
      out_up (out, g->hold.p, g->hold.len);
      gbuf_done (&g->hold);
      g->forwarded = true;
      push_inflight (g, ANS_PLAIN, POLICY_EFFECT_NONE, g->method, g->url.p, g->cls.hijack, g->may_switch);
    }
  out_up (out, data, n);
}

static bool
client_blocked (const struct gate *g)
{
  return g->awaiting || g->ck[GATE_CHECK_PRE].active || g->pending.len || g->inflight >= GATE_MAX_INFLIGHT;
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
      if (client_blocked (g))
        {
          /* The caller stops reading the client meanwhile; what it had
           * already decrypted waits here, within bounds. */
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
      if (g->over_budget)
        {
          g->over_budget = false;
          refuse (g, 503, true, NULL, "the sidecar holds too many request bodies right now: retry later", out);
          return;
        }
      /* A held request that is not a JSON body (a pull, a plugin) still may
       * not grow without bound. */
      if (g->headers_done && g->cls.need == POLICY_NEED_BODY && g->hold.len > GATE_MAX_HEADERS + 2 * g->p->max_body)
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
  while (g->inflight)
    pop_inflight (g);
  check_clear (&g->ck[0]);
  check_clear (&g->ck[1]);
  gbuf_free (&g->url);
  gbuf_free (&g->hold);
  gbuf_free (&g->pending);
  gbuf_free (&g->input);
  gbuf_free (&g->ahold);
  gbuf_free (&g->abody);
  gbuf_free (&g->dq);
  free (g->peer);
  free (g);
}

bool
gate_tunnel (const struct gate *g)
{
  return g->tunnel && g->resp_tunnel;
}

/* A dead gate drops what it is given: the caller reads on, so that the
 * client's last bytes are drained rather than answered with a reset. */
bool
gate_wants_client (const struct gate *g)
{
  return g->dead || g->tunnel || !client_blocked (g);
}

bool
gate_wants_dockerd (const struct gate *g)
{
  return !g->ck[GATE_CHECK_POST].active;
}

void
gate_from_client (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (g->dead)
    return;
  process (g, data, n, out);
}

/* dockerd's bytes, answer by answer. */
static void
dockerd_bytes (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  while (n > 0)
    {
      if (g->resp_tunnel || g->resp_broken)
        {
          out_down (out, data, n);
          return;
        }
      if (g->ck[GATE_CHECK_POST].active)
        {
          gbuf_add (&g->dq, data, n); /* behind the held answer */
          return;
        }
      if (!g->resp_mid)
        {
          struct ans *a = oldest (g);
          g->resp_mid = true;
          g->holding = a && a->kind == ANS_POST;
        }
      size_t used = http_parser_execute (&g->resp, &resp_settings, data, n);
      enum http_errno e = HTTP_PARSER_ERRNO (&g->resp);
      if (g->holding)
        gbuf_add (&g->ahold, data, used);
      else
        out_down (out, data, used);
      data += used;
      n -= used;
      if (g->holding && g->ahold.len > GATE_MAX_ANSWER)
        {
          /* Not the small answer a create gives: end the connection rather
           * than pass what cannot be checked. */
          log_warn ("policy: an answer too large to check ends the connection", "peer=%s", log_quote (0, g->peer));
          g->dead = true;
          out->close = true;
          g->resp_broken = true;
          return;
        }
      if (e == HPE_PAUSED)
        {
          http_parser_pause (&g->resp, 0);
          if (g->resp_switch)
            {
              /* dockerd switched protocols: raw bytes both ways from here,
               * starting with what the client sent after its request. */
              g->resp_tunnel = g->tunnel = true;
              g->awaiting = false;
              g->resp_mid = false;
              pop_inflight (g);
              if (g->holding)
                out_down (out, g->ahold.p, g->ahold.len), gbuf_done (&g->ahold);
              out_down (out, data, n);
              if (g->input.len)
                {
                  out_up (out, g->input.p, g->input.len);
                  gbuf_done (&g->input);
                }
              return;
            }
          if (g->resp_done)
            {
              unsigned s = g->resp.status_code;
              g->resp_done = false;
              g->resp_mid = false;
              if (s >= 100 && s < 200)
                {
                  if (g->holding)
                    out_down (out, g->ahold.p, g->ahold.len), gbuf_done (&g->ahold);
                  continue;
                }
              if (oldest (g) == NULL)
                continue; /* an answer nobody asked for: passed on */
              struct ans a = *oldest (g);
              a.target = a.target ? xstrdup (a.target) : NULL;
              pop_inflight (g);
              if (g->holding)
                {
                  g->holding = false;
                  if (s == 201)
                    post_check (g, &a, out);
                  else
                    {
                      out_down (out, g->ahold.p, g->ahold.len);
                      gbuf_done (&g->ahold);
                    }
                }
              free (a.target);
            }
        }
      else if (e != HPE_OK || (used < n && !g->resp.upgrade))
        {
          /* Answers can no longer be counted: a refusal still waiting goes
           * out now and ends the connection, whatever its place. */
          log_warn ("cannot follow dockerd's answers, a refusal ends the connection", "peer=%s error=%s",
                    log_quote (0, g->peer), http_errno_name (e));
          g->resp_broken = true;
          g->pending_close = g->pending_close || g->pending.len > 0 || g->awaiting;
          if (g->holding)
            out_down (out, g->ahold.p, g->ahold.len), gbuf_done (&g->ahold);
          if (g->awaiting)
            {
              g->dead = true;
              out->close = true;
            }
        }
      else if (used < n)
        {
          g->resp_broken = true;
          g->dead = g->dead || g->awaiting;
        }
    }
}

void
gate_from_dockerd (struct gate *g, const char *data, size_t n, struct gate_out *out)
{
  if (data == NULL)
    {
      /* dockerd closed: an answer read to the end is complete now. */
      if (!g->resp_tunnel && !g->resp_broken && !g->ck[GATE_CHECK_POST].active)
        {
          http_parser_execute (&g->resp, &resp_settings, NULL, 0);
          if (g->resp_done)
            {
              g->resp_done = false;
              g->resp_mid = false;
              if (g->holding)
                out_down (out, g->ahold.p, g->ahold.len), gbuf_done (&g->ahold), g->holding = false;
              pop_inflight (g);
            }
        }
      /* Nothing more will come: whatever waits for an answer gets none. */
      g->resp_broken = true;
      if (g->awaiting || g->ck[GATE_CHECK_PRE].active)
        {
          g->dead = true;
          out->close = true;
        }
    }
  else
    dockerd_bytes (g, data, n, out);
  resume (g, out);
}
