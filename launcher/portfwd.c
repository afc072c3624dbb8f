/* rdind - the native port driver: published ports forwarded by the launcher
 * itself, without slirp4netns's user-mode TCP stack.
 *
 * The launcher (outside the namespaces) listens on each published host
 * address.  It cannot create sockets inside dockerd's network namespace
 * (setns needs CAP_SYS_ADMIN in its own user namespace), so a helper that
 * init forks inside the namespace (portd) creates them on request and hands
 * them back over a socketpair with SCM_RIGHTS; a socket keeps the namespace
 * it was made in, so the launcher then connects it to the container.
 *
 * TCP bytes move with splice(2) through a pipe per direction: no copy
 * through user space, and a pipe's capacity (256 KiB while a budget lasts,
 * else 64 KiB) bounds what is in flight, so a slow side simply stops the
 * other one being read (backpressure without buffers of our own).  Each
 * direction ends on its own: EOF from one side becomes shutdown(SHUT_WR)
 * on the other once the pipe is drained, so `echo x | nc` gets its
 * answer.  An error or reset closes both sides.
 *
 * UDP has no connections: each client address gets a socket of its own in
 * the namespace, connected to the container, dropped after an idle minute.
 *
 * Everything is driven by one epoll fd that the launcher's main loop polls
 * with its other fds. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "launch-int.h"
#include "log.h"
#include "util.h"

#define PIPE_CAP (64 * 1024)
/* A connection's pipes grow to PIPE_BIG while the forwarder's big pipes
 * stay within PIPE_BUDGET: fewer splice calls and wakeups per byte on a
 * bulk transfer.  Pipe pages count against the account's
 * pipe-user-pages-soft (64 MiB by default), which dockerd, running as the
 * same account, shares: past the budget a pipe keeps the default size. */
#define PIPE_BIG (256 * 1024)
#define PIPE_BUDGET (16 * 1024 * 1024)
#define UDP_IDLE_MS 60000
#define UDP_MAX_FLOWS 4096

enum kind
{
  K_LISTEN_TCP,
  K_LISTEN_UDP,
  K_CONN, /* one end of a TCP connection */
  K_UDP_FLOW,
};

/* What epoll's data.ptr points at: every registered fd has one. */
struct ref
{
  enum kind kind;
  void *obj;
  int side; /* K_CONN: 0 host, 1 namespace */
};

struct listener
{
  int id, fd;
  bool udp;
  struct sockaddr_storage child;
  socklen_t child_len;
  struct ref ref;
  struct listener *next;
};

struct conn
{
  int fd[2]; /* 0: host side, 1: namespace side */
  bool connected;
  struct launch_splice d[2]; /* d[0]: host -> namespace, d[1]: namespace -> host */
  uint32_t events[2];
  struct ref ref[2];
  bool dead; /* closed during this dispatch round, freed at its end */
  struct conn *next, *prev;
};

struct udp_flow
{
  struct listener *l;
  struct sockaddr_storage peer;
  socklen_t peer_len;
  int fd;
  uint64_t last;
  struct ref ref;
  struct udp_flow *next;
};

struct launch_fwd
{
  int epfd, portd;
  struct listener *listeners;
  struct conn *conns, *dead;
  struct udp_flow *flows;
  size_t n_conns, n_flows;
  size_t big_pipes; /* bytes of capacity above PIPE_CAP, over all pipes */
  char udp_buf[65536];
};

/* --- portd: the helper inside the namespace ------------------------------ */

