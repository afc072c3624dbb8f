/* rdind sidecar: the warm layer cache ([cache]).
 *
 * A persistent directory holds slots, dir/slot-N, each a dockerd data
 * root.  A daemon takes the first free slot under an exclusive flock on
 * dir/slot-N.lock, held for its whole life: the lock's descriptor is
 * inherited by the launcher, so the slot stays taken until the last
 * process of that daemon is gone, also when the sidecar itself was killed
 * with -9 (moby#40196: two daemons on one data root corrupt it).
 *
 * Before dockerd starts, every container recorded in the slot loses its
 * restart policy, so nothing of an earlier job runs again; a slot whose
 * metadata does not parse is set aside (renamed) rather than served.  Once
 * dockerd answers and before the endpoint opens (cache_prepare), the
 * earlier job's containers, networks and volumes are removed, pulled
 * images optionally untagged (layers stay, FROM re-resolves), and the slot
 * pruned under max_size: build cache first, then images by their last tag
 * time, oldest first. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "sidecar-int.h"
#include "util.h"

/* --- slots ---------------------------------------------------------------- */

/* FILE, if it exists, does not parse as JSON: the reason into WHY. */
static bool
json_file_bad (const char *file, char *why, size_t size)
{
  json_error_t je;
  json_t *j;
  if (access (file, F_OK) != 0)
    return false;
  j = json_load_file (file, 0, &je);
  if (j == NULL)
    {
      snprintf (why, size, "%s: %s", file, je.text);
      return true;
    }
  json_decref (j);
  return false;
}

/* Does every JSON file the slot's dockerd reads first parse?  A truncated
 * repositories.json or container config stops dockerd, or worse. */
static const char *
slot_corrupt (const char *slot)
{
  static char why[600];
  static const char *const in_container[] = { "config.v2.json", "hostconfig.json" };
  struct { const char *dir; const char *const *files; size_t n; } where[] = {
    { "image", (const char *const[]) { "repositories.json" }, 1 },
    { "containers", in_container, 2 },
  };

  for (size_t w = 0; w < ARRAY_SIZE (where); w++)
    {
      cleanup_free char *d = NULL;
      DIR *dir;
      struct dirent *e;
      bool bad = false;
      xasprintf (&d, "%s/%s", slot, where[w].dir);
      if ((dir = opendir (d)) == NULL)
        continue;
      while (!bad && (e = readdir (dir)))
        for (size_t i = 0; !bad && e->d_name[0] != '.' && i < where[w].n; i++)
          {
            cleanup_free char *f = NULL;
            xasprintf (&f, "%s/%s/%s", d, e->d_name, where[w].files[i]);
            bad = json_file_bad (f, why, sizeof why);
          }
      closedir (dir);
      if (bad)
        return why;
    }
  return NULL;
}

/* No container of an earlier job starts again with the daemon: each loses
 * its restart policy before dockerd reads it (written atomically). */
static void
slot_disarm (const char *slot)
{
  cleanup_free char *cdir = NULL;
  DIR *d;
  struct dirent *e;
  unsigned n = 0;

  xasprintf (&cdir, "%s/containers", slot);
  if ((d = opendir (cdir)) == NULL)
    return;
  while ((e = readdir (d)))
    {
      cleanup_free char *f = NULL;
      rdind_error_t err = NULL;
      if (e->d_name[0] == '.')
        continue;
      xasprintf (&f, "%s/%s/hostconfig.json", cdir, e->d_name);
      json_t *j = json_load_file (f, 0, NULL);
      if (j == NULL)
        continue;
      json_object_set_new (j, "RestartPolicy", json_pack ("{s:s,s:i}", "Name", "no", "MaximumRetryCount", 0));
      json_object_set_new (j, "AutoRemove", json_false ());
      char *text = json_dumps (j, JSON_COMPACT);
      if (text && write_file_atomic (f, text, strlen (text), 0600, &err) == 0)
        n++;
      else if (err)
        {
          log_warn ("cache: cannot disarm an earlier container", "path=%s error=%s", log_quote (0, f),
                    log_quote (1, err->msg));
          rdind_error_release (&err);
        }
      free (text);
      json_decref (j);
    }
  closedir (d);
  if (n)
    log_info ("cache: earlier containers will not restart", "containers=%u", n);
}

