#include "config.h"
#include "err.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
rdind_make_error (rdind_error_t *err, int errno_, const char *fmt, ...)
{
  va_list ap;
  struct rdind_error_s *e;

  if (err == NULL)
    return errno_ ? -errno_ : -1;
  if (*err != NULL)
    rdind_error_release (err);
  e = xmalloc0 (sizeof (*e));
  va_start (ap, fmt);
  if (vasprintf (&e->msg, fmt, ap) < 0)
    abort ();
  va_end (ap);
  e->status = errno_;
  *err = e;
  return errno_ ? -errno_ : -1;
}

int
rdind_error_wrap (rdind_error_t *err, const char *fmt, ...)
{
  va_list ap;
  char *ctx, *msg;

  if (err == NULL || *err == NULL)
    return -1;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    abort ();
  va_end (ap);
  xasprintf (&msg, "%s: %s", ctx, (*err)->msg);
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = msg;
  return (*err)->status ? -(*err)->status : -1;
}

char *
rdind_error_string (rdind_error_t err)
{
  char *s;
  if (err == NULL)
    return xstrdup ("unknown error");
  if (err->status)
    xasprintf (&s, "%s: %s", err->msg, strerror (err->status));
  else
    s = xstrdup (err->msg);
  return s;
}

void
rdind_error_release (rdind_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

int
rdind_error_report (rdind_error_t *err, int exit_code)
{
  char *s = rdind_error_string (err ? *err : NULL);
  fprintf (stderr, "%s: %s\n", program_invocation_short_name, s);
  free (s);
  rdind_error_release (err);
  return exit_code;
}
