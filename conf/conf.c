/* rdind - configuration: table of keys, INI parsing with inih, environment
 * overrides and validation.  Every key has an embedded default so rdind runs
 * with no file at all. */
#include "config.h"
#include "conf.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum vtype
{
  V_STR,      /* free string, non-empty */
  V_HOSTPORT, /* ip:port */
  V_HOSTPORT_OPT,
  V_PEERS,    /* list of names, at least one */
  V_ALLOW,    /* list of CIDRs, addresses or host names */
  V_NAMES,    /* list of DNS names or IP literals */
  V_DURATION,
  V_UINT,
  V_ENUM,
  V_PATH_OPT, /* absolute path or "" (auto) */
  V_ARGS,
  V_NSLIST,   /* namespaces: pid, uts, ipc, cgroup */
  V_NAME_OPT, /* account or group name, may be empty */
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

#define O(f) offsetof (struct rdind_conf, f)

static const struct key_def keys[] = {
  { "sidecar", "listen", V_HOSTPORT, O (listen), "0.0.0.0:2376", NULL, 0, 0,
    "TLS endpoint address, ip:port ([v6]:port for IPv6)" },
  { "sidecar", "peers", V_PEERS, O (peers), "client", NULL, 0, 0,
    "client certificate names allowed to connect (comma separated)" },
  { "sidecar", "allow_from", V_ALLOW, O (allow_from), "", NULL, 0, 0,
    "optional source addresses, CIDRs or host names allowed to connect" },
  { "sidecar", "user", V_NAME_OPT, O (user), "rootless", NULL, 0, 0,
    "account to drop to when started as root" },
  { "sidecar", "stop_timeout", V_DURATION, O (stop_timeout), "15s", NULL, 0, 3600,
    "time dockerd gets to stop its containers on SIGTERM" },
  { "sidecar", "restart", V_ENUM, O (restart), "on-failure", "on-failure|never|always", 0, 0,
    "restart policy for a dockerd that exits" },
  { "sidecar", "status_listen", V_HOSTPORT_OPT, O (status_listen), "", NULL, 0, 0,
    "plain-HTTP /healthz and /metrics address (empty: off)" },
  { "sidecar", "handshake_timeout", V_DURATION, O (handshake_timeout), "10s", NULL, 1, 300,
    "time a client gets to finish the TLS handshake" },
  { "sidecar", "max_connections", V_UINT, O (max_connections), "1024", NULL, 1, 65536,
    "concurrent client connections" },
  { "sidecar", "log_level", V_ENUM, O (log_level), "info", "debug|info|warn|error", 0, 0,
    "log verbosity" },

  { "tls", "certdir", V_PATH_OPT, O (certdir), "", NULL, 0, 0,
    "DOCKER_TLS_CERTDIR layout (empty: /certs in a container, else $XDG_STATE_HOME/rdind/certs)" },
  { "tls", "lifetime", V_DURATION, O (lifetime), "24h", NULL, 300, 825 * 86400,
    "validity of server and client certificates" },
  { "tls", "ca_lifetime", V_DURATION, O (ca_lifetime), "30d", NULL, 600, 3650 * 86400,
    "validity of the CA certificate" },
  { "tls", "key_type", V_ENUM, O (key_type), "ecdsa-p256", "ecdsa-p256|rsa2048|rsa3072|rsa4096", 0,
    0, "key algorithm" },
  { "tls", "server_names", V_NAMES, O (server_names), "", NULL, 0, 0,
    "extra server names (DNS names or IP addresses)" },
  { "tls", "client_group", V_NAME_OPT, O (client_group), "", NULL, 0, 0,
    "group allowed to read client keys (0640); empty: keys are 0600" },

  { "launcher", "data_root", V_PATH_OPT, O (data_root), "", NULL, 0, 0,
    "dockerd data root (empty: $XDG_DATA_HOME/rdind/docker)" },
  { "launcher", "state_dir", V_PATH_OPT, O (state_dir), "", NULL, 0, 0,
    "sockets, pid files, exec root (empty: $XDG_RUNTIME_DIR/rdind or /tmp/rdind-UID)" },
  { "launcher", "storage_driver", V_ENUM, O (storage_driver), "auto",
    "auto|overlay2|fuse-overlayfs|vfs", 0, 0, "dockerd storage driver" },
  { "launcher", "net", V_ENUM, O (net), "slirp4netns", "slirp4netns", 0, 0,
    "network driver for the daemon's namespace" },
  { "launcher", "mtu", V_UINT, O (mtu), "65520", NULL, 1280, 65520, "MTU of the tap device" },
  { "launcher", "cidr", V_STR, O (cidr), "10.0.2.0/24", NULL, 0, 0,
    "slirp4netns network (IPv4 CIDR)" },
  { "launcher", "dockerd", V_STR, O (dockerd), "dockerd", NULL, 0, 0, "dockerd binary" },
  { "launcher", "dockerd_args", V_ARGS, O (dockerd_args), "", NULL, 0, 0,
    "extra dockerd arguments (white-space separated; no -H/--host, no --tls*)" },
  { "launcher", "slirp4netns", V_STR, O (slirp4netns), "slirp4netns", NULL, 0, 0,
    "slirp4netns binary" },
  { "launcher", "namespaces", V_NSLIST, O (namespaces), "pid,uts,ipc", NULL, 0, 0,
    "namespaces besides user, mount and network: pid (required), uts, ipc, cgroup" },
};

#define N_KEYS ARRAY_SIZE (keys)
static const char *const sections[] = { "sidecar", "tls", "launcher" };

/* The public struct is the first member, so a struct rdind_conf * is also a
 * struct conf_priv *. */
struct conf_priv
{
  struct rdind_conf pub;
  char *raw[N_KEYS];    /* value as given */
  char *origin[N_KEYS]; /* "default", "FILE:LINE" or "env VAR" */
  int line[N_KEYS];     /* line in the file, 0 when not from the file */
  bool is_auto[N_KEYS]; /* an empty path resolved by conf_resolve_paths() */
  char *source_file;
};

#define PRIV(c) ((struct conf_priv *) (c))

/* ---- validators ---------------------------------------------------------- */

int
conf_parse_duration (const char *s, uint64_t *out, rdind_error_t *err)
{
  uint64_t total = 0;
  const char *p = s;

  if (s == NULL || *s == '\0')
    return rdind_make_error (err, 0, "empty duration: use a number with a unit, e.g. 90m, 24h or 7d");
  if (strcmp (s, "0") == 0)
    {
      *out = 0;
      return 0;
    }
  while (*p)
    {
      char *end;
      unsigned long long v;
      uint64_t mul;

      if (!isdigit ((unsigned char) *p))
        goto bad;
      errno = 0;
      v = strtoull (p, &end, 10);
      if (errno || end == p)
        goto bad;
      switch (*end)
        {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: goto bad;
        }
      if (v > UINT64_MAX / mul / 2 || total + v * mul < total)
        goto bad;
      total += v * mul;
      p = end + 1;
    }
  *out = total;
  return 0;
bad:
  return rdind_make_error (err, 0, "'%s' is not a duration: use a number with a unit s, m, h or d, e.g. 90m, 24h or 7d", s);
}

static bool
parse_ip (const char *s, int *family)
{
  unsigned char buf[16];
  if (inet_pton (AF_INET, s, buf) == 1)
    {
      *family = AF_INET;
      return true;
    }
  if (inet_pton (AF_INET6, s, buf) == 1)
    {
      *family = AF_INET6;
      return true;
    }
  return false;
}

int
conf_parse_hostport (const char *s, char **host, uint16_t *port, rdind_error_t *err)
{
  cleanup_free char *h = NULL;
  const char *ps;
  char *end;
  unsigned long p;
  int fam;

  if (s[0] == '[')
    {
      const char *close = strchr (s, ']');
      if (close == NULL || close[1] != ':')
        return rdind_make_error (err, 0, "'%s' is not an address: write IPv6 as [::1]:2376", s);
      h = xstrndup (s + 1, (size_t) (close - s - 1));
      ps = close + 2;
      if (!parse_ip (h, &fam) || fam != AF_INET6)
        return rdind_make_error (err, 0, "'%s' is not an address: '%s' is not an IPv6 address", s, h);
    }
  else
    {
      const char *colon = strrchr (s, ':');
      if (colon == NULL || strchr (s, ':') != colon)
        return rdind_make_error (err, 0, "'%s' is not an address: use IP:PORT such as 0.0.0.0:2376 or [::]:2376", s);
      h = xstrndup (s, (size_t) (colon - s));
      ps = colon + 1;
      if (!parse_ip (h, &fam) || fam != AF_INET)
        return rdind_make_error (err, 0, "'%s' is not an address: '%s' is not an IPv4 address (use 0.0.0.0 for all, 127.0.0.1 for loopback)", s, h);
    }
  errno = 0;
  p = strtoul (ps, &end, 10);
  if (*ps == '\0' || *end != '\0' || errno || p == 0 || p > 65535 || !isdigit ((unsigned char) *ps))
    return rdind_make_error (err, 0, "'%s': bad port '%s': use a number from 1 to 65535", s, ps);
  if (host)
    *host = steal_pointer (&h);
  if (port)
    *port = (uint16_t) p;
  return 0;
}

int
conf_parse_cidr (const char *s, rdind_error_t *err)
{
  cleanup_free char *a = xstrdup (s);
  char *slash = strchr (a, '/'), *end;
  unsigned long bits;
  int fam;

  if (slash == NULL)
    return rdind_make_error (err, 0, "'%s' is not a CIDR: write ADDRESS/BITS such as 10.0.0.0/8", s);
  *slash = '\0';
  if (!parse_ip (a, &fam))
    return rdind_make_error (err, 0, "'%s' is not a CIDR: '%s' is not an IP address", s, a);
  errno = 0;
  bits = strtoul (slash + 1, &end, 10);
  if (slash[1] == '\0' || *end || errno || !isdigit ((unsigned char) slash[1])
      || bits > (fam == AF_INET ? 32u : 128u))
    return rdind_make_error (err, 0, "'%s' is not a CIDR: prefix length must be 0-%d", s,
                             fam == AF_INET ? 32 : 128);
  return 0;
}

bool
conf_valid_name (const char *s)
{
  size_t n = 0;
  if (s == NULL || *s == '\0' || strcmp (s, ".") == 0 || strcmp (s, "..") == 0)
    return false;
  for (; *s; s++, n++)
    if (!isalnum ((unsigned char) *s) && *s != '.' && *s != '_' && *s != '-')
      return false;
  return n <= 64;
}

static bool
valid_hostname (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && *s != '.' && *s != '-' && *s != '*')
      return false;
  return true;
}

