/* rdind - configuration: value checks (durations, addresses, CIDRs, names,
 * key types, lists).  Pure functions: they read no file and no
 * environment, so the unit tests and the fuzzers call them directly. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf-int.h"
#include "util.h"

int
conf_parse_duration (const char *s, uint64_t *out, rdind_error_t *err)
{
  uint64_t total = 0;
  const char *p = s;

  if (s == NULL || *s == '\0')
    return rdind_make_error (err, 0,
                             "empty duration: use a number with a unit, e.g. 90m, 24h or 7d");
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

      if (!isdigit ((unsigned char)*p))
        goto bad;
      errno = 0;
      v = strtoull (p, &end, 10);
      if (errno || end == p)
        goto bad;
      switch (*end)
        {
        case 's':
          mul = 1;
          break;
        case 'm':
          mul = 60;
          break;
        case 'h':
          mul = 3600;
          break;
        case 'd':
          mul = 86400;
          break;
        default:
          goto bad;
        }
      if (v > UINT64_MAX / mul / 2 || total + v * mul < total)
        goto bad;
      total += v * mul;
      p = end + 1;
    }
  *out = total;
  return 0;
bad:
  return rdind_make_error (
      err, 0, "'%s' is not a duration: use a number with a unit s, m, h or d, e.g. 90m, 24h or 7d",
      s);
}

bool
conf_parse_ip_ (const char *s, int *family)
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
      h = xstrndup (s + 1, (size_t)(close - s - 1));
      ps = close + 2;
      if (!conf_parse_ip_ (h, &fam) || fam != AF_INET6)
        return rdind_make_error (err, 0, "'%s' is not an address: '%s' is not an IPv6 address", s,
                                 h);
    }
  else
    {
      const char *colon = strrchr (s, ':');
      if (colon == NULL || strchr (s, ':') != colon)
        return rdind_make_error (
            err, 0, "'%s' is not an address: use IP:PORT such as 0.0.0.0:2376 or [::]:2376", s);
      h = xstrndup (s, (size_t)(colon - s));
      ps = colon + 1;
      if (!conf_parse_ip_ (h, &fam) || fam != AF_INET)
        return rdind_make_error (err, 0,
                                 "'%s' is not an address: '%s' is not an IPv4 address (use 0.0.0.0 "
                                 "for all, 127.0.0.1 for loopback)",
                                 s, h);
    }
  errno = 0;
  p = strtoul (ps, &end, 10);
  if (*ps == '\0' || *end != '\0' || errno || p == 0 || p > 65535 || !isdigit ((unsigned char)*ps))
    return rdind_make_error (err, 0, "'%s': bad port '%s': use a number from 1 to 65535", s, ps);
  if (host)
    *host = steal_pointer (&h);
  if (port)
    *port = (uint16_t)p;
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
    return rdind_make_error (err, 0, "'%s' is not a CIDR: write ADDRESS/BITS such as 10.0.0.0/8",
                             s);
  *slash = '\0';
  if (!conf_parse_ip_ (a, &fam))
    return rdind_make_error (err, 0, "'%s' is not a CIDR: '%s' is not an IP address", s, a);
  errno = 0;
  bits = strtoul (slash + 1, &end, 10);
  if (slash[1] == '\0' || *end || errno || !isdigit ((unsigned char)slash[1])
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
    if (!isalnum ((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
      return false;
  return n <= 64;
}

bool
conf_valid_hostname_ (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char)*s) && *s != '.' && *s != '-' && *s != '*')
      return false;
  return true;
}

int
conf_log_level (const char *s)
{
  static const char *const lv[] = { "debug", "info", "warn", "error" };
  for (size_t i = 0; i < ARRAY_SIZE (lv); i++)
    if (strcmp (s, lv[i]) == 0)
      return (int)i;
  return -1;
}

static const char *const key_type_names[] = { "ecdsa-p256", "rsa2048", "rsa3072", "rsa4096" };

const char *
conf_key_type_name (enum conf_key_type t)
{
  return (unsigned)t < ARRAY_SIZE (key_type_names) ? key_type_names[t] : "?";
}

int
conf_parse_key_type (const char *s, enum conf_key_type *out, rdind_error_t *err)
{
  for (size_t i = 0; i < ARRAY_SIZE (key_type_names); i++)
    if (strcmp (s, key_type_names[i]) == 0)
      {
        *out = (enum conf_key_type)i;
        return 0;
      }
  return rdind_make_error (err, 0,
                           "unknown key type '%s': use ecdsa-p256, rsa2048, rsa3072 or rsa4096", s);
}

/* Splits on commas and white space. */
char **
conf_split_list_ (const char *s)
{
  char **v = xmalloc0 (sizeof (char *));
  cleanup_free char *copy = xstrdup (s);
  char *save = NULL;
  for (char *t = strtok_r (copy, ", \t", &save); t; t = strtok_r (NULL, ", \t", &save))
    strv_append (&v, t);
  return v;
}

/* An absolute path of the policy's bind allow-list, made canonical in place
 * (no trailing '/', no empty part): "/srv//ci/" -> "/srv/ci".  A '.' or '..'
 * part is refused rather than resolved: the rule must read as it matches. */
int
conf_normalize_path_ (char *p)
{
  char *w = p;
  const char *r = p;

  if (*p != '/')
    return -1;
  while (*r)
    {
      while (*r == '/')
        r++;
      if (*r == '\0')
        break;
      const char *end = strchrnul (r, '/');
      size_t n = (size_t) (end - r);
      if ((n == 1 && r[0] == '.') || (n == 2 && r[0] == '.' && r[1] == '.'))
        return -1;
      *w++ = '/';
      memmove (w, r, n);
      w += n;
      r = end;
    }
  if (w == p)
    *w++ = '/';
  *w = '\0';
  return 0;
}

/* An image reference as docker spells it (name[:tag][@digest]), or a prefix
 * of one ending in '*'. */
bool
conf_valid_image_pattern_ (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 512)
    return false;
  for (size_t i = 0; i < n; i++)
    {
      unsigned char ch = (unsigned char) s[i];
      if (ch == '*')
        {
          if (i != n - 1)
            return false;
          continue;
        }
      if (!isalnum (ch) && !strchr ("._-/:@", ch))
        return false;
    }
  return true;
}

/* A capability name, made canonical in place: upper case, no CAP_ prefix
 * ("cap_sys_admin" -> "SYS_ADMIN"); "ALL" stays. */
int
conf_normalize_cap_ (char *c)
{
  char *r = c;
  if (strncasecmp (r, "CAP_", 4) == 0)
    r += 4;
  if (*r == '\0' || strlen (r) > 32)
    return -1;
  for (const char *q = r; *q; q++)
    if (!isalnum ((unsigned char) *q) && *q != '_')
      return -1;
  memmove (c, r, strlen (r) + 1);
  for (char *q = c; *q; q++)
    *q = (char) toupper ((unsigned char) *q);
  return 0;
}
