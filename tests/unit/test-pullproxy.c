/* The pull path (launcher/pullproxy.c): its pure parts (request heads,
 * CONNECT and absolute form, and what goes upstream; the credential check;
 * the destination check), and its relay against a slow reader when its
 * pipes fill before their bytes reach the capacity it asked for (2-page
 * pipes, small fragments). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "launch-int.h"
#include "splice-pipes.h"
#include "tap.h"
#include "util.h"

static int
parse (const char *head, struct launch_pull_req *r)
{
  return launch_pull_parse (head, strlen (head), r);
}

static void
expect_bad_len (const char *head, size_t len, const char *what)
{
  struct launch_pull_req r;
  int st = launch_pull_parse (head, len, &r);
  ok (st == 400, "400: %s (got %d)", what, st);
  if (st == 0)
    launch_pull_req_release (&r);
}

static void
expect_bad (const char *head, const char *what)
{
  expect_bad_len (head, strlen (head), what);
}

static const char *
refused (const char *ip)
{
  struct sockaddr_storage ss = { 0 };
  if (strchr (ip, ':'))
    {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
      s6->sin6_family = AF_INET6;
      inet_pton (AF_INET6, ip, &s6->sin6_addr);
    }
  else
    {
      struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
      s4->sin_family = AF_INET;
      inet_pton (AF_INET, ip, &s4->sin_addr);
    }
  return launch_pull_dest_refused ((struct sockaddr *) &ss);
}

/* CPU time (user + system, ms) of process PID, or -1. */
static long
cpu_ms (pid_t pid)
{
  char path[64], buf[1024];
  unsigned long ut, st;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen (path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  const char *p = strrchr (buf, ')'); /* past the name, which may hold spaces */
  if (p == NULL || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (long) ((ut + st) * 1000 / (unsigned long) sysconf (_SC_CLK_TCK));
}

/* A CONNECT through the proxy (chained to an upstream proxy of the test's
 * own on 127.0.0.1, which then plays the registry), 8 MiB up to a registry
 * that reads slowly.  MODE (splice-pipes.h) makes the connection's pipes
 * 2 pages (an exhausted account), or their slots run out before their bytes
 * (the client sends page-cache pages at an odd offset), or both: the
 * connection's process must know when its pipe is full, or it polls the
 * client while the pipe is full and spins.  Exit status: 77 when this
 * cannot be set up here, else bit 0 for wrong bytes and bit 1 for a busy
 * loop. */
static int
slow_reader_child (int mode)
{
  int up_port, lport, rc = 0;
  char upstream[64], head[4096];
  const char *token = "0123456789abcdef0123456789abcdef";

  if ((mode & SPLICE_EXHAUSTED) && exhaust_pipe_pages () != 0)
    return 77;
  int up = listen_any (&up_port), l = listen_any (&lport);
  snprintf (upstream, sizeof upstream, "http://127.0.0.1:%d", up_port);
  pid_t proxy = fork ();
  if (proxy == 0)
    launch_pull_main (l, token, "", upstream);
  close (l);
  int c = dial_mss (lport, 1200);
  cleanup_free char *basic = launch_pull_basic (LAUNCH_PULL_USER, token);
  /* A literal address: nothing is resolved, nothing leaves the machine. */
  dprintf (c, "CONNECT 198.18.4.2:443 HTTP/1.1\r\nHost: 198.18.4.2:443\r\nProxy-Authorization: Basic %s\r\n\r\n",
           basic);
  int u = accept (up, NULL, NULL);
  size_t len = 0;
  ssize_t n;
  while (len < sizeof head - 1 && (n = read (u, head + len, sizeof head - 1 - len)) > 0)
    {
      head[len += (size_t) n] = '\0';
      if (strstr (head, "\r\n\r\n"))
        break;
    }
  const char *yes = "HTTP/1.1 200 Connection established\r\n\r\n";
  if (write (u, yes, strlen (yes)) < 0)
    return 99;
  len = 0;
  while (len < strlen (yes) && (n = read (c, head + len, strlen (yes) - len)) > 0)
    len += (size_t) n;
  if (len != strlen (yes))
    return 99;
  /* The connection's own process: the proxy's only child. */
  char path[64], kids[64] = "";
  snprintf (path, sizeof path, "/proc/%d/task/%d/children", (int) proxy, (int) proxy);
  FILE *f = fopen (path, "r");
  if (f == NULL || fgets (kids, sizeof kids, f) == NULL)
    return 99;
  fclose (f);
  pid_t conn = (pid_t) atoi (kids);
  long wall_ms;
  bool same = fast_to_slow (c, u, 8 << 20, mode, &wall_ms);
  long cpu = cpu_ms (conn);
  diag ("mode %d: 8 MiB %s in %ld ms, %ld ms of the connection process's CPU", mode, same ? "through" : "NOT through",
        wall_ms, cpu);
  kill (proxy, SIGKILL);
  waitpid (proxy, NULL, 0);
  if (!same)
    rc |= 1;
  if (cpu < 0 || cpu * 3 > wall_ms) /* spinning took 38 to 48% of it here; waiting 0 to 4% */
    rc |= 2;
  return rc;
}

int
main (void)
{
  struct launch_pull_req r;

  /* CONNECT, as Go's transport sends it for an https registry. */
  ok (parse ("CONNECT registry-1.docker.io:443 HTTP/1.1\r\nHost: registry-1.docker.io:443\r\n"
             "User-Agent: Go-http-client/1.1\r\nProxy-Authorization: Basic cmRpbmQ6eA==\r\n\r\n",
             &r)
          == 0,
      "CONNECT parses");
  ok (r.connect && strcmp (r.host, "registry-1.docker.io") == 0 && r.port == 443, "CONNECT host and port");
  ok (r.auth && strcmp (r.auth, "Basic cmRpbmQ6eA==") == 0, "Proxy-Authorization is taken");
  launch_pull_req_release (&r);
  ok (parse ("CONNECT [2001:db8::1]:5000 HTTP/1.1\r\n\r\n", &r) == 0 && strcmp (r.host, "2001:db8::1") == 0
          && r.port == 5000 && r.auth == NULL,
      "CONNECT to an IPv6 literal, no credential");
  launch_pull_req_release (&r);
  expect_bad ("CONNECT registry:443 HTTP/1.1\r\n", "no empty line");
  expect_bad ("CONNECT registry HTTP/1.1\r\n\r\n", "CONNECT without a port");
  expect_bad ("CONNECT registry:0 HTTP/1.1\r\n\r\n", "port 0");
  expect_bad ("CONNECT registry:65536 HTTP/1.1\r\n\r\n", "port 65536");
  expect_bad ("CONNECT registry:44a HTTP/1.1\r\n\r\n", "a port with a letter");
  expect_bad ("CONNECT reg/istry:443 HTTP/1.1\r\n\r\n", "a slash in the host");
  expect_bad ("CONNECT [::1:443 HTTP/1.1\r\n\r\n", "an unclosed bracket");
  expect_bad ("CONNECT registry:443 HTTP/2.0\r\n\r\n", "HTTP/2.0");
  expect_bad ("CONNECT registry:443 HTTP/1.1\n\n", "bare LF");
  expect_bad ("connect registry:443 HTTP/1.1\r\n\r\n", "a lower-case method");
  expect_bad ("CONNECT registry:443 HTTP/1.1\r\n folded\r\n\r\n", "obsolete line folding");
  expect_bad ("CONNECT registry:443 HTTP/1.1\r\nNoColon\r\n\r\n", "a header without a colon");
  expect_bad ("CONNECT registry:443 HTTP/1.1\r\nBad Name: x\r\n\r\n", "a space in a header name");
  expect_bad_len ("GET http://r/ HTTP/1.1\r\nX: a\0b\r\n\r\n", 34, "a NUL in a header");
  expect_bad_len ("CONNECT [\0::1]:80 HTTP/1.1\r\n\r\n", 30, "a NUL in an IPv6 literal");
  expect_bad_len ("CONNECT a\0b:80 HTTP/1.1\r\n\r\n", 27, "a NUL in a name");
  expect_bad ("GET http://r/ HTTP/1.1\r\nX: a\rb\r\n\r\n", "a lone CR in a header");
  expect_bad ("CONNECT registry:443 HTTP/1.1\r\nProxy-Authorization: a\r\nProxy-Authorization: b\r\n\r\n",
              "two Proxy-Authorization headers");

  /* Absolute form, as Go sends a plain-HTTP (insecure) registry's requests. */
  const char *put = "PUT http://198.18.4.2:5000/v2/pp/blobs/uploads/x?digest=sha256:ab HTTP/1.1\r\n"
                    "Host: 198.18.4.2:5000\r\nProxy-Authorization: Basic cmRpbmQ6eA==\r\n"
                    "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\nKeep-Alive: 30\r\n"
                    "Content-Length: 3\r\n\r\n";
  ok (parse (put, &r) == 0, "PUT in absolute form parses");
  ok (!r.connect && strcmp (r.method, "PUT") == 0 && strcmp (r.host, "198.18.4.2") == 0 && r.port == 5000,
      "absolute form: method, host, port");
  ok (strcmp (r.head, "PUT /v2/pp/blobs/uploads/x?digest=sha256:ab HTTP/1.1\r\nHost: 198.18.4.2:5000\r\n"
                      "Content-Length: 3\r\nConnection: close\r\n\r\n")
          == 0 && r.head_len == strlen (r.head),
      "upstream gets origin form, no Proxy-* or hop-by-hop header, Connection: close");
  launch_pull_req_release (&r);
  ok (parse ("GET http://registry HTTP/1.0\r\n\r\n", &r) == 0 && r.port == 80 && strcmp (r.path, "/") == 0
          && strncmp (r.head, "GET / HTTP/1.0\r\n", 16) == 0,
      "absolute form without port or path: 80 and /");
  launch_pull_req_release (&r);
  ok (parse ("HEAD HTTP://Reg.Example:8080?x=1 HTTP/1.1\r\n\r\n", &r) == 0 && strcmp (r.path, "/?x=1") == 0
          && r.port == 8080,
      "a query without a path, the scheme in capitals");
  launch_pull_req_release (&r);
  expect_bad ("GET https://registry/v2/ HTTP/1.1\r\n\r\n", "https in absolute form (CONNECT is the way)");
  expect_bad ("GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n", "origin form (not a proxy request)");
  expect_bad ("GET http://user:pw@registry/v2/ HTTP/1.1\r\n\r\n", "userinfo in the target");
  expect_bad ("GET http://registry/v2/\x01 HTTP/1.1\r\n\r\n", "a control byte in the path");
  expect_bad ("GET http:///v2/ HTTP/1.1\r\n\r\n", "an empty host");

  /* The credential. */
  {
    cleanup_free char *b = launch_pull_basic ("rdind", "0123456789abcdef0123456789abcdef");
    cleanup_free char *v = NULL;
    ok (strcmp (b, "cmRpbmQ6MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=") == 0, "base64 of user:token");
    cleanup_free char *one = launch_pull_basic ("a", "");
    ok (strcmp (one, "YTo=") == 0, "base64 padding (2 bytes)");
    xasprintf (&v, "Basic %s", b);
    ok (launch_pull_auth_ok (v, b), "the right credential");
    free (v);
    xasprintf (&v, "basic   %s  ", b);
    ok (launch_pull_auth_ok (v, b), "the scheme in any case, spaces around");
    ok (!launch_pull_auth_ok (NULL, b), "no credential");
    ok (!launch_pull_auth_ok ("Bearer x", b), "another scheme");
    ok (!launch_pull_auth_ok ("Basic", b), "the scheme alone");
    ok (!launch_pull_auth_ok ("Basicx", b), "no space after the scheme");
    free (v);
    xasprintf (&v, "Basic %.*s", (int) strlen (b) - 1, b);
    ok (!launch_pull_auth_ok (v, b), "a prefix of the credential");
    free (v);
    xasprintf (&v, "Basic %sA", b);
    ok (!launch_pull_auth_ok (v, b), "the credential and more");
    cleanup_free char *t1 = launch_pull_token (), *t2 = launch_pull_token ();
    ok (t1 && t2 && strlen (t1) == 32 && strspn (t1, "0123456789abcdef") == 32 && strcmp (t1, t2) != 0,
        "tokens: 32 hex digits, different each time");
  }

  /* Destinations. */
  ok (refused ("127.0.0.1") && strcmp (refused ("127.0.0.1"), "loopback") == 0, "127.0.0.1 refused (loopback)");
  ok (refused ("127.255.3.4") != NULL, "all of 127/8 refused");
  ok (refused ("::1") && strcmp (refused ("::1"), "loopback") == 0, "::1 refused");
  ok (refused ("::ffff:127.0.0.1") && strcmp (refused ("::ffff:127.0.0.1"), "loopback") == 0,
      "IPv4-mapped loopback refused");
  ok (refused ("0.0.0.0") && strcmp (refused ("0.0.0.0"), "unspecified") == 0, "0.0.0.0 refused");
  ok (refused ("::") && strcmp (refused ("::"), "unspecified") == 0, ":: refused");
  ok (refused ("::ffff:0.0.0.0") != NULL, "IPv4-mapped 0.0.0.0 refused");
  ok (refused ("169.254.169.254") && strcmp (refused ("169.254.169.254"), "link-local") == 0,
      "169.254/16 refused (link-local: cloud metadata)");
  ok (refused ("fe80::1") && strcmp (refused ("fe80::1"), "link-local") == 0, "fe80::/10 refused");
  ok (refused ("::ffff:169.254.1.1") != NULL, "IPv4-mapped link-local refused");
  ok (refused ("198.18.4.2") == NULL, "198.18.4.2 allowed");
  ok (refused ("10.0.0.1") == NULL && refused ("192.168.1.1") == NULL, "private addresses allowed");
  ok (refused ("128.0.0.1") == NULL && refused ("169.253.0.1") == NULL, "neighbours of the ranges allowed");
  ok (refused ("2001:db8::1") == NULL && refused ("::ffff:8.8.8.8") == NULL, "global IPv6 and mapped IPv4 allowed");

  /* Upstream proxies (the user's HTTP_PROXY, HTTPS_PROXY). */
  {
    struct launch_pull_upstream up;
    ok (launch_pull_upstream_parse ("http://proxy.corp:3128", &up) == 0 && strcmp (up.host, "proxy.corp") == 0
            && up.port == 3128 && up.auth == NULL,
        "upstream: http://host:port");
    ok (launch_pull_upstream_parse ("proxy.corp", &up) == 0 && up.port == 80, "upstream: no scheme, port 80");
    ok (launch_pull_upstream_parse ("http://u:s%40cret@[2001:db8::1]:8080/", &up) == 0
            && strcmp (up.host, "2001:db8::1") == 0 && up.port == 8080 && up.auth
            && strcmp (up.auth, "dTpzQGNyZXQ=") == 0,
        "upstream: percent-decoded credential, IPv6, trailing slash");
    free (up.auth);
    ok (launch_pull_upstream_parse ("", &up) == 0 && up.host[0] == '\0', "upstream: empty is none");
    ok (launch_pull_upstream_parse ("https://proxy:3128", &up) < 0, "upstream: https:// refused");
    ok (launch_pull_upstream_parse ("socks5://proxy:1080", &up) < 0, "upstream: socks5:// refused");
    ok (launch_pull_upstream_parse ("http://proxy:3128/path", &up) < 0, "upstream: a path refused");
    ok (launch_pull_upstream_parse ("http://proxy:99999", &up) < 0, "upstream: a bad port refused");
  }
  slow_reader_checks (slow_reader_child, "the pull proxy");
  return done_testing ();
}