int
conf_log_level (const char *s)
{
  static const char *const lv[] = { "debug", "info", "warn", "error" };
  for (size_t i = 0; i < ARRAY_SIZE (lv); i++)
    if (strcmp (s, lv[i]) == 0)
      return (int) i;
  return -1;
}

static const char *const key_type_names[] = { "ecdsa-p256", "rsa2048", "rsa3072", "rsa4096" };

const char *
conf_key_type_name (enum conf_key_type t)
{
  return (unsigned) t < ARRAY_SIZE (key_type_names) ? key_type_names[t] : "?";
}

int
conf_parse_key_type (const char *s, enum conf_key_type *out, rdind_error_t *err)
{
  for (size_t i = 0; i < ARRAY_SIZE (key_type_names); i++)
    if (strcmp (s, key_type_names[i]) == 0)
      {
        *out = (enum conf_key_type) i;
        return 0;
      }
  return rdind_make_error (err, 0, "unknown key type '%s': use ecdsa-p256, rsa2048, rsa3072 or rsa4096", s);
}

/* Splits on commas and white space. */
static char **
split_list (const char *s)
{
  char **v = xmalloc0 (sizeof (char *));
  cleanup_free char *copy = xstrdup (s);
  char *save = NULL;
  for (char *t = strtok_r (copy, ", \t", &save); t; t = strtok_r (NULL, ", \t", &save))
    strv_append (&v, t);
  return v;
}

