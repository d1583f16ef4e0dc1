#!/bin/sh
# Registers the Harbor bridge with Firefox on macOS.
#   ./install.sh                 for this user (~/Library/Application Support/Mozilla/NativeMessagingHosts)
#   sudo ./install.sh --system   for every user (/Library/Application Support/Mozilla/NativeMessagingHosts)
# The bridge knows each OS's paths itself, so macOS shares the Linux script.
exec sh "$(dirname "$0")/../linux/install.sh" "$@"
