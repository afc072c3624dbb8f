# rotkit: certificate kit (issue, renew, verify) and the TLS engine.
noinst_LIBRARIES += libtls.a
libtls_a_SOURCES = tls/kit.h tls/kit-internal.h tls/kit.c tls/kit-dir.c tls/kit-x509.c tls/kit-io.c tls/kit-check.c

bin_PROGRAMS += rotkit
rotkit_SOURCES = tls/rotkit-main.c
rotkit_LDADD = $(RDIND_LIBS) $(RDIND_EXT_LIBS)

check_PROGRAMS += tests/unit/test-tls-kit
TESTS += tests/unit/test-tls-kit
tests_unit_test_tls_kit_SOURCES = tests/unit/test-tls-kit.c
tests_unit_test_tls_kit_LDADD = libtls.a libconf.a libcommon.a $(RDIND_EXT_LIBS)

if ENABLE_E2E
TESTS += tests/e2e/rotkit-layout.sh tests/e2e/rotkit-rotate.sh
endif
EXTRA_DIST += tests/e2e/rotkit-layout.sh tests/e2e/rotkit-rotate.sh
