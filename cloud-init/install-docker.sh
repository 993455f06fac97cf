#!/bin/sh
# Installs Docker Engine from Docker's apt repository, or a mirror keeping its layout, on the VM's first boot,
# through the network settings `labvm up` was given. src/vm/cloud-init.ts embeds this file into the user-data
# (write_files) and runcmd runs it as root:
#
#   sh install-docker.sh NETWORK_ENV FAILED_MARKER
#
# NETWORK_ENV assigns LABVM_DOCKER_REPOSITORY, LABVM_DOCKER_KEY_FINGERPRINT, LABVM_HTTP_PROXY, LABVM_HTTPS_PROXY
# and LABVM_NO_PROXY (normalized by labvm: URL-safe characters only). Every line this script prints starts with
# "labvm:". When it fails it prints exactly one "labvm: ERROR: ..." line, naming the URL, what failed and the
# setting to check, and writes that line to FAILED_MARKER, which labvm reads to stop at once. Failures a retry
# cannot fix (a proxy asking for credentials, a certificate, a key, a missing package) end it at the first
# attempt; only transient ones (name resolution, time-outs, 5xx, a mirror mid-sync) are retried.
set -eu

# What apt installs, in one place. --no-install-recommends: docker-ce recommends git, pigz, xz-utils, libltdl7 and
# docker-ce-rootless-extras, and docker-ce-cli the buildx and compose plugins; neither the exercise nor labvm uses
# them (labvm reaches the Docker API over SSH). The exercise needs apparmor (docker-default is the lesson's LSM;
# Ubuntu's images have it already, a minimal one gets it).
DOCKER_PACKAGES="docker-ce docker-ce-cli containerd.io"
EXTRA_PACKAGES="apparmor"

USAGE="usage: install-docker.sh NETWORK_ENV FAILED_MARKER"
CONFIG=${1:?$USAGE}
FAILED=${2:?$USAGE}
KEYRING=/etc/apt/keyrings/docker.asc
SOURCES=/etc/apt/sources.list.d/docker.list
# Where the proxies go. proxy.env is root-only (a proxy URL may hold a password): dockerd reads it through its
# systemd drop-in, root's login shells through profile.d. /etc/environment, which everyone can read, gets the
# proxies without their credentials (for ubuntu's shells and SSH sessions).
PROXY_ENV=/etc/labvm/proxy.env
APT_PROXY=/etc/apt/apt.conf.d/90labvm-proxy
DOCKER_DROPIN=/etc/systemd/system/docker.service.d/labvm-proxy.conf
PROFILE=/etc/profile.d/labvm-proxy.sh
# The proxy URL's host that stands for this computer's loopback (src/vm/cloud-init.ts GATEWAY_PLACEHOLDER).
GATEWAY_PLACEHOLDER="{gateway}"

log() { printf 'labvm: %s\n' "$*"; }

# A URL with its user:password replaced (the proxies are normalized: no / or @ in the credentials).
redact() { printf '%s' "$1" | sed 's#://[^/@]*@#://REDACTED@#'; }

# The one failure line: on stderr, and in the marker labvm reads.
fail() {
  line="labvm: ERROR: $*"
  printf '%s\n' "$line" >&2
  mkdir -p "$(dirname "$FAILED")"
  printf '%s\n' "$line" >"$FAILED"
  exit 1
}

work=$(mktemp -d)
step="starting"
on_exit() {
  status=$?
  rm -rf "$work"
  # Any failure that did not go through fail() (a command that set -e stopped on) still leaves its one line.
  if [ "$status" -ne 0 ] && [ ! -e "$FAILED" ]; then
    fail "the Docker install stopped unexpectedly (exit $status) while $step; see /var/log/cloud-init-output.log"
  fi
}
trap on_exit EXIT
rm -f "$FAILED"

