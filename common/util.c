#include "config.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
cleanup_freep (void *p)
{
  void **pp = (void **) p;
  free (*pp);
}

void
cleanup_closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}

void
cleanup_filep (FILE **f)
{
  if (*f)
    fclose (*f);
}

void
cleanup_strvp (char ***v)
{
  strv_free (*v);
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (p == NULL)
    abort ();
  return p;
}

void *
xmalloc0 (size_t n)
{
  void *p = calloc (1, n ? n : 1);
  if (p == NULL)
    abort ();
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  void *r = realloc (p, n ? n : 1);
  if (r == NULL)
    abort ();
  return r;
}

char *
xstrdup (const char *s)
{
  char *r = strdup (s ? s : "");
  if (r == NULL)
    abort ();
  return r;
}

char *
xstrndup (const char *s, size_t n)
{
  char *r = strndup (s, n);
  if (r == NULL)
    abort ();
  return r;
}

int
xasprintf (char **out, const char *fmt, ...)
{
  va_list ap;
  int r;
  va_start (ap, fmt);
  r = vasprintf (out, fmt, ap);
  va_end (ap);
  if (r < 0)
    abort ();
  return r;
}

size_t
strv_len (char **v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

void
strv_append (char ***v, const char *s)
{
  size_t n = strv_len (*v);
  *v = xrealloc (*v, (n + 2) * sizeof (char *));
  (*v)[n] = xstrdup (s);
  (*v)[n + 1] = NULL;
}

void
strv_free (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

bool
strv_contains (char **v, const char *s)
{
  for (size_t i = 0; v && v[i]; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

char *
strv_join (char **v, const char *sep)
{
  size_t len = 1, seplen = strlen (sep);
  char *r, *p;
  for (size_t i = 0; v && v[i]; i++)
    len += strlen (v[i]) + seplen;
  p = r = xmalloc (len);
  *p = '\0';
  for (size_t i = 0; v && v[i]; i++)
    {
      if (i)
        p = stpcpy (p, sep);
      p = stpcpy (p, v[i]);
    }
  return r;
}

int
write_file_atomic (const char *path, const void *data, size_t len, mode_t mode,
                   rdind_error_t *err)
{
  return write_file_atomic_gid (path, data, len, mode, (gid_t) -1, err);
}

int
write_file_atomic_gid (const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                       rdind_error_t *err)
{
  cleanup_free char *tmp = NULL;
  cleanup_free char *dircopy = xstrdup (path);
  cleanup_close int fd = -1;
  cleanup_close int dfd = -1;
  const char *p = data;
  size_t left = len;

  xasprintf (&tmp, "%s.tmp.XXXXXX", path);
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return rdind_make_error (err, errno, "create temporary file for `%s`", path);
  /* Group first, mode second: chown may clear mode bits, and the file is
   * 0600 (mkostemp) until both are right, so no other account ever reads a
   * key through a wrong group. */
  if (gid != (gid_t) -1 && fchown (fd, (uid_t) -1, gid) < 0)
    {
      int saved = errno;
      unlink (tmp);
      return rdind_make_error (err, saved, "give `%s` to group %u (is this account a member of it?)",
                               path, (unsigned) gid);
    }
  if (fchmod (fd, mode) < 0)
    goto fail;
  while (left > 0)
    {
      ssize_t w = write (fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        goto fail;
      p += w;
      left -= (size_t) w;
    }
  /* The data must be on disk before the rename makes it visible: a crash
   * after rename but before writeback would otherwise leave an empty file. */
  if (fsync (fd) < 0)
    goto fail;
  if (rename (tmp, path) < 0)
    goto fail;
  dfd = open (dirname (dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    (void) fsync (dfd);
  return 0;

fail:
  {
    int saved = errno;
    unlink (tmp);
    return rdind_make_error (err, saved, "write `%s`", path);
  }
}

int
read_file (const char *path, char **out, size_t *lenp, rdind_error_t *err)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t cap = 4096, len = 0;
  cleanup_free char *buf = NULL;

  if (fd < 0)
    return rdind_make_error (err, errno, "open `%s`", path);
  buf = xmalloc (cap);
  for (;;)
    {
      ssize_t r;
      if (len + 1 >= cap)
        buf = xrealloc (buf, cap *= 2);
      r = read (fd, buf + len, cap - len - 1);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return rdind_make_error (err, errno, "read `%s`", path);
      if (r == 0)
        break;
      len += (size_t) r;
    }
  buf[len] = '\0';
  if (lenp)
    *lenp = len;
  *out = steal_pointer (&buf);
  return 0;
}

int
mkdir_p (const char *path, mode_t mode, rdind_error_t *err)
{
  cleanup_free char *p = xstrdup (path);
  for (char *s = p + 1; *s; s++)
    {
      if (*s != '/')
        continue;
      *s = '\0';
      if (mkdir (p, mode) < 0 && errno != EEXIST)
        return rdind_make_error (err, errno, "mkdir `%s`", p);
      *s = '/';
    }
  if (mkdir (p, mode) < 0 && errno != EEXIST)
    return rdind_make_error (err, errno, "mkdir `%s`", p);
  return 0;
}

uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}
