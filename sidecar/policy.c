/* rdind - the API policy's rules (see policy.h).
 *
 * docker-socket-proxy stops at method and path; the danger is in the
 * bodies: once POST /containers/create passes, "Privileged": true or
 * "Binds": ["/:/host"] gives the daemon's whole view away.  So the bodies of
 * the requests that create or change what a container may do are parsed
 * with jansson and checked field by field.
 *
 * Reading JSON as dockerd does matters more than the rules themselves:
 * dockerd decodes with Go's encoding/json, which matches member names
 * case-insensitively ("privileged" sets Privileged) and lets the last of two
 * equal names win.  A checker that looked up "Privileged" exactly would be
 * bypassed by "privileged"; so members are looked up case-insensitively and
 * a body where two members match one field is refused as ambiguous, as are
 * values of an unexpected type.  dockerd routes on the percent-decoded path
 * after an optional /vX.Y prefix, so the target is decoded the same way,
 * and one that dockerd would clean or redirect (//, /./, /../) is refused.
 *
 * dockerd also reads more than the fields a client sends today: the
 * create body is a wrapper that still embeds the deprecated top-level
 * HostConfig (with "HostConfig" absent or null, a top-level "Privileged"
 * applies), an old API version takes a HostConfig in the start body, and
 * container routes take any name, slashes included ({name:.*}: a link
 * alias is /lnk/al).  So every member of the bodies that matter is either
 * modelled or refused, and what a request asked for is checked once more
 * where it cannot be dressed up: dockerd's own record of the container or
 * exec, read back before it starts (policy_effect). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "policy.h"
#include "util.h"

/* The routes that matter, after /vX.Y and with {id} one path segment. */
enum route
{
  R_OTHER,
  R_BAD_TARGET,
  R_CONTAINER_CREATE,
  R_CONTAINER_UPDATE,
  R_CONTAINER_START,
  R_CONTAINER_RESTART,
  R_BUILD,
  R_EXEC_CREATE,
  R_EXEC_START,
  R_ATTACH,
  R_SESSION,
  R_VOLUME_CREATE,
  R_IMAGE_CREATE,
  R_PLUGIN,
  R_SERVICE,
};

