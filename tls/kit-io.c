/* rdind - rotkit's file helpers: atomic writes that may set a group, and
 * optional reads. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit-internal.h"
#include "util.h"

int
kit_fsync_dir (const char *dir)
{
  cleanup_close int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -1;
  return fsync (dfd);
}

int
kit_write_atomic (const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                  rdind_error_t *err)
{
  cleanup_free char *tmp = NULL;
  cleanup_free char *dircopy = xstrdup (path);
  cleanup_close int fd = -1;
  const char *p = data;
  size_t left = len;

  if (gid == (gid_t)-1)
    return write_file_atomic (path, data, len, mode, err);

  xasprintf (&tmp, "%s.tmp.XXXXXX", path);
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return rdind_make_error (err, errno, "create temporary file for `%s`", path);
  /* Group first, mode second: chown may clear mode bits, and the file is
   * 0600 (mkostemp) until both are right, so no other account ever reads a
   * key through a wrong group. */
  if (fchown (fd, (uid_t)-1, gid) < 0)
    {
      int saved = errno;
      unlink (tmp);
      return rdind_make_error (err, saved,
                               "give `%s` to group %u (is this account a member of it?)", path,
                               (unsigned)gid);
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
      left -= (size_t)w;
    }
  if (fsync (fd) < 0)
    goto fail;
  if (rename (tmp, path) < 0)
    goto fail;
  (void)kit_fsync_dir (dirname (dircopy));
  return 0;

fail:
  {
    int saved = errno;
    unlink (tmp);
    return rdind_make_error (err, saved, "write `%s`", path);
  }
}

int
kit_read_opt (const char *path, char **out, size_t *len, rdind_error_t *err)
{
  *out = NULL;
  if (len)
    *len = 0;
  if (access (path, F_OK) < 0 && errno == ENOENT)
    return 0;
  return read_file (path, out, len, err);
}