int
cache_take_slot (struct rdind_conf *conf, int *lock_fd, rdind_error_t *err)
{
  *lock_fd = -1;
  if (conf->cache_dir == NULL || conf->cache_dir[0] == '\0')
    return 0;
  if (mkdir_p (conf->cache_dir, 0700, err) < 0)
    return -1;
  for (uint64_t i = 0; i < conf->cache_slots; i++)
    {
      cleanup_free char *lock = NULL, *slot = NULL;
      xasprintf (&lock, "%s/slot-%llu.lock", conf->cache_dir, (unsigned long long) i);
      xasprintf (&slot, "%s/slot-%llu", conf->cache_dir, (unsigned long long) i);
      /* Not close-on-exec: the launcher, and so the daemon's whole life,
       * holds it too. */
      int fd = open (lock, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
      if (fd < 0)
        return rdind_make_error (err, errno, "open %s (fix: [cache] dir must be writable by the sidecar's user)",
                                 lock);
      if (flock (fd, LOCK_EX | LOCK_NB) < 0)
        {
          int e = errno;
          close (fd);
          if (e == EWOULDBLOCK)
            continue;
          return rdind_make_error (err, e, "lock %s", lock);
        }
      const char *why = access (slot, F_OK) == 0 ? slot_corrupt (slot) : NULL;
      if (why)
        {
          cleanup_free char *aside = NULL;
          xasprintf (&aside, "%s.corrupt-%lld", slot, (long long) time (NULL));
          if (rename (slot, aside) < 0)
            {
              int e = errno;
              close (fd);
              return rdind_make_error (err, e, "set the corrupt slot %s aside", slot);
            }
          log_warn ("cache: slot metadata is corrupt, set aside; this job starts cold", "slot=%s aside=%s reason=%s",
                    log_quote (0, slot), log_quote (1, aside), log_quote (2, why));
        }
      if (mkdir_p (slot, 0700, err) < 0)
        {
          close (fd);
          return -1;
        }
      char pid[32];
      int n = snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
      if (ftruncate (fd, 0) == 0 && write (fd, pid, (size_t) n) < 0)
        log_debug ("cache: cannot note the pid in the lock file", "path=%s", log_quote (0, lock));
      slot_disarm (slot);
      if (conf_override (conf, "launcher", "data_root", slot, "cache slot", err) < 0)
        {
          close (fd);
          return -1;
        }
      *lock_fd = fd;
      log_info ("cache slot taken", "slot=%llu data_root=%s", (unsigned long long) i, log_quote (0, conf->data_root));
      return 0;
    }
  return rdind_make_error (err, 0,
                           "all %llu cache slots under %s are in use by running daemons (fix: raise [cache] slots, "
                           "or start this job when one ends)",
                           (unsigned long long) conf->cache_slots, conf->cache_dir);
}

/* --- dockerd's socket, blocking (before the endpoint opens) ---------------- */

/* METHOD PATH on dockerd's socket; the answer's body parsed as JSON (NULL
 * if none); *STATUS its status, 0 when there was no answer. */
static json_t *
call (const char *method, const char *path, int *status)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct timeval tv = { 120, 0 };
  cleanup_close int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cleanup_free char *req = NULL, *buf = NULL, *body = NULL;
  size_t len = 0, blen = 0;

  *status = 0;
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", S.sock_path);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    return NULL;
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  xasprintf (&req, "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: rdind-cache\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             method, path);
  if (write (fd, req, strlen (req)) != (ssize_t) strlen (req))
    return NULL;
  /* "Connection: close": the answer ends with the connection. */
  for (;;)
    {
      buf = xrealloc (buf, len + 65536);
      ssize_t n = read (fd, buf + len, 65536);
      if (n <= 0)
        break;
      len += (size_t) n;
      if (len > (64u << 20))
        return NULL;
    }
  *status = sidecar_http_answer (buf, len, true, &body, &blen);
  return body ? json_loadb (body, blen, 0, NULL) : NULL;
}

static char *
escape (const char *s)
{
  char *out = xmalloc (strlen (s) * 3 + 1), *o = out;
  for (; *s; s++)
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr ("-._~", *s))
      *o++ = *s;
    else
      o += sprintf (o, "%%%02X", (unsigned char) *s);
  *o = '\0';
  return out;
}

