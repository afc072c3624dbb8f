/* rdind - configuration: INI parsing with inih, environment overrides,
 * defaults, path resolution, reload and diff.  The keys themselves are in
 * keys.c, the value checks in validate.c.  Every key has an embedded
 * default so rdind runs with no file at all. */
#include "config.h"
#include "conf-int.h"
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

#define PRIV(c) ((struct conf_priv *)(c))

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
  return t == V_PEERS || t == V_ALLOW || t == V_NAMES || t == V_ARGS || t == V_NSLIST
         || t == V_ABSPATHS || t == V_IMAGES || t == V_CAPS || t == V_REGISTRIES;
}

static void
free_value (const struct key_def *k, struct rdind_conf *c)
{
  void *field = (char *)c + k->off;
  if (is_list (k->type))
    {
      strv_free (*(char ***)field);
      *(char ***)field = NULL;
      return;
    }
  switch (k->type)
    {
    case V_STR:
    case V_HOSTPORT:
    case V_HOSTPORT_OPT:
    case V_PATH_OPT:
    case V_NAME_OPT:
    case V_URL_OPT:
      free (*(char **)field);
      *(char **)field = NULL;
      break;
    case V_ENUM:
      if (!int_enum (k))
        {
          free (*(char **)field);
          *(char **)field = NULL;
        }
      break;
    default:
      break;
    }
}

