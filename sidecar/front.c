/* rdind sidecar: the TLS front.  Owns the listener (open only while
 * dockerd answers /_ping, see ready.c), every client connection and the
 * byte pump between a client's TLS engine and dockerd's unix socket, with
 * half-close kept both ways and backpressure in each direction.  After the
 * handshake bytes flow untouched, so HTTP upgrades (attach, exec, BuildKit
 * session/grpc) need no special case.  Also owns the configuration
 * generations that connections borrow their peer list from. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <http_parser.h>
#include <uv.h>

#include "conf.h"
#include "engine.h"
#include "log.h"
#include "policy.h"
#include "sidecar-int.h"
#include "util.h"

/* Past this much unsent data toward one side, stop reading the other. */
#define HIGH_WATER (1u << 20)
#define READ_CHUNK (64u * 1024)

static const char *reject_names[REJ__N] = { "allow_from", "max_connections",   "handshake",
                                            "peer_name",  "handshake_timeout", "upstream" };

struct conn
{
  struct conn *next, *prev;
  uv_tcp_t client;
  uv_pipe_t up;
  uv_timer_t hs_timer;
  uv_connect_t connect_req;
  struct tls_engine *tls;
  struct conf_gen *gen; /* whose peers the engine checks against */
  char addr[INET6_ADDRSTRLEN + 8];
  bool up_init, up_connected, established;
  bool client_eof, up_eof, up_shut, closing;
  bool client_paused, up_paused;
  char *early; /* plaintext that arrived before upstream connected */
  size_t early_len;
  int handles;
  struct gate *gate; /* [policy] enabled: the requests are checked */
  struct gate_out gout;
  bool gate_paused, up_gate_paused; /* the gate waits: that side stays unread */
  struct lookup *lk[2];             /* the gate's effect checks asking dockerd */
};

struct wreq
{
  uv_write_t req;
  struct conn *c;
  char data[];
};

static void conn_close (struct conn *c);
static void pump_client (struct conn *c);
static void lookup_detach (struct lookup *l);
static void on_client_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