[ -r "$CONFIG" ] || fail "the network settings file $CONFIG is missing: run labvm up to make this VM"
# shellcheck source=/dev/null
. "$CONFIG"
REPOSITORY=${LABVM_DOCKER_REPOSITORY:?missing from $CONFIG}
FINGERPRINT=${LABVM_DOCKER_KEY_FINGERPRINT:?missing from $CONFIG}

# --- proxies -------------------------------------------------------------------------------------------------

# The laptop as the VM sees it: the default route's gateway (Multipass's bridge, Hyper-V's switch).
default_gateway() {
  ip -4 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }'
}

# on_loopback SETTING: whether the setting named the laptop's loopback (labvm wrote the placeholder for its host).
on_loopback() {
  case $1 in httpsProxy) raw=${LABVM_HTTPS_PROXY:-} ;; *) raw=${LABVM_HTTP_PROXY:-} ;; esac
  case $raw in *"$GATEWAY_PLACEHOLDER"*) return 0 ;; *) return 1 ;; esac
}

GATEWAY=""
if on_loopback httpProxy || on_loopback httpsProxy; then
  GATEWAY=$(default_gateway)
  [ -n "$GATEWAY" ] || fail "the VM has no default route, so it cannot reach the proxy on the laptop's loopback; check httpProxy and httpsProxy"
  log "the proxy on the laptop's loopback is reached at $GATEWAY, the laptop's address as the VM sees it"
fi
# The URL the VM uses: the placeholder replaced by the gateway.
proxy_url() {
  case $1 in
    *"$GATEWAY_PLACEHOLDER"*) printf '%s%s%s' "${1%%"$GATEWAY_PLACEHOLDER"*}" "$GATEWAY" "${1#*"$GATEWAY_PLACEHOLDER"}" ;;
    *) printf '%s' "$1" ;;
  esac
}

HTTP_PROXY_URL=$(proxy_url "${LABVM_HTTP_PROXY:-}")
HTTPS_PROXY_URL=$(proxy_url "${LABVM_HTTPS_PROXY:-}")
# The VM's own addresses never go through a proxy (a registry on localhost:5000, say).
NO_PROXY_LIST="localhost,127.0.0.1,::1${LABVM_NO_PROXY:+,$LABVM_NO_PROXY}"