static int
set_value (struct conf_priv *cp, size_t idx, const char *value, rdind_error_t *err)
{
  const struct key_def *k = &conf_keys[idx];
  struct rdind_conf *c = &cp->pub;
  void *field = (char *)c + k->off;
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
          if (!conf_parse_ip_ (a, &fam) || fam != AF_INET || atoi (sl + 1) > 26
              || atoi (sl + 1) < 8)
            return rdind_make_error (
                err, 0, "'%s': slirp4netns needs an IPv4 network from /8 to /26, e.g. 10.0.2.0/24",
                value);
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
    case V_ABSPATHS:
    case V_IMAGES:
    case V_CAPS:
    case V_REGISTRIES:
      list = conf_split_list_ (value);
      for (char **it = list; k->type == V_REGISTRIES && it && *it; it++)
        if (strspn (*it, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:/[]") != strlen (*it)
            || strstr (*it, "://"))
          return rdind_make_error (err, 0, "'%s' is not a registry host[:port] or CIDR (no scheme), e.g. "
                                   "198.18.0.2:5000", *it);
      if (k->type == V_PEERS && strv_len (list) == 0)
        return rdind_make_error (
            err, 0, "at least one peer name is needed: rdind accepts only named clients");
      for (size_t i = 0; list[i]; i++)
        {
          const char *it = list[i];
          int fam;
          if (k->type == V_PEERS)
            {
              if (!conf_valid_name (it))
                return rdind_make_error (
                    err, 0,
                    "bad peer name '%s': use only letters, digits, '.', '_' and '-' (at most 64)",
                    it);
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
                  if (!conf_parse_ip_ (it, &fam))
                    return rdind_make_error (err, 0, "'%s' is not an IP address, CIDR or host name",
                                             it);
                }
              else if (!conf_valid_hostname_ (it) || strchr (it, '*'))
                return rdind_make_error (err, 0, "'%s' is not an IP address, CIDR or host name",
                                         it);
            }
          else if (k->type == V_NAMES)
            {
              if (!conf_parse_ip_ (it, &fam) && !conf_valid_hostname_ (it))
                return rdind_make_error (err, 0, "'%s' is not a DNS name or IP address", it);
            }
          else if (k->type == V_NSLIST)
            {
              if (strcmp (it, "pid") != 0 && strcmp (it, "uts") != 0 && strcmp (it, "ipc") != 0
                  && strcmp (it, "cgroup") != 0)
                return rdind_make_error (err, 0,
                                         "'%s' is not one of: pid, uts, ipc, cgroup (user, mount "
                                         "and network are always created)",
                                         it);
              for (size_t j = 0; j < i; j++)
                if (strcmp (list[j], it) == 0)
                  return rdind_make_error (err, 0, "namespace '%s' is listed twice", it);
            }
          else if (k->type == V_ABSPATHS)
            {
              if (conf_normalize_path_ (list[i]) < 0)
                return rdind_make_error (err, 0,
                                         "'%s' is not an absolute path without '.' or '..' parts", it);
            }
          else if (k->type == V_IMAGES)
            {
              if (!conf_valid_image_pattern_ (it))
                return rdind_make_error (err, 0,
                                         "'%s' is not an image reference (letters, digits and "
                                         "._-/:@; '*' only at the end, e.g. registry.local/ci/*)",
                                         it);
            }
          else if (k->type == V_CAPS)
            {
              if (conf_normalize_cap_ (list[i]) < 0)
                return rdind_make_error (err, 0,
                                         "'%s' is not a capability name (e.g. SYS_ADMIN, "
                                         "CAP_NET_RAW or ALL)",
                                         it);
            }
          else if (k->type == V_ARGS)
            {
              /* dockerd listens on its unix socket only; the sidecar is the
               * one authenticated endpoint.  An extra -H or TLS flag would
               * open a second door (or a plaintext one). */
              if (strcmp (it, "-H") == 0 || strncmp (it, "--host", 6) == 0
                  || strncmp (it, "-H=", 3) == 0 || strncmp (it, "--tls", 5) == 0)
                return rdind_make_error (err, 0,
                                         "'%s' is not allowed: dockerd listens only on rdind's "
                                         "unix socket (use [sidecar] listen for the TLS endpoint)",
                                         it);
            }
        }
      /* The launcher's own pid namespace is what guarantees that stopping
       * dockerd leaves none of its processes behind. */
      if (k->type == V_NSLIST && !strv_contains (list, "pid"))
        return rdind_make_error (err, 0,
                                 "'pid' is required: rdind stops dockerd by ending its pid "
                                 "namespace (add pid to the list)");
      free_value (k, c);
      *(char ***)field = steal_pointer (&list);
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
            /* Sizes take a binary suffix: 64K, 20G. */
            if (*end && end[1] == '\0' && strchr ("KMGTkmgt", *end) && v > 0)
              {
                int sh = 10 * (int) (strchr ("KMGT", toupper ((unsigned char) *end)) - "KMGT" + 1);
                if (v > (UINT64_MAX >> sh))
                  errno = ERANGE;
                v <<= sh;
                end++;
              }
            if (*value == '\0' || *end || errno || !isdigit ((unsigned char)*value))
              return rdind_make_error (err, 0, "'%s' is not a whole number (a size may end in K, M, G or T)", value);
          }
        if (v < k->min || (k->max && v > k->max))
          return rdind_make_error (err, 0, "'%s' is out of range: allowed %llu%s to %llu%s", value,
                                   (unsigned long long)k->min, k->type == V_DURATION ? "s" : "",
                                   (unsigned long long)k->max, k->type == V_DURATION ? "s" : "");
        *(uint64_t *)field = v;
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
          *(enum conf_restart *)field = (enum conf_restart)i;
        else if (strcmp (k->key, "key_type") == 0)
          *(enum conf_key_type *)field = (enum conf_key_type)i;
        else
          {
            free (*(char **)field);
            *(char **)field = xstrdup (value);
          }
        goto store_raw;
      }
    case V_PATH_OPT:
      if (*value && *value != '/')
        return rdind_make_error (
            err, 0, "'%s' is not an absolute path (leave it empty for the default)", value);
      if (strcmp (k->key, "state_dir") == 0 && strlen (value) > 80)
        return rdind_make_error (err, 0,
                                 "'%s' is too long: unix socket paths below it must fit in 108 "
                                 "bytes (use at most 80 characters)",
                                 value);
      break;
    case V_NAME_OPT:
      if (*value && !conf_valid_name (value))
        return rdind_make_error (err, 0, "'%s' is not a valid account or group name", value);
      break;
    case V_URL_OPT:
      if (*value && ((strncmp (value, "http://", 7) != 0 && strncmp (value, "https://", 8) != 0)
                     || strpbrk (value, " \t\"'\\") || strlen (value) > 512))
        return rdind_make_error (err, 0, "'%s' is not an http:// or https:// URL (leave it empty for none)", value);
      break;
    }

  free_value (k, c);
  *(char **)field = xstrdup (value);