/* ---- setting one key ----------------------------------------------------- */

/* restart and key_type are stored as C enums, the other V_ENUM keys as
 * strings. */
static bool
int_enum (const struct key_def *k)
{
  return k->type == V_ENUM && (strcmp (k->key, "restart") == 0 || strcmp (k->key, "key_type") == 0);
}

/* Keys whose value is a NULL-terminated char ** (split on commas/spaces). */
static bool
is_list (enum vtype t)
{
  return t == V_PEERS || t == V_ALLOW || t == V_NAMES || t == V_ARGS || t == V_NSLIST;
}

static void
free_value (const struct key_def *k, struct rdind_conf *c)
{
  void *field = (char *) c + k->off;
  if (is_list (k->type))
    {
      strv_free (*(char ***) field);
      *(char ***) field = NULL;
      return;
    }
  switch (k->type)
    {
    case V_STR:
    case V_HOSTPORT:
    case V_HOSTPORT_OPT:
    case V_PATH_OPT:
    case V_NAME_OPT:
      free (*(char **) field);
      *(char **) field = NULL;
      break;
    case V_ENUM:
      if (!int_enum (k))
        {
          free (*(char **) field);
          *(char **) field = NULL;
        }
      break;
    default:
      break;
    }
}

static int
set_value (struct conf_priv *cp, size_t idx, const char *value, rdind_error_t *err)
{
  const struct key_def *k = &keys[idx];
  struct rdind_conf *c = &cp->pub;
  void *field = (char *) c + k->off;
  cleanup_strv char **list = NULL;

  switch (k->type)
    {
    case V_STR:
      if (*value == '\0')
        return rdind_make_error (err, 0, "must not be empty");
      if (strcmp (k->key, "cidr") == 0)
        {
          cleanup_free char *a = xstrdup (value);
          char *sl;
          int fam = 0;
          if (conf_parse_cidr (value, err) < 0)
            return -1;
          sl = strchr (a, '/');
          *sl = '\0';
          if (!parse_ip (a, &fam) || fam != AF_INET || atoi (sl + 1) > 26 || atoi (sl + 1) < 8)
            return rdind_make_error (err, 0, "'%s': slirp4netns needs an IPv4 network from /8 to /26, e.g. 10.0.2.0/24", value);
        }
      break;
    case V_HOSTPORT_OPT:
      if (*value == '\0')
        break;
      /* fallthrough */
    case V_HOSTPORT:
      if (conf_parse_hostport (value, NULL, NULL, err) < 0)
        return -1;
      break;
    case V_PEERS:
    case V_NAMES:
    case V_ALLOW:
    case V_ARGS:
    case V_NSLIST:
      list = split_list (value);
      if (k->type == V_PEERS && strv_len (list) == 0)
        return rdind_make_error (err, 0, "at least one peer name is needed: rdind accepts only named clients");
      for (size_t i = 0; list[i]; i++)
        {
          const char *it = list[i];
          int fam;
          if (k->type == V_PEERS)
            {
              if (!conf_valid_name (it))
                return rdind_make_error (err, 0, "bad peer name '%s': use only letters, digits, '.', '_' and '-' (at most 64)", it);
              for (size_t j = 0; j < i; j++)
                if (strcmp (list[j], it) == 0)
                  return rdind_make_error (err, 0, "peer '%s' is listed twice", it);
            }
          else if (k->type == V_ALLOW)
            {
              if (strchr (it, '/'))
                {
                  if (conf_parse_cidr (it, err) < 0)
                    return -1;
                }
              else if (strchr (it, ':') || strspn (it, "0123456789.") == strlen (it))
                {
                  if (!parse_ip (it, &fam))
                    return rdind_make_error (err, 0, "'%s' is not an IP address, CIDR or host name", it);
                }
              else if (!valid_hostname (it) || strchr (it, '*'))
                return rdind_make_error (err, 0, "'%s' is not an IP address, CIDR or host name", it);
            }
          else if (k->type == V_NAMES)
            {
              if (!parse_ip (it, &fam) && !valid_hostname (it))
                return rdind_make_error (err, 0, "'%s' is not a DNS name or IP address", it);
            }
          else if (k->type == V_NSLIST)
            {
              if (strcmp (it, "pid") != 0 && strcmp (it, "uts") != 0 && strcmp (it, "ipc") != 0
                  && strcmp (it, "cgroup") != 0)
                return rdind_make_error (err, 0, "'%s' is not one of: pid, uts, ipc, cgroup (user, mount and network are always created)", it);
              for (size_t j = 0; j < i; j++)
                if (strcmp (list[j], it) == 0)
                  return rdind_make_error (err, 0, "namespace '%s' is listed twice", it);
            }
          else if (k->type == V_ARGS)
            {
              /* dockerd listens on its unix socket only; the sidecar is the
               * one authenticated endpoint.  An extra -H or TLS flag would
               * open a second door (or a plaintext one). */
              if (strcmp (it, "-H") == 0 || strncmp (it, "--host", 6) == 0
                  || strncmp (it, "-H=", 3) == 0 || strncmp (it, "--tls", 5) == 0)
                return rdind_make_error (err, 0, "'%s' is not allowed: dockerd listens only on rdind's unix socket (use [sidecar] listen for the TLS endpoint)", it);
            }
        }
      /* The launcher's own pid namespace is what guarantees that stopping
       * dockerd leaves none of its processes behind. */
      if (k->type == V_NSLIST && !strv_contains (list, "pid"))
        return rdind_make_error (err, 0, "'pid' is required: rdind stops dockerd by ending its pid namespace (add pid to the list)");
      free_value (k, c);
      *(char ***) field = steal_pointer (&list);
      goto store_raw;
    case V_DURATION:
    case V_UINT:
      {
        uint64_t v;
        if (k->type == V_DURATION)
          {
            if (conf_parse_duration (value, &v, err) < 0)
              return -1;
          }
        else
          {
            char *end;
            errno = 0;
            v = strtoull (value, &end, 10);
            if (*value == '\0' || *end || errno || !isdigit ((unsigned char) *value))
              return rdind_make_error (err, 0, "'%s' is not a whole number", value);
          }
        if (v < k->min || (k->max && v > k->max))
          return rdind_make_error (err, 0, "'%s' is out of range: allowed %llu%s to %llu%s", value,
                                   (unsigned long long) k->min, k->type == V_DURATION ? "s" : "",
                                   (unsigned long long) k->max, k->type == V_DURATION ? "s" : "");
        *(uint64_t *) field = v;
        goto store_raw;
      }
    case V_ENUM:
      {
        cleanup_free char *ch = xstrdup (k->choices);
        char *save = NULL;
        int i = 0;
        bool found = false;
        for (char *t = strtok_r (ch, "|", &save); t; t = strtok_r (NULL, "|", &save), i++)
          if (strcmp (t, value) == 0)
            {
              found = true;
              break;
            }
        if (!found)
          {
            cleanup_free char *choices = xstrdup (k->choices);
            for (char *p = choices; *p; p++)
              if (*p == '|')
                *p = ',';
            return rdind_make_error (err, 0, "'%s' is not one of: %s", value, choices);
          }
        if (strcmp (k->key, "restart") == 0)
          *(enum conf_restart *) field = (enum conf_restart) i;
        else if (strcmp (k->key, "key_type") == 0)
          *(enum conf_key_type *) field = (enum conf_key_type) i;
        else
          {
            free (*(char **) field);
            *(char **) field = xstrdup (value);
          }
        goto store_raw;
      }
    case V_PATH_OPT:
      if (*value && *value != '/')
        return rdind_make_error (err, 0, "'%s' is not an absolute path (leave it empty for the default)", value);
      if (strcmp (k->key, "state_dir") == 0 && strlen (value) > 80)
        return rdind_make_error (err, 0, "'%s' is too long: unix socket paths below it must fit in 108 bytes (use at most 80 characters)", value);
      break;
    case V_NAME_OPT:
      if (*value && !conf_valid_name (value))
        return rdind_make_error (err, 0, "'%s' is not a valid account or group name", value);
      break;
    }

  free_value (k, c);
  *(char **) field = xstrdup (value);
store_raw:
  free (cp->raw[idx]);
  cp->raw[idx] = xstrdup (value);
  return 0;
}