/* Bytes the slot holds as dockerd counts them: layers and build cache. */
static uint64_t
slot_size (void)
{
  int st;
  json_t *df = call ("GET", "/system/df", &st), *v;
  size_t i;
  uint64_t size = 0;
  if (df == NULL)
    return 0;
  size = (uint64_t) json_integer_value (json_object_get (df, "LayersSize"));
  json_array_foreach (json_object_get (df, "BuildCache"), i, v)
    if (!json_is_true (json_object_get (v, "Shared")))
      size += (uint64_t) json_integer_value (json_object_get (v, "Size"));
  json_decref (df);
  return size;
}

static int
by_tag_time (const void *a, const void *b)
{
  json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
  const char *tx = json_string_value (json_object_get (json_object_get (x, "Metadata"), "LastTagTime"));
  const char *ty = json_string_value (json_object_get (json_object_get (y, "Metadata"), "LastTagTime"));
  return strcmp (tx ? tx : "", ty ? ty : "");
}

void
cache_prepare (void)
{
  uint64_t t0 = now_ms ();
  unsigned nc = 0, nn = 0, nv = 0, nu = 0, ni = 0;
  int st;
  json_t *l, *v;
  size_t i;

  /* The earlier job's containers (execs end with them), networks and
   * volumes. */
  if ((l = call ("GET", "/containers/json?all=1", &st)))
    json_array_foreach (l, i, v)
    {
      const char *id = json_string_value (json_object_get (v, "Id"));
      cleanup_free char *path = NULL;
      json_t *r;
      if (id == NULL)
        continue;
      xasprintf (&path, "/containers/%s?force=1&v=1", id);
      r = call ("DELETE", path, &st);
      json_decref (r);
      nc += st >= 200 && st < 300;
    }
  json_decref (l);
  if ((l = call ("GET", "/networks", &st)))
    json_array_foreach (l, i, v)
    {
      const char *name = json_string_value (json_object_get (v, "Name"));
      const char *id = json_string_value (json_object_get (v, "Id"));
      cleanup_free char *path = NULL;
      if (name == NULL || id == NULL || strcmp (name, "bridge") == 0 || strcmp (name, "host") == 0
          || strcmp (name, "none") == 0)
        continue;
      xasprintf (&path, "/networks/%s", id);
      json_decref (call ("DELETE", path, &st));
      nn += st >= 200 && st < 300;
    }
  json_decref (l);
  if ((l = call ("GET", "/volumes", &st)))
    json_array_foreach (json_object_get (l, "Volumes"), i, v)
    {
      const char *name = json_string_value (json_object_get (v, "Name"));
      cleanup_free char *path = NULL, *e = NULL;
      if (name == NULL)
        continue;
      e = escape (name);
      xasprintf (&path, "/volumes/%s?force=1", e);
      json_decref (call ("DELETE", path, &st));
      nv += st >= 200 && st < 300;
    }
  json_decref (l);

  /* Untag what was pulled, so the next FROM or pull asks the registry
   * again.  dockerd drops an image's digest references with its last tag
   * of that repository, and the image with its last reference: so each is
   * first given a holding tag of rdind's (rdind-cache/keep:ID), which keeps
   * the image and its layers for the re-resolved pull to find. */
  if (conf_yes (S.conf->cache_drop_tags) && (l = call ("GET", "/images/json", &st)))
    {
      json_array_foreach (l, i, v)
      {
        json_t *tags = json_object_get (v, "RepoTags"), *t;
        const char *id = json_string_value (json_object_get (v, "Id"));
        size_t j;
        if (id == NULL || json_array_size (json_object_get (v, "RepoDigests")) == 0)
          continue;
        {
          cleanup_free char *path = NULL;
          const char *hex = strchr (id, ':') ? strchr (id, ':') + 1 : id;
          xasprintf (&path, "/images/%s/tag?repo=rdind-cache%%2Fkeep&tag=%.12s", id, hex);
          json_decref (call ("POST", path, &st));
          if (st < 200 || st >= 300)
            continue; /* without its holding tag an untag could delete it */
        }
        json_array_foreach (tags, j, t)
        {
          const char *tag = json_string_value (t);
          cleanup_free char *path = NULL, *e = NULL;
          if (tag == NULL || strcmp (tag, "<none>:<none>") == 0 || strncmp (tag, "rdind-cache/keep:", 17) == 0)
            continue;
          e = escape (tag);
          xasprintf (&path, "/images/%s?noprune=1", e);
          json_decref (call ("DELETE", path, &st));
          nu += st >= 200 && st < 300;
        }
      }
      json_decref (l);
    }

  /* Under max_size: the build cache first, then images, oldest tag
   * first. */
  uint64_t size = slot_size (), before = size;
  if (S.conf->cache_max_size && size > S.conf->cache_max_size)
    {
      json_decref (call ("POST", "/build/prune?all=1", &st));
      size = slot_size ();
      json_t **imgs = NULL;
      size_t n = 0;
      if (size > S.conf->cache_max_size && (l = call ("GET", "/images/json?all=0", &st)))
        {
          json_array_foreach (l, i, v)
          {
            const char *id = json_string_value (json_object_get (v, "Id"));
            cleanup_free char *path = NULL;
            if (id == NULL)
              continue;
            xasprintf (&path, "/images/%s/json", id);
            json_t *full = call ("GET", path, &st);
            if (full)
              {
                imgs = xrealloc (imgs, (n + 1) * sizeof *imgs);
                imgs[n++] = full;
              }
          }
          json_decref (l);
          qsort (imgs, n, sizeof *imgs, by_tag_time);
          /* A parent cannot go before its children: passes until nothing
           * more can be removed. */
          bool *gone = xmalloc0 (n ? n : 1);
          for (bool progress = true; progress && size > S.conf->cache_max_size;)
            {
              progress = false;
              for (size_t k = 0; k < n && size > S.conf->cache_max_size; k++)
                {
                  cleanup_free char *path = NULL;
                  if (gone[k])
                    continue;
                  xasprintf (&path, "/images/%s?force=1", json_string_value (json_object_get (imgs[k], "Id")));
                  json_decref (call ("DELETE", path, &st));
                  if ((st >= 200 && st < 300) || st == 404)
                    {
                      gone[k] = progress = true;
                      ni += st != 404;
                      size = slot_size ();
                    }
                }
            }
          free (gone);
          for (size_t k = 0; k < n; k++)
            json_decref (imgs[k]);
          free (imgs);
        }
    }
  log_info ("cache: slot prepared", "took_ms=%llu containers_removed=%u networks_removed=%u volumes_removed=%u "
            "tags_dropped=%u images_pruned=%u size_before=%llu size=%llu max_size=%llu",
            (unsigned long long) (now_ms () - t0), nc, nn, nv, nu, ni, (unsigned long long) before,
            (unsigned long long) size, (unsigned long long) S.conf->cache_max_size);
  if (S.conf->cache_max_size && size > S.conf->cache_max_size)
    log_warn ("cache: the slot is still over max_size (images in use cannot be pruned)", "size=%llu",
              (unsigned long long) size);
}
