# launcher/: rootless dockerd (namespaces, id maps, slirp4netns, port API),
# doctor, and the userland proxy helper dockerd runs in rootless mode.
noinst_LIBRARIES += liblauncher.a
liblauncher_a_SOURCES = launcher/launch.c launcher/launch.h launcher/launch-int.h \
	launcher/api.c launcher/doctor.c launcher/util.c

bin_PROGRAMS += rdind-docker-proxy
rdind_docker_proxy_SOURCES = launcher/docker-proxy.c
rdind_docker_proxy_LDADD = liblauncher.a libcommon.a

check_PROGRAMS += tests/unit/test-launcher
TESTS += tests/unit/test-launcher
tests_unit_test_launcher_SOURCES = tests/unit/test-launcher.c
tests_unit_test_launcher_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
check_PROGRAMS += tests/unit/test-launcher-api
TESTS += tests/unit/test-launcher-api
tests_unit_test_launcher_api_SOURCES = tests/unit/test-launcher-api.c
tests_unit_test_launcher_api_LDADD = liblauncher.a libconf.a libcommon.a $(RDIND_EXT_LIBS)
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
endif
EXTRA_DIST += tests/e2e/launch-basic.sh tests/e2e/launch-lifecycle.sh tests/e2e/doctor-fail.sh \
	tests/e2e/doctor-container.sh tests/e2e/lib-outer.sh