void
sidecar_alloc_cb (uv_handle_t *h UNUSED, size_t hint UNUSED, uv_buf_t *buf)
{
  buf->base = malloc (READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

/* dockerd -> client carries the bulk (docker cp, save, logs): reading more
 * per call means fewer, larger TLS writes and fewer wake-ups. */
#define UP_READ_CHUNK (256u * 1024)

static void
up_alloc_cb (uv_handle_t *h UNUSED, size_t hint UNUSED, uv_buf_t *buf)
{
  buf->base = malloc (UP_READ_CHUNK);
  buf->len = buf->base ? UP_READ_CHUNK : 0;
}

void
conf_gen_free (struct conf_gen *g)
{
  if (g->owned)
    conf_free (g->conf);
  free (g);
}

static void
conf_gen_unref (struct conf_gen *g)
{
  if (--g->users > 0 || g == S.gen)
    return;
  for (struct conf_gen **p = &S.retired; *p; p = &(*p)->next)
    if (*p == g)
      {
        *p = g->next;
        break;
      }
  conf_gen_free (g);
}

static void
conn_handle_closed (uv_handle_t *h)
{
  struct conn *c = h->data;
  if (--c->handles > 0)
    return;
  tls_engine_free (c->tls);
  gate_free (c->gate);
  gate_out_free (&c->gout);
  if (c->gen)
    conf_gen_unref (c->gen);
  free (c->early);
  free (c);
}

static void
conn_close (struct conn *c)
{
  if (c->closing)
    return;
  c->closing = true;
  if (c->next)
    c->next->prev = c->prev;
  if (c->prev)
    c->prev->next = c->next;
  else
    S.conns = c->next;
  S.n_conns--;
  for (int i = 0; i < 2; i++)
    if (c->lk[i])
      lookup_detach (c->lk[i]), c->lk[i] = NULL;
  uv_close ((uv_handle_t *)&c->client, conn_handle_closed);
  uv_close ((uv_handle_t *)&c->hs_timer, conn_handle_closed);
  if (c->up_init)
    uv_close ((uv_handle_t *)&c->up, conn_handle_closed);
}

static void
maybe_finish (struct conn *c)
{
  /* Both directions ended and everything we owed the client is written. */
  if (c->client_eof && c->up_eof && uv_stream_get_write_queue_size ((uv_stream_t *)&c->client) == 0)
    conn_close (c);
}

static void
reject (struct conn *c, enum reject_reason r, const char *detail)
{
  S.rejects[r]++;
  log_warn (
      "rejected", "addr=%s peer=%s reason=%s detail=%s", c->addr,
      log_quote (0, c->tls && tls_engine_peer_name (c->tls) ? tls_engine_peer_name (c->tls) : "-"),
      reject_names[r], log_quote (1, detail ? detail : "-"));
}

static void
client_written (uv_write_t *req, int status)
{
  struct wreq *w = (struct wreq *)req;
  struct conn *c = w->c;
  free (w);
  if (c->closing)
    return;
  if (status < 0)
    {
      conn_close (c);
      return;
    }
  if (c->up_paused && uv_stream_get_write_queue_size ((uv_stream_t *)&c->client) < HIGH_WATER / 2)
    {
      c->up_paused = false;
      if (c->up_connected && !c->up_eof && !c->up_gate_paused)
        uv_read_start ((uv_stream_t *)&c->up, up_alloc_cb, on_up_read);
    }
  maybe_finish (c);
}

/* Sends whatever ciphertext the engine produced. */
static int
flush_tls (struct conn *c)
{
  size_t n;
  while ((n = tls_engine_pending_out (c->tls)) > 0)
    {
      struct wreq *w = malloc (sizeof *w + n);
      if (w == NULL)
        return -1;
      w->c = c;
      n = tls_engine_take_out (c->tls, w->data, n);
      uv_buf_t b = uv_buf_init (w->data, n);
      if (uv_write (&w->req, (uv_stream_t *)&c->client, &b, 1, client_written) < 0)
        {
          free (w);
          return -1;
        }
    }
  return 0;
}

static void
up_written (uv_write_t *req, int status)
{
  struct wreq *w = (struct wreq *)req;
  struct conn *c = w->c;
  free (w);
  if (c->closing)
    return;
  if (status < 0)
    {
      conn_close (c);
      return;
    }
  if (c->client_paused && uv_stream_get_write_queue_size ((uv_stream_t *)&c->up) < HIGH_WATER / 2)
    {
      c->client_paused = false;
      pump_client (c);
      if (!c->client_eof && !c->closing && !c->client_paused && !c->gate_paused)
        uv_read_start ((uv_stream_t *)&c->client, sidecar_alloc_cb, on_client_read);
    }
}

static int
write_up (struct conn *c, const char *data, size_t n)
{
  struct wreq *w = malloc (sizeof *w + n);
  if (w == NULL)
    return -1;
  w->c = c;
  memcpy (w->data, data, n);
  uv_buf_t b = uv_buf_init (w->data, n);
  S.bytes_in += n;
  if (uv_write (&w->req, (uv_stream_t *)&c->up, &b, 1, up_written) < 0)
    {
      free (w);
      return -1;
    }
  return 0;
}

static void
up_shutdown_cb (uv_shutdown_t *req, int status UNUSED)
{
  free (req);
}

/* The client finished sending: pass the FIN on while the other direction
 * keeps streaming (`docker run -i` with stdin closed). */
static void
client_ended (struct conn *c)
{
  c->client_eof = true;
  uv_read_stop ((uv_stream_t *)&c->client);
  if (c->up_connected && !c->up_shut)
    {
      uv_shutdown_t *req = xmalloc0 (sizeof *req);
      c->up_shut = true;
      if (uv_shutdown (req, (uv_stream_t *)&c->up, up_shutdown_cb) < 0)
        free (req);
    }
  maybe_finish (c);
}

/* Plaintext toward dockerd: queued until its socket is connected. */
static int
to_dockerd (struct conn *c, const char *buf, size_t n)
{
  if (n == 0)
    return 0;
  if (!c->up_connected)
    {
      c->early = xrealloc (c->early, c->early_len + n);
      memcpy (c->early + c->early_len, buf, n);
      c->early_len += n;
      return 0;
    }
  return write_up (c, buf, n);
}

/* Plaintext toward the client (the gate's refusals). */
static int
to_client (struct conn *c, const char *buf, size_t n)
{
  rdind_error_t err = NULL;
  if (n == 0)
    return 0;
  if (tls_engine_write (c->tls, buf, n, &err) < 0 || flush_tls (c) < 0)
    {
      rdind_error_release (&err);
      return -1;
    }
  return 0;
}

static void
on_drain_timeout (uv_timer_t *t)
{
  conn_close (t->data);
}

/* A refusal that ends the connection is on its way.  dockerd hears nothing
 * more; the client's remaining bytes (the rest of an oversized body) are
 * still read and dropped, for at most DRAIN_MS: closing a socket with
 * unread data sends a reset, and a reset can overtake the refusal, so the
 * client would see "connection reset" instead of the 400. */
#define DRAIN_MS 5000

static void
end_after_refusal (struct conn *c)
{
  rdind_error_t err = NULL;
  tls_engine_shutdown (c->tls, &err);
  rdind_error_release (&err);
  flush_tls (c);
  c->up_eof = true;
  if (c->up_init)
    uv_read_stop ((uv_stream_t *) &c->up);
  uv_timer_start (&c->hs_timer, on_drain_timeout, DRAIN_MS, 0);
  maybe_finish (c);
}

static void lookup_start (struct conn *c, int slot, const char *method, const char *path);

/* What the gate handed back after a call: bytes for dockerd and for the
 * client, requests for its effect checks, maybe the end; then each side is
 * read only while the gate wants it.  RESUME: the client may be pumped
 * again from here (not from inside pump_client). */
static int
gate_after (struct conn *c, bool resume)
{
  struct gate *g = c->gate;
  if (to_dockerd (c, c->gout.up, c->gout.up_len) < 0 || to_client (c, c->gout.down, c->gout.down_len) < 0)
    return -1;
  for (int i = 0; i < 2; i++)
    if (c->gout.lookup[i])
      lookup_start (c, i, c->gout.lookup_method[i], c->gout.lookup[i]);
  if (c->gout.close)
    {
      end_after_refusal (c);
      return 0;
    }
  if (c->closing)
    return 0;
  bool tunnel = gate_tunnel (g);
  if (c->up_connected && !c->up_eof)
    {
      bool want = tunnel || gate_wants_dockerd (g);
      if (!want && !c->up_gate_paused)
        {
          c->up_gate_paused = true;
          uv_read_stop ((uv_stream_t *) &c->up);
        }
      else if (want && c->up_gate_paused)
        {
          c->up_gate_paused = false;
          if (!c->up_paused)
            uv_read_start ((uv_stream_t *) &c->up, up_alloc_cb, on_up_read);
        }
    }
  if (resume && c->gate_paused && (tunnel || gate_wants_client (g)))
    {
      c->gate_paused = false;
      pump_client (c);
      if (!c->closing && !c->client_eof && !c->client_paused && !c->gate_paused)
        uv_read_start ((uv_stream_t *) &c->client, sidecar_alloc_cb, on_client_read);
    }
  return 0;
}

/* Decrypted client bytes: straight to dockerd, or through the gate. */
static int
client_plain (struct conn *c, const char *buf, size_t n)
{
  if (c->gate == NULL || gate_tunnel (c->gate))
    return to_dockerd (c, buf, n);
  gate_out_reset (&c->gout);
  gate_from_client (c->gate, buf, n, &c->gout);
  return gate_after (c, false);
}

/* --- the effect checks' own requests to dockerd ----------------------------
 * One short connection per request ("Connection: close"): the answer is
 * read to the end, its body taken out with http-parser, and handed to the
 * gate.  A lookup outlives a closed connection only until its handles
 * close (lookup_detach). */
#define LOOKUP_MAX (8u << 20)
#define LOOKUP_TIMEOUT_MS 30000

struct lookup
{
  struct conn *c;
  int slot, handles;
  uv_pipe_t pipe;
  uv_timer_t timer;
  uv_connect_t connect_req;
  uv_write_t write_req;
  char *req;
  char *buf;
  size_t len;
  bool done;
};

static void
lookup_closed (uv_handle_t *h)
{
  struct lookup *l = h->data;
  if (--l->handles > 0)
    return;
  free (l->req);
  free (l->buf);
  free (l);
}

static void
lookup_close (struct lookup *l)
{
  if (l->done)
    return;
  l->done = true;
  uv_close ((uv_handle_t *) &l->pipe, lookup_closed);
  uv_close ((uv_handle_t *) &l->timer, lookup_closed);
}

static void
lookup_detach (struct lookup *l)
{
  l->c = NULL;
  lookup_close (l);
}

/* The lookup is over (STATUS 0: no usable answer): tell the gate. */
static void
lookup_finish (struct lookup *l, bool ok)
{
  struct conn *c = l->c;
  int slot = l->slot, status = 0;
  char *body = NULL;
  size_t len = 0;

  if (c == NULL)
    return;
  if (ok)
    status = sidecar_http_answer (l->buf, l->len, true, &body, &len);
  c->lk[slot] = NULL;
  lookup_detach (l);
  if (c->closing || c->gate == NULL)
    {
      free (body);
      return;
    }
  if (status == 0)
    log_warn ("policy: dockerd did not answer an inspection", "addr=%s", c->addr);
  gate_out_reset (&c->gout);
  gate_lookup_done (c->gate, slot, status, body, len, &c->gout);
  free (body);
  if (gate_after (c, true) < 0)
    conn_close (c);
}

static void
lookup_alloc (uv_handle_t *h UNUSED, size_t hint UNUSED, uv_buf_t *buf)
{
  buf->base = malloc (READ_CHUNK);
  buf->len = buf->base ? READ_CHUNK : 0;
}

static void
lookup_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct lookup *l = s->data;
  if (n > 0 && !l->done)
    {
      if (l->len + (size_t) n > LOOKUP_MAX)
        lookup_finish (l, false);
      else
        {
          l->buf = xrealloc (l->buf, l->len + (size_t) n);
          memcpy (l->buf + l->len, buf->base, (size_t) n);
          l->len += (size_t) n;
        }
    }
  else if (n < 0 && !l->done)
    lookup_finish (l, true);
  free (buf->base);
}

static void
lookup_written (uv_write_t *req, int status)
{
  struct lookup *l = req->data;
  if (status < 0 && !l->done)
    lookup_finish (l, false);
}

static void
lookup_connected (uv_connect_t *req, int status)
{
  struct lookup *l = req->data;
  if (l->done)
    return;
  if (status < 0)
    {
      lookup_finish (l, false);
      return;
    }
  uv_buf_t b = uv_buf_init (l->req, strlen (l->req));
  l->write_req.data = l;
  if (uv_write (&l->write_req, (uv_stream_t *) &l->pipe, &b, 1, lookup_written) < 0
      || uv_read_start ((uv_stream_t *) &l->pipe, lookup_alloc, lookup_read) < 0)
    lookup_finish (l, false);
}

static void
lookup_timeout (uv_timer_t *t)
{
  struct lookup *l = t->data;
  if (!l->done)
    lookup_finish (l, false);
}

static void
lookup_start (struct conn *c, int slot, const char *method, const char *path)
{
  struct lookup *l = xmalloc0 (sizeof *l);
  if (c->lk[slot])
    lookup_detach (c->lk[slot]);
  c->lk[slot] = l;
  l->c = c;
  l->slot = slot;
  xasprintf (&l->req, "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: rdind-policy\r\nConnection: close\r\n\r\n",
             method, path);
  uv_pipe_init (S.loop, &l->pipe, 0);
  uv_timer_init (S.loop, &l->timer);
  l->pipe.data = l->timer.data = l;
  l->handles = 2;
  l->connect_req.data = l;
  uv_timer_start (&l->timer, lookup_timeout, LOOKUP_TIMEOUT_MS, 0);
  uv_pipe_connect (&l->connect_req, &l->pipe, S.sock_path, lookup_connected);
}

/* Moves decrypted client bytes upstream until the engine runs dry or the
 * upstream queue is full. */
static void
pump_client (struct conn *c)
{
  char buf[READ_CHUNK];
  rdind_error_t err = NULL;
  while (!c->closing && !c->client_eof)
    {
      if (c->gate && !gate_tunnel (c->gate) && !gate_wants_client (c->gate))
        {
          /* The gate waits for dockerd (a possible protocol switch, an
           * effect check, a refusal's turn): the rest stays unread. */
          c->gate_paused = true;
          uv_read_stop ((uv_stream_t *)&c->client);
          return;
        }
      if (c->up_connected && uv_stream_get_write_queue_size ((uv_stream_t *)&c->up) > HIGH_WATER)
        {
          c->client_paused = true;
          uv_read_stop ((uv_stream_t *)&c->client);
          return;
        }
      ssize_t n = tls_engine_read (c->tls, buf, sizeof buf, &err);
      if (n > 0)
        {
          if (client_plain (c, buf, (size_t) n) < 0)
            {
              conn_close (c);
              return;
            }
          continue;
        }
      flush_tls (c);
      if (n == TLS_ENGINE_AGAIN)
        return;
      if (n == TLS_ENGINE_EOF)
        {
          client_ended (c);
          return;
        }
      log_info ("connection error", "addr=%s error=%s", c->addr,
                log_quote (0, err ? err->msg : "?"));
      rdind_error_release (&err);
      conn_close (c);
      return;
    }
}

static void
on_up_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct conn *c = s->data;
  rdind_error_t err = NULL;
  if (n > 0 && !c->closing)
    {
      S.bytes_out += n;
      int r;
      if (c->gate && !gate_tunnel (c->gate))
        {
          /* Every byte for the client comes out of the gate: an answer
           * held for a check, a refusal in its place. */
          gate_out_reset (&c->gout);
          gate_from_dockerd (c->gate, buf->base, (size_t) n, &c->gout);
          r = gate_after (c, true);
        }
      else
        r = tls_engine_write (c->tls, buf->base, n, &err) < 0 || flush_tls (c) < 0 ? -1 : 0;
      if (r < 0)
        {
          rdind_error_release (&err);
          conn_close (c);
        }
      else if (!c->closing && uv_stream_get_write_queue_size ((uv_stream_t *)&c->client) > HIGH_WATER)
        {
          c->up_paused = true;
          uv_read_stop (s);
        }
    }
  else if (n < 0 && !c->closing)
    {
      /* dockerd is done sending: close_notify toward the client, keep the
       * client -> dockerd direction open. */
      c->up_eof = true;
      uv_read_stop (s);
      /* The end of dockerd's stream may complete the answer a refusal was
       * waiting for. */
      if (c->gate && !gate_tunnel (c->gate))
        {
          gate_out_reset (&c->gout);
          gate_from_dockerd (c->gate, NULL, 0, &c->gout);
          if (gate_after (c, true) < 0)
            {
              conn_close (c);
              free (buf->base);
              return;
            }
        }
      if (!c->closing)
        {
          tls_engine_shutdown (c->tls, &err);
          rdind_error_release (&err);
          flush_tls (c);
          maybe_finish (c);
        }
    }
  free (buf->base);
}

