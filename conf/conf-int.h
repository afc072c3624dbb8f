/* rdind - configuration internals shared by the files of conf/: the key table's
 * shape, the private part of struct rdind_conf, and the value checks the
 * parser applies. */
#ifndef RDIND_CONF_INT_H
#define RDIND_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

enum vtype
{
  V_STR,      /* free string, non-empty */
  V_HOSTPORT, /* ip:port */
  V_HOSTPORT_OPT,
  V_PEERS, /* list of names, at least one */
  V_ALLOW, /* list of CIDRs, addresses or host names */
  V_NAMES, /* list of DNS names or IP literals */
  V_DURATION,
  V_UINT,
  V_ENUM,
  V_PATH_OPT, /* absolute path or "" (auto) */
  V_ARGS,
  V_NSLIST,   /* namespaces: pid, uts, ipc, cgroup */
  V_NAME_OPT, /* account or group name, may be empty */
  V_ABSPATHS, /* list of absolute paths (no "..") */
  V_IMAGES,   /* list of image references, '*' allowed at the end */
  V_CAPS,     /* list of capability names (CAP_ optional) or ALL */
  V_URL_OPT,  /* "" or http(s)://host[:port][/path] */
  V_REGISTRIES, /* list of registry host[:port] or CIDRs */
};

struct key_def
{
  const char *section;
  const char *key;
  enum vtype type;
  size_t off;
  const char *def;
  const char *choices; /* V_ENUM: "a|b|c" */
  uint64_t min, max;   /* V_UINT, V_DURATION */
  const char *help;
};

/* The table (keys.c): every key, in the order `rdind config` prints them. */
extern const struct key_def conf_keys[];
extern const size_t conf_n_keys;
extern const char *const conf_sections[];
extern const size_t conf_n_sections;

/* Room in the per-key arrays of struct conf_priv; keys.c checks the table
 * fits. */
#define CONF_MAX_KEYS 96

/* The public struct is the first member, so a struct rdind_conf * is also a
 * struct conf_priv *. */
struct conf_priv
{
  struct rdind_conf pub;
  char *raw[CONF_MAX_KEYS];    /* value as given */
  char *origin[CONF_MAX_KEYS]; /* "default", "FILE:LINE" or "env VAR" */
  int line[CONF_MAX_KEYS];     /* line in the file, 0 when not from the file */
  bool is_auto[CONF_MAX_KEYS]; /* an empty path resolved by conf_resolve_paths() */
  char *source_file;
  /* [policy.PEER] keys as read, in file order; turned into pub.peer_policies
   * by conf_check() once the environment is applied too. */
  struct conf_override
  {
    char *peer;
    size_t idx; /* a [policy] key */
    char *raw, *origin;
    int line;
  } *ovr;
  size_t n_ovr;
};

#define PRIV(c) ((struct conf_priv *)(c))

/* validate.c: helpers of the parser besides the exported conf_parse_*. */
bool conf_parse_ip_ (const char *s, int *family);
bool conf_valid_hostname_ (const char *s);
char **conf_split_list_ (const char *s);
int conf_normalize_path_ (char *p);
bool conf_valid_image_pattern_ (const char *s);
int conf_normalize_cap_ (char *c);

#endif
