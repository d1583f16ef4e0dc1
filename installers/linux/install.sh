#!/bin/sh
# Registers the Harbor bridge with Firefox on Linux.
#   ./install.sh            for this user (~/.mozilla/native-messaging-hosts)
#   sudo ./install.sh --system   for every user (/usr/lib/mozilla/native-messaging-hosts)
# The bridge does the work itself (`harbor-bridge install`), from the template in native-manifest/,
# so this script and the bridge can never disagree about paths.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
for bridge in "$here/harbor-bridge" "$here/../harbor-bridge" "$here/../../harbor-bridge"; do
  [ -x "$bridge" ] && exec "$bridge" install "$@"
done
echo "harbor-bridge not found next to this script; unpack the whole archive and run it from there" >&2
exit 1