static int
hexval (int c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower (c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* TARGET's path, percent-decoded, without the /vX.Y prefix, into OUT; the
 * raw query (after '?') into *QUERY.  -1 for what dockerd would not route
 * as written (NUL, bad escapes, empty, '.' or '..' segments, '//'). */
static int
route_path (const char *target, char *out, size_t size, const char **query)
{
  size_t o = 0;
  const char *t = target;

  *query = strchr (target, '?');
  if (*t != '/')
    return -1;
  for (; *t && *t != '?' && *t != '#'; t++)
    {
      int ch = (unsigned char) *t;
      if (ch == '%')
        {
          int hi = hexval ((unsigned char) t[1]), lo = hi < 0 ? -1 : hexval ((unsigned char) t[2]);
          if (hi < 0 || lo < 0)
            return -1;
          ch = hi * 16 + lo;
          t += 2;
        }
      if (ch == 0 || o + 1 >= size)
        return -1;
      out[o++] = (char) ch;
    }
  out[o] = '\0';
  *query = *query ? *query + 1 : "";
  if (strstr (out, "//") || strstr (out, "/./") || strstr (out, "/../"))
    return -1;
  if (o >= 2 && (strcmp (out + o - 2, "/.") == 0 || (o >= 3 && strcmp (out + o - 3, "/..") == 0)))
    return -1;
  /* /v1.41/containers/create -> /containers/create: dockerd's router takes
   * /v{version:[0-9.]+} ("/v./" included). */
  if (out[1] == 'v' && (isdigit ((unsigned char) out[2]) || out[2] == '.'))
    {
      const char *p = out + 2;
      while (isdigit ((unsigned char) *p) || *p == '.')
        p++;
      if (*p == '/')
        memmove (out, p, strlen (p) + 1);
    }
  return 0;
}

/* Does PATH match PATTERN, where "*" stands for one non-empty segment? */
static bool
path_is (const char *path, const char *pattern)
{
  while (*pattern)
    {
      if (*pattern == '*')
        {
          size_t n = strcspn (path, "/");
          if (n == 0)
            return false;
          path += n;
          pattern++;
          continue;
        }
      if (*path != *pattern)
        return false;
      path++;
      pattern++;
    }
  return *path == '\0' || (*path == '/' && path[1] == '\0');
}

/* dockerd's /containers/{name:.*}/SUFFIX: a name of any characters,
 * slashes included (a link alias is /lnk/al), so the route is decided by
 * its end.  The name goes to *NAME (at most SIZE - 1 bytes). */
static bool
name_route (const char *path, const char *prefix, const char *suffix, char *name, size_t size)
{
  size_t lp = strlen (prefix), ls = strlen (suffix), n = strlen (path);
  if (n > 1 && path[n - 1] == '/')
    n--; /* a trailing slash: refused as unclean by dockerd or the same route; decide as the route */
  if (n < lp + ls + 1 || strncmp (path, prefix, lp) != 0 || strncmp (path + n - ls, suffix, ls) != 0)
    return false;
  if (name)
    snprintf (name, size, "%.*s", (int) (n - lp - ls), path + lp);
  return true;
}

static enum route
route_of (const char *method, const char *target, const char **query, char *name, size_t size)
{
  char path[4096];
  bool post = strcmp (method, "POST") == 0;

  if (name)
    name[0] = '\0';
  if (route_path (target, path, sizeof path, query) < 0)
    return R_BAD_TARGET;
  if (post && path_is (path, "/containers/create"))
    return R_CONTAINER_CREATE;
  if (post && name_route (path, "/containers/", "/update", name, size))
    return R_CONTAINER_UPDATE;
  if (post && name_route (path, "/containers/", "/start", name, size))
    return R_CONTAINER_START;
  if (post && name_route (path, "/containers/", "/restart", name, size))
    return R_CONTAINER_RESTART;
  if (post && name_route (path, "/containers/", "/exec", name, size))
    return R_EXEC_CREATE;
  if (post && name_route (path, "/exec/", "/start", name, size))
    return R_EXEC_START;
  if (name_route (path, "/containers/", "/attach", NULL, 0) || name_route (path, "/containers/", "/attach/ws", NULL, 0))
    return R_ATTACH;
  if (post && (path_is (path, "/session") || path_is (path, "/grpc")))
    return R_SESSION;
  if (post && path_is (path, "/build"))
    return R_BUILD;
  if (post && path_is (path, "/volumes/create"))
    return R_VOLUME_CREATE;
  if (post && path_is (path, "/images/create"))
    return R_IMAGE_CREATE;
  if (post && (path_is (path, "/plugins/pull") || path_is (path, "/plugins/create")
               || name_route (path, "/plugins/", "/upgrade", NULL, 0) || name_route (path, "/plugins/", "/set", NULL, 0)
               || name_route (path, "/plugins/", "/enable", NULL, 0)))
    return R_PLUGIN;
  if (post && (path_is (path, "/services/create") || name_route (path, "/services/", "/update", NULL, 0)))
    return R_SERVICE;
  return R_OTHER;
}

/* The raw name (as the client wrote it, escapes kept) of a start, restart
 * or exec start target, for the inspection's path: dockerd resolves it the
 * same way twice. */
static void
raw_name (const char *target, const char *prefix, const char *suffix, char *out, size_t size)
{
  const char *t = target, *end = target + strcspn (target, "?#");
  size_t lp = strlen (prefix), ls = strlen (suffix);

  out[0] = '\0';
  if (t[0] == '/' && t[1] == 'v')
    {
      const char *p = t + 2;
      while (p < end && (isdigit ((unsigned char) *p) || *p == '.'))
        p++;
      if (p > t + 2 && *p == '/')
        t = p;
    }
  if (end > t + 1 && end[-1] == '/')
    end--;
  if ((size_t) (end - t) < lp + ls + 1 || strncmp (t, prefix, lp) != 0 || strncmp (end - ls, suffix, ls) != 0)
    return;
  snprintf (out, size, "%.*s", (int) (end - t - lp - ls), t + lp);
}

void
policy_classify (const char *method, const char *target, struct policy_class *c)
{
  const char *q;
  enum route r = route_of (method, target, &q, NULL, 0);

  memset (c, 0, sizeof *c);
  c->hijack = r == R_EXEC_START || r == R_ATTACH || r == R_SESSION;
  switch (r)
    {
    case R_CONTAINER_CREATE:
      c->need = POLICY_NEED_BODY;
      c->effect = POLICY_EFFECT_CREATED;
      break;
    case R_EXEC_CREATE:
      c->need = POLICY_NEED_BODY;
      c->effect = POLICY_EFFECT_EXEC_MADE;
      break;
    case R_CONTAINER_START:
    case R_CONTAINER_RESTART:
      c->need = POLICY_NEED_BODY;
      c->effect = POLICY_EFFECT_START;
      snprintf (c->action, sizeof c->action, "%s", r == R_CONTAINER_START ? "start" : "restart");
      raw_name (target, "/containers/", r == R_CONTAINER_START ? "/start" : "/restart", c->name, sizeof c->name);
      break;
    case R_EXEC_START:
      c->need = POLICY_NEED_BODY;
      c->effect = POLICY_EFFECT_EXEC_START;
      raw_name (target, "/exec/", "/start", c->name, sizeof c->name);
      break;
    case R_CONTAINER_UPDATE:
    case R_VOLUME_CREATE:
      c->need = POLICY_NEED_BODY;
      break;
    case R_BAD_TARGET:
    case R_IMAGE_CREATE:
    case R_PLUGIN:
    case R_SERVICE:
    case R_BUILD:
      c->need = POLICY_NEED_TARGET;
      break;
    default:
      c->need = POLICY_NEED_NOTHING;
    }
}

/* --- decisions --------------------------------------------------------- */

static void __attribute__ ((format (printf, 3, 4)))
decide (struct policy_decision *d, const char *rule, const char *fmt, ...)
{
  va_list ap;
  if (d->verdict != POLICY_ALLOW)
    return; /* the first reason stands */
  d->verdict = rule ? POLICY_DENY : POLICY_BAD;
  d->rule = rule;
  va_start (ap, fmt);
  vsnprintf (d->msg, sizeof d->msg, fmt, ap);
  va_end (ap);
}

/* Go's encoding/json matches a member name to a field without case, and
 * folds as Unicode does: U+017F (long s) is an 's' and U+212A (Kelvin) a
 * 'k'.  So "Hoſtconfig" is HostConfig to dockerd, and must be to us. */
static bool
go_name_eq (const char *key, const char *field)
{
  const unsigned char *k = (const unsigned char *) key;
  for (; *field; field++)
    {
      int f = tolower ((unsigned char) *field);
      if (k[0] == 0xc5 && k[1] == 0xbf && f == 's')
        k += 2;
      else if (k[0] == 0xe2 && k[1] == 0x84 && k[2] == 0xaa && f == 'k')
        k += 3;
      else if (*k < 0x80 && tolower (*k) == f)
        k++;
      else
        return false;
    }
  return *k == '\0';
}

/* OBJ's member NAME as Go's encoding/json finds it (case-insensitively).
 * NULL when absent or OBJ is no object; two matches make the body
 * ambiguous (*AMBIG). */
static json_t *
member (json_t *obj, const char *name, const char *where, struct policy_decision *d)
{
  json_t *found = NULL, *v;
  const char *k;

  if (!json_is_object (obj))
    return NULL;
  json_object_foreach (obj, k, v)
  {
    if (!go_name_eq (k, name))
      continue;
    if (found)
      {
        decide (d, NULL, "ambiguous request body: %s%s is given twice (names are matched without case)",
                where, name);
        return NULL;
      }
    found = v;
  }
  return found;
}

/* A member that must be a string (or absent/null): its value or NULL. */
static const char *
member_str (json_t *obj, const char *name, const char *where, struct policy_decision *d)
{
  json_t *v = member (obj, name, where, d);
  if (v == NULL || json_is_null (v))
    return NULL;
  if (!json_is_string (v))
    {
      decide (d, NULL, "%s%s must be a string", where, name);
      return NULL;
    }
  return json_string_value (v);
}

/* A member that must be an array (or absent/null). */
static json_t *
member_array (json_t *obj, const char *name, const char *where, struct policy_decision *d)
{
  json_t *v = member (obj, name, where, d);
  if (v == NULL || json_is_null (v))
    return NULL;
  if (!json_is_array (v))
    {
      decide (d, NULL, "%s%s must be an array", where, name);
      return NULL;
    }
  return v;
}

/* Anything but absent, null and false counts as set: a value of another
 * type would be refused by dockerd, and must not pass here as "not true". */
static bool
member_set (json_t *obj, const char *name, const char *where, struct policy_decision *d)
{
  json_t *v = member (obj, name, where, d);
  return v != NULL && !json_is_null (v) && !json_is_false (v);
}

/* Go's filepath.Clean, lexically, into OUT (absolute paths only). */
static void
clean_path (const char *in, char *out, size_t size)
{
  size_t o = 0;
  const char *r = in;

  while (*r)
    {
      while (*r == '/')
        r++;
      if (*r == '\0')
        break;
      size_t n = strcspn (r, "/");
      if (n == 1 && r[0] == '.')
        ;
      else if (n == 2 && r[0] == '.' && r[1] == '.')
        {
          while (o > 0 && out[o - 1] != '/')
            o--;
          if (o > 0)
            o--;
        }
      else if (o + 1 + n < size)
        {
          out[o++] = '/';
          memcpy (out + o, r, n);
          o += n;
        }
      r += n;
    }
  if (o == 0)
    out[o++] = '/';
  out[o] = '\0';
}

/* Symlinks resolved as far as PATH exists; the rest appended. */
static void
resolve_existing (const char *path, char *out, size_t size)
{
  char head[PATH_MAX];
  size_t n = strlen (path);

  snprintf (head, sizeof head, "%s", path);
  for (;;)
    {
      char buf[PATH_MAX];
      if (realpath (head, buf))
        {
          snprintf (out, size, "%s%s", strcmp (buf, "/") == 0 && n > strlen (head) ? "" : buf,
                    path + strlen (head));
          return;
        }
      char *slash = strrchr (head, '/');
      if (slash == NULL || slash == head)
        {
          snprintf (out, size, "%s", path);
          return;
        }
      *slash = '\0';
    }
}

static bool
under_any (char **allowed, const char *path)
{
  for (char **a = allowed; a && *a; a++)
    {
      size_t n = strlen (*a);
      if (strcmp (*a, "/") == 0 || (strncmp (path, *a, n) == 0 && (path[n] == '\0' || path[n] == '/')))
        return true;
    }
  return false;
}

bool
policy_bind_allowed (const struct conf_policy *p, const char *src)
{
  char clean[PATH_MAX], real[PATH_MAX];
  if (src == NULL || src[0] != '/' || strlen (src) >= PATH_MAX)
    return false;
  clean_path (src, clean, sizeof clean);
  resolve_existing (clean, real, sizeof real);
  /* Both the path as dockerd cleans it and where its symlinks lead today. */
  return under_any (p->allow_binds, clean) && under_any (p->allow_binds, real);
}

static bool
pattern_match (const char *pat, const char *ref)
{
  size_t n = strlen (pat);
  if (n && pat[n - 1] == '*')
    return strncmp (ref, pat, n - 1) == 0;
  return strcmp (ref, pat) == 0;
}

bool
policy_image_allowed (const struct conf_policy *p, const char *ref)
{
  static const char *const prefixes[] = { "docker.io/library/", "index.docker.io/library/", "docker.io/" };
  char cand[4][600];
  size_t nc = 0;
  const char *last = strrchr (ref, '/');
  bool tagged = strchr (last ? last : ref, ':') != NULL || strchr (ref, '@') != NULL;

  if (ref == NULL || *ref == '\0' || strlen (ref) > 512)
    return false;
  snprintf (cand[nc++], sizeof cand[0], "%s", ref);
  if (!tagged)
    snprintf (cand[nc++], sizeof cand[0], "%s:latest", ref);
  /* docker.io/library/busybox is the busybox the user typed. */
  for (size_t i = 0; i < ARRAY_SIZE (prefixes); i++)
    if (strncmp (ref, prefixes[i], strlen (prefixes[i])) == 0)
      {
        const char *s = ref + strlen (prefixes[i]);
        snprintf (cand[nc++], sizeof cand[0], "%s", s);
        if (!tagged)
          snprintf (cand[nc++], sizeof cand[0], "%s:latest", s);
        break;
      }
  for (char **a = p->allow_images; a && *a; a++)
    for (size_t i = 0; i < nc; i++)
      if (pattern_match (*a, cand[i]))
        return true;
  return false;
}

static bool
cap_denied (const struct conf_policy *p, const char *cap)
{
  char c[64];
  const char *s = strncasecmp (cap, "CAP_", 4) == 0 ? cap + 4 : cap;
  size_t i;
  for (i = 0; s[i] && i + 1 < sizeof c; i++)
    c[i] = (char) toupper ((unsigned char) s[i]);
  c[i] = '\0';
  return strv_contains (p->deny_caps, c);
}

static void
check_image (const struct conf_policy *p, const char *ref, const char *what, struct policy_decision *d)
{
  if (ref && !policy_image_allowed (p, ref))
    decide (d, "allow_images", "%s '%s' is not in allow_images", what, ref);
}

static const char *protected_hit (const char *src);

static void
check_bind (const struct conf_policy *p, const char *src, const char *what, struct policy_decision *d)
{
  const char *hit;
  if (!policy_bind_allowed (p, src))
    decide (d, "allow_binds", "%s '%s' is not under allow_binds", what, src ? src : "(none)");
  else if ((hit = protected_hit (src)))
    decide (d, "allow_binds", "%s '%s' shows rdind's own %s (certificates, sockets or the daemon's data): never "
            "allowed", what, src, hit);
}

/* Devices, DeviceRequests, DeviceCgroupRules: in HostConfig for create, at
 * the top of an update's body. */
static void
check_devices (const struct conf_policy *p, json_t *o, const char *where, struct policy_decision *d)
{
  static const char *const keys[] = { "Devices", "DeviceRequests", "DeviceCgroupRules" };
  if (conf_yes (p->allow_devices))
    return;
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    {
      json_t *a = member_array (o, keys[i], where, d);
      if (a && json_array_size (a) > 0)
        decide (d, "allow_devices", "%s%s is not allowed", where, keys[i]);
    }
}

/* The volume options that make the local driver mount a host path. */
static void
check_volume_opts (const struct conf_policy *p, json_t *opts, const char *where, struct policy_decision *d)
{
  const char *dev = member_str (opts, "device", where, d);
  const char *type = member_str (opts, "type", where, d);
  if (dev == NULL)
    return;
  if (dev[0] == '/')
    check_bind (p, dev, "volume device", d);
  else if (type == NULL || strcmp (type, "tmpfs") != 0)
    decide (d, "allow_binds", "%sdevice '%s' (type %s) mounts something other than a host path or tmpfs", where,
            dev, type ? type : "none");
}

/* The members dockerd's HostConfig has (API 1.12 to 1.51), its Resources
 * included.  Anything else in a HostConfig is refused: a field rdind does
 * not model may be one a newer dockerd gives a meaning. */
static const char *const host_config_fields[] = {
  "Binds", "ContainerIDFile", "LogConfig", "NetworkMode", "PortBindings", "RestartPolicy", "AutoRemove",
  "VolumeDriver", "VolumesFrom", "ConsoleSize", "Annotations", "CapAdd", "CapDrop", "CgroupnsMode", "Dns",
  "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "IpcMode", "Cgroup", "Links", "OomScoreAdj", "PidMode",
  "Privileged", "PublishAllPorts", "ReadonlyRootfs", "SecurityOpt", "StorageOpt", "Tmpfs", "UTSMode",
  "UsernsMode", "ShmSize", "Sysctls", "Runtime", "Isolation", "Mounts", "MaskedPaths", "ReadonlyPaths", "Init",
  /* Resources */
  "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
  "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuPeriod", "CpuQuota",
  "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "Devices", "DeviceCgroupRules",
  "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness",
  "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth",
  NULL
};

/* The container Config's members, and the create wrapper's own. */
static const char *const config_fields[] = {
  "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts", "Tty",
  "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes", "WorkingDir",
  "Entrypoint", "NetworkDisabled", "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
  /* the wrapper (ContainerConfigWrapper / CreateRequest) */
  "HostConfig", "NetworkingConfig", "Cpuset", NULL
};

static const char *const exec_fields[] = { "User", "Privileged", "Tty", "ConsoleSize", "AttachStdin", "AttachStderr",
                                           "AttachStdout", "Detach", "DetachKeys", "Env", "WorkingDir", "Cmd",
                                           NULL };

static const char *const update_extra_fields[] = { "RestartPolicy", NULL };

/* /build's query parameters (API 1.12 to 1.51). */
static const char *const build_params[] = {
  "version", "platform", "dockerfile", "t", "q", "nocache", "rm", "forcerm", "pull", "memory", "memswap",
  "cpushares", "cpuperiod", "cpuquota", "cpusetcpus", "cpusetmems", "cgroupparent", "shmsize", "networkmode",
  "buildargs", "labels", "cachefrom", "ulimits", "extrahosts", "isolation", "session", "target", "squash",
  "outputs", "buildid", "remote", "nocache-filter", NULL
};

static bool
in_fields (const char *const *fields, const char *key)
{
  for (; *fields; fields++)
    if (go_name_eq (key, *fields))
      return true;
  return false;
}

/* Every member of O must be one of FIELDS (or of FIELDS2). */
static void
only_known (json_t *o, const char *const *fields, const char *const *fields2, const char *where,
            struct policy_decision *d)
{
  const char *k;
  json_t *v;
  if (!json_is_object (o))
    return;
  json_object_foreach (o, k, v)
  {
    (void) v;
    if (!in_fields (fields, k) && !(fields2 && in_fields (fields2, k)))
      decide (d, NULL, "%s%.100s is not a field rdind's policy knows: refused rather than passed unchecked", where,
              k);
  }
}

/* One --security-opt as dockerd reads it: "no-new-privileges", a bare
 * "disable" (label=disable), else KEY=VALUE or the old KEY:VALUE. */
static void
check_security_opt (const char *s, struct policy_decision *d)
{
  char key[32];
  const char *val;
  size_t kl;

  if (strcmp (s, "no-new-privileges") == 0)
    return;
  if (strcasecmp (s, "disable") == 0)
    {
      decide (d, "allow_privileged", "HostConfig.SecurityOpt 'disable' (label=disable) is not allowed");
      return;
    }
  kl = strchr (s, '=') ? strcspn (s, "=") : strcspn (s, ":");
  val = s[kl] ? s + kl + 1 : NULL;
  snprintf (key, sizeof key, "%.*s", (int) (kl < sizeof key ? kl : sizeof key - 1), s);
  if (val == NULL)
    decide (d, NULL, "HostConfig.SecurityOpt '%.100s' is not KEY=VALUE", s);
  else if (strcasecmp (key, "no-new-privileges") == 0)
    ;
  else if (strcasecmp (key, "seccomp") == 0)
    {
      /* A profile is sent as its JSON text: rdind does not judge what a
       * profile allows, so only dockerd's own is taken. */
      if (strcmp (val, "builtin") != 0)
        decide (d, "allow_privileged", "HostConfig.SecurityOpt seccomp=%.60s%s is not allowed: only the daemon's "
                "default profile is (a custom profile may allow every syscall)", val, strlen (val) > 60 ? "..." : "");
    }
  else if (strcasecmp (key, "apparmor") == 0)
    {
      if (strcasecmp (val, "unconfined") == 0)
        decide (d, "allow_privileged", "HostConfig.SecurityOpt '%.100s' is not allowed", s);
    }
  else if (strcasecmp (key, "label") == 0)
    {
      if (strcasecmp (val, "disable") == 0 || strncasecmp (val, "type:", 5) == 0 || strncasecmp (val, "type=", 5) == 0)
        decide (d, "allow_privileged", "HostConfig.SecurityOpt '%.100s' is not allowed", s);
    }
  else
    decide (d, "allow_privileged", "HostConfig.SecurityOpt '%.100s' is not allowed (systempaths=unconfined, "
            "writable-cgroups and options rdind does not model need allow_privileged)", s);
}

/* MaskedPaths and ReadonlyPaths replace dockerd's defaults when not null:
 * `--security-opt systempaths=unconfined` arrives as two empty lists. */
static void
check_system_paths (json_t *hc, const char *w, struct policy_decision *d)
{
  static const char *const masked[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", NULL };
  static const char *const ro[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", NULL };
  const char *const *need[] = { masked, ro };
  const char *names[] = { "MaskedPaths", "ReadonlyPaths" };

  for (size_t i = 0; i < 2; i++)
    {
      json_t *a = member_array (hc, names[i], w, d), *v;
      size_t j;
      if (a == NULL)
        continue;
      for (const char *const *n = need[i]; *n; n++)
        {
          bool found = false;
          json_array_foreach (a, j, v)
            found |= json_is_string (v) && strcmp (json_string_value (v), *n) == 0;
          if (!found)
            {
              decide (d, "allow_privileged", "%s%s without %s (--security-opt systempaths=unconfined) is not allowed",
                      w, names[i], *n);
              break;
            }
        }
    }
}

/* A namespace mode: "host" refused; "container:NAME" joins another
 * container's, which the effect check inspects (*JOIN). */
static void
check_ns_mode (const struct conf_policy *p, json_t *hc, const char *key, const char *w, bool effect, char **join,
               struct policy_decision *d)
{
  const char *m = member_str (hc, key, w, d);
  if (m == NULL)
    return;
  /* cgroup v1 records CgroupnsMode "host" for every container: the
   * daemon's default there, not a request. */
  if (effect && strcmp (key, "CgroupnsMode") == 0)
    return;
  if (!conf_yes (p->allow_host_namespaces) && strcasecmp (m, "host") == 0)
    decide (d, "allow_host_namespaces", "%s%s=host is not allowed", w, key);
  if (join && strncasecmp (m, "container:", 10) == 0 && m[10] && *join == NULL)
    *join = xstrdup (m + 10);
}

/* HC: a HostConfig from a request (EFFECT false: every member must be
 * known) or from dockerd's record (EFFECT true).  *JOIN gets the first
 * container whose namespaces HC joins. */
static void
check_host_config_ex (const struct conf_policy *p, json_t *hc, const char *w, bool effect, bool strict, char **join,
                      struct policy_decision *d)
{
  static const char *const ns_keys[] = { "NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode" };
  json_t *a, *v;
  size_t i;

  if (hc == NULL || json_is_null (hc))
    return;
  if (!json_is_object (hc))
    {
      decide (d, NULL, "HostConfig must be an object");
      return;
    }
  if (strict)
    only_known (hc, host_config_fields, NULL, w, d);
  if (!conf_yes (p->allow_privileged))
    {
      if (member_set (hc, "Privileged", w, d))
        decide (d, "allow_privileged", "%sPrivileged is not allowed", w);
      if ((a = member_array (hc, "SecurityOpt", w, d)))
        json_array_foreach (a, i, v)
        {
          if (!json_is_string (v))
            decide (d, NULL, "%sSecurityOpt entries must be strings", w);
          else
            check_security_opt (json_string_value (v), d);
        }
      check_system_paths (hc, w, d);
    }
  for (i = 0; i < ARRAY_SIZE (ns_keys); i++)
    check_ns_mode (p, hc, ns_keys[i], w, effect, i < 3 ? join : NULL, d);
  if ((a = member_array (hc, "CapAdd", w, d)))
    json_array_foreach (a, i, v)
    {
      const char *s = json_string_value (v);
      if (s == NULL)
        decide (d, NULL, "%sCapAdd entries must be strings", w);
      else if (cap_denied (p, s))
        decide (d, "deny_caps", "%sCapAdd '%s' is in deny_caps", w, s);
    }
  check_devices (p, hc, w, d);
  /* Annotations reach the OCI runtime (runc reads org.systemd.property.*):
   * not modelled, so only with allow_privileged. */
  if (!effect && !conf_yes (p->allow_privileged))
    {
      json_t *an = member (hc, "Annotations", w, d);
      if (an && !json_is_null (an) && !(json_is_object (an) && json_object_size (an) == 0))
        decide (d, "allow_privileged", "%sAnnotations reach the OCI runtime and are not modelled by rdind's policy", w);
    }
  if ((a = member_array (hc, "Binds", w, d)))
    json_array_foreach (a, i, v)
    {
      const char *s = json_string_value (v);
      if (s == NULL)
        {
          decide (d, NULL, "%sBinds entries must be strings", w);
          continue;
        }
      /* "SRC:DST[:OPTS]": a SRC starting with '/' is a host path, anything
       * else names a volume (checked by the effect check). */
      if (s[0] == '/')
        {
          char src[PATH_MAX];
          snprintf (src, sizeof src, "%.*s", (int) strcspn (s, ":"), s);
          check_bind (p, src, "bind", d);
        }
    }
  if ((a = member_array (hc, "Mounts", w, d)))
    json_array_foreach (a, i, v)
    {
      const char *type = member_str (v, "Type", "HostConfig.Mounts[].", d);
      if (!json_is_object (v))
        decide (d, NULL, "%sMounts entries must be objects", w);
      else if (type && strcasecmp (type, "bind") == 0)
        check_bind (p, member_str (v, "Source", "HostConfig.Mounts[].", d), "bind mount", d);
      else if (type && strcasecmp (type, "volume") == 0)
        {
          json_t *vo = member (v, "VolumeOptions", "HostConfig.Mounts[].", d);
          json_t *dc = member (vo, "DriverConfig", "VolumeOptions.", d);
          check_volume_opts (p, member (dc, "Options", "DriverConfig.", d),
                             "HostConfig.Mounts[].VolumeOptions.DriverConfig.Options.", d);
        }
      else if (type && strcasecmp (type, "tmpfs") != 0)
        decide (d, "allow_binds", "%sMounts of type '%.40s' are not modelled by rdind's policy", w, type);
    }
}

static void
check_host_config (const struct conf_policy *p, json_t *hc, struct policy_decision *d)
{
  check_host_config_ex (p, hc, "HostConfig.", false, true, NULL, d);
}

/* The value of query parameter NAME (first one), decoded, into OUT. */
static bool
query_param (const char *q, const char *name, char *out, size_t size)
{
  size_t n = strlen (name);
  for (const char *p = q; p && *p; p = strchr (p, '&') ? strchr (p, '&') + 1 : NULL)
    if (strncmp (p, name, n) == 0 && p[n] == '=')
      {
        size_t o = 0;
        for (const char *v = p + n + 1; *v && *v != '&' && o + 1 < size; v++)
          {
            int ch = (unsigned char) *v;
            if (ch == '%' && hexval ((unsigned char) v[1]) >= 0 && hexval ((unsigned char) v[2]) >= 0)
              {
                ch = hexval ((unsigned char) v[1]) * 16 + hexval ((unsigned char) v[2]);
                v += 2;
              }
            else if (ch == '+')
              ch = ' ';
            out[o++] = (char) ch;
          }
        out[o] = '\0';
        return true;
      }
  return false;
}

/* /build's query, as dockerd's r.FormValue reads it: networkmode host or
 * container:NAME would run RUN steps in the daemon's (or another
 * container's) network namespace; a parameter rdind does not know is
 * refused.  Names are matched after decoding, and Go takes ';' as '&'
 * only in old versions: a name with ';' or an escape is refused. */
static void
check_build (const struct conf_policy *p, const char *q, struct policy_decision *d)
{
  char mode[256];
  for (const char *s = q; s && *s; s = strchr (s, '&') ? strchr (s, '&') + 1 : NULL)
    {
      char name[64];
      size_t n = strcspn (s, "=&");
      if (n == 0)
        continue;
      snprintf (name, sizeof name, "%.*s", (int) (n < sizeof name ? n : sizeof name - 1), s);
      bool known = false;
      for (const char *const *b = build_params; *b; b++)
        known |= strcmp (*b, name) == 0;
      if (!known)
        {
          decide (d, NULL, "/build parameter '%.60s' is not one rdind's policy knows: refused rather than passed "
                  "unchecked", name);
          return;
        }
    }
  if (query_param (q, "networkmode", mode, sizeof mode) && !conf_yes (p->allow_host_namespaces))
    {
      if (strcasecmp (mode, "host") == 0)
        decide (d, "allow_host_namespaces", "docker build --network host is not allowed");
      else if (strncasecmp (mode, "container:", 10) == 0)
        decide (d, "allow_host_namespaces", "docker build --network container:... is not allowed");
    }
}

/* --- paths no bind may reach -------------------------------------------- */

static char **protected_paths;

void
policy_set_protected (char **paths)
{
  strv_free (protected_paths);
  protected_paths = NULL;
  for (char **a = paths; a && *a; a++)
    if (**a == '/')
      {
        char clean[PATH_MAX], real[PATH_MAX];
        clean_path (*a, clean, sizeof clean);
        resolve_existing (clean, real, sizeof real);
        strv_append (&protected_paths, clean);
        if (strcmp (clean, real) != 0)
          strv_append (&protected_paths, real);
      }
}

/* Does the bind of SRC (cleaned) show a protected path: itself, one below
 * it, or a parent of it? */
static const char *
protected_hit (const char *src)
{
  char clean[PATH_MAX], real[PATH_MAX];
  clean_path (src, clean, sizeof clean);
  resolve_existing (clean, real, sizeof real);
  for (char **a = protected_paths; a && *a; a++)
    {
      const char *cands[] = { clean, real };
      for (size_t i = 0; i < 2; i++)
        {
          char *one[] = { *a, NULL };
          char *two[] = { (char *) cands[i], NULL };
          if (under_any (one, cands[i]) || under_any (two, *a))
            return *a;
        }
    }
  return NULL;
}

void
policy_check (const struct conf_policy *p, const char *method, const char *target, const char *body,
              size_t len, struct policy_decision *d)
{
  const char *q;
  char name[256];
  enum route r = route_of (method, target, &q, name, sizeof name);
  json_t *root = NULL;
  json_error_t je;

  memset (d, 0, sizeof *d);
  d->verdict = POLICY_ALLOW;
  switch (r)
    {
    case R_BAD_TARGET:
      decide (d, NULL, "request target '%.200s' is not a clean path (percent escapes, '.', '..' or '//')", target);
      return;
    case R_PLUGIN:
      decide (d, "enabled", "plugins are refused while the policy is enabled (a plugin runs with the privileges it asks for)");
      return;
    case R_SERVICE:
      decide (d, "enabled", "swarm services are refused while the policy is enabled (their specs are not checked)");
      return;
    case R_BUILD:
      check_build (p, q, d);
      return;
    case R_IMAGE_CREATE:
      {
        char img[520], tag[200];
        char ref[800];
        if (!query_param (q, "fromImage", img, sizeof img))
          return; /* docker import (fromSrc): nothing is fetched */
        if (query_param (q, "tag", tag, sizeof tag) && *tag)
          snprintf (ref, sizeof ref, "%s%c%s", img, strncmp (tag, "sha256:", 7) == 0 ? '@' : ':', tag);
        else
          snprintf (ref, sizeof ref, "%s", img);
        check_image (p, ref, "pull of", d);
        return;
      }
    case R_CONTAINER_START:
    case R_CONTAINER_RESTART:
    case R_EXEC_START:
      {
        struct policy_class c;
        policy_classify (method, target, &c);
        if (c.name[0] == '\0')
          {
            decide (d, NULL, "the container or exec in '%.200s' cannot be named for the policy's inspection", target);
            return;
          }
        /* Before API 1.24 dockerd applies a HostConfig sent with start
         * (more than 7 bytes): what create was checked for would not be
         * what starts. */
        if (r == R_CONTAINER_START && len > 7)
          {
            decide (d, NULL, "a start request with a body (a HostConfig at start, API < 1.24) is refused: "
                    "give the configuration at create");
            return;
          }
        if (r != R_EXEC_START || len == 0)
          return;
        break;
      }
    case R_CONTAINER_CREATE:
    case R_CONTAINER_UPDATE:
    case R_EXEC_CREATE:
    case R_VOLUME_CREATE:
      break;
    default:
      return;
    }

  if (len == 0)
    {
      /* dockerd itself rejects a create without a body; update without
       * one changes nothing. */
      if (r == R_CONTAINER_CREATE || r == R_EXEC_CREATE || r == R_VOLUME_CREATE)
        decide (d, NULL, "this request needs a JSON body");
      return;
    }
  root = json_loadb (body, len, JSON_REJECT_DUPLICATES, &je);
  if (root == NULL)
    {
      decide (d, NULL, "request body is not valid JSON (line %d, column %d: %s)", je.line, je.column, je.text);
      return;
    }
  if (!json_is_object (root))
    {
      decide (d, NULL, "request body must be a JSON object");
      json_decref (root);
      return;
    }
  switch (r)
    {
    case R_CONTAINER_CREATE:
      {
        json_t *img = member (root, "Image", "", d);
        if (img && !json_is_string (img) && !json_is_null (img))
          decide (d, NULL, "Image must be a string");
        else if (!strv_contains (p->allow_images, "*"))
          {
            const char *ref = json_string_value (img);
            if (ref == NULL || *ref == '\0')
              decide (d, "allow_images", "a container needs an image from allow_images");
            else
              check_image (p, ref, "image", d);
          }
        only_known (root, config_fields, host_config_fields, "", d);
        check_host_config (p, member (root, "HostConfig", "", d), d);
        /* API 1.44 and later take the network of a single endpoint as the
         * network mode when none is given: {"host": {}} is --network host. */
        {
          json_t *nc = member (root, "NetworkingConfig", "", d);
          json_t *ep = member (nc, "EndpointsConfig", "NetworkingConfig.", d);
          const char *k;
          json_t *v;
          if (json_is_object (ep) && !conf_yes (p->allow_host_namespaces))
            json_object_foreach (ep, k, v)
            {
              (void) v;
              if (strcasecmp (k, "host") == 0 || strncasecmp (k, "container:", 10) == 0)
                decide (d, "allow_host_namespaces", "NetworkingConfig.EndpointsConfig '%.60s' is not allowed", k);
            }
        }
        /* dockerd's create wrapper still embeds the deprecated HostConfig
         * at the top level: with "HostConfig" absent or null those members
         * are the container's HostConfig.  Checked whatever HostConfig
         * says. */
        check_host_config_ex (p, root, "", false, false, NULL, d);
        break;
      }
    case R_CONTAINER_UPDATE:
      only_known (root, host_config_fields, update_extra_fields, "", d);
      check_devices (p, root, "", d);
      break;
    case R_EXEC_CREATE:
      only_known (root, exec_fields, NULL, "", d);
      if (!conf_yes (p->allow_privileged) && member_set (root, "Privileged", "", d))
        decide (d, "allow_privileged", "a privileged exec is not allowed");
      break;
    case R_VOLUME_CREATE:
      {
        const char *drv = member_str (root, "Driver", "", d);
        json_t *o = member (root, "DriverOpts", "", d);
        if (o && !json_is_object (o) && !json_is_null (o))
          decide (d, NULL, "DriverOpts must be an object");
        else if (drv == NULL || *drv == '\0' || strcmp (drv, "local") == 0)
          check_volume_opts (p, o, "DriverOpts.", d);
        else
          decide (d, "allow_binds", "volume driver '%s' is not checked: only the local driver is allowed", drv);
        break;
      }
    default:
      break; /* exec start: a valid JSON object is all it takes */
    }
  json_decref (root);
}

/* --- the effect check ---------------------------------------------------- */

#define EFFECT_MAX_DEPTH 4

struct effect
{
  const struct conf_policy *p;
  policy_fetch_fn fetch;
  void *ctx;
  char *need;
  struct policy_decision *d;
};

/* dockerd's answer to GET PATH, parsed; NULL (and E->need set) when it is
 * still to be fetched, or with a decision made when it is not usable. */
static json_t *
fetch_json (struct effect *e, const char *path, bool primary)
{
  int status = 0;
  size_t len = 0;
  const char *body = e->fetch (e->ctx, path, &status, &len);
  json_t *j;

  if (body == NULL && status == 0 && e->need == NULL)
    {
      e->need = xstrdup (path);
      return NULL;
    }
  if (body == NULL || status != 200)
    {
      if (primary && status >= 400 && status < 600)
        {
          json_t *m = body ? json_loadb (body, len, 0, NULL) : NULL;
          const char *msg = json_string_value (json_object_get (m, "message"));
          e->d->verdict = POLICY_UPSTREAM;
          e->d->status = status;
          snprintf (e->d->msg, sizeof e->d->msg, "%s", msg ? msg : "dockerd refused the inspection");
          json_decref (m);
          return NULL;
        }
      decide (e->d, NULL, "dockerd's record of %.200s could not be read (status %d): the request cannot be checked",
              path, status);
      return NULL;
    }
  j = json_loadb (body, len, 0, NULL);
  if (!json_is_object (j))
    {
      json_decref (j);
      decide (e->d, NULL, "dockerd's record of %.200s is not a JSON object", path);
      return NULL;
    }
  return j;
}

/* A path segment for a name dockerd gave us (ids, volume names). */
static bool
safe_segment (const char *s)
{
  if (s == NULL || *s == '\0' || strlen (s) > 200)
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && !strchr ("_.-", *s))
      return false;
  return true;
}

static void effect_container (struct effect *e, const char *path, bool primary, int depth);

/* A mount as dockerd made it (inspect's "Mounts"): binds by source,
 * volumes by their driver options. */
static void
effect_mount (struct effect *e, json_t *m)
{
  const char *w = "Mounts[].";
  const char *type = member_str (m, "Type", w, e->d);
  if (type == NULL)
    {
      decide (e->d, NULL, "a mount in dockerd's record has no type");
      return;
    }
  if (strcmp (type, "bind") == 0)
    check_bind (e->p, member_str (m, "Source", w, e->d), "bind (as dockerd recorded it)", e->d);
  else if (strcmp (type, "volume") == 0)
    {
      const char *drv = member_str (m, "Driver", w, e->d);
      const char *name = member_str (m, "Name", w, e->d);
      char path[300];
      if (drv && *drv && strcmp (drv, "local") != 0)
        {
          decide (e->d, "allow_binds", "volume driver '%.60s' is not checked: only the local driver is allowed", drv);
          return;
        }
      if (!safe_segment (name))
        {
          decide (e->d, NULL, "a volume in dockerd's record has no usable name");
          return;
        }
      snprintf (path, sizeof path, "/volumes/%s", name);
      json_t *v = fetch_json (e, path, false);
      if (v == NULL)
        return;
      json_t *o = member (v, "Options", "Volume.", e->d);
      check_volume_opts (e->p, o, "volume options (as dockerd recorded them): ", e->d);
      json_decref (v);
    }
  else if (strcmp (type, "tmpfs") != 0)
    decide (e->d, "allow_binds", "a mount of type '%.40s' is not modelled by rdind's policy", type);
}

static void
effect_container (struct effect *e, const char *path, bool primary, int depth)
{
  json_t *c = fetch_json (e, path, primary), *a, *v;
  cleanup_free char *join = NULL;
  size_t i;

  if (c == NULL)
    return;
  if (primary)
    {
      const char *id = json_string_value (json_object_get (c, "Id"));
      if (!safe_segment (id))
        decide (e->d, NULL, "dockerd's record of %.200s has no usable Id", path);
      else
        snprintf (e->d->id, sizeof e->d->id, "%s", id);
    }
  json_t *hc = json_object_get (c, "HostConfig");
  if (!json_is_object (hc))
    decide (e->d, NULL, "dockerd's record of %.200s has no HostConfig", path);
  else
    check_host_config_ex (e->p, hc, "HostConfig (as dockerd recorded it).", true, false, &join, e->d);
  if ((a = json_object_get (c, "Mounts")) && !json_is_null (a))
    {
      if (!json_is_array (a))
        decide (e->d, NULL, "dockerd's record of %.200s has Mounts of another type", path);
      json_array_foreach (a, i, v)
        effect_mount (e, v);
    }
  if (!strv_contains (e->p->allow_images, "*"))
    check_image (e->p, json_string_value (json_object_get (json_object_get (c, "Config"), "Image")),
                 "image (as dockerd recorded it)", e->d);
  json_decref (c);
  /* --network/--pid/--ipc container:NAME: that container's namespaces are
   * this one's. */
  if (join && e->d->verdict == POLICY_ALLOW && e->need == NULL)
    {
      char sub[300];
      if (depth >= EFFECT_MAX_DEPTH)
        decide (e->d, NULL, "namespaces joined through more than %d containers are not checked", EFFECT_MAX_DEPTH);
      else if (!safe_segment (join) && strchr (join, '/') == NULL)
        decide (e->d, NULL, "a joined container's name cannot be checked");
      else
        {
          char enc[256];
          size_t o = 0;
          /* A name dockerd stored: escape what is not a plain character. */
          for (const char *s = join; *s && o + 4 < sizeof enc; s++)
            if (isalnum ((unsigned char) *s) || strchr ("_.-/", *s))
              enc[o++] = *s;
            else
              o += (size_t) snprintf (enc + o, sizeof enc - o, "%%%02X", (unsigned char) *s);
          enc[o] = '\0';
          snprintf (sub, sizeof sub, "/containers/%s/json", enc);
          effect_container (e, sub, false, depth + 1);
        }
    }
}

int
policy_effect (const struct conf_policy *p, enum policy_effect kind, const char *primary, policy_fetch_fn fetch,
               void *ctx, char **need, struct policy_decision *d)
{
  struct effect e = { p, fetch, ctx, NULL, d };

  memset (d, 0, sizeof *d);
  d->verdict = POLICY_ALLOW;
  *need = NULL;
  switch (kind)
    {
    case POLICY_EFFECT_START:
    case POLICY_EFFECT_CREATED:
      effect_container (&e, primary, true, 0);
      break;
    case POLICY_EFFECT_EXEC_START:
    case POLICY_EFFECT_EXEC_MADE:
      {
        json_t *x = fetch_json (&e, primary, true);
        char path[300];
        if (x == NULL)
          break;
        json_t *pc = member (x, "ProcessConfig", "", d);
        const char *cid = json_string_value (json_object_get (x, "ContainerID"));
        const char *id = json_string_value (json_object_get (x, "ID"));
        if (!json_is_object (pc))
          decide (d, NULL, "dockerd's record of the exec has no ProcessConfig");
        else if (!conf_yes (p->allow_privileged) && member_set (pc, "privileged", "ProcessConfig.", d))
          decide (d, "allow_privileged", "a privileged exec is not allowed (as dockerd recorded it)");
        if (safe_segment (id))
          snprintf (d->id, sizeof d->id, "%s", id);
        if (!safe_segment (cid))
          decide (d, NULL, "dockerd's record of the exec names no container");
        else if (d->verdict == POLICY_ALLOW)
          {
            /* The container the exec runs in: its own record must pass
             * too (one created before the policy, or through a hole). */
            snprintf (path, sizeof path, "/containers/%s/json", cid);
            char saved[80];
            snprintf (saved, sizeof saved, "%s", d->id);
            effect_container (&e, path, false, 1);
            snprintf (d->id, sizeof d->id, "%s", saved);
          }
        json_decref (x);
        break;
      }
    default:
      break;
    }
  if (e.need && d->verdict == POLICY_ALLOW)
    {
      *need = e.need;
      return 1;
    }
  free (e.need);
  return 0;
}
