#include "config.h"
#include <stdio.h>
#include "cmds.h"
int
rdind_cmd_sidecar (struct rdind_conf *conf, int argc, char **argv)
{
  fprintf (stderr, "rdind: 'sidecar' is not built yet\n");
  return 1;
}
int
rdind_cmd_health (struct rdind_conf *conf, int argc, char **argv)
{
  fprintf (stderr, "rdind: 'health' is not built yet\n");
  return 1;
}
