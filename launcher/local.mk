# launcher/: rootless dockerd (namespaces, id maps, slirp4netns, port API),
# doctor, and the userland proxy helper dockerd runs in rootless mode.
noinst_LIBRARIES += liblauncher.a
liblauncher_a_SOURCES = launcher/launch.c launcher/launch.h launcher/launch-int.h \
	launcher/api.c launcher/doctor.c launcher/util.c launcher/run-args.c launcher/portfwd.c \
	launcher/cgroup.c launcher/pullproxy.c

# The programs that stay resident while dockerd runs: rdind-launch (the
# launcher's parent and pid 1 of its namespaces, exec'd by `rdind launch`)
# and rdind-docker-proxy (one per published port).  They link no OpenSSL,
# libuv or inih, and are static against musl when configure finds it
# (--with-launch-libc): their own copy of the C-library-only sources, built
# with LAUNCH_CFLAGS, while rdind and the unit tests use liblauncher.a.
LAUNCH_RT_CC_FLAGS = $(RDIND_WARN_CFLAGS) $(LAUNCH_CFLAGS) $(SAN_CFLAGS) $(COV_CFLAGS)
LAUNCH_RT_LD_FLAGS = $(LAUNCH_LDFLAGS) $(SAN_LDFLAGS) $(COV_LDFLAGS)
noinst_LIBRARIES += liblaunchrt.a
liblaunchrt_a_SOURCES = launcher/api.c launcher/util.c launcher/run-args.c launcher/portfwd.c launcher/cgroup.c \
	launcher/pullproxy.c \
	common/err.c common/log.c common/util.c
liblaunchrt_a_CFLAGS = $(LAUNCH_RT_CC_FLAGS)

pkglibexec_PROGRAMS += rdind-launch
rdind_launch_SOURCES = launcher/run.c launcher/init.c
rdind_launch_CFLAGS = $(LAUNCH_RT_CC_FLAGS)
rdind_launch_LDFLAGS = $(LAUNCH_RT_LD_FLAGS)
rdind_launch_LDADD = liblaunchrt.a

bin_PROGRAMS += rdind-docker-proxy
rdind_docker_proxy_SOURCES = launcher/docker-proxy.c
rdind_docker_proxy_CFLAGS = $(LAUNCH_RT_CC_FLAGS)
rdind_docker_proxy_LDFLAGS = $(LAUNCH_RT_LD_FLAGS)
rdind_docker_proxy_LDADD = liblaunchrt.a

check_PROGRAMS += tests/unit/test-launcher
TESTS += tests/unit/test-launcher
tests_unit_test_launcher_SOURCES = tests/unit/test-launcher.c
tests_unit_test_launcher_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
check_PROGRAMS += tests/unit/test-launcher-api
TESTS += tests/unit/test-launcher-api
tests_unit_test_launcher_api_SOURCES = tests/unit/test-launcher-api.c
tests_unit_test_launcher_api_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
check_PROGRAMS += tests/unit/test-pullproxy
TESTS += tests/unit/test-pullproxy
tests_unit_test_pullproxy_SOURCES = tests/unit/test-pullproxy.c
tests_unit_test_pullproxy_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
check_PROGRAMS += tests/unit/test-portfwd
TESTS += tests/unit/test-portfwd
tests_unit_test_portfwd_SOURCES = tests/unit/test-portfwd.c
tests_unit_test_portfwd_CFLAGS = $(AM_CFLAGS) -pthread
tests_unit_test_portfwd_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS) -lpthread
check_PROGRAMS += tests/unit/test-doctor
TESTS += tests/unit/test-doctor
tests_unit_test_doctor_SOURCES = tests/unit/test-doctor.c
tests_unit_test_doctor_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)

if ENABLE_E2E
TESTS += tests/e2e/launch-basic.sh tests/e2e/launch-lifecycle.sh tests/e2e/doctor-fail.sh
# rdind doctor in unprivileged containers of an outer dockerd of its own,
# one missing requirement each (root, dockerd, debootstrap; well under a
# minute once the base is cached).
TESTS += tests/e2e/doctor-container.sh
# What the daemon (and so a job's container) can see of the sidecar's secrets.
TESTS += tests/e2e/secrets.sh
# Published ports and the network, for each valid combination: native
# driver with slirp4netns (ports.sh) and with pasta, the slirp4netns driver.
TESTS += tests/e2e/ports.sh tests/e2e/ports-pasta.sh tests/e2e/ports-slirp4netns.sh
# dockerd's registry traffic from the host's namespace (launcher.pull_path),
# with a registry of its own.
TESTS += tests/e2e/pull-path.sh
endif
EXTRA_DIST += tests/e2e/launch-basic.sh tests/e2e/launch-lifecycle.sh tests/e2e/doctor-fail.sh \
	tests/e2e/doctor-container.sh tests/e2e/lib-outer.sh tests/e2e/secrets.sh \
	tests/e2e/ports.sh tests/e2e/ports-slirp4netns.sh tests/e2e/pull-path.sh tests/e2e/ports-pasta.sh tests/e2e/port-client.py tests/e2e/echo-server.c