static void
on_up_connect (uv_connect_t *req, int status)
{
  struct conn *c = req->data;
  if (c->closing)
    return;
  if (status < 0)
    {
      reject (c, REJ_UPSTREAM, uv_strerror (status));
      conn_close (c);
      return;
    }
  c->up_connected = true;
  /* Connected while the client still works on its half of the handshake:
   * nothing flows before the peer check passes; on_handshake_done starts
   * the relay. */
  if (!c->established)
    return;
  if (c->early_len)
    {
      write_up (c, c->early, c->early_len);
      free (c->early);
      c->early = NULL;
      c->early_len = 0;
    }
  uv_read_start ((uv_stream_t *)&c->up, up_alloc_cb, on_up_read);
  if (c->client_eof)
    {
      c->client_eof = false;
      client_ended (c);
    }
  else
    pump_client (c);
}

/* Opens the connection to dockerd's socket.  Started once the client's
 * hello was accepted (our answer is on its way), so the connect overlaps
 * the client's own handshake work instead of delaying its first request;
 * not at accept, so a port scan or a plaintext probe never reaches
 * dockerd's socket.  No byte goes to dockerd before the peer check. */
static void
up_connect (struct conn *c)
{
  if (c->up_init)
    return;
  uv_pipe_init (S.loop, &c->up, 0);
  c->up.data = c;
  c->up_init = true;
  c->handles++;
  c->connect_req.data = c;
  uv_pipe_connect (&c->connect_req, &c->up, S.sock_path, on_up_connect);
}

