/* rdind - the direct pull path: dockerd's own registry traffic (pull, push,
 * FROM in builds) leaves from the host's network namespace instead of
 * crossing slirp4netns or pasta, while containers stay behind them.
 *
 * rootlesskit 2 keeps dockerd itself in the host namespace (--detach-netns);
 * the dockerd we run (20.10) cannot live there, so the launcher serves an
 * egress proxy instead.  Its listener is a socket made inside dockerd's
 * network namespace (by portd, launcher/portfwd.c) and bound there to
 * 127.0.0.1, so dockerd reaches it on its own loopback; the process that
 * accepts on it is the launcher's child in the host namespace, so each
 * upstream connection is opened, and each name resolved, from the host.
 * dockerd learns of it through HTTP_PROXY/HTTPS_PROXY (Go's
 * ProxyFromEnvironment), with a random credential made at each start:
 * - CONNECT host:port (https registries): 200, then bytes both ways;
 * - METHOD http://host:port/path (plain-HTTP insecure registries): the
 *   request goes on in origin form with `Connection: close`, because Go
 *   reuses one proxy connection for plain requests to any host, and a
 *   spliced connection can only ever reach the first.
 * A request without the credential gets 407: a --network host container
 * shares dockerd's loopback, and must not use the proxy.  A destination
 * that is loopback, link-local or unspecified, once resolved, gets 403: the
 * proxy must not lead to the host's own services (slirp4netns runs with
 * --disable-host-loopback for the same reason).
 *
 * One process (rdind-pullproxy) accepts; each connection gets a process of
 * its own that blocks in getaddrinfo and connect at will, so a slow name
 * never stalls the launcher's loop or another pull. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch-int.h"
#include "log.h"
#include "util.h"

#define HEAD_MAX 16384
#define HEAD_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 20000
#define PULL_MAX_CONNS 128

/* --- pure parts (tests/unit/test-pullproxy.c) ------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
launch_pull_basic (const char *user, const char *password)
{
  cleanup_free char *plain = NULL;
  size_t n, o = 0;
  char *out;

  xasprintf (&plain, "%s:%s", user, password);
  n = strlen (plain);
  out = xmalloc (4 * ((n + 2) / 3) + 1);
  for (size_t i = 0; i < n; i += 3)
    {
      unsigned v = (unsigned char) plain[i] << 16;
      if (i + 1 < n)
        v |= (unsigned char) plain[i + 1] << 8;
      if (i + 2 < n)
        v |= (unsigned char) plain[i + 2];
      out[o++] = b64[(v >> 18) & 63];
      out[o++] = b64[(v >> 12) & 63];
      out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
      out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
  out[o] = '\0';
  return out;
}

bool
launch_pull_auth_ok (const char *value, const char *expect)
{
  size_t n, m;
  unsigned char diff = 0;

  if (value == NULL || strncasecmp (value, "Basic", 5) != 0 || (value[5] != ' ' && value[5] != '\t'))
    return false;
  value += 5;
  while (*value == ' ' || *value == '\t')
    value++;
  n = strlen (value);
  while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
    n--;
  m = strlen (expect);
  if (n != m)
    return false;
  /* The same time whatever prefix matches: the credential is the only
   * thing between a --network host container and the host's network. */
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char) (value[i] ^ expect[i]);
  return diff == 0;
}

