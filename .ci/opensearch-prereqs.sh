#!/usr/bin/env bash
# Prerequisites of `mros opensearch up` (and so of the integration tests) on a Debian machine:
#   - mvn (fetches OpenSearch and its plugins from Maven Central)
#   - a JDK 21+ (OpenSearch 3.x); Java 17, Debian 12's default, is too old
#   - unshare from util-linux (OpenSearch refuses root; mros starts it in a user namespace)
# Installs what is missing with apt-get where Debian has it, then exports MROS_JAVA_HOME.
#
# Use:  source .ci/opensearch-prereqs.sh     (defines and runs mros_opensearch_prereqs)
#   or: bash .ci/opensearch-prereqs.sh       (checks/installs; prints MROS_JAVA_HOME=... last)

mros_java_major() {
  # Major version of the JDK at $1, empty when it is not a JDK.
  local home="$1" version
  [ -x "$home/bin/java" ] || return 0
  if [ -f "$home/release" ]; then
    version=$(sed -n 's/^JAVA_VERSION="\([^"]*\)".*/\1/p' "$home/release")
  fi
  if [ -z "$version" ]; then
    version=$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = //p')
  fi
  version=${version#1.}
  echo "${version%%.*}"
}

mros_find_jdk21() {
  local home major
  for home in "${MROS_JAVA_HOME:-}" "${OPENSEARCH_JAVA_HOME:-}" "${JAVA_HOME:-}" /usr/lib/jvm/* /usr/java/* /opt/java/*; do
    [ -n "$home" ] && [ -d "$home" ] || continue
    major=$(mros_java_major "$home")
    if [ -n "$major" ] && [ "$major" -ge 21 ] 2>/dev/null; then
      echo "$home"
      return 0
    fi
  done
  return 1
}

mros_apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "opensearch-prereqs: need root to apt-get install $*" >&2
    return 1
  fi
  if [ -z "${MROS_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2 || true
    MROS_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

mros_opensearch_prereqs() {
  if ! command -v mvn >/dev/null 2>&1; then
    echo "opensearch-prereqs: installing maven" >&2
    mros_apt_install maven || { echo "opensearch-prereqs: could not install maven" >&2; return 1; }
  fi
  if ! command -v unshare >/dev/null 2>&1; then
    mros_apt_install util-linux || true
  fi
  local jdk pkg
  if ! jdk=$(mros_find_jdk21); then
    for pkg in openjdk-25-jdk-headless openjdk-21-jdk-headless temurin-25-jdk temurin-21-jdk; do
      [ -z "${MROS_APT_UPDATED:-}" ] && { apt-get update -qq >&2 || true; MROS_APT_UPDATED=1; }
      if apt-cache show "$pkg" >/dev/null 2>&1; then
        echo "opensearch-prereqs: installing $pkg" >&2
        mros_apt_install "$pkg" && break
      fi
    done
    if ! jdk=$(mros_find_jdk21); then
      echo "opensearch-prereqs: no JDK 21+ found and none installable from apt;" \
           "install one and set MROS_JAVA_HOME to its home" >&2
      return 1
    fi
  fi
  export MROS_JAVA_HOME="$jdk"
  echo "opensearch-prereqs: mvn $(mvn -v 2>/dev/null | sed -n '1s/.*Maven \([0-9.]*\).*/\1/p'), JDK $(mros_java_major "$jdk") at $jdk" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  mros_opensearch_prereqs
  echo "MROS_JAVA_HOME=$MROS_JAVA_HOME"
else
  mros_opensearch_prereqs
fi