static void
on_handshake_done (struct conn *c)
{
  uv_os_fd_t fd;
  int one = 1;

  c->established = true;
  uv_timer_stop (&c->hs_timer);
  /* TLS 1.3 leaves us nothing to send after the client's Finished (no
   * session tickets: resumption would skip the peer check).  A client with
   * Nagle on (Python's ssl, openssl s_client) then holds its first request
   * until that Finished is acknowledged, and a delayed ACK costs it 40 ms.
   * Acknowledge now. */
  if (uv_fileno ((uv_handle_t *)&c->client, &fd) == 0)
    setsockopt (fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  S.accepted++;
  if (conf_yes (c->gen->conf->policy.enabled))
    {
      const char *peer = tls_engine_peer_name (c->tls);
      c->gate = gate_new (conf_policy_for (c->gen->conf, peer), peer);
    }
  if (!c->up_init)
    up_connect (c);
  else if (c->up_connected)
    uv_read_start ((uv_stream_t *)&c->up, up_alloc_cb, on_up_read);
  log_info ("accepted", "addr=%s peer=%s", c->addr, log_quote (0, tls_engine_peer_name (c->tls)));
}

static void
on_client_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct conn *c = s->data;
  rdind_error_t err = NULL;
  if (c->closing)
    goto out;
  if (n < 0)
    {
      if (!c->established)
        {
          reject (c, REJ_HANDSHAKE, "client closed during the handshake");
          conn_close (c);
        }
      else
        client_ended (c);
      goto out;
    }
  if (n == 0)
    goto out;
  tls_engine_feed (c->tls, buf->base, n, NULL);
  if (!c->established)
    {
      int r = tls_engine_handshake (c->tls, &err);
      bool answered = r == 0 && tls_engine_pending_out (c->tls) > 0;
      flush_tls (c); /* handshake records or the alert */
      if (r < 0)
        {
          const char *m = err ? err->msg : "?";
          reject (c,
                  strstr (m, "sidecar.peers") || strstr (m, "common name") ? REJ_PEER
                                                                           : REJ_HANDSHAKE,
                  m);
          rdind_error_release (&err);
          /* Let the alert go out, then close. */
          c->client_eof = c->up_eof = true;
          uv_read_stop (s);
          maybe_finish (c);
          goto out;
        }
      if (r == 0)
        {
          if (answered)
            up_connect (c);
          goto out;
        }
      on_handshake_done (c);
    }
  pump_client (c);
out:
  free (buf->base);
}

