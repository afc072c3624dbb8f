/* rdind sidecar: supervises `rdind launch` (rootless dockerd on a unix
 * socket) and serves that socket on one mutual-TLS TCP endpoint.
 *
 * One libuv loop does everything.  The listener exists only while dockerd
 * answers GET /_ping, so clients see "connection refused" instead of a
 * handshake that leads nowhere.  TLS runs over memory BIOs (tls/engine.h);
 * after the handshake bytes flow untouched, so HTTP upgrades (attach, exec,
 * BuildKit session/grpc) need no special case. */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "cmds.h"
#include "conf.h"
#include "ctx.h"
#include "engine.h"
#include "kit.h"
#include "launch.h"
#include "log.h"
#include "sidecar.h"
#include "util.h"

/* Past this much unsent data toward one side, stop reading the other. */
#define HIGH_WATER (1u << 20)
#define READ_CHUNK (64u * 1024)

enum reject_reason
{
  REJ_ALLOW_FROM,
  REJ_MAX_CONN,
  REJ_HANDSHAKE,
  REJ_PEER,
  REJ_TIMEOUT,
  REJ_UPSTREAM,
  REJ__N
};
static const char *reject_names[REJ__N] = { "allow_from", "max_connections", "handshake", "peer_name",
                                             "handshake_timeout", "upstream" };

struct conn;

/* One configuration in force at some point.  A connection borrows its
 * conf->peers until it is freed (tls_engine_set_peers), so a configuration
 * replaced by SIGHUP lives on, retired, until its last user is gone. */
struct conf_gen
{
  struct conf_gen *next; /* retired list */
  struct rdind_conf *conf;
  bool owned;     /* loaded by a reload; the first one belongs to main() */
  uint64_t users; /* connections borrowing conf->peers */
};

static struct sidecar
{
  uv_loop_t *loop;
  struct rdind_conf *conf; /* gen->conf */
  struct conf_gen *gen, *retired;
  char *sock_path;
  struct tls_ctx_holder ctx;
  char **resolved; /* allow_from host names, refreshed by name_timer */

  uv_tcp_t listener;
  bool listening;
  uv_process_t launcher;
  int userns_fd; /* the user namespace prepared as root, or -1 */
  bool launcher_running;
  int launcher_pid;
  uint64_t launcher_started_ms;
  uint64_t backoff_ms;

  uv_timer_t ping_timer, restart_timer, cert_timer, stop_timer, name_timer, reap_timer;
  uv_signal_t sig_term, sig_int, sig_hup, sig_chld;

  struct conn *conns;
  uint64_t n_conns;
  bool stopping;
  int exit_code;

  /* metrics */
  uint64_t accepted, rejects[REJ__N], bytes_in, bytes_out, restarts;
} S;

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
};

struct wreq
{
  uv_write_t req;
  struct conn *c;
  char data[];
};

static void conn_close (struct conn *c);
static void pump_client (struct conn *c);
static void on_client_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void start_launcher (void);
static void begin_shutdown (int code);
static void on_cert_timer (uv_timer_t *t);

static void
alloc_cb (uv_handle_t *h UNUSED, size_t hint UNUSED, uv_buf_t *buf)
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

static void
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
  uv_close ((uv_handle_t *) &c->client, conn_handle_closed);
  uv_close ((uv_handle_t *) &c->hs_timer, conn_handle_closed);
  if (c->up_init)
    uv_close ((uv_handle_t *) &c->up, conn_handle_closed);
}

static void
maybe_finish (struct conn *c)
{
  /* Both directions ended and everything we owed the client is written. */
  if (c->client_eof && c->up_eof && uv_stream_get_write_queue_size ((uv_stream_t *) &c->client) == 0)
    conn_close (c);
}

static void
reject (struct conn *c, enum reject_reason r, const char *detail)
{
  S.rejects[r]++;
  log_warn ("rejected", "addr=%s peer=%s reason=%s detail=%s", c->addr,
            log_quote (0, c->tls && tls_engine_peer_name (c->tls) ? tls_engine_peer_name (c->tls) : "-"),
            reject_names[r], log_quote (1, detail ? detail : "-"));
}