has_credentials() { case $1 in *://*@*) return 0 ;; *) return 1 ;; esac; }

# name=value lines for each proxy variable that is set, in both cases (curl reads http_proxy in lower case only).
# $1 "redact" drops the credentials.
proxy_variables() {
  for pair in "http_proxy=$HTTP_PROXY_URL" "https_proxy=$HTTPS_PROXY_URL" "no_proxy=$NO_PROXY_LIST"; do
    name=${pair%%=*}
    value=${pair#*=}
    [ -n "$value" ] || continue
    [ "${1:-}" = redact ] && value=$(printf '%s' "$value" | sed 's#://[^/@]*@#://#')
    upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
    printf '%s="%s"\n%s="%s"\n' "$name" "$value" "$upper" "$value"
  done
}

remove_environment_proxies() {
  [ -f /etc/environment ] || return 0
  sed -i -e '/^[Hh][Tt][Tt][Pp][Ss]\{0,1\}_[Pp][Rr][Oo][Xx][Yy]=/d' -e '/^[Nn][Oo]_[Pp][Rr][Oo][Xx][Yy]=/d' /etc/environment
}

# apt: the proxies, and DIRECT for the plain host names of no_proxy (apt has no domain or range rules). A scheme
# without a proxy is DIRECT too, so apt goes where curl goes.
apt_proxy_config() {
  printf 'Acquire::http::Proxy "%s";\n' "${HTTP_PROXY_URL:-DIRECT}"
  printf 'Acquire::https::Proxy "%s";\n' "${HTTPS_PROXY_URL:-DIRECT}"
  for host in $(printf '%s' "$NO_PROXY_LIST" | tr ',' ' '); do
    case $host in *'*'* | .* | */* | *:*) continue ;; esac
    printf 'Acquire::http::Proxy::%s "DIRECT";\nAcquire::https::Proxy::%s "DIRECT";\n' "$host" "$host"
  done
}

# Without proxies nothing is written: the VM's network is used as it is.
configure_proxies() {
  [ -n "$HTTP_PROXY_URL$HTTPS_PROXY_URL" ] || return 0
  step="configuring the proxies"
  remove_environment_proxies
  install -d -m 0755 /etc/labvm "$(dirname "$DOCKER_DROPIN")"
  (umask 077 && proxy_variables >"$PROXY_ENV")
  apt_mode=0644
  if has_credentials "$HTTP_PROXY_URL$HTTPS_PROXY_URL"; then apt_mode=0600; fi
  apt_proxy_config >"$work/apt-proxy"
  install -m "$apt_mode" "$work/apt-proxy" "$APT_PROXY"
  printf '[Service]\nEnvironmentFile=%s\n' "$PROXY_ENV" >"$DOCKER_DROPIN"
  proxy_variables redact >>/etc/environment
  cat >"$PROFILE" <<EOF
# labvm: root's login shells get the proxies with their credentials ($PROXY_ENV is root-only);
# everyone else has them from /etc/environment, without credentials.
if [ -r $PROXY_ENV ]; then set -a; . $PROXY_ENV; set +a; fi
EOF
  if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
  # For this script's own curl and apt-get.
  set -a
  # shellcheck source=/dev/null
  . "$PROXY_ENV"
  set +a
  log "proxies: http $(redact "${HTTP_PROXY_URL:-none}"), https $(redact "${HTTPS_PROXY_URL:-none}"), no_proxy $NO_PROXY_LIST"
}

configure_proxies

# Images that already have Docker (and the test stand-in) install nothing; a running dockerd takes the proxies.
if command -v docker >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; then
  if [ -d /run/systemd/system ] && [ -e "$DOCKER_DROPIN" ]; then systemctl try-restart docker || true; fi
  log "Docker is already installed ($(docker --version 2>/dev/null || echo 'docker CLI missing')); skipping the install"
  exit 0
fi

# --- what went wrong, in words -------------------------------------------------------------------------------

# The proxy setting that applies to URL $1, or "" when it goes direct (no proxy, or its host is in no_proxy).
proxy_setting_for() {
  case $1 in https:*) setting=httpsProxy proxy=$HTTPS_PROXY_URL ;; *) setting=httpProxy proxy=$HTTP_PROXY_URL ;; esac
  [ -n "$proxy" ] || return 0
  host=${1#*://}
  host=${host%%/*}
  host=${host%:*}
  for entry in $(printf '%s' "$NO_PROXY_LIST" | tr ',' ' '); do
    entry=${entry#\*}
    case $entry in
      "*" | "$host") return 0 ;;
      .*) case $host in *"$entry" | "${entry#.}") return 0 ;; esac ;;
      *) case $host in *".$entry") return 0 ;; esac ;;
    esac
  done
  printf '%s' "$setting"
}

# What to say and check when the connection itself failed ($1 URL, $2 what happened).
unreachable() {
  setting=$(proxy_setting_for "$1")
  if [ -z "$setting" ]; then
    case $1 in https:*) unset_proxy=httpsProxy ;; *) unset_proxy=httpProxy ;; esac
    problem="$1 is unreachable ($2); check dockerRepository, or set $unset_proxy if this network needs a proxy"
  else
    [ "$setting" = httpsProxy ] && proxy=$HTTPS_PROXY_URL || proxy=$HTTP_PROXY_URL
    problem="$1: the proxy $(redact "$proxy") does not answer ($2); check $setting"
    if on_loopback "$setting"; then
      problem="$problem: a proxy on the laptop's loopback must also listen on $GATEWAY, the laptop's address as the VM sees it"
    fi
  fi
}

# The words and the setting for a proxy that asked for credentials ($1 URL).
proxy_credentials() {
  setting=$(proxy_setting_for "$1")
  problem="$1: the proxy asked for credentials (407 Proxy Authentication Required); check $setting: give http://user:password@host:port"
}

tls_failure() {
  problem="$1: TLS failure ($2): the VM does not trust the certificate it was shown; a TLS-inspecting proxy or a private mirror needs its CA in caCertificates; check caCertificates"
}

# --- downloads with curl -------------------------------------------------------------------------------------

# try_fetch URL FILE: one attempt. Success returns 0; otherwise $problem says what failed and $transient whether
# another attempt may help.
try_fetch() {
  transient=no
  set +e
  codes=$(curl -sS -L --connect-timeout 15 --max-time 120 -o "$2" -w '%{http_code} %{http_connect}' "$1" 2>"$work/curl.err")
  rc=$?
  set -e
  http=${codes%% *}
  connect=${codes#* }
  message=$(grep -m 1 '^curl: (' "$work/curl.err" | sed 's/^curl: ([0-9]*) //')
  if [ "$connect" = 407 ] || [ "$http" = 407 ]; then
    proxy_credentials "$1"
  elif [ "$connect" != 000 ] && [ "$connect" -ge 300 ] 2>/dev/null; then
    setting=$(proxy_setting_for "$1")
    case $connect in 5*) transient=yes ;; esac
    problem="$1: the proxy would not connect to it (CONNECT answered $connect); check $setting and noProxy, or ask the network's administrators to allow that host"
  elif [ "$rc" -eq 0 ]; then
    case $http in
      2*) return 0 ;;
      404 | 410) problem="$1 was not found (HTTP $http): the repository does not keep Docker's layout (<url>/linux/<distro>/...) for this distribution; check dockerRepository" ;;
      5*)
        transient=yes
        problem="$1 answered HTTP $http; check dockerRepository"
        ;;
      *) problem="$1 answered HTTP $http; check dockerRepository" ;;
    esac
  else
    case $rc in
      5 | 6 | 28) transient=yes ;;
    esac
    case $rc in
      5 | 6 | 7 | 28 | 56) unreachable "$1" "${message:-curl exit $rc}" ;;
      35 | 51 | 53 | 54 | 58 | 59 | 60 | 64 | 66 | 77 | 80 | 82 | 83 | 90 | 91) tls_failure "$1" "${message:-curl exit $rc}" ;;
      *) problem="$1 could not be downloaded: ${message:-curl exit $rc}" ;;
    esac
  fi
  return 1
}

# Transient failures get a few more attempts (a first boot's network may still be settling).
fetch() {
  attempt=1
  until try_fetch "$1" "$2"; do
    [ "$transient" = yes ] && [ "$attempt" -lt 4 ] || fail "$problem"
    log "attempt $attempt failed, retrying in $((attempt * 3))s: $problem"
    sleep $((attempt * 3))
    attempt=$((attempt + 1))
  done
}

# --- apt -----------------------------------------------------------------------------------------------------

# unattended-upgrades often holds the dpkg lock right after boot: wait for it rather than fail.
# apt_run LOG ARGS...: apt-get with its output in the log (as it goes) and in LOG; returns apt-get's status.
apt_run() {
  out=$1
  shift
  { apt-get -y -q -o DPkg::Lock::Timeout=300 "$@" 2>&1 && echo 0 >"$out.rc" || echo $? >"$out.rc"; } | tee "$out"
  return "$(cat "$out.rc")"
}

# Sets $problem (and $transient) from apt's output in $1, for a repository at $2; returns 1 when it found nothing.
apt_problem() {
  transient=no
  url=$(grep -o -m 1 "$2[^ ]*" "$1" || printf '%s' "$2")
  if grep -q -e ' 407 ' -e 'code 407' -e 'Proxy Authentication Required' "$1"; then
    proxy_credentials "$url"
  elif grep -q -i -e 'certificate verification failed' -e 'certificate is NOT trusted' -e 'Could not handshake' "$1"; then
    tls_failure "$url" "$(grep -i -m 1 -o 'certificate[^[]*' "$1" | sed 's/ *$//')"
  elif grep -q -e 'NO_PUBKEY' -e 'is not signed' -e 'BADSIG' -e 'EXPKEYSIG' -e "signatures couldn't be verified" -e 'signatures were invalid' "$1"; then
    problem="$url: the repository is not signed by the key $FINGERPRINT; check dockerKeyFingerprint (a mirror that re-signs gives its own key) and dockerRepository"
  elif grep -q -e 'does not have a Release file' -e '404  Not Found' "$1"; then
    problem="$url has no $VERSION_CODENAME release for $ID (404 Not Found); check dockerRepository"
  elif grep -q -e 'Hash Sum mismatch' -e 'File has unexpected size' -e 'Mirror sync in progress' "$1"; then
    transient=yes
    problem="$url changed while apt read it (a mirror mid-sync); check dockerRepository"
  elif grep -q -e 'Could not resolve' -e 'Temporary failure resolving' -e 'Connection timed out' -e 'Network is unreachable' "$1"; then
    transient=yes
    unreachable "$url" "$(grep -m 1 -o -e 'Could not resolve[^[]*' -e 'Temporary failure resolving[^[]*' -e 'Connection timed out' -e 'Network is unreachable' "$1" | sed 's/ *$//')"
  elif grep -q -e 'Could not connect' -e 'Connection refused' -e 'Unable to connect' -e 'Failed to connect' "$1"; then
    unreachable "$url" "$(grep -m 1 -o -e 'Could not connect[^[]*' -e 'Connection refused' -e 'Unable to connect[^[]*' -e 'Failed to connect[^[]*' "$1" | sed 's/ *$//')"
  else
    return 1
  fi
}

# Refreshes Docker's list only (the image's own lists are not needed for Docker, and are large); any Err or
# warning about it is a failure, since apt-get update exits 0 on a download it could not make.
update_docker_list() {
  step="reading Docker's repository ($REPO_URL)"
  attempt=1
  while :; do
    if apt_run "$work/update" update -o "Dir::Etc::SourceList=$SOURCES" -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 &&
      ! grep -q -e '^Err:' -e '^W: Failed to fetch' -e '^E:' -e '^W: GPG error' "$work/update"; then
      return 0
    fi
    apt_problem "$work/update" "$REPO_URL" || problem="apt-get update could not read $REPO_URL: $(grep -m 1 -e '^E:' -e '^W:' "$work/update" || echo "exit $(cat "$work/update.rc")")"
    [ "$transient" = yes ] && [ "$attempt" -lt 4 ] || fail "$problem"
    log "attempt $attempt failed, retrying in $((attempt * 3))s: $problem"
    sleep $((attempt * 3))
    attempt=$((attempt + 1))
  done
}

# The first of Docker's packages apt says it cannot find in the lists it has, if any.
missing_docker_package() {
  for package in $DOCKER_PACKAGES; do
    if grep -q -e "Unable to locate package $package\$" -e "Package '$package' has no installation candidate" \
      -e "Package $package is not available" "$1"; then
      printf '%s' "$package"
      return 0
    fi
  done
  return 1
}

install_packages() {
  step="installing $DOCKER_PACKAGES $EXTRA_PACKAGES"
  log "installing $DOCKER_PACKAGES $EXTRA_PACKAGES from $REPO_URL ($VERSION_CODENAME, $ARCH)"
  # shellcheck disable=SC2086 # one word per package
  apt_run "$work/install" install --no-install-recommends $DOCKER_PACKAGES $EXTRA_PACKAGES && return 0
  if package=$(missing_docker_package "$work/install"); then
    fail "$REPO_URL ($VERSION_CODENAME stable, $ARCH) has no package $package: the repository is missing it; check dockerRepository"
  fi
  if apt_problem "$work/install" "$REPO_URL" && [ "$transient" = no ]; then fail "$problem"; fi
  # Something the packages need is not installed and the image's own lists are empty: read them, and try again.
  log "the image lacks something the packages need; reading all of apt's lists and trying again"
  step="reading apt's lists"
  apt_run "$work/update-all" update || true
  step="installing $DOCKER_PACKAGES $EXTRA_PACKAGES"
  # shellcheck disable=SC2086 # one word per package
  apt_run "$work/install" install --no-install-recommends $DOCKER_PACKAGES $EXTRA_PACKAGES && return 0
  apt_problem "$work/install" "$REPO_URL" ||
    problem="apt-get could not install the packages: $(grep -m 1 -e '^E:' -e 'Depends:' "$work/install" || echo "exit $(cat "$work/install.rc")")"
  fail "$problem"
}

# --- the install ---------------------------------------------------------------------------------------------

step="reading /etc/os-release"
[ -r /etc/os-release ] || fail "/etc/os-release is missing: cannot tell which Docker repository to use"
# shellcheck source=/dev/null
. /etc/os-release
case "${ID:-}" in
  ubuntu | debian) ;;
  *) fail "unsupported distribution '${ID:-unknown}': Docker's apt repository serves ubuntu and debian" ;;
esac
[ -n "${VERSION_CODENAME:-}" ] || fail "VERSION_CODENAME is missing from /etc/os-release"
ARCH=$(dpkg --print-architecture)
REPO_URL="$REPOSITORY/linux/$ID"
export DEBIAN_FRONTEND=noninteractive

missing=""
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v gpg >/dev/null 2>&1 || missing="$missing gpg"
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"
if [ -n "$missing" ]; then
  step="installing the prerequisites:$missing"
  log "installing prerequisites:$missing"
  apt_run "$work/update-all" update || true
  # shellcheck disable=SC2086 # one word per package
  apt_run "$work/prerequisites" install --no-install-recommends $missing ||
    fail "the image lacks$missing and apt-get could not install it: $(grep -m 1 '^E:' "$work/prerequisites" || echo "exit $(cat "$work/prerequisites.rc")"); check httpProxy and httpsProxy"
fi

step="downloading the signing key"
log "downloading the repository's signing key from $REPO_URL/gpg"
fetch "$REPO_URL/gpg" "$work/docker.asc"

# Trust the file only if it holds exactly one primary key and that key is the pinned one.
# gpg's colon format prints each primary key's fingerprint on the "fpr" line right after "pub".
fingerprints=$(GNUPGHOME="$work" gpg --batch --with-colons --show-keys "$work/docker.asc" 2>/dev/null |
  awk -F: '$1 == "pub" { want = 1; next } $1 == "fpr" && want { print $10; want = 0 }')
if [ -z "$fingerprints" ]; then
  fail "$REPO_URL/gpg is not an OpenPGP key (a proxy's or a portal's page?); check dockerRepository"
elif [ "$fingerprints" != "$FINGERPRINT" ]; then
  got=$(printf '%s' "$fingerprints" | tr '\n' ' ' | sed 's/ $//')
  fail "$REPO_URL/gpg: the key's fingerprint is $got, not the expected $FINGERPRINT; refusing to trust it; check dockerKeyFingerprint (and dockerRepository)"
fi
log "the signing key matches the pinned fingerprint $FINGERPRINT"

install -d -m 0755 /etc/apt/keyrings
install -m 0644 "$work/docker.asc" "$KEYRING"
printf 'deb [arch=%s signed-by=%s] %s %s stable\n' "$ARCH" "$KEYRING" "$REPO_URL" "$VERSION_CODENAME" >"$SOURCES"

update_docker_list
install_packages
command -v docker >/dev/null 2>&1 || fail "docker is still missing after installing $DOCKER_PACKAGES from $REPO_URL; check dockerRepository"
log "installed $(docker --version)"