const char *
launch_pull_dest_refused (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET6)
    {
      const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
      if (IN6_IS_ADDR_LOOPBACK (a))
        return "loopback";
      if (IN6_IS_ADDR_UNSPECIFIED (a))
        return "unspecified";
      if (IN6_IS_ADDR_LINKLOCAL (a))
        return "link-local";
      /* ::ffff:127.0.0.1 is 127.0.0.1 to the kernel. */
      if (IN6_IS_ADDR_V4MAPPED (a) || IN6_IS_ADDR_V4COMPAT (a))
        {
          struct sockaddr_in v4 = { .sin_family = AF_INET };
          memcpy (&v4.sin_addr, &a->s6_addr[12], 4);
          if (IN6_IS_ADDR_V4COMPAT (a) && ntohl (v4.sin_addr.s_addr) <= 1)
            return IN6_IS_ADDR_LOOPBACK (a) ? "loopback" : "unspecified";
          return launch_pull_dest_refused ((struct sockaddr *) &v4);
        }
      return NULL;
    }
  if (sa->sa_family == AF_INET)
    {
      uint32_t a = ntohl (((const struct sockaddr_in *) sa)->sin_addr.s_addr);
      if ((a >> 24) == 127)
        return "loopback";
      if ((a >> 24) == 0)
        return "unspecified";
      if ((a >> 16) == 0xa9fe) /* 169.254/16 */
        return "link-local";
      return NULL;
    }
  return "not an IP address";
}

void
launch_pull_req_release (struct launch_pull_req *r)
{
  free (r->path);
  free (r->auth);
  free (r->head);
  memset (r, 0, sizeof *r);
}

/* HOST[:PORT] or [V6][:PORT] of LEN bytes into R; DEF_PORT when absent (0:
 * required). */
