/* libFuzzer: the configuration parser.  The input is an INI file (loaded
 * through a memfd, as conf_load_file reads a path); its first line is also
 * tried as a duration, host:port, CIDR and certificate time, and its lines as
 * RDIND_* environment entries on top of the defaults. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "kit.h"
#include "log.h"
#include "util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int fd = -1;
  char path[64];
  struct rdind_conf *c = NULL;
  rdind_error_t err = NULL;

  if (fd < 0)
    {
      log_set_level ((enum log_level) (LOG_ERROR_ + 1));
      fd = memfd_create ("fuzz-conf", 0);
    }
  if (ftruncate (fd, 0) < 0 || pwrite (fd, data, size, 0) != (ssize_t) size)
    return 0;
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  if (conf_load_file (path, &c, &err) == 0)
    {
      conf_policy_for (c, "client");
      conf_free (c);
    }
  rdind_error_release (&err);

  char *s = xstrndup ((const char *) data, size);
  char *nl = strchr (s, '\n');
  if (nl)
    *nl = '\0';
  uint64_t u;
  char *host = NULL;
  uint16_t port;
  time_t t;
  conf_parse_duration (s, &u, &err);
  rdind_error_release (&err);
  if (conf_parse_hostport (s, &host, &port, &err) == 0)
    free (host);
  rdind_error_release (&err);
  conf_parse_cidr (s, &err);
  rdind_error_release (&err);
  kit_parse_time (s, &t, &err);
  rdind_error_release (&err);
  free (s);

  /* Lines as environment entries. */
  s = xstrndup ((const char *) data, size);
  char *env[64];
  size_t n = 0;
  for (char *line = strtok (s, "\n"); line && n < 63; line = strtok (NULL, "\n"))
    env[n++] = line;
  env[n] = NULL;
  if (conf_load_file (NULL, &c, &err) == 0)
    {
      if (conf_apply_env (c, env, &err) < 0)
        rdind_error_release (&err);
      conf_free (c);
    }
  free (s);
  return 0;
}
