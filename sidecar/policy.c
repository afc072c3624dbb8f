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
 * and one that dockerd would clean or redirect (//, /./, /../) is refused. */
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
  /* /v1.41/containers/create -> /containers/create */
  if (out[1] == 'v' && isdigit ((unsigned char) out[2]))
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

static enum route
route_of (const char *method, const char *target, const char **query)
{
  char path[4096];
  bool post = strcmp (method, "POST") == 0;

  if (route_path (target, path, sizeof path, query) < 0)
    return R_BAD_TARGET;
  if (post && path_is (path, "/containers/create"))
    return R_CONTAINER_CREATE;
  if (post && path_is (path, "/containers/*/update"))
    return R_CONTAINER_UPDATE;
  if (post && path_is (path, "/containers/*/exec"))
    return R_EXEC_CREATE;
  if (post && path_is (path, "/exec/*/start"))
    return R_EXEC_START;
  if (path_is (path, "/containers/*/attach") || path_is (path, "/containers/*/attach/ws"))
    return R_ATTACH;
  if (post && (path_is (path, "/session") || path_is (path, "/grpc")))
    return R_SESSION;
  if (post && path_is (path, "/volumes/create"))
    return R_VOLUME_CREATE;
  if (post && path_is (path, "/images/create"))
    return R_IMAGE_CREATE;
  if (post && (path_is (path, "/plugins/pull") || path_is (path, "/plugins/create")
               || path_is (path, "/plugins/*/upgrade") || path_is (path, "/plugins/*/set")))
    return R_PLUGIN;
  if (post && (path_is (path, "/services/create") || path_is (path, "/services/*/update")))
    return R_SERVICE;
  return R_OTHER;
}

enum policy_need
policy_classify (const char *method, const char *target, bool *hijack)
{
  const char *q;
  enum route r = route_of (method, target, &q);

  *hijack = r == R_EXEC_START || r == R_ATTACH || r == R_SESSION;
  switch (r)
    {
    case R_CONTAINER_CREATE:
    case R_CONTAINER_UPDATE:
    case R_EXEC_CREATE:
    case R_EXEC_START:
    case R_VOLUME_CREATE:
      return POLICY_NEED_BODY;
    case R_BAD_TARGET:
    case R_IMAGE_CREATE:
    case R_PLUGIN:
    case R_SERVICE:
      return POLICY_NEED_TARGET;
    default:
      return POLICY_NEED_NOTHING;
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

static void
check_bind (const struct conf_policy *p, const char *src, const char *what, struct policy_decision *d)
{
  if (!policy_bind_allowed (p, src))
    decide (d, "allow_binds", "%s '%s' is not under allow_binds", what, src);
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

static void
check_host_config (const struct conf_policy *p, json_t *hc, struct policy_decision *d)
{
  static const char *const ns_keys[] = { "NetworkMode", "PidMode",   "IpcMode",
                                         "UTSMode",     "UsernsMode", "CgroupnsMode" };
  const char *w = "HostConfig.";
  json_t *a, *v;
  size_t i;

  if (hc == NULL || json_is_null (hc))
    return;
  if (!json_is_object (hc))
    {
      decide (d, NULL, "HostConfig must be an object");
      return;
    }
  if (!conf_yes (p->allow_privileged))
    {
      if (member_set (hc, "Privileged", w, d))
        decide (d, "allow_privileged", "HostConfig.Privileged is not allowed");
      if ((a = member_array (hc, "SecurityOpt", w, d)))
        json_array_foreach (a, i, v)
        {
          const char *s = json_string_value (v);
          if (s == NULL)
            {
              decide (d, NULL, "HostConfig.SecurityOpt entries must be strings");
              continue;
            }
          if (strncasecmp (s, "seccomp", 7) == 0 || strncasecmp (s, "apparmor", 8) == 0
              || strncasecmp (s, "systempaths", 11) == 0)
            {
              if (strcasestr (s, "unconfined"))
                decide (d, "allow_privileged", "HostConfig.SecurityOpt '%s' is not allowed", s);
            }
          else if (strncasecmp (s, "label", 5) == 0 && strcasestr (s, "disable"))
            decide (d, "allow_privileged", "HostConfig.SecurityOpt '%s' is not allowed", s);
        }
    }
  if (!conf_yes (p->allow_host_namespaces))
    for (i = 0; i < ARRAY_SIZE (ns_keys); i++)
      {
        const char *m = member_str (hc, ns_keys[i], w, d);
        if (m && strcasecmp (m, "host") == 0)
          decide (d, "allow_host_namespaces", "HostConfig.%s=host is not allowed", ns_keys[i]);
      }
  if ((a = member_array (hc, "CapAdd", w, d)))
    json_array_foreach (a, i, v)
    {
      const char *s = json_string_value (v);
      if (s == NULL)
        decide (d, NULL, "HostConfig.CapAdd entries must be strings");
      else if (cap_denied (p, s))
        decide (d, "deny_caps", "HostConfig.CapAdd '%s' is in deny_caps", s);
    }
  check_devices (p, hc, w, d);
  if ((a = member_array (hc, "Binds", w, d)))
    json_array_foreach (a, i, v)
    {
      const char *s = json_string_value (v);
      if (s == NULL)
        {
          decide (d, NULL, "HostConfig.Binds entries must be strings");
          continue;
        }
      /* "SRC:DST[:OPTS]": a SRC starting with '/' is a host path, anything
       * else names a volume. */
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
        decide (d, NULL, "HostConfig.Mounts entries must be objects");
      else if (type && strcasecmp (type, "bind") == 0)
        check_bind (p, member_str (v, "Source", "HostConfig.Mounts[].", d), "bind mount", d);
      else if (type && strcasecmp (type, "volume") == 0)
        {
          json_t *vo = member (v, "VolumeOptions", "HostConfig.Mounts[].", d);
          json_t *dc = member (vo, "DriverConfig", "VolumeOptions.", d);
          check_volume_opts (p, member (dc, "Options", "DriverConfig.", d), "HostConfig.Mounts[].VolumeOptions.DriverConfig.Options.", d);
        }
    }
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

void
policy_check (const struct conf_policy *p, const char *method, const char *target, const char *body,
              size_t len, struct policy_decision *d)
{
  const char *q;
  enum route r = route_of (method, target, &q);
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
    case R_CONTAINER_CREATE:
    case R_CONTAINER_UPDATE:
    case R_EXEC_CREATE:
    case R_EXEC_START:
    case R_VOLUME_CREATE:
      break;
    default:
      return;
    }

  if (len == 0)
    {
      /* dockerd itself rejects a create without a body; exec start and
       * update without one change nothing. */
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
        check_host_config (p, member (root, "HostConfig", "", d), d);
        break;
      }
    case R_CONTAINER_UPDATE:
      check_devices (p, root, "", d);
      break;
    case R_EXEC_CREATE:
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