static int
parse_authority (const char *s, size_t len, int def_port, struct launch_pull_req *r)
{
  const char *host = s, *port = NULL;
  size_t hl;

  if (len && s[0] == '[')
    {
      const char *end = memchr (s, ']', len);
      if (end == NULL)
        return -1;
      host = s + 1;
      hl = (size_t) (end - host);
      for (size_t i = 0; i < hl; i++)
        if (host[i] == '\0' || !strchr ("0123456789abcdefABCDEF:.", host[i]))
          return -1;
      if ((size_t) (end + 1 - s) < len)
        {
          if (end[1] != ':')
            return -1;
          port = end + 2;
        }
    }
  else
    {
      const char *colon = memchr (s, ':', len);
      hl = colon ? (size_t) (colon - s) : len;
      for (size_t i = 0; i < hl; i++)
        if (host[i] == '\0' || !strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", host[i]))
          return -1;
      if (colon)
        port = colon + 1;
    }
  if (hl == 0 || hl >= sizeof r->host)
    return -1;
  memcpy (r->host, host, hl);
  r->host[hl] = '\0';
  if (port == NULL)
    {
      r->port = def_port;
      return def_port ? 0 : -1;
    }
  size_t pl = len - (size_t) (port - s);
  long v = 0;
  if (pl == 0 || pl > 5)
    return -1;
  for (size_t i = 0; i < pl; i++)
    {
      if (port[i] < '0' || port[i] > '9')
        return -1;
      v = v * 10 + (port[i] - '0');
    }
  if (v < 1 || v > 65535)
    return -1;
  r->port = (int) v;
  return 0;
}

static bool
header_is (const char *line, size_t nlen, const char *name)
{
  return nlen == strlen (name) && strncasecmp (line, name, nlen) == 0;
}

int
launch_pull_parse (const char *head, size_t len, struct launch_pull_req *r)
{
  const char *end = head + len, *p = head, *eol, *sp1, *sp2;
  char *out;
  size_t ml;

  memset (r, 0, sizeof *r);
  eol = memchr (p, '\n', len);
  if (eol == NULL || eol == p || eol[-1] != '\r')
    return 400;
  sp1 = memchr (p, ' ', (size_t) (eol - p));
  if (sp1 == NULL)
    return 400;
  sp2 = memchr (sp1 + 1, ' ', (size_t) (eol - sp1 - 1));
  if (sp2 == NULL)
    return 400;
  ml = (size_t) (sp1 - p);
  if (ml == 0 || ml >= sizeof r->method)
    return 400;
  for (size_t i = 0; i < ml; i++)
    if (p[i] < 'A' || p[i] > 'Z')
      return 400;
  memcpy (r->method, p, ml);
  r->method[ml] = '\0';
  if ((size_t) (eol - 1 - (sp2 + 1)) != 8 || (strncmp (sp2 + 1, "HTTP/1.1", 8) != 0 && strncmp (sp2 + 1, "HTTP/1.0", 8) != 0))
    return 400;
  memcpy (r->version, sp2 + 1, 8);
  r->version[8] = '\0';

  const char *target = sp1 + 1;
  size_t tl = (size_t) (sp2 - target);
  r->connect = strcmp (r->method, "CONNECT") == 0;
  if (r->connect)
    {
      if (parse_authority (target, tl, 0, r) < 0)
        return 400;
    }
  else
    {
      /* Only plain HTTP travels in absolute form; https goes by CONNECT. */
      if (tl < 8 || strncasecmp (target, "http://", 7) != 0)
        return 400;
      const char *auth = target + 7, *te = target + tl, *slash = auth;
      while (slash < te && *slash != '/' && *slash != '?')
        slash++;
      if (memchr (auth, '@', (size_t) (slash - auth)) || parse_authority (auth, (size_t) (slash - auth), 80, r) < 0)
        return 400;
      for (const char *c = slash; c < te; c++)
        if ((unsigned char) *c <= ' ' || *c == 0x7f)
          return 400;
      if (slash == te)
        r->path = xstrdup ("/");
      else if (*slash == '?')
        xasprintf (&r->path, "/%.*s", (int) (te - slash), slash);
      else
        r->path = xstrndup (slash, (size_t) (te - slash));
    }

  /* The headers: Proxy-Authorization is ours; hop-by-hop ones stop here.
   * HEAD gets the request as it goes on (origin form, Connection: close). */
  out = xmalloc (len + 64 + (r->path ? strlen (r->path) : 0));
  size_t o = 0;
  if (!r->connect)
    o += (size_t) sprintf (out, "%s %s %s\r\n", r->method, r->path, r->version);
  for (p = eol + 1; p < end; p = eol + 1)
    {
      eol = memchr (p, '\n', (size_t) (end - p));
      if (eol == NULL || eol == p || eol[-1] != '\r')
        goto bad;
      if (eol - 1 == p)
        break; /* the empty line */
      const char *colon = memchr (p, ':', (size_t) (eol - p));
      if (*p == ' ' || *p == '\t' || colon == NULL || colon == p)
        goto bad; /* obsolete folding, or no name */
      /* No control byte (a NUL, a lone CR) goes on to a registry. */
      for (const char *c = p; c < eol - 1; c++)
        if (((unsigned char) *c < ' ' && *c != '\t') || *c == 0x7f)
          goto bad;
      size_t nl = (size_t) (colon - p);
      for (size_t i = 0; i < nl; i++)
        if (p[i] == ' ' || p[i] == '\t')
          goto bad;
      if (header_is (p, nl, "Proxy-Authorization"))
        {
          if (r->auth)
            goto bad;
          const char *v = colon + 1;
          while (*v == ' ' || *v == '\t')
            v++;
          r->auth = xstrndup (v, (size_t) (eol - 1 - v));
          continue;
        }
      if (header_is (p, nl, "Proxy-Connection") || header_is (p, nl, "Connection")
          || header_is (p, nl, "Keep-Alive"))
        continue;
      if (!r->connect)
        {
          memcpy (out + o, p, (size_t) (eol + 1 - p));
          o += (size_t) (eol + 1 - p);
        }
    }
  if (p >= end)
    goto bad;
  if (!r->connect)
    o += (size_t) sprintf (out + o, "Connection: close\r\n\r\n");
  out[o] = '\0';
  r->head = out;
  r->head_len = o;
  return 0;

bad:
  free (out);
  launch_pull_req_release (r);
  return 400;
}

/* --- the proxy process ----------------------------------------------------- */

static const char *
reason_phrase (int status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    default: return "Error";
    }
}

static bool
write_all (int fd, const char *buf, size_t len)
{
  while (len)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd p = { fd, POLLOUT, 0 };
          if (poll (&p, 1, CONNECT_TIMEOUT_MS) <= 0)
            return false;
          continue;
        }
      if (n <= 0)
        return false;
      buf += n;
      len -= (size_t) n;
    }
  return true;
}

