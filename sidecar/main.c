/* rdind - main(): global flags, configuration, verb dispatch.
 *
 *   rdind [--config FILE] [--log-level LEVEL] COMMAND [ARGS...]
 *
 * --config may also follow the verb (rdind config --config FILE). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "conf.h"
#include "log.h"
#include "util.h"

struct verb
{
  const char *name;
  int (*fn) (struct rdind_conf *, int, char **);
  const char *help;
};

static const struct verb verbs[] = {
  { "sidecar", rdind_cmd_sidecar, "run the supervisor and the TLS endpoint (container entrypoint)" },
  { "launch", rdind_cmd_launch, "run a rootless dockerd on a unix socket, in the foreground" },
  { "doctor", rdind_cmd_doctor, "check this machine for every requirement and print the fixes" },
  { "health", rdind_cmd_health, "exit 0 only when the endpoint serves and dockerd answers" },
  { "config", rdind_cmd_config, "print the effective configuration and where each value comes from" },
};

static void
usage (FILE *f)
{
  fprintf (f, "Usage: rdind [--config FILE] [--log-level LEVEL] COMMAND [ARGS...]\n");
}

static void
help (void)
{
  usage (stdout);
  printf ("\nRootless Docker-in-Docker for CI: an unprivileged dockerd behind one\n"
          "mutual-TLS endpoint.\n\nCommands:\n");
  for (size_t i = 0; i < ARRAY_SIZE (verbs); i++)
    printf ("  %-8s %s\n", verbs[i].name, verbs[i].help);
  printf ("\nOptions:\n"
          "  --config FILE      INI file (default: $RDIND_CONFIG, $XDG_CONFIG_HOME/rdind/rdind.ini,\n"
          "                     /etc/rdind/rdind.ini, else the embedded defaults)\n"
          "  --log-level LEVEL  debug, info, warn or error (overrides [sidecar] log_level)\n"
          "  -h, --help         this help\n"
          "  -V, --version      print the version\n"
          "\nEnvironment: RDIND_<SECTION>_<KEY> overrides a key (RDIND_SIDECAR_LISTEN=...),\n"
          "DOCKER_TLS_CERTDIR sets [tls] certdir as in docker:dind.\n");
}

/* Removes "--config FILE" / "--config=FILE" / "--log-level X" from argv, wherever they are
 * before a "--". */
static int
take_opt (int *argc, char **argv, const char *name, char **value)
{
  size_t nl = strlen (name);
  for (int i = 1; i < *argc; i++)
    {
      int drop = 0;
      if (strcmp (argv[i], "--") == 0)
        break;
      if (strcmp (argv[i], name) == 0)
        {
          if (i + 1 >= *argc)
            {
              fprintf (stderr, "rdind: option %s needs a value\n", name);
              usage (stderr);
              return -1;
            }
          *value = argv[i + 1];
          drop = 2;
        }
      else if (strncmp (argv[i], name, nl) == 0 && argv[i][nl] == '=')
        {
          *value = argv[i] + nl + 1;
          drop = 1;
        }
      if (drop)
        {
          memmove (&argv[i], &argv[i + drop], (size_t) (*argc - i - drop + 1) * sizeof (char *));
          *argc -= drop;
          i--;
        }
    }
  return 0;
}

int
main (int argc, char **argv)
{
  char *config_path = NULL, *level = NULL;
  struct rdind_conf *conf = NULL;
  rdind_error_t err = NULL;
  const struct verb *v = NULL;
  int ret;

  if (take_opt (&argc, argv, "--config", &config_path) < 0
      || take_opt (&argc, argv, "--log-level", &level) < 0)
    return 2;
  if (argc < 2)
    {
      usage (stderr);
      fprintf (stderr, "Try 'rdind --help'.\n");
      return 2;
    }
  if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "help") == 0)
    {
      help ();
      return 0;
    }
  if (strcmp (argv[1], "-V") == 0 || strcmp (argv[1], "--version") == 0)
    {
      printf ("rdind %s\n", PACKAGE_VERSION);
      return 0;
    }
  for (size_t i = 0; i < ARRAY_SIZE (verbs); i++)
    if (strcmp (argv[1], verbs[i].name) == 0)
      v = &verbs[i];
  if (v == NULL)
    {
      if (argv[1][0] == '-')
        fprintf (stderr, "rdind: unknown option '%s'\n", argv[1]);
      else
        fprintf (stderr, "rdind: unknown command '%s'\n", argv[1]);
      usage (stderr);
      return 2;
    }

  if (conf_load (config_path, &conf, &err) < 0)
    return rdind_error_report (&err, 2);
  if (level)
    {
      if (conf_log_level (level) < 0)
        {
          fprintf (stderr, "rdind: --log-level '%s': use debug, info, warn or error\n", level);
          conf_free (conf);
          return 2;
        }
      free (conf->log_level);
      conf->log_level = xstrdup (level);
      /* The flag outranks the file like the variable does; exporting it
       * keeps it in force for the launcher and across a SIGHUP reload. */
      setenv ("RDIND_SIDECAR_LOG_LEVEL", level, 1);
    }
  log_set_level ((enum log_level) conf_log_level (conf->log_level));

  /* GitLab passes job variables to services: a DOCKER_HOST meant for the
   * job's client must not steer the daemon or the probes. */
  unsetenv ("DOCKER_HOST");
  unsetenv ("DOCKER_TLS_VERIFY");
  unsetenv ("DOCKER_CERT_PATH");
  unsetenv ("DOCKER_CONTEXT");

  ret = v->fn (conf, argc - 1, argv + 1);
  conf_free (conf);
  return ret;
}