static int
find_key (const char *section, const char *name)
{
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp (keys[i].section, section) == 0 && strcmp (keys[i].key, name) == 0)
      return (int) i;
  return -1;
}

static char *
known_keys (const char *section)
{
  cleanup_strv char **v = xmalloc0 (sizeof (char *));
  for (size_t i = 0; i < N_KEYS; i++)
    if (strcmp (keys[i].section, section) == 0)
      strv_append (&v, keys[i].key);
  return strv_join (v, ", ");
}

static bool
known_section (const char *s)
{
  for (size_t i = 0; i < ARRAY_SIZE (sections); i++)
    if (strcmp (sections[i], s) == 0)
      return true;
  return false;
}

/* ---- INI file ------------------------------------------------------------ */

struct parse_state
{
  struct conf_priv *cp;
  FILE *f;
  const char *path;
  int line;
  bool too_long;
  rdind_error_t error; /* first error only */
};

/* inih reads line by line through this reader, so counting calls gives the
 * line number of the handler's current key (Debian builds inih without
 * INI_HANDLER_LINENO). */
static char *
reader (char *str, int num, void *stream)
{
  struct parse_state *st = stream;
  char *r = fgets (str, num, st->f);
  if (r == NULL)
    return NULL;
  st->line++;
  if (strchr (r, '\n') == NULL && !feof (st->f) && !st->too_long)
    {
      st->too_long = true;
      if (st->error == NULL)
        rdind_make_error (&st->error, 0, "%s:%d: line too long (at most %d characters)", st->path,
                          st->line, num - 2);
    }
  return r;
}

