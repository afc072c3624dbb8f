/* rdind sidecar: readiness.  Pings dockerd's socket once a second and
 * opens the TLS listener only while GET /_ping answers 200, closing it as
 * soon as dockerd stops answering or the launcher exits. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "conf.h"
#include "log.h"
#include "sidecar-int.h"
#include "util.h"

/* GET /_ping on dockerd's unix socket, without blocking the loop (a dockerd
 * that is slow to answer must not stall the connections being served), and
 * bounded by PING_TIMEOUT_MS.  Only a real "200" opens the listener.  One
 * ping at a time; it owns its handles and frees itself in the last close
 * callback. */
#define PING_TIMEOUT_MS 2000
/* One slow answer does not close the listener: a dockerd busy with a burst
 * of clients (200 `docker version` at once on two cores) can take longer
 * than PING_TIMEOUT_MS, and closing then refuses the very clients it is
 * serving.  It closes once no ping succeeded for UNREADY_AFTER_MS, or at
 * once when the launcher exits. */
#define UNREADY_AFTER_MS 6000

static uint64_t last_ok_ms;

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
  uv_close ((uv_handle_t *)&p->pipe, ping_closed);
  uv_close ((uv_handle_t *)&p->timer, ping_closed);
  if (S.stopping)
    return;
  bool up = ok && S.launcher_running;
  /* A ping that failed while dockerd kept answering clients (bytes flowed
   * from its socket since the last ping) says the loop was busy, not that
   * dockerd is gone. */
  static uint64_t bytes_seen;
  bool flowing = S.bytes_out != bytes_seen;
  bytes_seen = S.bytes_out;
  if (up || (S.launcher_running && flowing))
    last_ok_ms = uv_now (S.loop);
  if (up && !S.listening && !S.cache_ready && S.conf->cache_dir && S.conf->cache_dir[0])
    {
      /* The slot is cleaned and pruned once, before the endpoint first
       * opens: no job ever sees an earlier job's containers. */
      S.cache_ready = true;
      cache_prepare ();
    }
  if (up && !S.listening)
    {
      front_open_listener ();
      if (S.listening && !S.announced)
        sidecar_announce_ready ();
    }
  else if (!up && S.listening
           && (!S.launcher_running || uv_now (S.loop) - last_ok_ms >= UNREADY_AFTER_MS))
    front_close_listener ("dockerd does not answer /_ping");
}

static void
ping_alloc (uv_handle_t *h, size_t hint UNUSED, uv_buf_t *buf)
{
  struct ping *p = h->data;
  *buf = uv_buf_init (p->buf + p->have, (unsigned int)(sizeof p->buf - 1 - p->have));
}

static void
ping_read (uv_stream_t *s, ssize_t n, const uv_buf_t *buf UNUSED)
{
  struct ping *p = s->data;
  if (n > 0)
    p->have += (size_t)n;
  /* The status line is all we need; EOF or a full buffer ends it too. */
  if (n < 0 || p->have >= 12 || p->have == sizeof p->buf - 1)
    ping_finish (p, ready_answer_ok (p->buf, p->have));
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
  if (status < 0 || uv_write (&p->write_req, (uv_stream_t *)&p->pipe, &b, 1, ping_written) < 0
      || uv_read_start ((uv_stream_t *)&p->pipe, ping_alloc, ping_read) < 0)
    ping_finish (p, false);
}

/* libuv runs due timers before it polls for I/O: after a long turn of the
 * loop (200 TLS handshakes at once, slower still under a sanitizer) the
 * timeout fires while dockerd's answer already waits in the socket.  So
 * look there first: only an answer that is not in is a timeout. */
static void
ping_timeout (uv_timer_t *t)
{
  struct ping *p = t->data;
  uv_os_fd_t fd;
  if (!p->done && uv_fileno ((uv_handle_t *) &p->pipe, &fd) == 0)
    {
      ssize_t n = recv (fd, p->buf + p->have, sizeof p->buf - 1 - p->have, MSG_DONTWAIT);
      if (n > 0)
        p->have += (size_t) n;
      if (p->have >= 12)
        {
          ping_finish (p, ready_answer_ok (p->buf, p->have));
          return;
        }
    }
  ping_finish (p, false);
}

void
ready_on_timer (uv_timer_t *t UNUSED)
{
  if (S.stopping || ping_inflight)
    return;
  if (!S.launcher_running)
    {
      if (S.listening)
        front_close_listener ("dockerd does not answer /_ping");
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

/* Ends a ping in flight (shutdown). */
void
ready_abort (void)
{
  if (ping_inflight)
    ping_finish (ping_inflight, false);
}
