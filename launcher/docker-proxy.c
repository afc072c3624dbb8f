/* rdind-docker-proxy - dockerd's userland proxy in rdind's rootless mode, a
 * drop-in for rootlesskit-docker-proxy (same flags, same fd 3 protocol).
 *
 * dockerd runs it inside the launcher's network namespace for each published
 * port.  It asks the launcher ($ROOTLESSKIT_STATE_DIR/api.sock) to forward
 * HOST_IP:HOST_PORT on the host to the guest address, then runs the real
 * docker-proxy listening on that port in the netns, which relays to the
 * container.  fd 3 gets "0\n" once the port works or "1\n<error>"; SIGINT or
 * SIGTERM removes the forward and stops. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch-int.h"
#include "launch.h"
#include "util.h"

static void
report (const char *a, const char *b)
{
  char msg[1024];
  snprintf (msg, sizeof msg, "%s%s", a, b ? b : "");
  /* dockerd reads fd 3 ("1\n" + reason); without it, say it on stderr. */
  if (dprintf (3, "1\n%s", msg) < 0)
    fprintf (stderr, "rdind-docker-proxy: %s\n", msg);
  close (3);
}

/* POST /v1/ports with BODY: the new port's id, or NULL once the reason is
 * reported to dockerd. */
static char *
publish (const char *sock, const char *body)
{
  cleanup_free char *resp = NULL;
  rdind_error_t err = NULL;
  int code = launch_http_unix (sock, "POST", "/v1/ports", body, &resp, &err);
  if (code < 0)
    {
      cleanup_free char *m = rdind_error_string (err);
      rdind_error_release (&err);
      report ("rdind port API: ", m);
      return NULL;
    }
  if (code != 201)
    {
      cleanup_free char *m = launch_json_get (resp, "message");
      report (m ? m : resp, NULL);
      return NULL;
    }
  return launch_json_get (resp, "id");
}

/* With the native driver: ask for the forward to the container itself,
 * report, then hold it until dockerd signals. */
