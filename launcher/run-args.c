/* rdind - the command line of rdind-launch: how `rdind launch` hands the
 * settings it resolved to the launcher's long-lived part (run.c).
 *
 *   rdind-launch --state-dir=DIR --rootlesskit-dir=DIR --docker-sock=PATH
 *                [--net=slirp4netns|pasta] --slirp4netns=PATH|--pasta=PATH
 *                [--slirp-arg=ARG]... --cidr=CIDR --mtu=N
 *                --stop-timeout=SECONDS [--namespace=NAME]... [--hide=PATH]...
 *                [--port-driver=native|slirp4netns] [--pull-path=direct|slirp]
 *                (--userns-fd=FD | --subuid=START:COUNT --subgid=START:COUNT)
 *                --log-level=LEVEL -- DOCKERD [ARG...]
 *
 * Plain argv, so that `ps` shows what the launcher runs with; nothing secret
 * goes there (dockerd's environment travels as rdind-launch's own).  Both
 * sides build from this file, so they cannot disagree on a spelling. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "launch-int.h"
#include "util.h"

static void
add_opt (char ***argv, const char *name, const char *value)
{
  cleanup_free char *s = NULL;
  xasprintf (&s, "--%s=%s", name, value);
  strv_append (argv, s);
}

char **
launch_run_to_argv (const struct launch_run *r, const char *helper)
{
  char **argv = NULL;
  char num[64];

  strv_append (&argv, helper);
  add_opt (&argv, "state-dir", r->state_dir);
  add_opt (&argv, "rootlesskit-dir", r->rootlesskit_dir);
  add_opt (&argv, "docker-sock", r->docker_sock);
  if (r->net)
    add_opt (&argv, "net", r->net);
  if (r->slirp4netns)
    add_opt (&argv, "slirp4netns", r->slirp4netns);
  if (r->pasta)
    add_opt (&argv, "pasta", r->pasta);
  for (char **a = r->slirp_args; a && *a; a++)
    add_opt (&argv, "slirp-arg", *a);
  add_opt (&argv, "cidr", r->cidr);
  snprintf (num, sizeof num, "%" PRIu64, r->mtu);
  add_opt (&argv, "mtu", num);
  snprintf (num, sizeof num, "%" PRIu64, r->stop_timeout);
  add_opt (&argv, "stop-timeout", num);
  for (char **n = r->namespaces; n && *n; n++)
    add_opt (&argv, "namespace", *n);
  for (char **h = r->hide; h && *h; h++)
    add_opt (&argv, "hide", *h);
  if (r->port_driver)
    add_opt (&argv, "port-driver", r->port_driver);
  if (r->pull_path)
    add_opt (&argv, "pull-path", r->pull_path);
  if (r->cgroup_fd >= 0)
    {
      snprintf (num, sizeof num, "%d", r->cgroup_fd);
      add_opt (&argv, "cgroup-fd", num);
    }
  if (r->userns_fd >= 0)
    {
      snprintf (num, sizeof num, "%d", r->userns_fd);
      add_opt (&argv, "userns-fd", num);
    }
  else
    {
      snprintf (num, sizeof num, "%" PRIu64 ":%" PRIu64, r->ids.uid_start, r->ids.uid_count);
      add_opt (&argv, "subuid", num);
      snprintf (num, sizeof num, "%" PRIu64 ":%" PRIu64, r->ids.gid_start, r->ids.gid_count);
      add_opt (&argv, "subgid", num);
    }
  add_opt (&argv, "log-level", r->log_level);
  strv_append (&argv, "--");
  for (char **a = r->dockerd_argv; a && *a; a++)
    strv_append (&argv, *a);
  return argv;
}

static int
parse_u64 (const char *s, uint64_t *out)
{
  char *end;
  errno = 0;
  *out = strtoull (s, &end, 10);
  return (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0) ? 0 : -1;
}

static int
parse_range (const char *s, uint64_t *start, uint64_t *count)
{
  cleanup_free char *copy = xstrdup (s);
  char *colon = strchr (copy, ':');

  if (colon == NULL)
    return -1;
  *colon = '\0';
  return parse_u64 (copy, start) < 0 || parse_u64 (colon + 1, count) < 0 ? -1 : 0;
}

int
launch_run_parse (struct launch_run *r, int argc, char **argv, rdind_error_t *err)
{
  bool have_uid = false, have_gid = false, have_mtu = false, have_stop = false;
  int i;

  memset (r, 0, sizeof *r);
  r->userns_fd = -1;
  r->cgroup_fd = -1;
  r->log_level = "info";
  for (i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
    {
      const char *a = argv[i], *eq = strchr (a, '=');
      const char *v = eq ? eq + 1 : NULL;
      size_t nl = eq ? (size_t) (eq - a) : strlen (a);
      bool bad = false;

#define IS(name) (nl == strlen ("--" name) && strncmp (a, "--" name, nl) == 0)
      if (v == NULL)
        bad = true;
      else if (IS ("state-dir"))
        r->state_dir = v;
      else if (IS ("rootlesskit-dir"))
        r->rootlesskit_dir = v;
      else if (IS ("docker-sock"))
        r->docker_sock = v;
      else if (IS ("slirp4netns"))
        r->slirp4netns = v;
      else if (IS ("pasta"))
        r->pasta = v;
      else if (IS ("net"))
        {
          bad = strcmp (v, "slirp4netns") != 0 && strcmp (v, "pasta") != 0;
          r->net = v;
        }
      else if (IS ("slirp-arg"))
        strv_append (&r->slirp_args, v);
      else if (IS ("cidr"))
        r->cidr = v;
      else if (IS ("mtu"))
        {
          bad = parse_u64 (v, &r->mtu) < 0;
          have_mtu = true;
        }
      else if (IS ("stop-timeout"))
        {
          bad = parse_u64 (v, &r->stop_timeout) < 0;
          have_stop = true;
        }
      else if (IS ("namespace"))
        strv_append (&r->namespaces, v);
      else if (IS ("port-driver"))
        {
          bad = strcmp (v, "native") != 0 && strcmp (v, "slirp4netns") != 0;
          r->port_driver = v;
        }
      else if (IS ("pull-path"))
        {
          bad = strcmp (v, "direct") != 0 && strcmp (v, "slirp") != 0;
          r->pull_path = v;
        }
      else if (IS ("hide"))
        {
          bad = v[0] != '/' || strcmp (v, "/") == 0;
          if (!bad)
            strv_append (&r->hide, v);
        }
      else if (IS ("cgroup-fd"))
        {
          uint64_t fd;
          bad = parse_u64 (v, &fd) < 0 || fd < 3 || fd > 1024;
          r->cgroup_fd = (int) fd;
        }
      else if (IS ("userns-fd"))
        {
          uint64_t fd;
          /* 0-2 are stdio: the sidecar passes the namespace above them. */
          bad = parse_u64 (v, &fd) < 0 || fd < 3 || fd > 1024;
          r->userns_fd = (int) fd;
        }
      else if (IS ("subuid"))
        {
          bad = parse_range (v, &r->ids.uid_start, &r->ids.uid_count) < 0;
          have_uid = true;
        }
      else if (IS ("subgid"))
        {
          bad = parse_range (v, &r->ids.gid_start, &r->ids.gid_count) < 0;
          have_gid = true;
        }
      else if (IS ("log-level"))
        r->log_level = v;
      else
        bad = true;
