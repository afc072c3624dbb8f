/* rdind health: exit 0 only when the endpoint really serves - a mutual TLS
 * handshake with the client certificate from CERTDIR/client and GET /_ping
 * answered "OK" by dockerd through it.  Blocking I/O with timeouts: this is
 * a short-lived probe (Kubernetes exec probe, image HEALTHCHECK). */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cmds.h"
#include "conf.h"
#include "ctx.h"
#include "log.h"
#include "util.h"

static int
connect_to (const char *host, uint16_t port, int timeout_s, rdind_error_t *err)
{
  char portstr[8];
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
  snprintf (portstr, sizeof portstr, "%u", port);
  int r = getaddrinfo (host, portstr, &hints, &res);
  if (r != 0)
    return rdind_make_error (err, 0, "resolve %s: %s", host, gai_strerror (r));
  int fd = -1;
  for (struct addrinfo *a = res; a; a = a->ai_next)
    {
      fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
      if (fd < 0)
        continue;
      struct timeval tv = { .tv_sec = timeout_s };
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      if (connect (fd, a->ai_addr, a->ai_addrlen) == 0)
        break;
      close (fd);
      fd = -1;
    }
  freeaddrinfo (res);
  if (fd < 0)
    return rdind_make_error (err, errno, "connect to %s:%u", host, port);
  return fd;
}

int
rdind_health_probe (struct rdind_conf *conf, rdind_error_t *err)
{
  cleanup_free char *host = NULL;
  uint16_t port = 0;
  if (conf_parse_hostport (conf->listen, &host, &port, err) < 0)
    return rdind_error_wrap (err, "sidecar.listen");
  /* A wildcard listener is probed on loopback, which the server
   * certificate always names. */
  const char *target = host;
  if (host[0] == '\0' || strcmp (host, "0.0.0.0") == 0)
    target = "127.0.0.1";
  else if (strcmp (host, "::") == 0)
    target = "::1";

  cleanup_free char *cdir = NULL;
  xasprintf (&cdir, "%s/client", conf->certdir);
  SSL_CTX *ctx = tls_client_ctx_new (cdir, err);
  if (ctx == NULL)
    return rdind_error_wrap (err, "health");

  int ret = -1;
  SSL *ssl = NULL;
  cleanup_close int fd = connect_to (target, port, 5, err);
  if (fd < 0)
    goto out;
  ssl = SSL_new (ctx);
  SSL_set_fd (ssl, fd);
  unsigned char buf[16];
  if (inet_pton (AF_INET, target, buf) == 1 || inet_pton (AF_INET6, target, buf) == 1)
    X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (ssl), target);
  else
    {
      SSL_set1_host (ssl, target);
      SSL_set_tlsext_host_name (ssl, target);
    }
  if (SSL_connect (ssl) != 1)
    {
      unsigned long e = ERR_get_error ();
      char eb[256] = "connection closed";
      if (e)
        ERR_error_string_n (e, eb, sizeof eb);
      ret = rdind_make_error (err, 0, "TLS handshake with %s:%u: %s", target, port, eb);
      goto out;
    }
  static const char req[] = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
  if (SSL_write (ssl, req, sizeof req - 1) != (int) sizeof req - 1)
    {
      ret = rdind_make_error (err, 0, "send GET /_ping to %s:%u", target, port);
      goto out;
    }
  char resp[4096];
  size_t have = 0;
  for (;;)
    {
      int n = SSL_read (ssl, resp + have, (int) (sizeof resp - 1 - have));
      if (n <= 0)
        break;
      have += n;
      if (have >= sizeof resp - 1)
        break;
    }
  resp[have] = '\0';
  char *body = strstr (resp, "\r\n\r\n");
  if (strncmp (resp, "HTTP/1.", 7) != 0 || strncmp (resp + 8, " 200", 4) != 0 || body == NULL
      || strncmp (body + 4, "OK", 2) != 0)
    {
      char *eol = strchr (resp, '\r');
      if (eol)
        *eol = '\0';
      ret = rdind_make_error (err, 0, "GET /_ping through %s:%u answered '%s'", target, port,
                              have ? resp : "(nothing)");
      goto out;
    }
  ret = 0;

out:
  ERR_clear_error ();
  if (ssl)
    SSL_free (ssl);
  SSL_CTX_free (ctx);
  return ret;
}

int
rdind_cmd_health (struct rdind_conf *conf, int argc, char **argv UNUSED)
{
  rdind_error_t err = NULL;
  if (argc > 1)
    {
      fprintf (stderr, "rdind health: takes no arguments (fix: run 'rdind health')\n");
      return 2;
    }
  conf_resolve_paths (conf);
  if (rdind_health_probe (conf, &err) < 0)
    return rdind_error_report (&err, 1);
  printf ("ok\n");
  return 0;
}