static int
handler (void *user, const char *section, const char *name, const char *value)
{
  struct parse_state *st = user;
  rdind_error_t e = NULL;
  int idx;

  if (st->error)
    return 1;
  if (*section == '\0')
    {
      rdind_make_error (&st->error, 0, "%s:%d: key '%s' is outside any section (start with [sidecar], [tls] or [launcher])",
                        st->path, st->line, name);
      return 0;
    }
  if (!known_section (section))
    {
      rdind_make_error (&st->error, 0, "%s:%d: unknown section [%s] (known sections: sidecar, tls, launcher)",
                        st->path, st->line, section);
      return 0;
    }
  idx = find_key (section, name);
  if (idx < 0)
    {
      cleanup_free char *known = known_keys (section);
      rdind_make_error (&st->error, 0, "%s:%d: unknown key '%s' in [%s] (known keys: %s)", st->path,
                        st->line, name, section, known);
      return 0;
    }
  if (st->cp->line[idx])
    {
      rdind_make_error (&st->error, 0, "%s:%d: duplicate key '%s' in [%s] (first set on line %d): keep one",
                        st->path, st->line, name, section, st->cp->line[idx]);
      return 0;
    }
  if (set_value (st->cp, (size_t) idx, value, &e) < 0)
    {
      rdind_make_error (&st->error, 0, "%s:%d: bad value for [%s] %s: %s", st->path, st->line,
                        section, name, e->msg);
      rdind_error_release (&e);
      return 0;
    }
  st->cp->line[idx] = st->line;
  free (st->cp->origin[idx]);
  xasprintf (&st->cp->origin[idx], "%s:%d", st->path, st->line);
  return 1;
}

static struct conf_priv *
conf_new_defaults (void)
{
  struct conf_priv *cp = xmalloc0 (sizeof (*cp));
  for (size_t i = 0; i < N_KEYS; i++)
    {
      rdind_error_t e = NULL;
      if (set_value (cp, i, keys[i].def, &e) < 0)
        abort (); /* the embedded defaults are valid by construction */
      cp->origin[i] = xstrdup ("default");
    }
  return cp;
}

