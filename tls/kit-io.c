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
  return write_file_atomic_gid (path, data, len, mode, gid, err);
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
