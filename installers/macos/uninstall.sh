#!/bin/sh
# Removes the Harbor bridge's registration with Firefox on macOS.
#   ./uninstall.sh                 for this user (~/Library/Application Support/Mozilla/NativeMessagingHosts)
#   sudo ./uninstall.sh --system   for every user (/Library/Application Support/Mozilla/NativeMessagingHosts)
# The bridge knows each OS's paths itself, so macOS shares the Linux script.
exec sh "$(dirname "$0")/../linux/uninstall.sh" "$@"