static void
on_hs_timeout (uv_timer_t *t)
{
  struct conn *c = t->data;
  if (!c->established && !c->closing)
    {
      reject (c, REJ_TIMEOUT, NULL);
      conn_close (c);
    }
}

static void
on_connection (uv_stream_t *server, int status)
{
  if (status < 0)
    return;
  struct conn *c = xmalloc0 (sizeof *c);
  uv_tcp_init (S.loop, &c->client);
  c->client.data = c;
  uv_timer_init (S.loop, &c->hs_timer);
  c->hs_timer.data = c;
  c->handles = 2;
  c->next = S.conns;
  if (S.conns)
    S.conns->prev = c;
  S.conns = c;
  S.n_conns++;
  snprintf (c->addr, sizeof c->addr, "?");
  if (uv_accept (server, (uv_stream_t *)&c->client) < 0)
    {
      conn_close (c);
      return;
    }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  if (uv_tcp_getpeername (&c->client, (struct sockaddr *)&ss, &len) == 0)
    {
      if (ss.ss_family == AF_INET)
        {
          uv_ip4_name ((struct sockaddr_in *)&ss, host, sizeof host);
          snprintf (c->addr, sizeof c->addr, "%s:%u", host,
                    ntohs (((struct sockaddr_in *)&ss)->sin_port));
        }
      else
        {
          uv_ip6_name ((struct sockaddr_in6 *)&ss, host, sizeof host);
          snprintf (c->addr, sizeof c->addr, "[%s]:%u", host,
                    ntohs (((struct sockaddr_in6 *)&ss)->sin6_port));
        }
    }
  if (!sidecar_allowed (S.conf->allow_from, S.resolved, (struct sockaddr *)&ss))
    {
      reject (c, REJ_ALLOW_FROM, "source not in sidecar.allow_from");
      conn_close (c);
      return;
    }
  if (S.n_conns > S.conf->max_connections)
    {
      reject (c, REJ_MAX_CONN, NULL);
      conn_close (c);
      return;
    }
  rdind_error_t err = NULL;
  c->tls = tls_engine_new (S.ctx.cur, true, NULL, &err);
  if (c->tls == NULL)
    {
      reject (c, REJ_HANDSHAKE, err->msg);
      rdind_error_release (&err);
      conn_close (c);
      return;
    }
  c->gen = S.gen;
  S.gen->users++;
  tls_engine_set_peers (c->tls, c->gen->conf->peers);
  uv_tcp_nodelay (&c->client, 1);
  uv_timer_start (&c->hs_timer, on_hs_timeout, S.conf->handshake_timeout * 1000, 0);
  uv_read_start ((uv_stream_t *)&c->client, sidecar_alloc_cb, on_client_read);
}

