/* A stand-in for Testcontainers' Ryuk reaper, for tests only (no registry
 * is reachable here, so the real testcontainers/ryuk image cannot be had).
 * It speaks Ryuk's protocol and does its job through the daemon socket that
 * Testcontainers bind-mounts at /var/run/docker.sock, which is what the e2e
 * test proves rdind provides:
 *   - prints "Started!" (Testcontainers waits for a log line matching Started);
 *   - listens on :8080; each line "label=KEY=VALUE" a client sends is kept as
 *     a filter and answered "ACK";
 *   - once every client has disconnected and none came back within
 *     RYUK_RECONNECTION_TIMEOUT (seconds, "10s" form accepted; default 10),
 *     removes (force) every container matching a filter, prints
 *     "Removed N container(s)" and exits;
 *   - `ryuk ping` prints the body of GET /_ping on that socket.
 * Built statically by tests/e2e/clients.sh and imported as an image. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_FILTERS 32

static char *filters[MAX_FILTERS];
static int n_filters;

/* One request on the daemon socket; returns the whole response (malloc'd). */
static char *
docker_request (const char *method, const char *path)
{
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  char req[4096];
  size_t cap = 1 << 16, len = 0;
  char *out = malloc (cap);

  strcpy (a.sun_path, "/var/run/docker.sock");
  if (fd < 0 || out == NULL || connect (fd, (struct sockaddr *) &a, sizeof a) < 0)
    {
      fprintf (stderr, "ryuk-standin: connect /var/run/docker.sock: %s\n", strerror (errno));
      exit (1);
    }
  snprintf (req, sizeof req, "%s %s HTTP/1.0\r\nHost: docker\r\n\r\n", method, path);
  if (write (fd, req, strlen (req)) < 0)
    exit (1);
  for (;;)
    {
      if (len + 4096 > cap && (out = realloc (out, cap *= 2)) == NULL)
        exit (1);
      ssize_t n = read (fd, out + len, cap - len - 1);
      if (n <= 0)
        break;
      len += (size_t) n;
    }
  out[len] = '\0';
  close (fd);
  return out;
}

static void
url_escape (const char *in, char *out, size_t size)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *in && o + 4 < size; in++)
    {
      unsigned char ch = (unsigned char) *in;
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-'
          || ch == '_' || ch == '.')
        out[o++] = (char) ch;
      else
        {
          out[o++] = '%';
          out[o++] = hex[ch >> 4];
          out[o++] = hex[ch & 15];
        }
    }
  out[o] = '\0';
}

static int
prune (void)
{
  int removed = 0;
  for (int i = 0; i < n_filters; i++)
    {
      char json[1024], esc[3072], path[4096];
      snprintf (json, sizeof json, "{\"label\":[\"%s\"]}", filters[i]);
      url_escape (json, esc, sizeof esc);
      snprintf (path, sizeof path, "/containers/json?all=1&filters=%s", esc);
      char *resp = docker_request ("GET", path);
      for (char *p = resp; (p = strstr (p, "\"Id\":\"")) != NULL;)
        {
          char id[65];
          p += 6;
          if (sscanf (p, "%64[0-9a-f]", id) != 1)
            continue;
          /* Never remove ourselves before the others. */
          char self[256] = "";
          gethostname (self, sizeof self);
          if (self[0] && strncmp (id, self, strlen (self)) == 0)
            continue;
          snprintf (path, sizeof path, "/containers/%s?force=1&v=1", id);
          char *r = docker_request ("DELETE", path);
          if (strncmp (r + 8, " 204", 4) == 0)
            removed++;
          free (r);
        }
      free (resp);
    }
  return removed;
}

int
main (int argc, char **argv)
{
  struct pollfd pf[MAX_CLIENTS + 1];
  char buf[MAX_CLIENTS + 1][1024];
  size_t have[MAX_CLIENTS + 1] = { 0 };
  int nfds = 1, seen = 0, one = 1;
  long timeout = 10;
  const char *t = getenv ("RYUK_RECONNECTION_TIMEOUT");
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (8080) };

  /* `ryuk ping`: the body of GET /_ping on the bound socket, for the test
   * that the socket answers from inside a container. */
  if (argc > 1 && strcmp (argv[1], "ping") == 0)
    {
      char *r = docker_request ("GET", "/_ping"), *body = strstr (r, "\r\n\r\n");
      printf ("%s\n", body ? body + 4 : r);
      return body && strncmp (r + 8, " 200", 4) == 0 ? 0 : 1;
    }
  if (t)
    timeout = strtol (t, NULL, 10);
  pf[0].fd = socket (AF_INET, SOCK_STREAM, 0);
  setsockopt (pf[0].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (pf[0].fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (pf[0].fd, 16) < 0)
    {
      perror ("ryuk-standin: listen :8080");
      return 1;
    }
  pf[0].events = POLLIN;
  printf ("ryuk-standin Started!\n");
  fflush (stdout);
  for (;;)
    {
      int r = poll (pf, nfds, seen && nfds == 1 ? (int) timeout * 1000 : -1);
      if (r == 0)
        break; /* everyone gone and nobody came back */
      if (pf[0].revents & POLLIN && nfds <= MAX_CLIENTS)
        {
          int c = accept (pf[0].fd, NULL, NULL);
          if (c >= 0)
            {
              pf[nfds].fd = c;
              pf[nfds].events = POLLIN;
              have[nfds] = 0;
              nfds++;
              seen = 1;
            }
        }
      for (int i = 1; i < nfds; i++)
        {
          if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          ssize_t n = read (pf[i].fd, buf[i] + have[i], sizeof buf[i] - 1 - have[i]);
          if (n <= 0)
            {
              close (pf[i].fd);
              pf[i] = pf[nfds - 1];
              memcpy (buf[i], buf[nfds - 1], have[nfds - 1]);
              have[i] = have[nfds - 1];
              nfds--;
              i--;
              continue;
            }
          have[i] += (size_t) n;
          buf[i][have[i]] = '\0';
          char *nl;
          while ((nl = strchr (buf[i], '\n')) != NULL)
            {
              *nl = '\0';
              if (nl > buf[i] && nl[-1] == '\r')
                nl[-1] = '\0';
              if (strncmp (buf[i], "label=", 6) == 0 && n_filters < MAX_FILTERS)
                {
                  filters[n_filters++] = strdup (buf[i] + 6);
                  printf ("ryuk-standin: filter %s\n", buf[i] + 6);
                  fflush (stdout);
                  if (write (pf[i].fd, "ACK\n", 4) < 0)
                    break;
                }
              size_t rest = have[i] - (size_t) (nl + 1 - buf[i]);
              memmove (buf[i], nl + 1, rest + 1);
              have[i] = rest;
            }
        }
    }
  printf ("ryuk-standin: Removed %d container(s)\n", prune ());
  fflush (stdout);
  return 0;
}