static int
conf_check (struct conf_priv *cp, rdind_error_t *err)
{
  struct rdind_conf *c = &cp->pub;
  /* A leaf must not outlive the CA that signed it, and the CA must outlive a
   * leaf by enough to roll over before it expires. */
  if (c->ca_lifetime < 2 * c->lifetime)
    {
      int i = find_key ("tls", "ca_lifetime");
      return rdind_make_error (err, 0, "%s: [tls] ca_lifetime (%s) must be at least twice [tls] lifetime (%s)",
                               cp->origin[i], cp->raw[i], cp->raw[find_key ("tls", "lifetime")]);
    }
  return 0;
}

static int
parse_file (struct conf_priv *cp, const char *path, rdind_error_t *err)
{
  struct parse_state st = { .cp = cp, .path = path };
  cleanup_file FILE *f = fopen (path, "re");
  int r;

  if (f == NULL)
    return rdind_make_error (err, errno, "cannot read configuration file `%s`", path);
  st.f = f;
  r = ini_parse_stream (reader, &st, handler, &st);
  if (st.error)
    {
      *err = st.error;
      return -1;
    }
  if (r > 0)
    return rdind_make_error (err, 0, "%s:%d: syntax error: expected '[section]' or 'key = value'", path, r);
  if (r < 0)
    return rdind_make_error (err, 0, "%s: cannot parse", path);
  cp->source_file = xstrdup (path);
  return 0;
}

int
conf_load_file (const char *path, struct rdind_conf **out, rdind_error_t *err)
{
  struct conf_priv *cp = conf_new_defaults ();
  if ((path && parse_file (cp, path, err) < 0) || conf_check (cp, err) < 0)
    {
      conf_free (&cp->pub);
      return -1;
    }
  *out = &cp->pub;
  return 0;
}

/* ---- environment --------------------------------------------------------- */

static char *
env_name (const struct key_def *k)
{
  char *s;
  xasprintf (&s, "RDIND_%s_%s", k->section, k->key);
  for (char *p = s; *p; p++)
    *p = (char) toupper ((unsigned char) *p);
  return s;
}

int
conf_apply_env (struct rdind_conf *c, char **envp, rdind_error_t *err)
{
  struct conf_priv *cp = PRIV (c);
  const char *certdir_env = NULL;
  bool rdind_certdir = false;

  for (char **e = envp; e && *e; e++)
    {
      const char *eq = strchr (*e, '=');
      cleanup_free char *name = NULL;
      const char *value;
      bool matched = false;

      if (eq == NULL)
        continue;
      name = xstrndup (*e, (size_t) (eq - *e));
      value = eq + 1;
      if (strcmp (name, "DOCKER_TLS_CERTDIR") == 0)
        {
          certdir_env = value;
          continue;
        }
      /* Only RDIND_<SECTION>_ names are settings; RDIND_CONFIG and other
       * RDIND_* variables (tests, wrappers) are not. */
      if (strncmp (name, "RDIND_SIDECAR_", 14) != 0 && strncmp (name, "RDIND_TLS_", 10) != 0
          && strncmp (name, "RDIND_LAUNCHER_", 15) != 0)
        continue;
      for (size_t i = 0; i < N_KEYS; i++)
        {
          cleanup_free char *n = env_name (&keys[i]);
          rdind_error_t ve = NULL;
          if (strcmp (n, name) != 0)
            continue;
          matched = true;
          if (set_value (cp, i, value, &ve) < 0)
            {
              rdind_make_error (err, 0, "environment variable %s: %s", name, ve->msg);
              rdind_error_release (&ve);
              return -1;
            }
          free (cp->origin[i]);
          xasprintf (&cp->origin[i], "env %s", name);
          if (strcmp (name, "RDIND_TLS_CERTDIR") == 0)
            rdind_certdir = true;
        }
      if (!matched)
        {
          const char *sec = name[6] == 'S' ? "sidecar" : name[6] == 'T' ? "tls" : "launcher";
          cleanup_free char *known = known_keys (sec);
          return rdind_make_error (err, 0, "environment variable %s: unknown setting in [%s] (known keys: %s; the variable is RDIND_<SECTION>_<KEY> in capitals)",
                                   name, sec, known);
        }
    }

  if (certdir_env && !rdind_certdir)
    {
      int i = find_key ("tls", "certdir");
      rdind_error_t ve = NULL;
      if (*certdir_env == '\0')
        return rdind_make_error (err, 0, "environment variable DOCKER_TLS_CERTDIR is empty: docker:dind reads that as 'serve plaintext', but rdind never serves without TLS; unset it or set it to a directory such as /certs");
      if (set_value (cp, (size_t) i, certdir_env, &ve) < 0)
        {
          rdind_make_error (err, 0, "environment variable DOCKER_TLS_CERTDIR: %s", ve->msg);
          rdind_error_release (&ve);
          return -1;
        }
      free (cp->origin[i]);
      cp->origin[i] = xstrdup ("env DOCKER_TLS_CERTDIR");
    }
  return conf_check (cp, err);
}

