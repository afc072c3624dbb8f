#include "config.h"
#include <stdio.h>
#include "cmds.h"
int
rdind_cmd_launch (struct rdind_conf *conf, int argc, char **argv)
{
  fprintf (stderr, "rdind: 'launch' is not built yet\n");
  return 1;
}
int
rdind_cmd_doctor (struct rdind_conf *conf, int argc, char **argv)
{
  fprintf (stderr, "rdind: 'doctor' is not built yet\n");
  return 1;
}
