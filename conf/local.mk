noinst_LIBRARIES += libconf.a
libconf_a_SOURCES = conf/conf.c conf/conf.h conf/conf-int.h conf/keys.c conf/validate.c conf/print.c

check_PROGRAMS += tests/unit/test-conf
tests_unit_test_conf_SOURCES = tests/unit/test-conf.c
tests_unit_test_conf_LDADD = libconf.a libcommon.a $(INIH_LIBS)
TESTS += tests/unit/test-conf