/* --- listener ------------------------------------------------------- */

void
front_open_listener (void)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  rdind_error_t err = NULL;
  if (conf_parse_hostport (S.conf->listen, &host, &port, &err) < 0)
    {
      log_error ("bad sidecar.listen", "error=%s", log_quote (0, err->msg));
      rdind_error_release (&err);
      sidecar_shutdown (2);
      return;
    }
  struct sockaddr_storage ss;
  const char *h = host[0] ? host : "0.0.0.0";
  if (uv_ip4_addr (h, port, (struct sockaddr_in *)&ss) != 0
      && uv_ip6_addr (h, port, (struct sockaddr_in6 *)&ss) != 0)
    {
      log_error ("sidecar.listen is not an IP address", "listen=%s", S.conf->listen);
      sidecar_shutdown (2);
      return;
    }
  uv_tcp_init (S.loop, &S.listener);
  int r = uv_tcp_bind (&S.listener, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen ((uv_stream_t *)&S.listener, 511, on_connection);
  if (r < 0)
    {
      log_error ("cannot listen", "listen=%s error=%s", S.conf->listen,
                 log_quote (0, uv_strerror (r)));
      uv_close ((uv_handle_t *)&S.listener, NULL);
      sidecar_shutdown (1);
      return;
    }
  S.listening = true;
  log_info ("listening", "listen=%s", S.conf->listen);
}

void
front_close_listener (const char *why)
{
  if (!S.listening)
    return;
  S.listening = false;
  uv_close ((uv_handle_t *)&S.listener, NULL);
  log_info ("listener closed", "reason=%s", why);
}

/* Drops every open connection (shutdown). */
void
front_close_all (void)
{
  while (S.conns)
    conn_close (S.conns);
}
