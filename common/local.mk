noinst_LIBRARIES += libcommon.a
libcommon_a_SOURCES = common/err.c common/err.h common/util.c common/util.h \
	common/log.c common/log.h common/cmds.h
