/* The rootlesskit API subset served by the launcher, against a fake
 * slirp4netns API socket: the JSON shapes rdind-docker-proxy relies on. */
#include "config.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch-int.h"
#include "launch.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/test-launcher-api.XXXXXX";

/* Fake slirp4netns: answers add_hostfwd with increasing ids, anything else
 * with an empty return. */
static pid_t
fake_slirp (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  pid_t p;

  strcpy (sa.sun_path, path);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (fd, 8) < 0)
    return -1;
  p = fork ();
  if (p == 0)
    {
      int id = 40;
      for (;;)
        {
          int c = accept (fd, NULL, NULL);
          char buf[1024] = "";
          if (c < 0)
            continue;
          if (read (c, buf, sizeof buf - 1) < 0)
            buf[0] = '\0';
          if (strstr (buf, "add_hostfwd"))
            dprintf (c, "{\"return\": {\"id\": %d}}", ++id);
          else
            dprintf (c, "{\"return\": {}}");
          close (c);
        }
    }
  close (fd);
  return p;
}

/* Runs one HTTP request in a child while the parent serves it. */
static int
request (struct launch_api *api, const char *method, const char *path, const char *body,
         char *out, size_t outlen)
{
  int pfd[2], st, code = -1;
  pid_t p;

  if (pipe (pfd) < 0)
    return -1;
  p = fork ();
  if (p == 0)
    {
      char *resp = NULL;
      rdind_error_t err = NULL;
      int c = launch_http_unix (api->path, method, path, body, &resp, &err);
      dprintf (pfd[1], "%d %s", c, resp ? resp : "");
      _exit (0);
    }
  close (pfd[1]);
  /* the listener is non-blocking (the launcher polls it): wait the same way */
  struct pollfd pl = { api->fd, POLLIN, 0 };
  poll (&pl, 1, 5000);
  launch_api_serve_one (api);
  ssize_t n = read (pfd[0], out, outlen - 1);
  out[n > 0 ? n : 0] = '\0';
  close (pfd[0]);
  waitpid (p, &st, 0);
  sscanf (out, "%d", &code);
  return code;
}

int
main (void)
{
  struct launch_api api = { 0 };
  rdind_error_t err = NULL;
  char api_path[256], slirp_path[256], out[4096];
  pid_t slirp;
  int code;

  signal (SIGPIPE, SIG_IGN);
  alarm (60); /* a hung exchange must fail the test, not stall make check */
  if (mkdtemp (dir) == NULL)
    return 1;
  snprintf (api_path, sizeof api_path, "%s/api.sock", dir);
  snprintf (slirp_path, sizeof slirp_path, "%s/slirp.sock", dir);
  slirp = fake_slirp (slirp_path);
  ok (slirp > 0, "fake slirp4netns");
  ok (launch_api_listen (&api, api_path, slirp_path, "10.0.2.100", &err) == 0, "listen");
  api.child_pid = 1234;

  code = request (&api, "GET", "/v1/info", NULL, out, sizeof out);
  ok (code == 200 && strstr (out, "\"apiVersion\":\"1.1.1\"") && strstr (out, "\"childPID\":1234")
          && strstr (out, "\"driver\":\"slirp4netns\""),
      "GET /v1/info: %s", out);

  code = request (&api, "POST", "/v1/ports",
                  "{\"proto\":\"tcp\",\"parentIP\":\"127.0.0.1\",\"parentPort\":0,\"childPort\":80}",
                  out, sizeof out);
  ok (code == 400, "POST port 0 refused (%d)", code);

  code = request (&api, "POST", "/v1/ports",
                  "{\"proto\":\"sctp\",\"parentIP\":\"127.0.0.1\",\"parentPort\":8080,\"childPort\":80}",
                  out, sizeof out);
  ok (code == 400, "POST sctp refused (%d)", code);

  /* A free high port on loopback: bind to 0 and read it back. */
  int s = socket (AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (0x7f000001) };
  socklen_t sl = sizeof sin;
  bind (s, (struct sockaddr *) &sin, sizeof sin);
  getsockname (s, (struct sockaddr *) &sin, &sl);
  int port = ntohs (sin.sin_port);
  char body[256];
  snprintf (body, sizeof body,
            "{\"proto\":\"tcp\",\"parentIP\":\"127.0.0.1\",\"parentPort\":%d,\"childIP\":\"\",\"childPort\":%d}",
            port, port);
  listen (s, 1);
  code = request (&api, "POST", "/v1/ports", body, out, sizeof out);
  ok (code == 409 && strstr (out, "cannot publish"), "POST a taken host port: 409 (%s)", out);
  close (s);

  code = request (&api, "POST", "/v1/ports", body, out, sizeof out);
  ok (code == 201 && strstr (out, "\"id\":1") && strstr (out, "\"parentIP\":\"127.0.0.1\""),
      "POST a free port: 201 (%s)", out);
  ok (api.nports == 1 && api.ports[0].slirp_id == 41, "slirp hostfwd id kept");

  code = request (&api, "POST", "/v1/ports", body, out, sizeof out);
  ok (code == 409, "POST the same port twice: 409");

  code = request (&api, "GET", "/v1/ports", NULL, out, sizeof out);
  ok (code == 200 && strstr (out, "[{\"id\":1,\"spec\":{\"proto\":\"tcp\""), "GET /v1/ports: %s", out);

  code = request (&api, "DELETE", "/v1/ports/1", NULL, out, sizeof out);
  ok (code == 200 && api.nports == 0, "DELETE /v1/ports/1");
  code = request (&api, "DELETE", "/v1/ports/1", NULL, out, sizeof out);
  ok (code == 404, "DELETE again: 404");
  code = request (&api, "GET", "/nope", NULL, out, sizeof out);
  ok (code == 404, "unknown path: 404");

  launch_api_close (&api);
  kill (slirp, SIGKILL);
  waitpid (slirp, NULL, 0);
  unlink (slirp_path);
  rmdir (dir);
  return done_testing ();
}
