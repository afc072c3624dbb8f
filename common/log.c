#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO_;
static const char *source;

void
log_set_source (const char *src)
{
  source = src;
}

void
log_set_level (enum log_level l)
{
  min_level = l;
}

static const char *const names[] = { "debug", "info", "warn", "error" };

const char *
log_quote (int slot, const char *v)
{
  static __thread char bufs[4][1024];
  char *b = bufs[slot & 3];
  size_t o = 0;
  if (v == NULL)
    v = "";
  if (*v && strpbrk (v, " \"=\t\n\\") == NULL)
    return v;
  b[o++] = '"';
  for (; *v && o < sizeof (bufs[0]) - 4; v++)
    {
      if (*v == '"' || *v == '\\')
        b[o++] = '\\';
      if (*v == '\n' || *v == '\t')
        {
          b[o++] = '\\';
          b[o++] = *v == '\n' ? 'n' : 't';
          continue;
        }
      b[o++] = *v;
    }
  b[o++] = '"';
  b[o] = '\0';
  return b;
}

enum log_level
log_level_from_name (const char *name, size_t len)
{
  static const struct
  {
    const char *name;
    enum log_level level;
  } map[] = { { "trace", LOG_DEBUG_ }, { "debug", LOG_DEBUG_ }, { "info", LOG_INFO_ },
              { "warn", LOG_WARN_ },   { "warning", LOG_WARN_ }, { "error", LOG_ERROR_ },
              { "fatal", LOG_ERROR_ }, { "panic", LOG_ERROR_ } };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strlen (map[i].name) == len && strncmp (map[i].name, name, len) == 0)
      return map[i].level;
  return LOG_INFO_;
}

enum log_level
log_foreign_fields (const char *line, char *out, size_t size)
{
  const char *p = line, *lvl, *msg;
  size_t lvl_len;

  if (strncmp (p, "time=", 5) == 0)
    {
      p += 5;
      if (*p == '"')
        {
          /* a quoted timestamp has no escaped quotes */
          p = strchr (p + 1, '"');
          p = p ? p + 1 : line + strlen (line);
        }
      else
        p += strcspn (p, " ");
      p += strspn (p, " ");
    }
  if (p != line && strncmp (p, "level=", 6) == 0)
    {
      lvl = p + 6;
      lvl_len = strcspn (lvl, " ");
      msg = lvl + lvl_len + strspn (lvl + lvl_len, " ");
      if (strncmp (msg, "msg=", 4) == 0)
        {
          snprintf (out, size, "%s", msg);
          return log_level_from_name (lvl, lvl_len);
        }
    }
  snprintf (out, size, "msg=%s", log_quote (2, line));
  return LOG_INFO_;
}

/* "ts=... level=... [src=...] " into LINE; returns its length. */
static size_t
log_prefix (char *line, size_t size, enum log_level l, const char *src)
{
  struct timeval tv;
  struct tm tm;
  char ts[64];

  gettimeofday (&tv, NULL);
  gmtime_r (&tv.tv_sec, &tm);
  strftime (ts, sizeof (ts), "%Y-%m-%dT%H:%M:%S", &tm);
  return (size_t) snprintf (line, size, "ts=%s.%03ldZ level=%s%s%s ", ts, (long) (tv.tv_usec / 1000),
                            names[l], src ? " src=" : "", src ? src : "");
}

/* One write per line so that lines from several processes sharing stderr
 * do not interleave. */
static void
log_emit (char *line, size_t n, size_t size)
{
  if (n > size - 2)
    n = size - 2;
  line[n++] = '\n';
  fwrite (line, 1, n, stderr);
  fflush (stderr);
}

void
log_line (enum log_level l, const char *src, const char *fields)
{
  char line[4096];
  size_t n;

  if (l < min_level)
    return;
  n = log_prefix (line, sizeof line, l, src);
  n += (size_t) snprintf (line + n, sizeof line - n, "%s", fields);
  log_emit (line, n, sizeof line);
}

void
log_msg (enum log_level l, const char *msg, const char *fields, ...)
{
  char line[4096];
  size_t n;
  va_list ap;

  if (l < min_level)
    return;
  n = log_prefix (line, sizeof line, l, source);
  n += (size_t) snprintf (line + n, sizeof line - n, "msg=%s", log_quote (3, msg));
  if (fields && n < sizeof (line) - 2)
    {
      line[n++] = ' ';
      va_start (ap, fields);
      n += (size_t) vsnprintf (line + n, sizeof (line) - n, fields, ap);
      va_end (ap);
    }
  log_emit (line, n, sizeof line);
}