extern char **environ;

int
conf_load (const char *explicit_path, struct rdind_conf **out, rdind_error_t *err)
{
  const char *path = explicit_path;
  cleanup_free char *xdg = NULL;
  struct rdind_conf *c = NULL;

  if (path == NULL && getenv ("RDIND_CONFIG") && *getenv ("RDIND_CONFIG"))
    path = getenv ("RDIND_CONFIG");
  if (path == NULL)
    {
      const char *x = getenv ("XDG_CONFIG_HOME");
      const char *home = getenv ("HOME");
      if (x && *x == '/')
        xasprintf (&xdg, "%s/rdind/rdind.ini", x);
      else if (home && *home)
        xasprintf (&xdg, "%s/.config/rdind/rdind.ini", home);
      if (xdg && access (xdg, F_OK) == 0)
        path = xdg;
      else if (access ("/etc/rdind/rdind.ini", F_OK) == 0)
        path = "/etc/rdind/rdind.ini";
    }
  if (conf_load_file (path, &c, err) < 0)
    return -1;
  if (conf_apply_env (c, environ, err) < 0)
    {
      conf_free (c);
      return -1;
    }
  *out = c;
  return 0;
}

void
conf_free (struct rdind_conf *c)
{
  struct conf_priv *cp = PRIV (c);
  if (c == NULL)
    return;
  for (size_t i = 0; i < N_KEYS; i++)
    {
      free_value (&keys[i], c);
      free (cp->raw[i]);
      free (cp->origin[i]);
    }
  free (cp->source_file);
  free (cp);
}

const char *
conf_source_file (const struct rdind_conf *c)
{
  return PRIV (c)->source_file;
}

bool
conf_in_container (void)
{
  const char *k = getenv ("KUBERNETES_SERVICE_HOST");
  const char *ct = getenv ("container");
  return access ("/.dockerenv", F_OK) == 0 || access ("/run/.containerenv", F_OK) == 0
         || (k && *k) || (ct && *ct);
}

static char *
xdg_dir (const char *var, const char *fallback)
{
  const char *v = getenv (var);
  const char *home = getenv ("HOME");
  char *r;
  if (v && *v == '/')
    return xstrdup (v);
  xasprintf (&r, "%s/%s", home && *home ? home : "/tmp", fallback);
  return r;
}

static void
mark_auto (struct conf_priv *cp, int i, const char *value)
{
  char *o;
  free (cp->raw[i]);
  cp->raw[i] = xstrdup (value);
  xasprintf (&o, "%s (auto)", cp->origin[i]);
  free (cp->origin[i]);
  cp->origin[i] = o;
  cp->is_auto[i] = true;
}

void
conf_resolve_paths (struct rdind_conf *c)
{
  struct conf_priv *cp = PRIV (c);
  if (c->certdir == NULL || *c->certdir == '\0')
    {
      free (c->certdir);
      if (conf_in_container () || geteuid () == 0)
        c->certdir = xstrdup ("/certs");
      else
        {
          cleanup_free char *d = xdg_dir ("XDG_STATE_HOME", ".local/state");
          xasprintf (&c->certdir, "%s/rdind/certs", d);
        }
      mark_auto (cp, find_key ("tls", "certdir"), c->certdir);
    }
  if (c->data_root == NULL || *c->data_root == '\0')
    {
      cleanup_free char *d = xdg_dir ("XDG_DATA_HOME", ".local/share");
      free (c->data_root);
      xasprintf (&c->data_root, "%s/rdind/docker", d);
      mark_auto (cp, find_key ("launcher", "data_root"), c->data_root);
    }
  if (c->state_dir == NULL || *c->state_dir == '\0')
    {
      const char *rt = getenv ("XDG_RUNTIME_DIR");
      free (c->state_dir);
      if (rt && *rt == '/' && strlen (rt) < 64)
        xasprintf (&c->state_dir, "%s/rdind", rt);
      else
        xasprintf (&c->state_dir, "/tmp/rdind-%u", (unsigned) getuid ());
      mark_auto (cp, find_key ("launcher", "state_dir"), c->state_dir);
    }
}

/* ---- reload ---------------------------------------------------------------- */

int
conf_reload (const struct rdind_conf *cur, struct rdind_conf **out, rdind_error_t *err)
{
  const struct conf_priv *old = (const struct conf_priv *) cur;
  struct rdind_conf *c = NULL;
  /* conf_load() with the file it found then: searching again could pick
   * another file now that HOME and XDG_* describe the dropped user. */
  if (conf_load_file (old->source_file, &c, err) < 0)
    return -1;
  if (conf_apply_env (c, environ, err) < 0)
    {
      conf_free (c);
      return -1;
    }
  static const char *const paths[][2]
      = { { "tls", "certdir" }, { "launcher", "data_root" }, { "launcher", "state_dir" } };
  for (size_t j = 0; j < ARRAY_SIZE (paths); j++)
    {
      int i = find_key (paths[j][0], paths[j][1]);
      char **field = (char **) ((char *) c + keys[i].off);
      if ((*field == NULL || **field == '\0') && old->is_auto[i])
        {
          free (*field);
          *field = xstrdup (*(char *const *) ((const char *) cur + keys[i].off));
          mark_auto (PRIV (c), i, *field);
        }
    }
  conf_resolve_paths (c);
  *out = c;
  return 0;
}