#undef IS
      if (bad)
        {
          rdind_make_error (err, 0,
                            "bad argument `%s`: rdind-launch takes the settings `rdind launch` "
                            "resolved; start that instead",
                            a);
          goto fail;
        }
    }
  if (i + 1 >= argc)
    {
      rdind_make_error (err, 0,
                        "no dockerd command after `--`: rdind-launch is started by `rdind launch`; "
                        "start that instead");
      goto fail;
    }
  for (i++; i < argc; i++)
    strv_append (&r->dockerd_argv, argv[i]);
  if (r->state_dir == NULL || r->rootlesskit_dir == NULL || r->docker_sock == NULL
      || (launch_run_pasta (r) ? r->pasta == NULL : r->slirp4netns == NULL) || r->cidr == NULL || !have_mtu || !have_stop
      || (r->userns_fd < 0 && !(have_uid && have_gid)))
    {
      rdind_make_error (err, 0,
                        "missing settings (--state-dir, --rootlesskit-dir, --docker-sock, "
                        "--slirp4netns or --pasta, --cidr, --mtu, --stop-timeout, and --userns-fd or "
                        "--subuid/--subgid): rdind-launch is started by `rdind launch`; "
                        "start that instead");
      goto fail;
    }
  return 0;

fail:
  launch_run_release (r);
  return -1;
}

void
launch_run_release (struct launch_run *r)
{
  strv_free (r->slirp_args);
  strv_free (r->namespaces);
  strv_free (r->hide);
  strv_free (r->dockerd_argv);
  r->slirp_args = r->namespaces = r->hide = r->dockerd_argv = NULL;
}
