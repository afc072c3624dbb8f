/* rdind - small shared helpers: cleanup attributes, allocators that abort,
 * atomic file writes.  Style of crun's utils.h and bubblewrap's utils.h. */
#ifndef RDIND_UTIL_H
#define RDIND_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

#define UNUSED __attribute__ ((unused))
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

void cleanup_freep (void *p);
void cleanup_closep (int *fd);
void cleanup_filep (FILE **f);
void cleanup_strvp (char ***v);

#define cleanup_free __attribute__ ((cleanup (cleanup_freep)))
#define cleanup_close __attribute__ ((cleanup (cleanup_closep)))
#define cleanup_file __attribute__ ((cleanup (cleanup_filep)))
#define cleanup_strv __attribute__ ((cleanup (cleanup_strvp)))

/* Hand ownership on: returns *pp and sets it to NULL (or -1 for fds). */
static inline void *
steal_pointer_ (void *pp)
{
  void **p = (void **) pp;
  void *r = *p;
  *p = NULL;
  return r;
}
#define steal_pointer(pp) steal_pointer_ (pp)
static inline int
steal_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

void *xmalloc (size_t n);
void *xmalloc0 (size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
int xasprintf (char **out, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* NULL-terminated string vectors. */
size_t strv_len (char **v);
void strv_append (char ***v, const char *s);
void strv_free (char **v);
bool strv_contains (char **v, const char *s);
char *strv_join (char **v, const char *sep);

/* Writes DATA to PATH atomically: temp file in the same directory, fchmod to
 * MODE, fsync, rename over PATH, fsync the directory.  A reader sees either
 * the old content or the new, never a partial file. */
int write_file_atomic (const char *path, const void *data, size_t len, mode_t mode,
                       rdind_error_t *err);
/* The same, owned by group GID ((gid_t) -1: leave the group as it is). */
int write_file_atomic_gid (const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                           rdind_error_t *err);
/* Reads a whole file (NUL terminated); *len may be NULL. */
int read_file (const char *path, char **out, size_t *len, rdind_error_t *err);
/* mkdir -p with MODE for the directories it creates. */
int mkdir_p (const char *path, mode_t mode, rdind_error_t *err);

/* Monotonic milliseconds. */
uint64_t now_ms (void);

#endif