store_raw:
  free (cp->raw[idx]);
  cp->raw[idx] = xstrdup (value);
  return 0;
}

static int
find_key (const char *section, const char *name)
{
  for (size_t i = 0; i < conf_n_keys; i++)
    if (strcmp (conf_keys[i].section, section) == 0 && strcmp (conf_keys[i].key, name) == 0)
      return (int)i;
  return -1;
}

static char *
known_keys (const char *section)
{
  cleanup_strv char **v = xmalloc0 (sizeof (char *));
  for (size_t i = 0; i < conf_n_keys; i++)
    if (strcmp (conf_keys[i].section, section) == 0)
      strv_append (&v, conf_keys[i].key);
  return strv_join (v, ", ");
}

static bool
known_section (const char *s)
{
  for (size_t i = 0; i < conf_n_sections; i++)
    if (strcmp (conf_sections[i], s) == 0)
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

static struct conf_priv *conf_new_defaults (void);

/* A key of [policy.PEER]: checked as the same [policy] key would be, kept
 * aside, applied on top of [policy] by conf_check(). */
static int
peer_policy_key (struct parse_state *st, const char *peer, const char *name, const char *value)
{
  struct conf_priv *cp = st->cp;
  rdind_error_t e = NULL;
  int idx;

  if (!conf_valid_name (peer))
    {
      rdind_make_error (&st->error, 0,
                        "%s:%d: bad section [policy.%s]: after 'policy.' comes a peer name "
                        "(letters, digits, '.', '_' and '-')",
                        st->path, st->line, peer);
      return 0;
    }
  idx = find_key ("policy", name);
  if (idx < 0 || strcmp (name, "enabled") == 0)
    {
      cleanup_free char *known = known_keys ("policy");
      rdind_make_error (&st->error, 0,
                        "%s:%d: unknown key '%s' in [policy.%s] (known keys: %s; 'enabled' is "
                        "set in [policy] for everyone)",
                        st->path, st->line, name, peer, known);
      return 0;
    }
  for (size_t i = 0; i < cp->n_ovr; i++)
    if (cp->ovr[i].idx == (size_t)idx && strcmp (cp->ovr[i].peer, peer) == 0)
      {
        rdind_make_error (&st->error, 0,
                          "%s:%d: duplicate key '%s' in [policy.%s] (first set on line %d): keep one",
                          st->path, st->line, name, peer, cp->ovr[i].line);
        return 0;
      }
  {
    struct rdind_conf *scratch = &conf_new_defaults ()->pub;
    int r = set_value (PRIV (scratch), (size_t)idx, value, &e);
    conf_free (scratch);
    if (r < 0)
      {
        rdind_make_error (&st->error, 0, "%s:%d: bad value for [policy.%s] %s: %s", st->path,
                          st->line, peer, name, e->msg);
        rdind_error_release (&e);
        return 0;
      }
  }
  cp->ovr = xrealloc (cp->ovr, (cp->n_ovr + 1) * sizeof *cp->ovr);
  cp->ovr[cp->n_ovr] = (struct conf_override){ .peer = xstrdup (peer), .idx = (size_t)idx,
                                                .raw = xstrdup (value), .line = st->line };
  xasprintf (&cp->ovr[cp->n_ovr].origin, "%s:%d", st->path, st->line);
  cp->n_ovr++;
  return 1;
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
      rdind_make_error (
          &st->error, 0,
          "%s:%d: key '%s' is outside any section (start with [sidecar], [tls] or [launcher])",
          st->path, st->line, name);
      return 0;
    }
  if (strncmp (section, "policy.", 7) == 0)
    return peer_policy_key (st, section + 7, name, value);
  if (!known_section (section))
    {
      rdind_make_error (&st->error, 0,
                        "%s:%d: unknown section [%s] (known sections: sidecar, tls, launcher, "
                        "policy, policy.PEER)",
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
      rdind_make_error (&st->error, 0,
                        "%s:%d: duplicate key '%s' in [%s] (first set on line %d): keep one",
                        st->path, st->line, name, section, st->cp->line[idx]);
      return 0;
    }
  if (set_value (st->cp, (size_t)idx, value, &e) < 0)
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
  for (size_t i = 0; i < conf_n_keys; i++)
    {
      rdind_error_t e = NULL;
      if (set_value (cp, i, conf_keys[i].def, &e) < 0)
        abort (); /* the embedded defaults are valid by construction */
      cp->origin[i] = xstrdup ("default");
    }
  /* The endpoint's default address depends on where we run. */
  {
    int i = find_key ("sidecar", "listen");
    rdind_error_t e = NULL;
    bool in = conf_in_container ();
    if (set_value (cp, (size_t)i, conf_default_listen (in), &e) < 0)
      abort ();
    free (cp->origin[i]);
    cp->origin[i] = xstrdup (in ? "default (in a container)" : "default (not in a container)");
  }
  return cp;
}

const char *
conf_default_listen (bool in_container)
{
  /* In a container, other containers (the CI job, the pod's steps) reach
   * the endpoint over the container's network; on a developer's machine
   * the daemon is theirs alone: loopback. */
  return in_container ? "0.0.0.0:2376" : "127.0.0.1:2376";
}

static void
policy_clear (struct conf_policy *p)
{
  free (p->enabled);
  strv_free (p->allow_binds);
  strv_free (p->allow_images);
  free (p->allow_privileged);
  free (p->allow_host_namespaces);
  free (p->allow_devices);
  strv_free (p->deny_caps);
  memset (p, 0, sizeof *p);
}

static void
free_peer_policies (struct rdind_conf *c)
{
  for (size_t i = 0; i < c->n_peer_policies; i++)
    {
      free (c->peer_policies[i].peer);
      policy_clear (&c->peer_policies[i].policy);
    }
  free (c->peer_policies);
  c->peer_policies = NULL;
  c->n_peer_policies = 0;
}

/* Each peer named by a [policy.PEER] section gets [policy] (as the file and
 * the environment left it) with its own keys on top.  Run after the
 * environment: RDIND_POLICY_* and RDIND_SIDECAR_PEERS count too. */
static int
build_peer_policies (struct conf_priv *cp, rdind_error_t *err)
{
  struct rdind_conf *c = &cp->pub;

  free_peer_policies (c);
  for (size_t i = 0; i < cp->n_ovr; i++)
    {
      const struct conf_override *o = &cp->ovr[i];
      bool first = true;
      if (!strv_contains (c->peers, o->peer))
        return rdind_make_error (err, 0,
                                 "%s: [policy.%s]: '%s' is not in [sidecar] peers (fix: add it to "
                                 "peers, or remove the section)",
                                 o->origin, o->peer, o->peer);
      for (size_t j = 0; j < i; j++)
        first = first && strcmp (cp->ovr[j].peer, o->peer) != 0;
      if (!first)
        continue;
      struct conf_priv *sc = conf_new_defaults ();
      rdind_error_t e = NULL;
      for (size_t k = 0; k < conf_n_keys; k++)
        if (strcmp (conf_keys[k].section, "policy") == 0 && set_value (sc, k, cp->raw[k], &e) < 0)
          abort (); /* values already checked */
      for (size_t j = i; j < cp->n_ovr; j++)
        if (strcmp (cp->ovr[j].peer, o->peer) == 0 && set_value (sc, cp->ovr[j].idx, cp->ovr[j].raw, &e) < 0)
          abort ();
      c->peer_policies = xrealloc (c->peer_policies, (c->n_peer_policies + 1) * sizeof *c->peer_policies);
      c->peer_policies[c->n_peer_policies].peer = xstrdup (o->peer);
      c->peer_policies[c->n_peer_policies].policy = sc->pub.policy;
      c->n_peer_policies++;
      memset (&sc->pub.policy, 0, sizeof sc->pub.policy);
      conf_free (&sc->pub);
    }
  return 0;
}

const struct conf_policy *
conf_policy_for (const struct rdind_conf *c, const char *peer)
{
  for (size_t i = 0; peer && i < c->n_peer_policies; i++)
    if (strcmp (c->peer_policies[i].peer, peer) == 0)
      return &c->peer_policies[i].policy;
  return &c->policy;
}

bool
conf_yes (const char *s)
{
  return s && strcmp (s, "yes") == 0;
}

static int
conf_check (struct conf_priv *cp, rdind_error_t *err)
{
  struct rdind_conf *c = &cp->pub;
  if (build_peer_policies (cp, err) < 0)
    return -1;
  /* A leaf must not outlive the CA that signed it, and the CA must outlive a
   * leaf by enough to roll over before it expires. */
  if (c->ca_lifetime < 2 * c->lifetime)
    {
      int i = find_key ("tls", "ca_lifetime");
      return rdind_make_error (
          err, 0, "%s: [tls] ca_lifetime (%s) must be at least twice [tls] lifetime (%s)",
          cp->origin[i], cp->raw[i], cp->raw[find_key ("tls", "lifetime")]);
    }
  /* With a cache the data root is a slot the sidecar locks (dir/slot-N);
   * a data_root of another place would bypass the lock. */
  if (c->cache_dir && *c->cache_dir && c->data_root && *c->data_root)
    {
      size_t n = strlen (c->cache_dir);
      const char *rest = c->data_root + n;
      if (strncmp (c->data_root, c->cache_dir, n) != 0 || strncmp (rest, "/slot-", 6) != 0
          || strspn (rest + 6, "0123456789") != strlen (rest + 6) || rest[6] == '\0')
        {
          int i = find_key ("launcher", "data_root");
          return rdind_make_error (err, 0,
                                   "%s: [launcher] data_root cannot be set with [cache] dir: the data root is "
                                   "the cache slot rdind locks (remove data_root)",
                                   cp->origin[i]);
        }
    }
  /* The slirp4netns port driver is slirp4netns's hostfwd API: pasta has none. */
  if (strcmp (c->net, "pasta") == 0 && strcmp (c->port_driver, "slirp4netns") == 0)
    {
      int i = find_key ("launcher", "port_driver");
      if (strcmp (cp->origin[i], "default") == 0)
        i = find_key ("launcher", "net");
      return rdind_make_error (err, 0,
                               "%s: [launcher] port_driver = slirp4netns needs net = slirp4netns "
                               "(pasta has no hostfwd API): set port_driver = native",
                               cp->origin[i]);
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
    return rdind_make_error (err, 0, "%s:%d: syntax error: expected '[section]' or 'key = value'",
                             path, r);
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
    *p = (char)toupper ((unsigned char)*p);
  return s;
}

/* RDIND_* variables that are not settings: rdind's own plumbing
 * (RDIND_CONFIG, RDIND_USERNS_FD set by the sidecar for the launcher, the
 * docker proxy paths) and those of the tests and scripts. */
static bool
env_not_a_setting (const char *name)
{
  static const char *const exact[]
      = { "RDIND_CONFIG", "RDIND_USERNS_FD", "RDIND_CGROUP_FD", "RDIND_PORT_DIR", "RDIND_DOCKER_PROXY", "RDIND_REAL_DOCKER_PROXY",
          "RDIND_LIBS",   "RDIND_EXT_LIBS",  "RDIND_WARN_CFLAGS" };
  static const char *const prefix[] = { "RDIND_TEST_", "RDIND_E2E_", "RDIND_NO_", "RDIND_SKIP_" };
  for (size_t i = 0; i < ARRAY_SIZE (exact); i++)
    if (strcmp (name, exact[i]) == 0)
      return true;
  for (size_t i = 0; i < ARRAY_SIZE (prefix); i++)
    if (strncmp (name, prefix[i], strlen (prefix[i])) == 0)
      return true;
  return false;
}

static char *
known_sections (void)
{
  char *s = xstrdup ("");
  for (size_t j = 0; j < conf_n_sections; j++)
    {
      char *n = NULL;
      xasprintf (&n, "%s%s%s", s, j ? ", " : "", conf_sections[j]);
      free (s);
      s = n;
    }
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
      name = xstrndup (*e, (size_t)(eq - *e));
      value = eq + 1;
      if (strcmp (name, "DOCKER_TLS_CERTDIR") == 0)
        {
          certdir_env = value;
          continue;
        }
      /* Only RDIND_<SECTION>_ names are settings; RDIND_CONFIG and other
       * RDIND_* variables (tests, wrappers) are not. */
      const char *sec = NULL;
      for (size_t j = 0; j < conf_n_sections && sec == NULL; j++)
        {
          size_t n = strlen (conf_sections[j]);
          if (strncmp (name, "RDIND_", 6) == 0 && strncasecmp (name + 6, conf_sections[j], n) == 0
              && name[6 + n] == '_')
            sec = conf_sections[j];
        }
      if (sec == NULL)
        {
          /* A typo in the section (RDIND_SIDCAR_LISTEN) must not be
           * ignored silently any more than one in the key: every RDIND_
           * name is refused except those rdind, its tests and its scripts
           * use for other things. */
          if (strncmp (name, "RDIND_", 6) == 0 && !env_not_a_setting (name))
            {
              cleanup_free char *secs = known_sections ();
              return rdind_make_error (err, 0,
                                       "environment variable %s: no such section (sections: %s; the "
                                       "variable is RDIND_<SECTION>_<KEY> in capitals)",
                                       name, secs);
            }
          continue;
        }
      for (size_t i = 0; i < conf_n_keys; i++)
        {
          cleanup_free char *n = env_name (&conf_keys[i]);
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
          cleanup_free char *known = known_keys (sec);
          return rdind_make_error (err, 0,
                                   "environment variable %s: unknown setting in [%s] (known keys: "
                                   "%s; the variable is RDIND_<SECTION>_<KEY> in capitals)",
                                   name, sec, known);
        }
    }

  if (certdir_env && !rdind_certdir)
    {
      int i = find_key ("tls", "certdir");
      rdind_error_t ve = NULL;
      if (*certdir_env == '\0')
        return rdind_make_error (err, 0,
                                 "environment variable DOCKER_TLS_CERTDIR is empty: docker:dind "
                                 "reads that as 'serve plaintext', but rdind never serves without "
                                 "TLS; unset it or set it to a directory such as /certs");
      if (set_value (cp, (size_t)i, certdir_env, &ve) < 0)
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
  for (size_t i = 0; i < conf_n_keys; i++)
    {
      free_value (&conf_keys[i], c);
      free (cp->raw[i]);
      free (cp->origin[i]);
    }
  for (size_t i = 0; i < cp->n_ovr; i++)
    {
      free (cp->ovr[i].peer);
      free (cp->ovr[i].raw);
      free (cp->ovr[i].origin);
    }
  free (cp->ovr);
  free_peer_policies (c);
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
  return access ("/.dockerenv", F_OK) == 0 || access ("/run/.containerenv", F_OK) == 0 || (k && *k)
         || (ct && *ct);
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

int
conf_override (struct rdind_conf *c, const char *section, const char *key, const char *value, const char *origin,
               rdind_error_t *err)
{
  struct conf_priv *cp = (struct conf_priv *) c;
  int i = find_key (section, key);
  if (i < 0)
    return rdind_make_error (err, 0, "no key [%s] %s", section, key);
  if (set_value (cp, (size_t) i, value, err) < 0)
    return -1;
  free (cp->origin[i]);
  cp->origin[i] = xstrdup (origin);
  cp->is_auto[i] = false;
  return 0;
}

void
conf_resolve_paths (struct rdind_conf *c)
{
  struct conf_priv *cp = PRIV (c);
  if (c->certdir == NULL || *c->certdir == '\0')
    {
      free (c->certdir);
      /* docker:dind's /certs is for root (the sidecar prepares it before
       * dropping privileges), or for an account a container image gave a
       * writable /certs; any other user (a developer in a devcontainer or
       * toolbox, which look like containers) cannot create it. */
      if (geteuid () == 0 || (conf_in_container () && access ("/certs", W_OK) == 0))
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
        xasprintf (&c->state_dir, "/tmp/rdind-%u", (unsigned)getuid ());
      mark_auto (cp, find_key ("launcher", "state_dir"), c->state_dir);
    }
}

/* ---- reload ---------------------------------------------------------------- */

int
conf_reload (const struct rdind_conf *cur, struct rdind_conf **out, rdind_error_t *err)
{
  const struct conf_priv *old = (const struct conf_priv *)cur;
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
      char **field = (char **)((char *)c + conf_keys[i].off);
      if ((*field == NULL || **field == '\0') && old->is_auto[i])
        {
          free (*field);
          *field = xstrdup (*(char *const *)((const char *)cur + conf_keys[i].off));
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
  const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
  if (is_list (k->type))
    return strv_equal (*(char **const *)fa, *(char **const *)fb);
  switch (k->type)
    {
    case V_DURATION:
    case V_UINT:
      return *(const uint64_t *)fa == *(const uint64_t *)fb;
    case V_ENUM:
      if (int_enum (k) && strcmp (k->key, "restart") == 0)
        return *(const enum conf_restart *)fa == *(const enum conf_restart *)fb;
      if (int_enum (k))
        return *(const enum conf_key_type *)fa == *(const enum conf_key_type *)fb;
      /* fallthrough */
    default:
      return str_equal (*(char *const *)fa, *(char *const *)fb);
    }
}

/* "PEER KEY=VALUE" for every [policy.PEER] key, to compare two sets. */
static char **
peer_override_lines (const struct conf_priv *cp)
{
  char **v = xmalloc0 (sizeof (char *));
  for (size_t i = 0; i < cp->n_ovr; i++)
    {
      cleanup_free char *l = NULL;
      xasprintf (&l, "%s %s=%s", cp->ovr[i].peer, conf_keys[cp->ovr[i].idx].key, cp->ovr[i].raw);
      strv_append (&v, l);
    }
  return v;
}

char **
conf_diff (const struct rdind_conf *a, const struct rdind_conf *b)
{
  char **out = xmalloc0 (sizeof (char *));
  for (size_t i = 0; i < conf_n_keys; i++)
    if (!value_equal (&conf_keys[i], a, b))
      {
        cleanup_free char *name = NULL;
        xasprintf (&name, "%s.%s", conf_keys[i].section, conf_keys[i].key);
        strv_append (&out, name);
      }
  /* [policy.PEER]: a peer whose own keys differ, named "policy.PEER". */
  {
    cleanup_strv char **pa = peer_override_lines (PRIV (a)), **pb = peer_override_lines (PRIV (b));
    for (int side = 0; side < 2; side++)
      for (char **l = side ? pb : pa; *l; l++)
        if (!strv_contains (side ? pa : pb, *l))
          {
            cleanup_free char *name = NULL;
            xasprintf (&name, "policy.%.*s", (int)strcspn (*l, " "), *l);
            if (!strv_contains (out, name))
              strv_append (&out, name);
          }
  }
  return out;
}

int
conf_copy_key (struct rdind_conf *dst, const struct rdind_conf *src, const char *key)
{
  const char *dot = strchr (key, '.');
  if (dot == NULL)
    return -1;
  cleanup_free char *section = xstrndup (key, (size_t)(dot - key));
  int i = find_key (section, dot + 1);
  if (i < 0)
    return -1;
  const struct key_def *k = &conf_keys[i];
  const struct conf_priv *sp = (const struct conf_priv *)src;
  struct conf_priv *dp = PRIV (dst);
  void *fd = (char *)dst + k->off;
  const void *fs = (const char *)src + k->off;

  free_value (k, dst);
  if (is_list (k->type))
    {
      char **v = xmalloc0 (sizeof (char *));
      for (char *const *p = *(char **const *)fs; p && *p; p++)
        strv_append (&v, *p);
      *(char ***)fd = v;
    }
  else
    switch (k->type)
      {
      case V_DURATION:
      case V_UINT:
        *(uint64_t *)fd = *(const uint64_t *)fs;
        break;
      case V_ENUM:
        if (int_enum (k))
          {
            if (strcmp (k->key, "restart") == 0)
              *(enum conf_restart *)fd = *(const enum conf_restart *)fs;
            else
              *(enum conf_key_type *)fd = *(const enum conf_key_type *)fs;
            break;
          }
        /* fallthrough */
      default:
        {
          const char *v = *(char *const *)fs;
          *(char **)fd = v ? xstrdup (v) : NULL;
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
  return conf_n_keys;
}

void
conf_key_info_ (const struct rdind_conf *c, size_t i, const char **section, const char **key,
                const char **raw, const char **origin, const char **help)
{
  const struct conf_priv *cp = (const struct conf_priv *)c;
  *section = conf_keys[i].section;
  *key = conf_keys[i].key;
  *raw = cp->raw[i];
  *origin = cp->origin[i];
  *help = conf_keys[i].help;
}
