#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# The only C test entry when configure found no cmocka: make check must not
# pass by running nothing, so this fails and says what to install.
echo "FAIL: the tests need cmocka, which configure did not find: install the Debian package libcmocka-dev and run configure again" >&2
exit 1