static void
client_written (uv_write_t *req, int status)
{
  struct wreq *w = (struct wreq *) req;
  struct conn *c = w->c;
  free (w);
  if (c->closing)
    return;
  if (status < 0)
    {
      conn_close (c);
      return;
    }
  if (c->up_paused && uv_stream_get_write_queue_size ((uv_stream_t *) &c->client) < HIGH_WATER / 2)
    {
      c->up_paused = false;
      if (c->up_connected && !c->up_eof)
        uv_read_start ((uv_stream_t *) &c->up, up_alloc_cb, on_up_read);
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
      if (uv_write (&w->req, (uv_stream_t *) &c->client, &b, 1, client_written) < 0)
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
  struct wreq *w = (struct wreq *) req;
  struct conn *c = w->c;
  free (w);
  if (c->closing)
    return;
  if (status < 0)
    {
      conn_close (c);
      return;
    }
  if (c->client_paused && uv_stream_get_write_queue_size ((uv_stream_t *) &c->up) < HIGH_WATER / 2)
    {
      c->client_paused = false;
      pump_client (c);
      if (!c->client_eof && !c->closing && !c->client_paused)
        uv_read_start ((uv_stream_t *) &c->client, alloc_cb, on_client_read);
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
  if (uv_write (&w->req, (uv_stream_t *) &c->up, &b, 1, up_written) < 0)
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
  uv_read_stop ((uv_stream_t *) &c->client);
  if (c->up_connected && !c->up_shut)
    {
      uv_shutdown_t *req = xmalloc0 (sizeof *req);
      c->up_shut = true;
      if (uv_shutdown (req, (uv_stream_t *) &c->up, up_shutdown_cb) < 0)
        free (req);
    }
  maybe_finish (c);
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
      if (c->up_connected && uv_stream_get_write_queue_size ((uv_stream_t *) &c->up) > HIGH_WATER)
        {
          c->client_paused = true;
          uv_read_stop ((uv_stream_t *) &c->client);
          return;
        }
      ssize_t n = tls_engine_read (c->tls, buf, sizeof buf, &err);
      if (n > 0)
        {
          if (!c->up_connected)
            {
              c->early = realloc (c->early, c->early_len + n);
              memcpy (c->early + c->early_len, buf, n);
              c->early_len += n;
            }
          else if (write_up (c, buf, n) < 0)
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
      log_info ("connection error", "addr=%s error=%s", c->addr, log_quote (0, err ? err->msg : "?"));
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
      if (tls_engine_write (c->tls, buf->base, n, &err) < 0 || flush_tls (c) < 0)
        {
          rdind_error_release (&err);
          conn_close (c);
        }
      else if (uv_stream_get_write_queue_size ((uv_stream_t *) &c->client) > HIGH_WATER)
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
      tls_engine_shutdown (c->tls, &err);
      rdind_error_release (&err);
      flush_tls (c);
      maybe_finish (c);
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
  uv_read_start ((uv_stream_t *) &c->up, up_alloc_cb, on_up_read);
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
  if (uv_fileno ((uv_handle_t *) &c->client, &fd) == 0)
    setsockopt (fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  S.accepted++;
  if (!c->up_init)
    up_connect (c);
  else if (c->up_connected)
    uv_read_start ((uv_stream_t *) &c->up, up_alloc_cb, on_up_read);
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
          reject (c, strstr (m, "sidecar.peers") || strstr (m, "common name") ? REJ_PEER : REJ_HANDSHAKE, m);
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
  if (uv_accept (server, (uv_stream_t *) &c->client) < 0)
    {
      conn_close (c);
      return;
    }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  if (uv_tcp_getpeername (&c->client, (struct sockaddr *) &ss, &len) == 0)
    {
      if (ss.ss_family == AF_INET)
        {
          uv_ip4_name ((struct sockaddr_in *) &ss, host, sizeof host);
          snprintf (c->addr, sizeof c->addr, "%s:%u", host, ntohs (((struct sockaddr_in *) &ss)->sin_port));
        }
      else
        {
          uv_ip6_name ((struct sockaddr_in6 *) &ss, host, sizeof host);
          snprintf (c->addr, sizeof c->addr, "[%s]:%u", host, ntohs (((struct sockaddr_in6 *) &ss)->sin6_port));
        }
    }
  if (!sidecar_allowed (S.conf->allow_from, S.resolved, (struct sockaddr *) &ss))
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
  uv_read_start ((uv_stream_t *) &c->client, alloc_cb, on_client_read);
}

/* --- listener ------------------------------------------------------- */

static void
open_listener (void)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  rdind_error_t err = NULL;
  if (conf_parse_hostport (S.conf->listen, &host, &port, &err) < 0)
    {
      log_error ("bad sidecar.listen", "error=%s", log_quote (0, err->msg));
      rdind_error_release (&err);
      begin_shutdown (2);
      return;
    }
  struct sockaddr_storage ss;
  const char *h = host[0] ? host : "0.0.0.0";
  if (uv_ip4_addr (h, port, (struct sockaddr_in *) &ss) != 0
      && uv_ip6_addr (h, port, (struct sockaddr_in6 *) &ss) != 0)
    {
      log_error ("sidecar.listen is not an IP address", "listen=%s", S.conf->listen);
      begin_shutdown (2);
      return;
    }
  uv_tcp_init (S.loop, &S.listener);
  int r = uv_tcp_bind (&S.listener, (struct sockaddr *) &ss, 0);
  if (r == 0)
    r = uv_listen ((uv_stream_t *) &S.listener, 511, on_connection);
  if (r < 0)
    {
      log_error ("cannot listen", "listen=%s error=%s", S.conf->listen, log_quote (0, uv_strerror (r)));
      uv_close ((uv_handle_t *) &S.listener, NULL);
      begin_shutdown (1);
      return;
    }
  S.listening = true;
  log_info ("listening", "listen=%s", S.conf->listen);
}

static void
close_listener (const char *why)
{
  if (!S.listening)
    return;
  S.listening = false;
  uv_close ((uv_handle_t *) &S.listener, NULL);
  log_info ("listener closed", "reason=%s", why);
}

/* GET /_ping on dockerd's unix socket, without blocking the loop (a dockerd
 * that is slow to answer must not stall the connections being served), and
 * bounded by PING_TIMEOUT_MS.  Only a real "200" opens the listener.  One
 * ping at a time; it owns its handles and frees itself in the last close
 * callback. */
#define PING_TIMEOUT_MS 2000

struct ping
{
  uv_pipe_t pipe;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t timer;
  char buf[512];
  size_t have;
  int handles;
  bool done;
};

static struct ping *ping_inflight;

static void
ping_closed (uv_handle_t *h)
{
  struct ping *p = h->data;
  if (--p->handles == 0)
    free (p);
}

static void
ping_finish (struct ping *p, bool ok)
{
  if (p->done)
    return;
  p->done = true;
  ping_inflight = NULL;
  uv_close ((uv_handle_t *) &p->pipe, ping_closed);
  uv_close ((uv_handle_t *) &p->timer, ping_closed);
  if (S.stopping)
    return;
  bool up = ok && S.launcher_running;
  if (up && !S.listening)
    open_listener ();
  else if (!up && S.listening)
    close_listener ("dockerd does not answer /_ping");
}

static bool
ping_answer_ok (const struct ping *p)
{
  return p->have >= 12 && strncmp (p->buf, "HTTP/1.", 7) == 0 && strncmp (p->buf + 8, " 200", 4) == 0;
}

static void
ping_alloc (uv_handle_t *h, size_t hint UNUSED, uv_buf_t *buf)
{
  struct ping *p = h->data;
  *buf = uv_buf_init (p->buf + p->have, (unsigned int) (sizeof p->buf - 1 - p->have));
}

static void
ping_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf UNUSED)
{
  struct ping *p = s->data;
  if (n > 0)
    p->have += (size_t) n;
  /* The status line is all we need; EOF or a full buffer ends it too. */
  if (n < 0 || p->have >= 12 || p->have == sizeof p->buf - 1)
    ping_finish (p, ping_answer_ok (p));
}

static void
ping_written (uv_write_t *w, int status)
{
  struct ping *p = w->data;
  if (status < 0)
    ping_finish (p, false);
}

static void
ping_connected (uv_connect_t *req, int status)
{
  static char request[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
  struct ping *p = req->data;
  uv_buf_t b = uv_buf_init (request, sizeof request - 1);

  if (p->done)
    return;
  if (status < 0 || uv_write (&p->write_req, (uv_stream_t *) &p->pipe, &b, 1, ping_written) < 0
      || uv_read_start ((uv_stream_t *) &p->pipe, ping_alloc, ping_read) < 0)
    ping_finish (p, false);
}

static void
ping_timeout (uv_timer_t *t)
{
  ping_finish (t->data, false);
}

static void
on_ping_timer (uv_timer_t *t UNUSED)
{
  if (S.stopping || ping_inflight)
    return;
  if (!S.launcher_running)
    {
      if (S.listening)
        close_listener ("dockerd does not answer /_ping");
      return;
    }
  struct ping *p = xmalloc0 (sizeof *p);
  uv_pipe_init (S.loop, &p->pipe, 0);
  uv_timer_init (S.loop, &p->timer);
  p->pipe.data = p->timer.data = p->connect_req.data = p->write_req.data = p;
  p->handles = 2;
  ping_inflight = p;
  uv_timer_start (&p->timer, ping_timeout, PING_TIMEOUT_MS, 0);
  uv_pipe_connect (&p->connect_req, &p->pipe, S.sock_path, ping_connected);
}

/* --- launcher supervision ------------------------------------------- */

static void
finish_if_done (void)
{
  if (!S.stopping || S.launcher_running)
    return;
  uv_stop (S.loop);
}

static void
on_restart_timer (uv_timer_t *t UNUSED)
{
  if (!S.stopping)
    start_launcher ();
}

static void
on_launcher_exit (uv_process_t *p, int64_t status, int sig)
{
  S.launcher_running = false;
  uv_close ((uv_handle_t *) p, NULL);
  log_info ("launcher exited", "pid=%d status=%lld signal=%d", S.launcher_pid, (long long) status, sig);
  close_listener ("dockerd exited");
  /* A reload may have moved [launcher] state_dir: the next launcher reads
   * the file again and puts dockerd's socket there. */
  cleanup_free char *sock = launch_docker_sock_path (S.conf);
  if (strcmp (sock, S.sock_path) != 0)
    {
      log_info ("dockerd socket moves with the next launcher", "socket=%s", sock);
      free (S.sock_path);
      S.sock_path = steal_pointer (&sock);
    }
  if (S.stopping)
    {
      finish_if_done ();
      return;
    }
  bool failed = status != 0 || sig != 0;
  if (status == LAUNCH_EXIT_REQUIREMENTS && sig == 0)
    {
      log_error ("launcher reports a missing requirement; not restarting", "fix=%s",
                 log_quote (0, "see the rdind doctor report above"));
      begin_shutdown (1);
      return;
    }
  if (S.conf->restart == CONF_RESTART_NEVER || (S.conf->restart == CONF_RESTART_ON_FAILURE && !failed))
    {
      begin_shutdown (failed ? 1 : 0);
      return;
    }
  /* A launcher that ran a while earned a fresh backoff. */
  if (now_ms () - S.launcher_started_ms > 60000)
    S.backoff_ms = 0;
  S.backoff_ms = S.backoff_ms ? S.backoff_ms * 2 : 500;
  if (S.backoff_ms > 30000)
    S.backoff_ms = 30000;
  S.restarts++;
  log_info ("restarting launcher", "in_ms=%llu restarts=%llu", (unsigned long long) S.backoff_ms,
            (unsigned long long) S.restarts);
  uv_timer_start (&S.restart_timer, on_restart_timer, S.backoff_ms, 0);
}

/* The launcher reads its settings from the configuration the sidecar holds
 * (the one SIGHUP validated), written out as INI, rather than from the
 * original file: that file may have been edited into something broken or
 * not yet reloaded when dockerd needs a restart.  NULL (and a log line) when
 * it cannot be written; the launcher then reads the original file. */
static char *
effective_conf_file (void)
{
  rdind_error_t err = NULL;
  char *path = NULL, *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&buf, &len);

  if (f == NULL)
    return NULL;
  conf_print (S.conf, f);
  fclose (f);
  xasprintf (&path, "%s/launcher.ini", S.conf->state_dir);
  if (mkdir_p (S.conf->state_dir, 0700, &err) < 0 || write_file_atomic (path, buf, len, 0600, &err) < 0)
    {
      log_warn ("cannot write the launcher's configuration, it reads the original file", "error=%s",
                log_quote (0, err->msg));
      rdind_error_release (&err);
      free (steal_pointer (&path));
    }
  free (buf);
  return path;
}

static void
start_launcher (void)
{
  char *args[6];
  int i = 0;
  cleanup_free char *eff = effective_conf_file ();
  args[i++] = "rdind";
  args[i++] = "launch";
  if (eff || conf_source_file (S.conf))
    {
      args[i++] = "--config";
      args[i++] = eff ? eff : (char *) conf_source_file (S.conf);
    }
  args[i] = NULL;
  uv_stdio_container_t stdio[4] = {
    { .flags = UV_IGNORE },
    { .flags = UV_INHERIT_FD, .data.fd = 2 }, /* keep stdout free for nobody: all logs on stderr */
    { .flags = UV_INHERIT_FD, .data.fd = 2 },
    /* fd 3: the prepared user namespace, named by RDIND_USERNS_FD=3 */
    { .flags = UV_INHERIT_FD, .data.fd = S.userns_fd },
  };
  uv_process_options_t o = {
    .exit_cb = on_launcher_exit,
    .file = "/proc/self/exe",
    .args = args,
    .stdio_count = S.userns_fd >= 0 ? 4 : 3,
    .stdio = stdio,
  };
  int r = uv_spawn (S.loop, &S.launcher, &o);
  if (r < 0)
    {
      log_error ("cannot start launcher", "error=%s", log_quote (0, uv_strerror (r)));
      uv_close ((uv_handle_t *) &S.launcher, NULL);
      S.backoff_ms = S.backoff_ms ? S.backoff_ms * 2 : 500;
      if (S.backoff_ms > 30000)
        S.backoff_ms = 30000;
      uv_timer_start (&S.restart_timer, on_restart_timer, S.backoff_ms, 0);
      return;
    }
  S.launcher_running = true;
  S.launcher_pid = S.launcher.pid;
  S.launcher_started_ms = now_ms ();
  log_info ("launcher started", "pid=%d", S.launcher_pid);
}

/* --- certificates ---------------------------------------------------- */

static int
ensure_certs (const struct rdind_conf *conf, time_t *next_due, rdind_error_t *err)
{
  struct kit_opts o;
  kit_opts_from_conf (conf, &o);
  o.now = time (NULL);
  return kit_ensure (&o, next_due, err);
}

static void
arm_cert_timer (time_t next_due)
{
  time_t now = time (NULL);
  uint64_t ms = next_due > now ? (uint64_t) (next_due - now) * 1000 : 1000;
  /* Re-check at least hourly: clocks jump, files get replaced. */
  if (ms > 3600 * 1000)
    ms = 3600 * 1000;
  uv_timer_start (&S.cert_timer, on_cert_timer, ms, 0);
}

static void
on_cert_timer (uv_timer_t *t UNUSED)
{
  rdind_error_t err = NULL;
  time_t next_due = time (NULL) + 3600;
  if (ensure_certs (S.conf, &next_due, &err) < 0 || tls_ctx_reload (&S.ctx, S.conf->certdir, &err) < 0)
    {
      log_error ("certificate renewal failed, keeping the current ones", "error=%s", log_quote (0, err->msg));
      rdind_error_release (&err);
      next_due = time (NULL) + 60;
    }
  else
    log_info ("certificates checked", "next_due_s=%lld", (long long) (next_due - time (NULL)));
  arm_cert_timer (next_due);
}

static void
on_name_timer (uv_timer_t *t UNUSED)
{
  char **n = sidecar_resolve_names (S.conf->allow_from);
  strv_free (S.resolved);
  S.resolved = n;
}

/* --- signals --------------------------------------------------------- */

static void
on_stop_timer (uv_timer_t *t UNUSED)
{
  if (S.launcher_running)
    {
      log_warn ("launcher did not stop in time, killing it", "pid=%d", S.launcher_pid);
      uv_process_kill (&S.launcher, SIGKILL);
    }
}

static void
begin_shutdown (int code)
{
  if (S.stopping)
    return;
  S.stopping = true;
  S.exit_code = code;
  close_listener ("shutting down");
  uv_timer_stop (&S.restart_timer);
  if (S.launcher_running)
    {
      uv_process_kill (&S.launcher, SIGTERM);
      /* The launcher itself gives dockerd stop_timeout; allow a little more
       * before the hard kill. */
      uv_timer_start (&S.stop_timer, on_stop_timer, S.conf->stop_timeout * 1000 + 2000, 0);
    }
  finish_if_done ();
}

/* Settings bound into the running process: the sockets are open, the
 * privileges dropped and the certdir prepared for that account.  They keep
 * their old value until the sidecar restarts. */
static const char *const restart_keys[] = { "sidecar.listen", "sidecar.status_listen", "sidecar.user",
                                            "tls.certdir" };

/* SIGHUP: the configuration (file + environment, as at start) and the
 * certificates again.  Everything is prepared aside (new configuration,
 * renewed certificates, new TLS context) and swapped in only when all of it
 * worked; otherwise the old configuration and context stay in force. */
static void
reload (void)
{
  rdind_error_t err = NULL;
  struct rdind_conf *nc = NULL;
  const char *src = conf_source_file (S.conf);
  log_info ("SIGHUP: reloading configuration and certificates", "file=%s certdir=%s",
            log_quote (0, src ? src : "-"), log_quote (1, S.conf->certdir));
  if (conf_reload (S.conf, &nc, &err) < 0)
    {
      log_error ("reload failed, keeping the current configuration and certificates", "error=%s",
                 log_quote (0, err->msg));
      rdind_error_release (&err);
      return;
    }

  cleanup_strv char **diff = conf_diff (S.conf, nc);
  cleanup_strv char **live = xmalloc0 (sizeof (char *));
  cleanup_strv char **later = xmalloc0 (sizeof (char *));
  for (char **k = diff; *k; k++)
    {
      bool bound = false;
      for (size_t i = 0; i < ARRAY_SIZE (restart_keys); i++)
        bound = bound || strcmp (*k, restart_keys[i]) == 0;
      if (bound)
        {
          log_warn ("setting needs a restart, keeping the current value", "key=%s applies=%s", *k,
                    log_quote (0, "at the next sidecar restart"));
          conf_copy_key (nc, S.conf, *k);
          strv_append (&later, *k);
        }
      else if (strncmp (*k, "launcher.", 9) == 0)
        {
          /* The launcher reads the file again each time it starts. */
          log_warn ("setting needs a restart", "key=%s applies=%s", *k,
                    log_quote (0, "at the next dockerd restart"));
          strv_append (&later, *k);
        }
      else
        strv_append (&live, *k);
    }

  /* Certificates for the new peers, names and lifetimes; a new context. */
  struct tls_ctx_holder fresh = { NULL };
  time_t next_due = time (NULL) + 3600;
  if (ensure_certs (nc, &next_due, &err) < 0 || tls_ctx_reload (&fresh, nc->certdir, &err) < 0)
    {
      log_error ("reload failed, keeping the current configuration and certificates", "error=%s",
                 log_quote (0, err->msg));
      rdind_error_release (&err);
      tls_ctx_holder_release (&fresh);
      conf_free (nc);
      return;
    }
  tls_ctx_holder_release (&S.ctx);
  S.ctx = fresh;
  arm_cert_timer (next_due);

  /* New connections take the new configuration; open ones keep theirs. */
  struct conf_gen *g = xmalloc0 (sizeof *g);
  g->conf = nc;
  g->owned = true;
  struct conf_gen *old = S.gen;
  S.gen = g;
  S.conf = nc;
  if (old->users == 0)
    conf_gen_free (old);
  else
    {
      old->next = S.retired;
      S.retired = old;
    }
  log_set_level ((enum log_level) conf_log_level (S.conf->log_level));
  on_name_timer (NULL);

  cleanup_free char *live_s = strv_join (live, ",");
  cleanup_free char *later_s = strv_join (later, ",");
  log_info ("configuration reloaded", "changed=%s pending_restart=%s", *live_s ? live_s : "none",
            *later_s ? later_s : "none");
}

static void
on_signal (uv_signal_t *h, int signum)
{
  if (signum == SIGHUP)
    {
      reload ();
      return;
    }
  log_info ("signal received, stopping", "signal=%d", signum);
  (void) h;
  begin_shutdown (0);
}

/* As PID 1 (or subreaper) we inherit orphans.  libuv reaps the launcher it
 * spawned itself, so look before reaping: WNOWAIT peeks at one zombie and
 * we only collect it when it is not libuv's. */
static void
reap_orphans (void)
{
  for (;;)
    {
      siginfo_t si = { 0 };
      if (waitid (P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
        return;
      if (S.launcher_running && si.si_pid == S.launcher_pid)
        return;
      waitpid (si.si_pid, NULL, WNOHANG);
      log_debug ("reaped orphan", "pid=%d", si.si_pid);
    }
}

static void
on_sigchld (uv_signal_t *h UNUSED, int signum UNUSED)
{
  reap_orphans ();
}

static void
on_reap_timer (uv_timer_t *t UNUSED)
{
  reap_orphans ();
}

/* --- plain-HTTP status endpoint (/healthz, /metrics) ----------------- */

struct status_conn
{
  uv_tcp_t tcp;
  uv_write_t wr;
  char req[2048];
  size_t have;
  char *resp;
};

static void
status_closed (uv_handle_t *h)
{
  struct status_conn *sc = h->data;
  free (sc->resp);
  free (sc);
}

static void
status_written (uv_write_t *w, int status UNUSED)
{
  uv_close ((uv_handle_t *) w->handle, status_closed);
}

static char *
status_body (const char *path, int *code)
{
  char *out = NULL;
  if (strcmp (path, "/healthz") == 0)
    {
      *code = S.listening ? 200 : 503;
      xasprintf (&out, "%s\n", S.listening ? "ok" : "dockerd not serving");
      return out;
    }
  if (strcmp (path, "/metrics") == 0)
    {
      cleanup_free char *certp = NULL;
      xasprintf (&certp, "%s/server/cert.pem", S.conf->certdir);
      long long na = tls_cert_not_after (certp);
      *code = 200;
      xasprintf (&out,
                 "# TYPE rdind_connections_open gauge\nrdind_connections_open %llu\n"
                 "# TYPE rdind_connections_accepted_total counter\nrdind_connections_accepted_total %llu\n"
                 "# TYPE rdind_connections_rejected_total counter\n"
                 "rdind_connections_rejected_total{reason=\"allow_from\"} %llu\n"
                 "rdind_connections_rejected_total{reason=\"max_connections\"} %llu\n"
                 "rdind_connections_rejected_total{reason=\"handshake\"} %llu\n"
                 "rdind_connections_rejected_total{reason=\"peer_name\"} %llu\n"
                 "rdind_connections_rejected_total{reason=\"handshake_timeout\"} %llu\n"
                 "rdind_connections_rejected_total{reason=\"upstream\"} %llu\n"
                 "# TYPE rdind_bytes_total counter\n"
                 "rdind_bytes_total{direction=\"to_dockerd\"} %llu\nrdind_bytes_total{direction=\"to_client\"} %llu\n"
                 "# TYPE rdind_dockerd_restarts_total counter\nrdind_dockerd_restarts_total %llu\n"
                 "# TYPE rdind_dockerd_up gauge\nrdind_dockerd_up %d\n"
                 "# TYPE rdind_server_cert_expiry_seconds gauge\nrdind_server_cert_expiry_seconds %lld\n",
                 (unsigned long long) S.n_conns, (unsigned long long) S.accepted,
                 (unsigned long long) S.rejects[REJ_ALLOW_FROM], (unsigned long long) S.rejects[REJ_MAX_CONN],
                 (unsigned long long) S.rejects[REJ_HANDSHAKE], (unsigned long long) S.rejects[REJ_PEER],
                 (unsigned long long) S.rejects[REJ_TIMEOUT], (unsigned long long) S.rejects[REJ_UPSTREAM],
                 (unsigned long long) S.bytes_in, (unsigned long long) S.bytes_out,
                 (unsigned long long) S.restarts, S.listening ? 1 : 0,
                 na < 0 ? -1LL : na - (long long) time (NULL));
      return out;
    }
  *code = 404;
  return xstrdup ("not found\n");
}

static void
status_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
  struct status_conn *sc = s->data;
  if (n < 0 || sc->have + n >= sizeof sc->req)
    {
      uv_read_stop (s);
      if (!uv_is_closing ((uv_handle_t *) s))
        uv_close ((uv_handle_t *) s, status_closed);
      free (buf->base);
      return;
    }
  memcpy (sc->req + sc->have, buf->base, n);
  sc->have += n;
  sc->req[sc->have] = '\0';
  free (buf->base);
  if (strstr (sc->req, "\r\n\r\n") == NULL && strstr (sc->req, "\n\n") == NULL)
    return;
  uv_read_stop (s);
  char path[256] = "";
  int code = 400;
  cleanup_free char *body = NULL;
  if (sscanf (sc->req, "GET %255s HTTP/", path) == 1)
    body = status_body (path, &code);
  else
    body = xstrdup ("bad request\n");
  const char *reason = code == 200 ? "OK" : code == 503 ? "Service Unavailable" : code == 404 ? "Not Found" : "Bad Request";
  xasprintf (&sc->resp, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             code, reason, strcmp (path, "/metrics") == 0 ? "text/plain; version=0.0.4" : "text/plain",
             strlen (body), body);
  uv_buf_t b = uv_buf_init (sc->resp, strlen (sc->resp));
  if (uv_write (&sc->wr, s, &b, 1, status_written) < 0)
    uv_close ((uv_handle_t *) s, status_closed);
}

static void
on_status_connection (uv_stream_t *server, int status)
{
  if (status < 0)
    return;
  struct status_conn *sc = xmalloc0 (sizeof *sc);
  uv_tcp_init (S.loop, &sc->tcp);
  sc->tcp.data = sc;
  if (uv_accept (server, (uv_stream_t *) &sc->tcp) < 0)
    {
      uv_close ((uv_handle_t *) &sc->tcp, status_closed);
      return;
    }
  uv_read_start ((uv_stream_t *) &sc->tcp, alloc_cb, status_read);
}

static int
open_status_listener (uv_tcp_t *h, rdind_error_t *err)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  if (conf_parse_hostport (S.conf->status_listen, &host, &port, err) < 0)
    return rdind_error_wrap (err, "sidecar.status_listen");
  struct sockaddr_storage ss;
  const char *hn = host[0] ? host : "0.0.0.0";
  if (uv_ip4_addr (hn, port, (struct sockaddr_in *) &ss) != 0
      && uv_ip6_addr (hn, port, (struct sockaddr_in6 *) &ss) != 0)
    return rdind_make_error (err, 0, "sidecar.status_listen '%s' is not an IP address and port (fix: e.g. 127.0.0.1:9323)",
                             S.conf->status_listen);
  uv_tcp_init (S.loop, h);
  int r = uv_tcp_bind (h, (struct sockaddr *) &ss, 0);
  if (r == 0)
    r = uv_listen ((uv_stream_t *) h, 64, on_status_connection);
  if (r < 0)
    return rdind_make_error (err, -r, "listen on sidecar.status_listen %s", S.conf->status_listen);
  log_info ("status endpoint listening", "listen=%s", S.conf->status_listen);
  return 0;
}

static void
close_walk (uv_handle_t *h, void *arg UNUSED)
{
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

int
rdind_cmd_sidecar (struct rdind_conf *conf, int argc, char **argv UNUSED)
{
  rdind_error_t err = NULL;
  if (argc > 1)
    {
      fprintf (stderr, "rdind sidecar: takes no arguments (fix: configure it with --config or RDIND_* variables)\n");
      return 2;
    }
  memset (&S, 0, sizeof S);
  S.conf = conf;
  log_set_source ("sidecar");
  if (sidecar_drop_privileges (conf, &S.userns_fd, &err) < 0)
    return rdind_error_report (&err, 1);
  if (S.userns_fd >= 0)
    setenv (LAUNCH_USERNS_FD_ENV, "3", 1);
  if (getpid () != 1)
    prctl (PR_SET_CHILD_SUBREAPER, 1);

  /* Certificates exist before anything listens or starts. */
  time_t next_due = time (NULL) + 3600;
  if (ensure_certs (conf, &next_due, &err) < 0)
    return rdind_error_report (&err, 1);
  if (tls_ctx_reload (&S.ctx, conf->certdir, &err) < 0)
    return rdind_error_report (&err, 1);
  S.sock_path = launch_docker_sock_path (conf);
  S.resolved = sidecar_resolve_names (conf->allow_from);

  S.gen = xmalloc0 (sizeof *S.gen);
  S.gen->conf = conf;

  S.loop = xmalloc0 (sizeof *S.loop);
  uv_loop_init (S.loop);
  uv_timer_init (S.loop, &S.ping_timer);
  uv_timer_init (S.loop, &S.restart_timer);
  uv_timer_init (S.loop, &S.cert_timer);
  uv_timer_init (S.loop, &S.stop_timer);
  uv_timer_init (S.loop, &S.name_timer);
  uv_timer_init (S.loop, &S.reap_timer);
  uv_signal_init (S.loop, &S.sig_term);
  uv_signal_init (S.loop, &S.sig_int);
  uv_signal_init (S.loop, &S.sig_hup);
  uv_signal_init (S.loop, &S.sig_chld);
  uv_signal_start (&S.sig_term, on_signal, SIGTERM);
  uv_signal_start (&S.sig_int, on_signal, SIGINT);
  uv_signal_start (&S.sig_hup, on_signal, SIGHUP);
  uv_signal_start (&S.sig_chld, on_sigchld, SIGCHLD);
  signal (SIGPIPE, SIG_IGN);
  /* Bulk streams (docker cp, save/load) allocate and free 64 KiB read
   * buffers and TLS records by the thousand: keep the freed memory in the
   * heap instead of handing it back to the kernel and faulting fresh zeroed
   * pages in again for the next chunk (measured: the front's CPU time for a
   * 256 MiB docker cp fell from about 330 to 270 ms).  At most 4 MiB stay. */
  mallopt (M_TRIM_THRESHOLD, 4 << 20);
  mallopt (M_MMAP_THRESHOLD, 1 << 20);

  uv_timer_start (&S.ping_timer, on_ping_timer, 200, 1000);
  arm_cert_timer (next_due);
  uv_timer_start (&S.name_timer, on_name_timer, 60000, 60000);
  uv_timer_start (&S.reap_timer, on_reap_timer, 5000, 5000);

  uv_tcp_t status_listener;
  if (conf->status_listen && conf->status_listen[0] && open_status_listener (&status_listener, &err) < 0)
    {
      log_error ("cannot open the status endpoint", "error=%s", log_quote (0, err->msg));
      rdind_error_release (&err);
      S.exit_code = 2;
      S.stopping = true;
      uv_walk (S.loop, close_walk, NULL);
      uv_run (S.loop, UV_RUN_DEFAULT);
      uv_loop_close (S.loop);
      free (S.loop);
      tls_ctx_holder_release (&S.ctx);
      strv_free (S.resolved);
      free (S.sock_path);
      conf_gen_free (S.gen);
      return 2;
    }
  log_info ("sidecar starting", "listen=%s certdir=%s socket=%s", conf->listen, conf->certdir, S.sock_path);
  start_launcher ();
  uv_run (S.loop, UV_RUN_DEFAULT);

  /* Shutdown: drop open connections, close every handle, drain. */
  while (S.conns)
    conn_close (S.conns);
  if (ping_inflight)
    ping_finish (ping_inflight, false);
  uv_walk (S.loop, close_walk, NULL);
  uv_run (S.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close (S.loop);
  if (rc != 0)
    log_warn ("event loop did not close cleanly", "error=%s", log_quote (0, uv_strerror (rc)));
  free (S.loop);
  tls_ctx_holder_release (&S.ctx);
  strv_free (S.resolved);
  free (S.sock_path);
  if (S.userns_fd >= 0)
    close (S.userns_fd);
  /* Every connection is gone, so no configuration is borrowed any more. */
  while (S.retired)
    {
      struct conf_gen *g = S.retired;
      S.retired = g->next;
      conf_gen_free (g);
    }
  conf_gen_free (S.gen);
  reap_orphans ();
  log_info ("sidecar stopped", "exit=%d", S.exit_code);
  return S.exit_code;
}
