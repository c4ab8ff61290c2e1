#!/usr/bin/env bash
# Assembles a MariaDB rootfs from the host's installed Debian packages (nothing is pulled) and prints
# its path: the files of mariadb-server-core and mariadb-common, the libraries mariadbd links, a
# busybox for `docker exec`, and a data directory initialised by the host's mariadb-install-db with
# hack/bench/mysql/seed.sql (user `app`, database `shop`). Every container of the image starts from
# the same data, so runs repeat.
#
#   hack/bench/mysql/image.sh DIR     builds DIR/rootfs (again, if it exists)
set -euo pipefail
cd "$(dirname "$0")/../../.."
dir=${1:?usage: image.sh DIR}
rootfs=$dir/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,etc,tmp,run/mysqld,var/lib}
ln -s usr/bin "$rootfs/bin"
ln -s usr/sbin "$rootfs/sbin"
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
chmod 1777 "$rootfs/tmp"

# copy FILE: the file (symlinks followed) at the same path in the rootfs
copy() { mkdir -p "$rootfs$(dirname "$1")" && cp -L "$1" "$rootfs$1"; }

for pkg in mariadb-server-core mariadb-common mysql-common; do
  dpkg -L "$pkg" 2>/dev/null | while read -r f; do
    # /lib, /bin, /sbin are links into /usr in the rootfs: copying through them lands right
    if [ -f "$f" ] && [ ! -d "$f" ]; then copy "$f"; fi
  done
done
ldd /usr/sbin/mariadbd | grep -o '/[^ ]*' | while read -r lib; do copy "$lib"; done
cp /bin/busybox "$rootfs/usr/bin/busybox"
for applet in sh ls cat id ps; do ln -sf busybox "$rootfs/usr/bin/$applet"; done

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
mysql:x:100:101:MariaDB Server:/nonexistent:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
mysql:x:101:
nogroup:x:65534:
GROUP

# The host's installer, pointed at the rootfs's data directory; its bootstrap server runs on the host
# and is gone when it returns.
mariadb-install-db --no-defaults --user=root --basedir=/usr --datadir="$rootfs/var/lib/mysql" \
  --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
  --extra-file="$PWD/hack/bench/mysql/seed.sql" >"$dir/install-db.log" 2>&1 \
  || { cat "$dir/install-db.log" >&2; exit 1; }
echo "$rootfs"
