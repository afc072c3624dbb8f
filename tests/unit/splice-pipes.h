/* Shared by the tests of rdind's two splice relays (test-portfwd,
 * test-pullproxy): loopback sockets, an account whose pipes the kernel
 * shrinks, and a fast sender (writes, or sendfile of page-cache pages)
 * against a slow reader. */
#ifndef RDIND_SPLICE_PIPES_H
#define RDIND_SPLICE_PIPES_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

static int
listen_any (int *port)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t l = sizeof a;
  int s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || bind (s, (struct sockaddr *) &a, l) < 0 || listen (s, 1024) < 0
      || getsockname (s, (struct sockaddr *) &a, &l) < 0)
    {
      perror ("listen");
      exit (99);
    }
  *port = ntohs (a.sin_port);
  return s;
}

/* A client of 127.0.0.1:PORT; MSS > 0 makes it send segments of that size,
 * as one across a network would (loopback's are up to 64 KiB). */
static int
dial_mss (int port, int mss)
{
  struct sockaddr_in a = { .sin_family = AF_INET,
                           .sin_port = htons (port),
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int s = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s >= 0 && mss > 0)
    setsockopt (s, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
  if (s < 0 || connect (s, (struct sockaddr *) &a, sizeof a) < 0)
    {
      perror ("connect");
      exit (99);
    }
  return s;
}

/* Becomes uid and gid 65534 and uses up that account's pipe pages (past
 * pipe-user-pages-soft), after which the kernel makes its new pipes with 2
 * pages and refuses to grow them.  0, or 77 when that cannot be arranged
 * here (not root, or a kernel that does not shrink them). */
static int
exhaust_pipe_pages (void)
{
  FILE *pm = fopen ("/proc/sys/fs/pipe-max-size", "r");
  long max = 0;
  int p[2];

  if (pm == NULL || fscanf (pm, "%ld", &max) != 1)
    return 77;
  fclose (pm);
  if (setgroups (0, NULL) < 0 || setgid (65534) < 0 || setuid (65534) < 0)
    return 77;
  for (int n = 0; n < 2000; n++)
    if (pipe2 (p, O_CLOEXEC) < 0)
      return 77;
    else if (fcntl (p[1], F_SETPIPE_SZ, max) < 0)
      break;
  if (pipe2 (p, O_CLOEXEC) < 0 || fcntl (p[1], F_GETPIPE_SZ) > 16384)
    return 77;
  close (p[0]);
  close (p[1]);
  return 0;
}

/* How a test's sender hands its bytes to the kernel, and as whom the relay
 * runs. */
enum
{
  SPLICE_EXHAUSTED = 1, /* an account past pipe-user-pages-soft: 2-page pipes */
  SPLICE_SENDFILE = 2,  /* page-cache pages from sendfile at an odd offset */
};

/* Sends TOTAL bytes of a pattern from C (made non-blocking) while reading
 * them at A 32 KiB every 2 ms: more than the sockets' buffers hold, so the
 * relay between them must wait for the reader, and a relay that spins
 * while it waits shows in its CPU time.  With SPLICE_SENDFILE in MODE the
 * bytes leave from a file's pages at an odd offset, as a registry serving a
 * blob with sendfile sends them (and as a NIC hands over its packets): the
 * receiver's socket then holds fragments smaller than a page, each of which
 * takes a slot of the relay's pipe, so the pipe is full before its bytes
 * reach its capacity.  Whether they all came through unchanged; *WALL_MS is
 * how long it took. */
static bool
fast_to_slow (int c, int a, size_t total, int mode, long *wall_ms)
{
  unsigned char *out = malloc (total + 1), *in = malloc (total);
  size_t sent = 0, got = 0;
  struct timespec t0, t1;
  int file = -1;

  out[0] = 0;
  for (size_t i = 0; i < total; i++)
    out[i + 1] = (unsigned char) (i * 40503u >> 7);
  if (mode & SPLICE_SENDFILE)
    {
      char path[] = "/tmp/rdind-splice-XXXXXX";
      file = mkstemp (path);
      if (file < 0 || unlink (path) < 0 || write (file, out, total + 1) != (ssize_t) (total + 1))
        {
          perror ("sendfile's file");
          exit (99);
        }
    }
  fcntl (c, F_SETFL, fcntl (c, F_GETFL) | O_NONBLOCK);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (int rounds = 0; got < total && rounds < 20000; rounds++)
    {
      ssize_t n;
      off_t off;
      while (sent < total
             && (n = file >= 0 ? sendfile (c, file, (off = (off_t) sent + 1, &off), total - sent)
                               : write (c, out + 1 + sent, total - sent))
                    > 0)
        sent += (size_t) n;
      struct pollfd pa = { a, POLLIN, 0 };
      if (poll (&pa, 1, 100) == 1 && (n = read (a, in + got, 32768)) > 0)
        got += (size_t) n;
      usleep (2000);
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  *wall_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  bool same = got == total && memcmp (in, out + 1, total) == 0;
  if (file >= 0)
    close (file);
  free (out);
  free (in);
  return same;
}

/* Runs CHILD (MODE of the above; with SPLICE_EXHAUSTED it calls
 * exhaust_pipe_pages and returns 77 when that cannot be arranged; else bit
 * 0 for wrong bytes and bit 1 for a busy loop) in a process of its own, and
 * reports two checks on RELAY (tap.h's ok). */
static void
splice_checks (int (*child) (int mode), int mode, const char *relay)
{
  const char *what = mode == SPLICE_EXHAUSTED                      ? "2-page pipes (an account past pipe-user-pages-soft)"
                     : mode == (SPLICE_EXHAUSTED | SPLICE_SENDFILE) ? "2-page pipes and a sender's page-cache pages"
                                                                    : "a sender's page-cache pages (sendfile)";
  if ((mode & SPLICE_EXHAUSTED) && geteuid () != 0)
    {
      ok (1, "%s # SKIP needs root (to become an account it can exhaust)", what);
      ok (1, "%s # SKIP needs root", what);
      return;
    }
  fflush (stdout);
  pid_t pid = fork ();
  if (pid == 0)
    {
      int r = child (mode);
      fflush (stdout);
      _exit (r);
    }
  int st = 0;
  waitpid (pid, &st, 0);
  int rc = WIFEXITED (st) ? WEXITSTATUS (st) : 99;
  if (rc == 77)
    {
      ok (1, "%s # SKIP this kernel does not shrink an exhausted account's pipes", what);
      ok (1, "%s # SKIP", what);
      return;
    }
  ok (rc != 99 && !(rc & 1), "%s: 8 MiB through %s intact", what, relay);
  ok (rc != 99 && !(rc & 2), "%s: %s waits for the slow side instead of spinning", what, relay);
}

/* The three cases above, for RELAY. */
static void
slow_reader_checks (int (*child) (int mode), const char *relay)
{
  splice_checks (child, SPLICE_EXHAUSTED, relay);
  splice_checks (child, SPLICE_EXHAUSTED | SPLICE_SENDFILE, relay);
  splice_checks (child, SPLICE_SENDFILE, relay);
}

#endif