static bool
str_equal (const char *a, const char *b)
{
  return strcmp (a ? a : "", b ? b : "") == 0;
}

static bool
strv_equal (char **a, char **b)
{
  size_t n = strv_len (a);
  if (n != strv_len (b))
    return false;
  for (size_t i = 0; i < n; i++)
    if (strcmp (a[i], b[i]) != 0)
      return false;
  return true;
}

static bool
value_equal (const struct key_def *k, const struct rdind_conf *a, const struct rdind_conf *b)
{
  const void *fa = (const char *) a + k->off, *fb = (const char *) b + k->off;
  if (is_list (k->type))
    return strv_equal (*(char **const *) fa, *(char **const *) fb);
  switch (k->type)
    {
    case V_DURATION:
    case V_UINT:
      return *(const uint64_t *) fa == *(const uint64_t *) fb;
    case V_ENUM:
      if (int_enum (k) && strcmp (k->key, "restart") == 0)
        return *(const enum conf_restart *) fa == *(const enum conf_restart *) fb;
      if (int_enum (k))
        return *(const enum conf_key_type *) fa == *(const enum conf_key_type *) fb;
      /* fallthrough */
    default:
      return str_equal (*(char *const *) fa, *(char *const *) fb);
    }
}

char **
conf_diff (const struct rdind_conf *a, const struct rdind_conf *b)
{
  char **out = xmalloc0 (sizeof (char *));
  for (size_t i = 0; i < N_KEYS; i++)
    if (!value_equal (&keys[i], a, b))
      {
        cleanup_free char *name = NULL;
        xasprintf (&name, "%s.%s", keys[i].section, keys[i].key);
        strv_append (&out, name);
      }
  return out;
}

int
conf_copy_key (struct rdind_conf *dst, const struct rdind_conf *src, const char *key)
{
  const char *dot = strchr (key, '.');
  if (dot == NULL)
    return -1;
  cleanup_free char *section = xstrndup (key, (size_t) (dot - key));
  int i = find_key (section, dot + 1);
  if (i < 0)
    return -1;
  const struct key_def *k = &keys[i];
  const struct conf_priv *sp = (const struct conf_priv *) src;
  struct conf_priv *dp = PRIV (dst);
  void *fd = (char *) dst + k->off;
  const void *fs = (const char *) src + k->off;

  free_value (k, dst);
  if (is_list (k->type))
    {
      char **v = xmalloc0 (sizeof (char *));
      for (char *const *p = *(char **const *) fs; p && *p; p++)
        strv_append (&v, *p);
      *(char ***) fd = v;
    }
  else
    switch (k->type)
      {
      case V_DURATION:
      case V_UINT:
        *(uint64_t *) fd = *(const uint64_t *) fs;
        break;
      case V_ENUM:
        if (int_enum (k))
          {
            if (strcmp (k->key, "restart") == 0)
              *(enum conf_restart *) fd = *(const enum conf_restart *) fs;
            else
              *(enum conf_key_type *) fd = *(const enum conf_key_type *) fs;
            break;
          }
        /* fallthrough */
      default:
        {
          const char *v = *(char *const *) fs;
          *(char **) fd = v ? xstrdup (v) : NULL;
          break;
        }
      }
  free (dp->raw[i]);
  dp->raw[i] = sp->raw[i] ? xstrdup (sp->raw[i]) : NULL;
  free (dp->origin[i]);
  dp->origin[i] = sp->origin[i] ? xstrdup (sp->origin[i]) : NULL;
  dp->line[i] = sp->line[i];
  dp->is_auto[i] = sp->is_auto[i];
  return 0;
}

/* Used by print.c. */
size_t conf_n_keys_ (void);
void conf_key_info_ (const struct rdind_conf *c, size_t i, const char **section, const char **key,
                     const char **raw, const char **origin, const char **help);

size_t
conf_n_keys_ (void)
{
  return N_KEYS;
}

void
conf_key_info_ (const struct rdind_conf *c, size_t i, const char **section, const char **key,
                const char **raw, const char **origin, const char **help)
{
  const struct conf_priv *cp = (const struct conf_priv *) c;
  *section = keys[i].section;
  *key = keys[i].key;
  *raw = cp->raw[i];
  *origin = cp->origin[i];
  *help = keys[i].help;
}
