/* rdind - the subset of rootlesskit's REST API (pkg/api, v1.1) that dockerd's
 * rootless mode and its userland proxy use: GET /v1/info, GET/POST /v1/ports,
 * DELETE /v1/ports/{id}, on a unix socket only our user can reach (0700
 * state dir).  Ports are forwarded by slirp4netns (add_hostfwd) to the guest
 * address, where rdind-docker-proxy's docker-proxy listens in the netns. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "launch-int.h"
#include "launch.h"
#include "log.h"
#include "util.h"

#define IO_TIMEOUT_MS 3000
#define MAX_REQ 65536

static int
unix_addr (const char *path, struct sockaddr_un *sa, rdind_error_t *err)
{
  memset (sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (strlen (path) >= sizeof sa->sun_path)
    return rdind_make_error (err, ENAMETOOLONG, "socket path %s is too long: use a shorter launcher.state_dir", path);
  strcpy (sa->sun_path, path);
  return 0;
}

static int
unix_connect (const char *path, rdind_error_t *err)
{
  struct sockaddr_un sa;
  int fd;

  if (unix_addr (path, &sa, err) < 0)
    return -1;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return rdind_make_error (err, errno, "socket");
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int e = errno;
      close (fd);
      return rdind_make_error (err, e, "connect %s", path);
    }
  return fd;
}

static int
write_all (int fd, const char *s, size_t len)
{
  while (len)
    {
      ssize_t n = write (fd, s, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      s += n;
      len -= n;
    }
  return 0;
}

/* Reads until EOF, or until an HTTP message is complete when HTTP is set;
 * each read waits at most IO_TIMEOUT_MS. */
static char *
read_msg (int fd, bool http, size_t *out_len)
{
  size_t cap = 4096, len = 0;
  char *buf = xmalloc (cap);

  for (;;)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      ssize_t n;

      if (http)
        {
          buf[len] = '\0';
          char *hend = strstr (buf, "\r\n\r\n");
          if (hend)
            {
              const char *cl = strcasestr (buf, "\r\nContent-Length:");
              size_t want = cl && cl < hend ? strtoul (cl + 17, NULL, 10) : 0;
              if (len - (hend + 4 - buf) >= want)
                break;
            }
        }
      if (poll (&p, 1, IO_TIMEOUT_MS) <= 0)
        break;
      if (len + 1 >= cap)
        {
          if (cap >= MAX_REQ)
            break;
          cap *= 2;
          buf = xrealloc (buf, cap);
        }
      n = read (fd, buf + len, cap - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += n;
    }
  buf[len] = '\0';
  if (out_len)
    *out_len = len;
  return buf;
}

int
launch_slirp_call (const char *sock, const char *request, char **reply, rdind_error_t *err)
{
  cleanup_close int fd = unix_connect (sock, err);

  if (fd < 0)
    return rdind_error_wrap (err, "slirp4netns API");
  if (write_all (fd, request, strlen (request)) < 0)
    return rdind_make_error (err, errno, "write to slirp4netns API");
  shutdown (fd, SHUT_WR);
  *reply = read_msg (fd, false, NULL);
  return 0;
}

int
launch_http_unix (const char *sock, const char *method, const char *path, const char *body,
                  char **resp_body, rdind_error_t *err)
{
  cleanup_close int fd = unix_connect (sock, err);
  cleanup_free char *req = NULL;
  cleanup_free char *resp = NULL;
  char *b;
  int code = 0;

  if (fd < 0)
    return -1;
  xasprintf (&req,
             "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             method, path, body ? strlen (body) : 0, body ? body : "");
  if (write_all (fd, req, strlen (req)) < 0)
    return rdind_make_error (err, errno, "write to %s", sock);
  resp = read_msg (fd, true, NULL);
  if (sscanf (resp, "HTTP/1.%*d %d", &code) != 1)
    return rdind_make_error (err, EPROTO, "bad HTTP answer from %s", sock);
  b = strstr (resp, "\r\n\r\n");
  if (resp_body)
    *resp_body = xstrdup (b ? b + 4 : "");
  return code;
}

int
launch_api_listen (struct launch_api *api, const char *path, const char *slirp_sock,
                   const char *guest_ip, rdind_error_t *err)
{
  struct sockaddr_un sa;
  int fd;

  api->fd = -1;
  if (unix_addr (path, &sa, err) < 0)
    return -1;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return rdind_make_error (err, errno, "socket");
  unlink (path);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (fd, 16) < 0)
    {
      int e = errno;
      close (fd);
      return rdind_make_error (err, e, "listen on %s", path);
    }
  chmod (path, 0600);
  api->fd = fd;
  api->path = xstrdup (path);
  api->slirp_sock = xstrdup (slirp_sock);
  api->guest_ip = xstrdup (guest_ip);
  api->next_id = 1;
  return 0;
}

