#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_INFO_;

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

void
log_msg (enum log_level l, const char *msg, const char *fields, ...)
{
  struct timeval tv;
  struct tm tm;
  char ts[64];
  char line[4096];
  size_t n;
  va_list ap;

  if (l < min_level)
    return;
  gettimeofday (&tv, NULL);
  gmtime_r (&tv.tv_sec, &tm);
  strftime (ts, sizeof (ts), "%Y-%m-%dT%H:%M:%S", &tm);
  n = (size_t) snprintf (line, sizeof (line), "ts=%s.%03ldZ level=%s msg=%s", ts,
                         (long) (tv.tv_usec / 1000), names[l], log_quote (3, msg));
  if (fields && n < sizeof (line) - 2)
    {
      line[n++] = ' ';
      va_start (ap, fields);
      n += (size_t) vsnprintf (line + n, sizeof (line) - n, fields, ap);
      va_end (ap);
      if (n > sizeof (line) - 2)
        n = sizeof (line) - 2;
    }
  line[n++] = '\n';
  /* One write per line so that lines from several processes sharing stderr
   * do not interleave. */
  fwrite (line, 1, n, stderr);
  fflush (stderr);
}
