/* rdind - the CLI verbs.  main() (sidecar/rdind.c) loads the configuration
 * and dispatches; each verb lives in its subsystem and returns an exit
 * status (0 ok, 1 failure, 2 usage or configuration error). */
#ifndef RDIND_CMDS_H
#define RDIND_CMDS_H

struct rdind_conf;

int rdind_cmd_config (struct rdind_conf *conf, int argc, char **argv);
int rdind_cmd_launch (struct rdind_conf *conf, int argc, char **argv);
int rdind_cmd_doctor (struct rdind_conf *conf, int argc, char **argv);
int rdind_cmd_sidecar (struct rdind_conf *conf, int argc, char **argv);
int rdind_cmd_health (struct rdind_conf *conf, int argc, char **argv);

#endif