static void
reply (int fd, int status, const char *why)
{
  cleanup_free char *r = NULL;
  xasprintf (&r,
             "HTTP/1.1 %d %s\r\n%sContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
             status, reason_phrase (status),
             status == 407 ? "Proxy-Authenticate: Basic realm=\"rdind\"\r\n" : "", strlen (why) + 1, why);
  write_all (fd, r, strlen (r));
}

static void
addr_text (const struct sockaddr *sa, char *buf, size_t size)
{
  const void *a = sa->sa_family == AF_INET6 ? (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr
                                            : (const void *) &((const struct sockaddr_in *) sa)->sin_addr;
  if (inet_ntop (sa->sa_family, a, buf, (socklen_t) size) == NULL)
    snprintf (buf, size, "?");
}

/* Connects to ADDR within the timeout; the socket is non-blocking. */
static int
connect_to (const struct addrinfo *ai)
{
  int s = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0)
    return -1;
  if (connect (s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
    {
      close (s);
      return -1;
    }
  struct pollfd p = { s, POLLOUT, 0 };
  int e = 0;
  socklen_t l = sizeof e;
  if (poll (&p, 1, CONNECT_TIMEOUT_MS) != 1 || getsockopt (s, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e)
    {
      close (s);
      errno = e ? e : ETIMEDOUT;
      return -1;
    }
  return s;
}

/* Bytes both ways until both directions ended or an error; F[0] is client
 * to upstream. */
static void
relay (int c, int u, struct launch_splice f[2])
{
  for (int i = 0; i < 2; i++)
    if (launch_splice_open (&f[i], 0) < 0)
      return;
  fcntl (c, F_SETFL, fcntl (c, F_GETFL) | O_NONBLOCK);
  for (;;)
    {
      if (launch_splice_pump (&f[0], c, u) < 0 || launch_splice_pump (&f[1], u, c) < 0)
        return;
      if (f[0].shut && f[1].shut)
        return;
      struct pollfd p[2] = { { c, 0, 0 }, { u, 0, 0 } };
      for (int i = 0; i < 2; i++)
        {
          if (launch_splice_wants_src (&f[i]))
            p[i].events |= POLLIN;
          if (f[i].pending)
            p[1 - i].events |= POLLOUT;
        }
      if (poll (p, 2, -1) < 0 && errno != EINTR)
        return;
      for (int i = 0; i < 2; i++)
        /* HUP after its EOF: that side is gone both ways. */
        if ((p[i].revents & (POLLERR | POLLNVAL)) || ((p[i].revents & POLLHUP) && f[i].eof))
          return;
    }
}

/* Reads the request head (up to the empty line) into BUF; *LEN is what
 * was read, *HEAD_LEN where the head ends.  0, or the status to answer. */
static int
read_head (int c, char *buf, size_t size, size_t *len, size_t *head_len)
{
  uint64_t end = now_ms () + HEAD_TIMEOUT_MS;
  *len = 0;
  for (;;)
    {
      uint64_t now = now_ms ();
      struct pollfd p = { c, POLLIN, 0 };
      if (now >= end || poll (&p, 1, (int) (end - now)) == 0)
        return 408;
      ssize_t n = recv (c, buf + *len, size - 1 - *len, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      size_t from = *len > 3 ? *len - 3 : 0;
      *len += (size_t) n;
      buf[*len] = '\0';
      char *e = memmem (buf + from, *len - from, "\r\n\r\n", 4);
      if (e)
        {
          *head_len = (size_t) (e + 4 - buf);
          return 0;
        }
      if (*len >= size - 1)
        return 431;
    }
}

/* Connects to HOST:PORT, resolved here; with CHECK, only to addresses
 * launch_pull_dest_refused allows.  -1 with *WHY: 502 or 403 and a reason. */
struct dial
{
  char addr[INET6_ADDRSTRLEN]; /* the address connected to (or last tried) */
  char refused_addr[INET6_ADDRSTRLEN];
  const char *refused;         /* why the first refused address was */
  int gai, err;
};

static int
dial (const char *host, int port, bool check, struct dial *d)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
  char ps[16];
  int u = -1;

  snprintf (ps, sizeof ps, "%d", port);
  snprintf (d->addr, sizeof d->addr, "-");
  d->refused = NULL;
  d->err = 0;
  d->gai = getaddrinfo (host, ps, &hints, &ai);
  for (struct addrinfo *a = d->gai == 0 ? ai : NULL; a && u < 0; a = a->ai_next)
    {
      const char *why = check ? launch_pull_dest_refused (a->ai_addr) : NULL;
      if (why)
        {
          if (!d->refused)
            addr_text (a->ai_addr, d->refused_addr, sizeof d->refused_addr);
          d->refused = d->refused ? d->refused : why;
          continue;
        }
      u = connect_to (a);
      d->err = errno;
      addr_text (a->ai_addr, d->addr, sizeof d->addr);
    }
  if (ai)
    freeaddrinfo (ai);
  return u;
}

/* Through an upstream proxy the destination is resolved there; what it
 * resolves to here is still checked, so that a name of the host's
 * loopback is refused the same.  A name unknown here is the upstream's
 * business (corporate networks often resolve outside names only there). */
static const char *
check_name (const char *host, int port, char *addr, size_t size)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
  const char *why = NULL;
  char ps[16];

  snprintf (ps, sizeof ps, "%d", port);
  if (getaddrinfo (host, ps, &hints, &ai) != 0)
    return NULL;
  for (struct addrinfo *a = ai; a && !why; a = a->ai_next)
    if ((why = launch_pull_dest_refused (a->ai_addr)))
      addr_text (a->ai_addr, addr, size);
  freeaddrinfo (ai);
  return why;
}

/* What goes to the upstream proxy: the request as the client sent it to
 * us, with the upstream's credential instead of ours. */
static char *
upstream_head (const struct launch_pull_req *r, const struct launch_pull_upstream *up)
{
  const char *v6 = strchr (r->host, ':') ? "[" : "", *v6e = *v6 ? "]" : "";
  cleanup_free char *cred = NULL;
  char *out = NULL;

  if (up->auth)
    xasprintf (&cred, "Proxy-Authorization: Basic %s\r\n", up->auth);
  if (r->connect)
    xasprintf (&out, "CONNECT %s%s%s:%d %s\r\nHost: %s%s%s:%d\r\n%s\r\n", v6, r->host, v6e, r->port, r->version, v6,
               r->host, v6e, r->port, cred ? cred : "");
  else
    {
      /* R->head: the origin-form line, the headers, Connection: close and
       * the empty line; the credential goes before that last line. */
      const char *rest = strstr (r->head, "\r\n") + 2;
      xasprintf (&out, "%s http://%s%s%s:%d%s %s\r\n%.*s%s\r\n", r->method, v6, r->host, v6e, r->port, r->path,
                 r->version, (int) (r->head_len - (size_t) (rest - r->head) - 2), rest, cred ? cred : "");
    }
  return out;
}

static void
serve (int c, const char *expect, const struct launch_pull_upstream *ups)
{
  cleanup_free char *buf = xmalloc (HEAD_MAX + 1), *uhead = NULL;
  struct launch_pull_req r;
  const struct launch_pull_upstream *up;
  struct dial d = { .addr = "-" };
  size_t len, head_len;
  int u, st;
  uint64_t t0 = now_ms ();

  st = read_head (c, buf, HEAD_MAX + 1, &len, &head_len);
  if (st < 0)
    return;
  if (st)
    {
      reply (c, st, st == 408 ? "request head too slow" : "request head too large");
      log_warn ("pull path: refused", "status=%d reason=%s", st, st == 408 ? "timeout" : "head-too-large");
      return;
    }
  st = launch_pull_parse (buf, head_len, &r);
  if (st)
    {
      reply (c, st, "rdind's pull proxy takes CONNECT host:port and METHOD http://host[:port]/path");
      log_warn ("pull path: refused", "status=%d reason=malformed", st);
      return;
    }
  if (!launch_pull_auth_ok (r.auth, expect))
    {
      reply (c, 407, "rdind's pull proxy is dockerd's own: the credential is missing or wrong");
      log_warn ("pull path: refused", "status=407 method=%s dest=%s:%d reason=%s", r.method,
                log_quote (0, r.host), r.port, r.auth ? "bad-credential" : "no-credential");
      launch_pull_req_release (&r);
      return;
    }
  /* HTTPS_PROXY for what goes by CONNECT, HTTP_PROXY for plain HTTP, as
   * Go's ProxyFromEnvironment picks them. */
  up = &ups[r.connect ? 1 : 0];
  if (up->host[0] == '\0')
    up = NULL;
  if (up && (d.refused = check_name (r.host, r.port, d.refused_addr, sizeof d.refused_addr)))
    u = -1;
  else if (up)
    u = dial (up->host, up->port, false, &d);
  else
    /* Names resolve here, in the host's namespace, and the check applies
     * to each address: a name that resolves to 127.0.0.1 leads to the
     * host's loopback like the literal would. */
    u = dial (r.host, r.port, true, &d);
  if (u < 0)
    {
      if (d.refused && strcmp (d.addr, "-") == 0)
        {
          reply (c, 403, "destination refused: the pull path does not lead to the host's own addresses");
          log_warn ("pull path: refused", "status=403 method=%s dest=%s:%d addr=%s reason=%s", r.method,
                    log_quote (0, r.host), r.port, d.refused_addr, d.refused);
        }
      else if (d.gai != 0)
        {
          reply (c, 502, up ? "cannot resolve the upstream proxy's name" : "cannot resolve the registry's name");
          log_warn ("pull path: cannot resolve", "dest=%s:%d%s%s error=%s", log_quote (0, up ? up->host : r.host),
                    up ? up->port : r.port, up ? " via=upstream-proxy" : "", "", log_quote (1, gai_strerror (d.gai)));
        }
      else
        {
          reply (c, 502, up ? "cannot connect to the upstream proxy" : "cannot connect to the registry");
          log_warn ("pull path: cannot connect", "dest=%s:%d addr=%s%s error=%s", log_quote (0, up ? up->host : r.host),
                    up ? up->port : r.port, d.addr, up ? " via=upstream-proxy" : "", log_quote (1, strerror (d.err)));
        }
      launch_pull_req_release (&r);
      return;
    }
  int one = 1;
  setsockopt (u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* A line now and one at the end: Go keeps a CONNECT tunnel open for
   * reuse, so the end may come long after the pull. */
  log_info ("pull path: connected", "method=%s dest=%s:%d addr=%s%s", r.method, log_quote (0, r.host), r.port,
            d.addr, up ? " via=upstream-proxy" : "");
  bool ok;
  if (up)
    {
      /* The upstream's answer (its 200, or its own refusal) goes to the
       * client as it is. */
      uhead = upstream_head (&r, up);
      ok = write_all (u, uhead, strlen (uhead));
    }
  else
    ok = r.connect ? write_all (c, "HTTP/1.1 200 Connection established\r\n\r\n", 39)
                   : write_all (u, r.head, r.head_len);
  /* What the client sent after the head: a request body, or (CONNECT) the
   * TLS hello of a client that did not wait for our 200. */
  if (ok && len > head_len)
    ok = write_all (u, buf + head_len, len - head_len);
  struct launch_splice f[2] = { { .pipe = { -1, -1 } }, { .pipe = { -1, -1 } } };
  f[0].bytes = len - head_len;
  if (ok)
    relay (c, u, f);
  log_info ("pull path: proxied", "method=%s dest=%s:%d addr=%s%s sent=%llu received=%llu ms=%llu", r.method,
            log_quote (0, r.host), r.port, d.addr, up ? " via=upstream-proxy" : "", (unsigned long long) f[0].bytes,
            (unsigned long long) f[1].bytes, (unsigned long long) (now_ms () - t0));
  close (u);
  launch_pull_req_release (&r);
}

int
launch_pull_upstream_parse (const char *url, struct launch_pull_upstream *up)
{
  const char *p = url, *at, *end;
  struct launch_pull_req tmp = { 0 };

  memset (up, 0, sizeof *up);
  if (url == NULL || *url == '\0')
    return 0;
  if (strncasecmp (p, "http://", 7) == 0)
    p += 7;
  else if (strstr (p, "://"))
    return -1; /* https:// (TLS to the proxy), socks5://: not spoken here */
  end = p + strcspn (p, "/");
  if (*end && strcmp (end, "/") != 0)
    return -1;
  at = memrchr (p, '@', (size_t) (end - p));
  if (at)
    {
      /* user:password, percent-decoded as Go does, then base64. */
      cleanup_free char *user = xmalloc ((size_t) (at - p) + 1);
      size_t o = 0;
      for (const char *q = p; q < at; q++)
        {
          unsigned v;
          if (*q == '%' && q + 2 < at && isxdigit ((unsigned char) q[1]) && isxdigit ((unsigned char) q[2])
              && sscanf (q + 1, "%2x", &v) == 1)
            user[o++] = (char) v, q += 2;
          else
            user[o++] = *q;
        }
      user[o] = '\0';
      char *colon = strchr (user, ':');
      if (colon)
        *colon = '\0';
      up->auth = launch_pull_basic (user, colon ? colon + 1 : "");
      p = at + 1;
    }
  if (parse_authority (p, (size_t) (end - p), 80, &tmp) < 0)
    {
      free (up->auth);
      up->auth = NULL;
      return -1;
    }
  memcpy (up->host, tmp.host, sizeof up->host);
  up->port = tmp.port;
  return 0;
}

void
launch_pull_main (int lfd, const char *token, const char *http_upstream, const char *https_upstream)
{
  cleanup_free char *expect = launch_pull_basic (LAUNCH_PULL_USER, token);
  struct launch_pull_upstream ups[2];
  sigset_t none;
  int n = 0;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  prctl (PR_SET_NAME, "rdind-pullproxy");
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  signal (SIGPIPE, SIG_IGN);
  fcntl (lfd, F_SETFL, fcntl (lfd, F_GETFL) & ~O_NONBLOCK);
  /* rdind launch checked them: a bad one here is simply not used. */
  launch_pull_upstream_parse (http_upstream, &ups[0]);
  launch_pull_upstream_parse (https_upstream, &ups[1]);
  for (;;)
    {
      /* A bounded number of connection processes: anyone on dockerd's
       * loopback (a --network host container) may connect, credential or
       * not, and must not exhaust the account's processes. */
      while (n > 0 && waitpid (-1, NULL, n >= PULL_MAX_CONNS ? 0 : WNOHANG) > 0)
        n--;
      int c = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
      if (c < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
            usleep (100000);
          continue;
        }
      pid_t pid = fork ();
      if (pid == 0)
        {
          close (lfd);
          prctl (PR_SET_PDEATHSIG, SIGKILL);
          serve (c, expect, ups);
          _exit (0);
        }
      if (pid < 0)
        log_warn ("pull path: cannot fork for a connection", "errno=%d", errno);
      else
        n++;
      close (c);
    }
}

char *
launch_pull_token (void)
{
  unsigned char raw[16];
  char *hex = xmalloc (2 * sizeof raw + 1);
  size_t got = 0;

  while (got < sizeof raw)
    {
      ssize_t n = getrandom (raw + got, sizeof raw - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          free (hex);
          return NULL;
        }
      got += (size_t) n;
    }
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf (hex + 2 * i, 3, "%02x", raw[i]);
  return hex;
}