static int
native (const char *sock, const char *proto, const char *hip, const char *hport, const char *cip,
        const char *cport, int sfd)
{
  cleanup_free char *body = NULL, *resp = NULL, *id = NULL, *path = NULL;
  rdind_error_t err = NULL;

  xasprintf (&body, "{\"proto\":\"%s\",\"parentIP\":\"%s\",\"parentPort\":%s,\"childIP\":\"%s\",\"childPort\":%s}",
             proto, hip, hport, cip, cport);
  id = publish (sock, body);
  if (id == NULL)
    return 1;
  if (write (3, "0\n", 2) != 2)
    {
      /* dockerd is gone: remove the forward below */
    }
  close (3);
  for (;;)
    {
      struct signalfd_siginfo si;
      if (read (sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
        break;
    }
  xasprintf (&path, "/v1/ports/%s", id ? id : "0");
  if (launch_http_unix (sock, "DELETE", path, NULL, NULL, &err) < 0)
    rdind_error_release (&err);
  return 0;
}

int
main (int argc, char **argv)
{
  const char *cip = NULL, *cport = NULL, *hip = "0.0.0.0", *hport = NULL, *proto = "tcp";
  const char *state = getenv ("ROOTLESSKIT_STATE_DIR") ? getenv ("ROOTLESSKIT_STATE_DIR") : getenv (LAUNCH_PORT_DIR_ENV);
  cleanup_free char *sock = NULL, *body = NULL, *resp = NULL, *real = NULL, *id = NULL;
  rdind_error_t err = NULL;
  sigset_t set;
  int sfd, pfd[2];
  pid_t child;

  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;
      if (a[0] == '-' && a[1] == '-')
        a++;
      if (v == NULL)
        break;
      if (strcmp (a, "-container-ip") == 0)
        cip = v, i++;
      else if (strcmp (a, "-container-port") == 0)
        cport = v, i++;
      else if (strcmp (a, "-host-ip") == 0)
        hip = v, i++;
      else if (strcmp (a, "-host-port") == 0)
        hport = v, i++;
      else if (strcmp (a, "-proto") == 0)
        proto = v, i++;
    }
  if (cip == NULL || cport == NULL || hport == NULL)
    {
      report ("usage: rdind-docker-proxy -container-ip IP -container-port P -host-ip IP "
              "-host-port P -proto tcp|udp", NULL);
      return 2;
    }
  if (state == NULL)
    {
      report ("neither ROOTLESSKIT_STATE_DIR nor " LAUNCH_PORT_DIR_ENV " is set: rdind-docker-proxy runs under `rdind launch`", NULL);
      return 1;
    }
  xasprintf (&sock, "%s/api.sock", state);

  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGCHLD);
  sigprocmask (SIG_BLOCK, &set, NULL);
  sfd = signalfd (-1, &set, SFD_CLOEXEC);

  /* The native port driver connects each client straight to the
   * container from inside the namespace: no docker-proxy hop, and the ::
   * twin of a port is a real IPv6 listener. */
  {
    cleanup_free char *info = NULL, *pd = NULL, *drv = NULL;
    if (launch_http_unix (sock, "GET", "/v1/info", NULL, &info, &err) == 200
        && (pd = launch_json_get (info, "portDriver")) && (drv = launch_json_get (pd, "driver"))
        && strcmp (drv, "native") == 0)
      return native (sock, proto, hip, hport, cip, cport, sfd);
    rdind_error_release (&err);
  }

  /* dockerd 20.10 publishes `-p P:80` twice, on 0.0.0.0 and on ::.  The
   * slirp4netns guest is IPv4 only and the 0.0.0.0 forward already takes
   * the host port (dual stack), so the :: twin is accepted and idles. */
  if (strchr (hip, ':'))
    {
      if (write (3, "0\n", 2) != 2)
        return 1;
      close (3);
      for (;;)
        {
          struct signalfd_siginfo si;
          if (read (sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
            return 0;
        }
    }

  /* The guest side listens on the same port number as the host side
   * (rootlesskit-docker-proxy does the same), on every netns address. */
  xasprintf (&body,
             "{\"proto\":\"%s\",\"parentIP\":\"%s\",\"parentPort\":%s,\"childIP\":\"\","
             "\"childPort\":%s}",
             proto, strcmp (hip, "0.0.0.0") == 0 || strcmp (hip, "::") == 0 ? "" : hip, hport,
             hport);
  id = publish (sock, body);
  if (id == NULL)
    return 1;

  real = getenv ("RDIND_REAL_DOCKER_PROXY") ? xstrdup (getenv ("RDIND_REAL_DOCKER_PROXY"))
                                            : launch_find_exe ("docker-proxy");
  if (real == NULL)
    {
      cleanup_free char *path = NULL;
      xasprintf (&path, "/v1/ports/%s", id ? id : "0");
      launch_http_unix (sock, "DELETE", path, NULL, NULL, &err);
      rdind_error_release (&err);
      report ("docker-proxy not found (install docker.io)", NULL);
      return 1;
    }
  if (pipe2 (pfd, O_CLOEXEC) < 0)
    return 1;
  child = fork ();
  if (child == 0)
    {
      sigset_t none;
      sigemptyset (&none);
      sigprocmask (SIG_SETMASK, &none, NULL);
      dup2 (pfd[1], 3);
      execl (real, real, "-container-ip", cip, "-container-port", cport, "-host-ip",
             strchr (hip, ':') ? "::" : "0.0.0.0", "-host-port", hport, "-proto", proto, (char *) NULL);
      dprintf (3, "1\nexec %s: %s", real, strerror (errno));
      _exit (127);
    }
  close (pfd[1]);
  {
    char buf[1024];
    ssize_t n, len = 0;
    while (len < (ssize_t) sizeof buf - 1 && (n = read (pfd[0], buf + len, sizeof buf - 1 - len)) > 0)
      {
        len += n;
        if (buf[0] == '0' && len >= 2)
          break;
      }
    buf[len > 0 ? len : 0] = '\0';
    close (pfd[0]);
    if (len < 1 || buf[0] != '0')
      {
        cleanup_free char *path = NULL;
        xasprintf (&path, "/v1/ports/%s", id ? id : "0");
        launch_http_unix (sock, "DELETE", path, NULL, NULL, &err);
        rdind_error_release (&err);
        kill (child, SIGKILL);
        waitpid (child, NULL, 0);
        report ("docker-proxy in the namespace: ", len > 2 ? buf + 2 : "failed");
        return 1;
      }
  }
  if (write (3, "0\n", 2) != 2)
    {
      /* dockerd is gone; fall through to cleanup */
    }
  close (3);

  for (;;)
    {
      struct signalfd_siginfo si;
      if (read (sfd, &si, sizeof si) != sizeof si)
        continue;
      if (si.ssi_signo == SIGCHLD && waitpid (child, NULL, WNOHANG) == 0)
        continue;
      break;
    }
  kill (child, SIGINT);
  waitpid (child, NULL, 0);
  {
    cleanup_free char *path = NULL;
    xasprintf (&path, "/v1/ports/%s", id ? id : "0");
    if (launch_http_unix (sock, "DELETE", path, NULL, NULL, &err) < 0)
      rdind_error_release (&err);
  }
  return 0;
}