void
launch_api_close (struct launch_api *api)
{
  if (api->fd >= 0)
    close (api->fd);
  api->fd = -1;
  if (api->path)
    unlink (api->path);
  free (api->path);
  free (api->slirp_sock);
  free (api->guest_ip);
  free (api->ports);
  api->path = api->slirp_sock = api->guest_ip = NULL;
  api->ports = NULL;
  api->nports = 0;
}

static void
respond (int fd, int code, const char *body)
{
  cleanup_free char *r = NULL;
  const char *reason = code == 200 ? "OK" : code == 201 ? "Created" : code == 400 ? "Bad Request"
                    : code == 404 ? "Not Found" : code == 409 ? "Conflict" : code == 403 ? "Forbidden" : "Internal Server Error";
  xasprintf (&r,
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             code, reason, strlen (body), body);
  write_all (fd, r, strlen (r));
}

static void
respond_error (int fd, int code, const char *msg)
{
  cleanup_free char *b = NULL;
  cleanup_free char *esc = xmalloc (strlen (msg) * 2 + 1);
  char *o = esc;
  for (const char *p = msg; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        *o++ = '\\';
      *o++ = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
  *o = '\0';
  xasprintf (&b, "{\"message\":\"%s\"}", esc);
  respond (fd, code, b);
}

static char *
port_json (const struct launch_port *p)
{
  char *s = NULL;
  xasprintf (&s,
             "{\"id\":%d,\"spec\":{\"proto\":\"%s\",\"parentIP\":\"%s\",\"parentPort\":%d,"
             "\"childIP\":\"%s\",\"childPort\":%d}}",
             p->id, p->proto, p->parent_ip, p->parent_port, p->child_ip, p->child_port);
  return s;
}

int
launch_sockaddr (const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
  memset (ss, 0, sizeof *ss);
  if (strchr (ip, ':'))
    {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons (port);
      *len = sizeof *s6;
      return inet_pton (AF_INET6, ip, &s6->sin6_addr) == 1 ? 0 : -1;
    }
  struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
  s4->sin_family = AF_INET;
  s4->sin_port = htons (port);
  *len = sizeof *s4;
  return inet_pton (AF_INET, ip, &s4->sin_addr) == 1 ? 0 : -1;
}

void
launch_bind_error (const char *proto, const char *ip, int port, int e, char **why)
{
  /* Our own words for the two usual causes: strerror's differ between C
   * libraries (rdind-launch may be built with musl). */
  if (e == EADDRINUSE)
    xasprintf (why, "cannot publish %s:%d/%s: the port is already in use on the host; pick another "
               "host port", ip, port, proto);
  else if (e == EACCES)
    xasprintf (why, "cannot publish %s:%d/%s: this user may not bind ports below "
               "net.ipv4.ip_unprivileged_port_start; pick a higher host port or lower that sysctl",
               ip, port, proto);
  else
    xasprintf (why, "cannot publish %s:%d/%s: %s (the port is taken on the host or not allowed "
               "for this user)", ip, port, proto, strerror (e));
}

/* The host side must be free before slirp4netns is asked: its own error
 * ("add_hostfwd failed") would not tell the user which port is taken. */
static int
host_port_free (const char *proto, const char *ip, int port, char **why)
{
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, r;

  if (launch_sockaddr (ip, port, &ss, &len) < 0)
    return xasprintf (why, "bad host IP %s", ip), -1;
  fd = socket (ss.ss_family, (strcmp (proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return xasprintf (why, "socket: %s", strerror (errno)), -1;
  r = bind (fd, (struct sockaddr *) &ss, len);
  if (r < 0)
    launch_bind_error (proto, ip, port, errno, why);
  close (fd);
  return r;
}

static void
ports_post (struct launch_api *api, int fd, const char *body)
{
  cleanup_free char *proto = launch_json_get (body, "proto");
  cleanup_free char *pip = launch_json_get (body, "parentIP");
  cleanup_free char *pport = launch_json_get (body, "parentPort");
  cleanup_free char *cip = launch_json_get (body, "childIP");
  cleanup_free char *cport = launch_json_get (body, "childPort");
  cleanup_free char *req = NULL, *reply = NULL, *why = NULL, *out = NULL;
  rdind_error_t err = NULL;
  struct launch_port p = { 0 };
  const char *hip;

  if (proto == NULL || pport == NULL || (strcmp (proto, "tcp") && strcmp (proto, "udp")))
    return respond_error (fd, 400, "need proto (tcp or udp) and parentPort");
  p.parent_port = atoi (pport);
  p.child_port = cport ? atoi (cport) : p.parent_port;
  if (p.parent_port <= 0 || p.parent_port > 65535 || p.child_port <= 0 || p.child_port > 65535)
    return respond_error (fd, 400, "ports must be 1-65535");
  hip = pip && *pip ? pip : "0.0.0.0";
  snprintf (p.proto, sizeof p.proto, "%s", proto);
  snprintf (p.parent_ip, sizeof p.parent_ip, "%s", hip);
  snprintf (p.child_ip, sizeof p.child_ip, "%s", cip ? cip : "");
  /* Overlap within one address family (0.0.0.0 and :: are two ports). */
  for (size_t i = 0; i < api->nports; i++)
    if (api->ports[i].parent_port == p.parent_port && strcmp (api->ports[i].proto, p.proto) == 0
        && !strchr (api->ports[i].parent_ip, ':') == !strchr (hip, ':')
        && (strcmp (api->ports[i].parent_ip, hip) == 0 || strcmp (hip, "0.0.0.0") == 0 || strcmp (hip, "::") == 0
            || strcmp (api->ports[i].parent_ip, "0.0.0.0") == 0 || strcmp (api->ports[i].parent_ip, "::") == 0))
      {
        xasprintf (&why, "port %s:%d/%s is already published by this daemon", hip, p.parent_port, proto);
        return respond_error (fd, 409, why);
      }
  if (api->fwd)
    {
      /* Native driver: we listen on the host side ourselves and connect
       * each client, through a socket made in the namespace, to childIP
       * (the container, as rdind-docker-proxy asks) or the namespace's
       * loopback. */
      const char *target = p.child_ip[0] ? p.child_ip : strchr (hip, ':') ? "::1" : "127.0.0.1";
      p.id = api->next_id;
      if (launch_fwd_add (api->fwd, p.id, proto, hip, p.parent_port, target, p.child_port, &why) < 0)
        {
          log_warn ("port refused", "reason=%s", log_quote (0, why));
          return respond_error (fd, 409, why);
        }
      api->next_id++;
      goto published;
    }
  if (host_port_free (proto, hip, p.parent_port, &why) < 0)
    {
      log_warn ("port refused", "reason=%s", log_quote (0, why));
      return respond_error (fd, 409, why);
    }
  xasprintf (&req,
             "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"%s\",\"host_addr\":\"%s\","
             "\"host_port\":%d,\"guest_addr\":\"%s\",\"guest_port\":%d}}",
             proto, hip, p.parent_port, api->guest_ip, p.child_port);
  if (launch_slirp_call (api->slirp_sock, req, &reply, &err) < 0)
    {
      cleanup_free char *m = rdind_error_string (err);
      rdind_error_release (&err);
      return respond_error (fd, 500, m);
    }
  {
    cleanup_free char *ret = launch_json_get (reply, "return");
    cleanup_free char *id = ret ? launch_json_get (ret, "id") : NULL;
    if (id == NULL)
      {
        cleanup_free char *desc = launch_json_get (reply, "desc");
        xasprintf (&why, "slirp4netns add_hostfwd %s:%d/%s: %s", hip, p.parent_port, proto,
                   desc ? desc : reply);
        return respond_error (fd, 500, why);
      }
    p.slirp_id = atoi (id);
  }
  p.id = api->next_id++;
published:
  api->ports = xrealloc (api->ports, (api->nports + 1) * sizeof *api->ports);
  api->ports[api->nports++] = p;
  log_info ("port published", "id=%d host=%s:%d proto=%s guest_port=%d", p.id, hip, p.parent_port,
            proto, p.child_port);
  out = port_json (&p);
  respond (fd, 201, out);
}

static void
ports_delete (struct launch_api *api, int fd, int id)
{
  for (size_t i = 0; i < api->nports; i++)
    if (api->ports[i].id == id)
      {
        cleanup_free char *req = NULL, *reply = NULL;
        rdind_error_t err = NULL;
        xasprintf (&req, "{\"execute\":\"remove_hostfwd\",\"arguments\":{\"id\":%d}}",
                   api->ports[i].slirp_id);
        if (api->fwd)
          launch_fwd_remove (api->fwd, id);
        else if (launch_slirp_call (api->slirp_sock, req, &reply, &err) < 0)
          {
            log_warn ("remove_hostfwd failed", "id=%d", id);
            rdind_error_release (&err);
          }
        log_info ("port removed", "id=%d host=%s:%d", id, api->ports[i].parent_ip,
                  api->ports[i].parent_port);
        api->ports[i] = api->ports[--api->nports];
        return respond (fd, 200, "{}");
      }
  respond_error (fd, 404, "no such port");
}

/* The parent pid of PID (in our pid namespace), or -1. */
static pid_t
proc_ppid (pid_t pid)
{
  char path[64], buf[512];
  const char *p;
  int ppid = -1;
  cleanup_close int fd = -1;
  ssize_t n;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || (n = read (fd, buf, sizeof buf - 1)) <= 0)
    return -1;
  buf[n] = '\0';
  /* "PID (COMM) STATE PPID ...": COMM may hold anything, even ") ". */
  p = strrchr (buf, ')');
  if (p == NULL || sscanf (p + 1, " %*c %d", &ppid) != 1)
    return -1;
  return ppid;
}

/* Whether the peer on FD is a child of dockerd (init's child named
 * dockerd): rdind-docker-proxy, which dockerd runs for each published port.
 * A container's processes descend from containerd's shims, never from
 * dockerd, so a container that binds state_dir cannot publish host ports
 * behind dockerd's back through this socket.  (One run with the daemon's
 * pid namespace and --privileged can ptrace dockerd itself anyway.) */
static bool
peer_is_proxy (const struct launch_api *api, int fd)
{
  struct ucred cr;
  socklen_t len = sizeof cr;
  char path[64], comm[32] = "";
  pid_t parent;
  cleanup_close int cfd = -1;
  ssize_t n;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.pid <= 0)
    return false;
  parent = proc_ppid (cr.pid);
  if (parent <= 0 || proc_ppid (parent) != api->child_pid)
    return false;
  snprintf (path, sizeof path, "/proc/%d/comm", (int) parent);
  cfd = open (path, O_RDONLY | O_CLOEXEC);
  if (cfd < 0 || (n = read (cfd, comm, sizeof comm - 1)) <= 0)
    return false;
  comm[n] = '\0';
  return strcmp (comm, "dockerd\n") == 0;
}

void
launch_api_serve_one (struct launch_api *api)
{
  cleanup_close int fd = accept4 (api->fd, NULL, NULL, SOCK_CLOEXEC);
  cleanup_free char *req = NULL;

  if (fd < 0)
    return;
  req = read_msg (fd, true, NULL);
  if (api->proxies_only && strncmp (req, "GET ", 4) != 0 && !peer_is_proxy (api, fd))
    {
      struct ucred cr = { 0 };
      socklen_t len = sizeof cr;
      getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len);
      log_warn ("port API: refused a change from a process that is not dockerd's userland proxy",
                "pid=%d", (int) cr.pid);
      return respond_error (fd, 403, "only dockerd's userland proxy may change ports");
    }
  launch_api_handle (api, fd, req);
}

void
launch_api_handle (struct launch_api *api, int fd, const char *req)
{
  char method[16], path[256];
  const char *body;

  if (sscanf (req, "%15s %255s", method, path) != 2)
    return respond_error (fd, 400, "bad request");
  body = strstr (req, "\r\n\r\n");
  body = body ? body + 4 : "";
  char *q = strchr (path, '?');
  if (q)
    *q = '\0';
  if (strcmp (method, "GET") == 0 && strcmp (path, "/v1/info") == 0)
    {
      cleanup_free char *b = NULL;
      cleanup_free char *dir = xstrdup (api->path);
      char *sl = strrchr (dir, '/');
      if (sl)
        *sl = '\0';
      xasprintf (&b,
                 "{\"apiVersion\":\"1.1.1\",\"version\":\"rdind-%s\",\"stateDir\":\"%s\","
                 "\"childPID\":%d,\"networkDriver\":{\"driver\":\"%s\",\"childIP\":\"%s\"},"
                 "\"portDriver\":{\"driver\":\"%s\",\"protos\":[\"tcp\",\"udp\"],"
                 "\"disallowLoopbackChildIP\":false}}",
                 PACKAGE_VERSION, dir, (int) api->child_pid, api->net ? api->net : "slirp4netns", api->guest_ip, api->fwd ? "native" : "slirp4netns");
      return respond (fd, 200, b);
    }
  if (strcmp (path, "/v1/ports") == 0 && strcmp (method, "GET") == 0)
    {
      cleanup_free char *b = xstrdup ("[");
      for (size_t i = 0; i < api->nports; i++)
        {
          cleanup_free char *pj = port_json (&api->ports[i]);
          char *nb = NULL;
          xasprintf (&nb, "%s%s%s", b, i ? "," : "", pj);
          free (b);
          b = nb;
        }
      char *nb = NULL;
      xasprintf (&nb, "%s]", b);
      free (b);
      b = nb;
      return respond (fd, 200, b);
    }
  if (strcmp (path, "/v1/ports") == 0 && strcmp (method, "POST") == 0)
    return ports_post (api, fd, body);
  if (strncmp (path, "/v1/ports/", 10) == 0 && strcmp (method, "DELETE") == 0)
    {
      char *end;
      long id = strtol (path + 10, &end, 10);
      if (*end || id <= 0)
        return respond_error (fd, 400, "bad port id");
      return ports_delete (api, fd, (int) id);
    }
  respond_error (fd, 404, "not found");
}
