#!/usr/bin/env bash
# The README's "Deploying with osqueryd" section, run as written in a temporary root: every
# ```sh block between the deploy markers, with /usr/local/lib/osquery, /etc/osquery and
# /etc/systemd moved under the root (systemctl is skipped: there is no osqueryd service here).
# Then osqueryd's autoload checks on the installed launcher, and the osqueryd emulator
# autoloads it with the drop-in's environment and logs real results through it.
# Usage: .ci/deploy-check.sh   (from a checkout where `npm ci` has run; as root, like CI)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d /var/tmp/anomaly-deploy.XXXXXX)
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT

script="$root/deploy.sh"
{
  echo 'set -euxo pipefail'
  awk '/<!-- deploy:begin -->/{on=1} /<!-- deploy:end -->/{on=0} on' "$repo/README.md" |
    awk '/^ *```sh$/{inblock=1; next} /^ *```$/{inblock=0; next} inblock' |
    sed -e 's/^   //' |
    sed -e "s#/usr/local/lib/osquery#$root/usr/local/lib/osquery#g" \
        -e "s#/etc/osquery#$root/etc/osquery#g" \
        -e "s#/etc/systemd#$root/etc/systemd#g" \
        -e 's#^systemctl .*#echo "(skipped: systemctl)"#'
} > "$script"
echo "--- the README's deploy commands, rooted at $root:"
grep -v '^set ' "$script"
echo "---"
(cd "$repo" && bash "$script")

# the extensions.load lines name the real paths; here they live under the root
node "$repo/.ci/deploy-run.js" "$root"
