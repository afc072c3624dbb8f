/* rdind sidecar: the optional plain-HTTP status endpoint
 * (sidecar.status_listen): GET /healthz for probes and GET /metrics in the
 * Prometheus text format.  It serves no Docker API and no secret. */
#include "config.h"

#include <errno.h>
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
#include "ctx.h"

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
  uv_close ((uv_handle_t *)w->handle, status_closed);
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
      xasprintf (
          &out,
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
          "rdind_bytes_total{direction=\"to_dockerd\"} "
          "%llu\nrdind_bytes_total{direction=\"to_client\"} %llu\n"
          "# TYPE rdind_dockerd_restarts_total counter\nrdind_dockerd_restarts_total %llu\n"
          "# TYPE rdind_dockerd_up gauge\nrdind_dockerd_up %d\n"
          "# TYPE rdind_server_cert_expiry_seconds gauge\nrdind_server_cert_expiry_seconds %lld\n",
          (unsigned long long)S.n_conns, (unsigned long long)S.accepted,
          (unsigned long long)S.rejects[REJ_ALLOW_FROM],
          (unsigned long long)S.rejects[REJ_MAX_CONN], (unsigned long long)S.rejects[REJ_HANDSHAKE],
          (unsigned long long)S.rejects[REJ_PEER], (unsigned long long)S.rejects[REJ_TIMEOUT],
          (unsigned long long)S.rejects[REJ_UPSTREAM], (unsigned long long)S.bytes_in,
          (unsigned long long)S.bytes_out, (unsigned long long)S.restarts, S.listening ? 1 : 0,
          na < 0 ? -1LL : na - (long long)time (NULL));
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
      if (!uv_is_closing ((uv_handle_t *)s))
        uv_close ((uv_handle_t *)s, status_closed);
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
  if (status_request_path (sc->req, path, sizeof path) == 0)
    body = status_body (path, &code);
  else
    body = xstrdup ("bad request\n");
  const char *reason = code == 200   ? "OK"
                       : code == 503 ? "Service Unavailable"
                       : code == 404 ? "Not Found"
                                     : "Bad Request";
  xasprintf (
      &sc->resp,
      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
      code, reason, strcmp (path, "/metrics") == 0 ? "text/plain; version=0.0.4" : "text/plain",
      strlen (body), body);
  uv_buf_t b = uv_buf_init (sc->resp, strlen (sc->resp));
  if (uv_write (&sc->wr, s, &b, 1, status_written) < 0)
    uv_close ((uv_handle_t *)s, status_closed);
}

static void
on_status_connection (uv_stream_t *server, int status)
{
  if (status < 0)
    return;
  struct status_conn *sc = xmalloc0 (sizeof *sc);
  uv_tcp_init (S.loop, &sc->tcp);
  sc->tcp.data = sc;
  if (uv_accept (server, (uv_stream_t *)&sc->tcp) < 0)
    {
      uv_close ((uv_handle_t *)&sc->tcp, status_closed);
      return;
    }
  uv_read_start ((uv_stream_t *)&sc->tcp, sidecar_alloc_cb, status_read);
}

int
status_open_listener (uv_tcp_t *h, rdind_error_t *err)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  if (conf_parse_hostport (S.conf->status_listen, &host, &port, err) < 0)
    return rdind_error_wrap (err, "sidecar.status_listen");
  struct sockaddr_storage ss;
  const char *hn = host[0] ? host : "0.0.0.0";
  if (uv_ip4_addr (hn, port, (struct sockaddr_in *)&ss) != 0
      && uv_ip6_addr (hn, port, (struct sockaddr_in6 *)&ss) != 0)
    return rdind_make_error (
        err, 0,
        "sidecar.status_listen '%s' is not an IP address and port (fix: e.g. 127.0.0.1:9323)",
        S.conf->status_listen);
  uv_tcp_init (S.loop, h);
  int r = uv_tcp_bind (h, (struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen ((uv_stream_t *)h, 64, on_status_connection);
  if (r < 0)
    return rdind_make_error (err, -r, "listen on sidecar.status_listen %s", S.conf->status_listen);
  log_info ("status endpoint listening", "listen=%s", S.conf->status_listen);
  return 0;
}