void
launch_portd_main (int fd)
{
  for (;;)
    {
      char want;
      ssize_t n = recv (fd, &want, 1, 0);
      if (n == 0 || (n < 0 && errno != EINTR))
        _exit (0);
      if (n < 0)
        continue;
      int fam = (want == '6' || want == 'U') ? AF_INET6 : AF_INET;
      int type = (want == 'u' || want == 'U') ? SOCK_DGRAM : SOCK_STREAM;
      int s = socket (fam, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      char ok = s >= 0 ? '1' : '0';
      union
      {
        char buf[CMSG_SPACE (sizeof (int))];
        struct cmsghdr align;
      } u;
      struct iovec iov = { &ok, 1 };
      struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
      if (s >= 0)
        {
          m.msg_control = u.buf;
          m.msg_controllen = sizeof u.buf;
          struct cmsghdr *c = CMSG_FIRSTHDR (&m);
          c->cmsg_level = SOL_SOCKET;
          c->cmsg_type = SCM_RIGHTS;
          c->cmsg_len = CMSG_LEN (sizeof (int));
          memcpy (CMSG_DATA (c), &s, sizeof s);
        }
      if (sendmsg (fd, &m, MSG_NOSIGNAL) < 0 && errno == EPIPE)
        _exit (0);
      if (s >= 0)
        close (s);
    }
}

int
launch_portd_socket (int portd, int family, bool udp, int timeout_ms)
{
  char want = udp ? (family == AF_INET6 ? 'U' : 'u') : (family == AF_INET6 ? '6' : '4');
  char ok = 0;
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = { &ok, 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct pollfd p = { portd, POLLIN, 0 };
  int s = -1;

  if (portd < 0 || send (portd, &want, 1, MSG_NOSIGNAL) != 1)
    return -1;
  /* portd answers at once; a helper that hangs must not hang us. */
  if (poll (&p, 1, timeout_ms) != 1 || recvmsg (portd, &m, MSG_CMSG_CLOEXEC) != 1 || ok != '1')
    return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&m); c; c = CMSG_NXTHDR (&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy (&s, CMSG_DATA (c), sizeof s);
  return s;
}

/* A new socket inside the namespace (non-blocking), or -1. */
static int
ns_socket (struct launch_fwd *f, int family, bool udp)
{
  return launch_portd_socket (f->portd, family, udp, 2000);
}

/* --- TCP ------------------------------------------------------------------ */

/* Closes both sides now; the memory waits for the end of the dispatch
 * round, whose later events may still name this connection. */
static void
conn_free (struct launch_fwd *f, struct conn *c)
{
  for (int i = 0; i < 2; i++)
    {
      if (c->fd[i] >= 0)
        close (c->fd[i]); /* also leaves the epoll set */
      c->fd[i] = -1;
      launch_splice_close (&c->d[i]);
      if (c->d[i].cap > PIPE_CAP)
        f->big_pipes -= c->d[i].cap - PIPE_CAP;
      c->d[i].cap = 0;
    }
  if (c->next)
    c->next->prev = c->prev;
  if (c->prev)
    c->prev->next = c->next;
  else
    f->conns = c->next;
  f->n_conns--;
  c->dead = true;
  c->next = f->dead;
  f->dead = c;
}

static void
reap_dead (struct launch_fwd *f)
{
  while (f->dead)
    {
      struct conn *c = f->dead;
      f->dead = c->next;
      free (c);
    }
}

static void
set_events (struct launch_fwd *f, struct conn *c, int side, uint32_t ev)
{
  if (c->events[side] == ev)
    return;
  struct epoll_event e = { .events = ev, .data.ptr = &c->ref[side] };
  epoll_ctl (f->epfd, EPOLL_CTL_MOD, c->fd[side], &e);
  c->events[side] = ev;
}

/* Moves what it can in direction I (d[0]: host -> namespace); -1 ends the
 * connection. */
static int
pump (struct conn *c, int i)
{
  return launch_splice_pump (&c->d[i], c->fd[i], c->fd[1 - i]);
}

/* Interest follows the state: read a source while its pipe has room, wait
 * for a destination to drain only while bytes are stuck for it. */
static void
update (struct launch_fwd *f, struct conn *c)
{
  /* No EPOLLRDHUP: a side's EOF shows as a splice of 0 bytes, and the
   * level-triggered flag would keep firing after it. */
  uint32_t ev[2] = { 0, 0 };
  for (int i = 0; i < 2; i++)
    {
      if (launch_splice_wants_src (&c->d[i]))
        ev[i] |= EPOLLIN;
      if (c->d[i].pending > 0)
        ev[1 - i] |= EPOLLOUT;
    }
  set_events (f, c, 0, ev[0]);
  set_events (f, c, 1, ev[1]);
}

static void
conn_ready (struct launch_fwd *f, struct conn *c)
{
  for (int i = 0; i < 2; i++)
    {
      bool big = f->big_pipes + (PIPE_BIG - PIPE_CAP) <= PIPE_BUDGET;
      if (launch_splice_open (&c->d[i], big ? PIPE_BIG : 0) < 0)
        {
          log_warn ("port forward: no pipe", "errno=%d", errno);
          conn_free (f, c);
          return;
        }
      if (c->d[i].cap > PIPE_CAP)
        f->big_pipes += c->d[i].cap - PIPE_CAP;
    }
  c->connected = true;
  if (pump (c, 0) < 0 || pump (c, 1) < 0)
    {
      conn_free (f, c);
      return;
    }
  update (f, c);
}

static void
conn_event (struct launch_fwd *f, struct conn *c, int side, uint32_t ev)
{
  if (!c->connected)
    {
      int e = 0;
      socklen_t l = sizeof e;
      if (side != 1)
        {
          /* The client went away before the container answered (a mere
           * half-close waits: its bytes and EOF are still to be passed). */
          if (ev & (EPOLLHUP | EPOLLERR))
            conn_free (f, c);
          return;
        }
      if (getsockopt (c->fd[1], SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e != 0)
        {
          log_debug ("port forward: the container refused", "errno=%d", e);
          conn_free (f, c);
          return;
        }
      conn_ready (f, c);
      return;
    }
  if (pump (c, 0) < 0 || pump (c, 1) < 0 || (ev & EPOLLERR))
    {
      conn_free (f, c);
      return;
    }
  if (c->d[0].shut && c->d[1].shut)
    {
      conn_free (f, c);
      return;
    }
  update (f, c);
}

static void
accept_tcp (struct launch_fwd *f, struct listener *l)
{
  for (int k = 0; k < 64; k++)
    {
      int h = accept4 (l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (h < 0)
        return;
      int n = ns_socket (f, l->child.ss_family, false);
      if (n < 0)
        {
          log_warn ("port forward: no socket from the namespace helper", "port_id=%d", l->id);
          close (h);
          continue;
        }
      if (connect (n, (struct sockaddr *) &l->child, l->child_len) < 0 && errno != EINPROGRESS)
        {
          close (h);
          close (n);
          continue;
        }
      struct conn *c = xmalloc0 (sizeof *c);
      c->fd[0] = h;
      c->fd[1] = n;
      for (int i = 0; i < 2; i++)
        {
          c->d[i].pipe[0] = c->d[i].pipe[1] = -1;
          c->ref[i] = (struct ref){ K_CONN, c, i };
        }
      c->next = f->conns;
      if (f->conns)
        f->conns->prev = c;
      f->conns = c;
      f->n_conns++;
      /* Until the connect completes: the namespace side for its result,
       * the host side only for the client giving up (HUP and ERR need no
       * asking). */
      c->events[0] = 0;
      c->events[1] = EPOLLOUT;
      struct epoll_event e0 = { .events = c->events[0], .data.ptr = &c->ref[0] };
      struct epoll_event e1 = { .events = c->events[1], .data.ptr = &c->ref[1] };
      epoll_ctl (f->epfd, EPOLL_CTL_ADD, h, &e0);
      epoll_ctl (f->epfd, EPOLL_CTL_ADD, n, &e1);
    }
}

/* --- UDP ------------------------------------------------------------------ */

static void
flow_free (struct launch_fwd *f, struct udp_flow *u)
{
  for (struct udp_flow **p = &f->flows; *p; p = &(*p)->next)
    if (*p == u)
      {
        *p = u->next;
        break;
      }
  close (u->fd);
  f->n_flows--;
  free (u);
}

static void
udp_from_host (struct launch_fwd *f, struct listener *l)
{
  for (int k = 0; k < 64; k++)
    {
      struct sockaddr_storage peer;
      socklen_t pl = sizeof peer;
      ssize_t n = recvfrom (l->fd, f->udp_buf, sizeof f->udp_buf, MSG_DONTWAIT, (struct sockaddr *) &peer, &pl);
      if (n < 0)
        return;
      struct udp_flow *u;
      for (u = f->flows; u; u = u->next)
        if (u->l == l && u->peer_len == pl && memcmp (&u->peer, &peer, pl) == 0)
          break;
      if (u == NULL)
        {
          if (f->n_flows >= UDP_MAX_FLOWS)
            continue;
          int s = ns_socket (f, l->child.ss_family, true);
          if (s < 0)
            continue;
          if (connect (s, (struct sockaddr *) &l->child, l->child_len) < 0)
            {
              close (s);
              continue;
            }
          u = xmalloc0 (sizeof *u);
          u->l = l;
          u->peer = peer;
          u->peer_len = pl;
          u->fd = s;
          u->ref = (struct ref){ K_UDP_FLOW, u, 0 };
          u->next = f->flows;
          f->flows = u;
          f->n_flows++;
          struct epoll_event e = { .events = EPOLLIN, .data.ptr = &u->ref };
          epoll_ctl (f->epfd, EPOLL_CTL_ADD, s, &e);
        }
      u->last = now_ms ();
      send (u->fd, f->udp_buf, (size_t) n, MSG_DONTWAIT);
    }
}

static void
udp_from_ns (struct launch_fwd *f, struct udp_flow *u)
{
  for (int k = 0; k < 64; k++)
    {
      ssize_t n = recv (u->fd, f->udp_buf, sizeof f->udp_buf, MSG_DONTWAIT);
      if (n < 0)
        return;
      u->last = now_ms ();
      sendto (u->l->fd, f->udp_buf, (size_t) n, MSG_DONTWAIT, (struct sockaddr *) &u->peer, u->peer_len);
    }
}

/* --- the engine ------------------------------------------------------------ */

struct launch_fwd *
launch_fwd_new (int portd_fd, rdind_error_t *err)
{
  struct launch_fwd *f = xmalloc0 (sizeof *f);
  f->portd = portd_fd;
  f->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (f->epfd < 0)
    {
      free (f);
      rdind_make_error (err, errno, "epoll_create1");
      return NULL;
    }
  return f;
}

int
launch_fwd_fd (const struct launch_fwd *f)
{
  return f->epfd;
}

size_t
launch_fwd_connections (const struct launch_fwd *f)
{
  return f->n_conns + f->n_flows;
}

int
launch_fwd_add (struct launch_fwd *f, int id, const char *proto, const char *host_ip, int host_port,
                const char *child_ip, int child_port, char **why)
{
  struct sockaddr_storage hs = { 0 };
  socklen_t hl;
  bool udp = strcmp (proto, "udp") == 0;
  struct listener *l = xmalloc0 (sizeof *l);
  int one = 1;

  if (launch_sockaddr (host_ip, host_port, &hs, &hl) < 0)
    return free (l), xasprintf (why, "bad host IP %s", host_ip), -1;
  if (launch_sockaddr (child_ip, child_port, &l->child, &l->child_len) < 0)
    return free (l), xasprintf (why, "bad container IP %s", child_ip), -1;
  l->fd = socket (hs.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (l->fd < 0)
    return free (l), xasprintf (why, "socket: %s", strerror (errno)), -1;
  setsockopt (l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* dockerd publishes 0.0.0.0 and :: as two ports: each its own family. */
  if (hs.ss_family == AF_INET6)
    setsockopt (l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (l->fd, (struct sockaddr *) &hs, hl) < 0 || (!udp && listen (l->fd, 1024) < 0))
    {
      int e = errno;
      close (l->fd);
      free (l);
      launch_bind_error (proto, host_ip, host_port, e, why);
      return -1;
    }
  l->id = id;
  l->udp = udp;
  l->ref = (struct ref){ udp ? K_LISTEN_UDP : K_LISTEN_TCP, l, 0 };
  struct epoll_event e = { .events = EPOLLIN, .data.ptr = &l->ref };
  epoll_ctl (f->epfd, EPOLL_CTL_ADD, l->fd, &e);
  l->next = f->listeners;
  f->listeners = l;
  return 0;
}

void
launch_fwd_remove (struct launch_fwd *f, int id)
{
  for (struct listener **p = &f->listeners; *p; p = &(*p)->next)
    if ((*p)->id == id)
      {
        struct listener *l = *p;
        *p = l->next;
        /* Open TCP connections run on to their end; UDP flows hang on the
         * listener's socket and go with it. */
        for (struct udp_flow *u = f->flows, *n; u; u = n)
          {
            n = u->next;
            if (u->l == l)
              flow_free (f, u);
          }
        close (l->fd);
        free (l);
        return;
      }
}

int
launch_fwd_dispatch (struct launch_fwd *f)
{
  struct epoll_event ev[64];
  int n = epoll_wait (f->epfd, ev, 64, 0);
  uint64_t now = now_ms ();

  for (int i = 0; i < n; i++)
    {
      struct ref *r = ev[i].data.ptr;
      switch (r->kind)
        {
        case K_LISTEN_TCP:
          accept_tcp (f, r->obj);
          break;
        case K_LISTEN_UDP:
          udp_from_host (f, r->obj);
          break;
        case K_UDP_FLOW:
          udp_from_ns (f, r->obj);
          break;
        case K_CONN:
          {
            struct conn *c = r->obj;
            if (!c->dead) /* an earlier event of this round may have closed it */
              conn_event (f, c, r->side, ev[i].events);
            break;
          }
        }
    }
  reap_dead (f);
  for (struct udp_flow *u = f->flows, *nx; u; u = nx)
    {
      nx = u->next;
      if (now - u->last > UDP_IDLE_MS)
        flow_free (f, u);
    }
  /* With UDP flows the caller wakes us now and then to expire them. */
  return f->flows ? 5000 : -1;
}

void
launch_fwd_free (struct launch_fwd *f)
{
  if (f == NULL)
    return;
  while (f->conns)
    conn_free (f, f->conns);
  reap_dead (f);
  while (f->flows)
    flow_free (f, f->flows);
  while (f->listeners)
    launch_fwd_remove (f, f->listeners->id);
  if (f->portd >= 0)
    close (f->portd);
  close (f->epfd);
  free (f);
}
