#!/usr/bin/env bash
# Installs TS-VMS as systemd services on Linux: the vms user, its folders, the settings files, the
# units (hub and agent) and, with --firewall, nftables rules mirroring the Windows ones.
#
# Idempotent: run it again (after an upgrade, say) and it changes only what differs; settings
# files are created once and never overwritten. The release itself (this repository, with
# `npm ci --omit=dev` run in it) goes to /opt/ts-vms first: see installer/README.md, "## Linux".
#
# --root DIR installs into DIR instead of / (tests, image builds): files and modes as on a real
# system, and the privileged commands (useradd, chown, systemctl, nft) are printed as
# "would run: ..." instead of run.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: sudo installer/linux/install.sh [options]

  --role hub|agent|both    what this machine runs (default: both)
  --firewall               install and load nftables rules (hub: HTTPS and MQTT-TLS inbound;
                           agent: WebRTC UDP range and setup wizard, local subnet only)
  --local-subnet CIDR      the subnet the agent's rules allow (default: detected, e.g. 192.168.1.0/24)
  --hub-https-port N       the hub's HTTPS port, TLS in front of the hub (default: 443)
  --mqtt-port N            the hub's MQTT-TLS port, VMS_MQTT_PORT (default: 8883)
  --live-ports MIN-MAX     the agent's WebRTC UDP ports, VMS_AGENT_LIVE_PORT_RANGE (default: 50000-50199)
  --setup-port N           the agent's setup wizard port, VMS_AGENT_SETUP_PORT (default: 7080)
  --enable                 enable and start the services of --role (systemctl enable --now)
  --root DIR               install into DIR, printing the privileged commands instead of running them
  -h, --help               this text
EOF
}

die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

ROOT=""
ROLE="both"
FIREWALL=0
ENABLE=0
LOCAL_SUBNET=""
HUB_HTTPS_PORT=443
HUB_MQTT_PORT=8883
LIVE_PORTS="50000-50199"
SETUP_PORT=7080

while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --role) ROLE="${2:?--role needs hub, agent or both}"; shift 2 ;;
    --firewall) FIREWALL=1; shift ;;
    --enable) ENABLE=1; shift ;;
    --local-subnet) LOCAL_SUBNET="${2:?--local-subnet needs a CIDR}"; shift 2 ;;
    --hub-https-port) HUB_HTTPS_PORT="${2:?--hub-https-port needs a port}"; shift 2 ;;
    --mqtt-port) HUB_MQTT_PORT="${2:?--mqtt-port needs a port}"; shift 2 ;;
    --live-ports) LIVE_PORTS="${2:?--live-ports needs MIN-MAX}"; shift 2 ;;
    --setup-port) SETUP_PORT="${2:?--setup-port needs a port}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

case "$ROLE" in
  hub) ROLES=(hub) ;;
  agent) ROLES=(agent) ;;
  both) ROLES=(hub agent) ;;
  *) die "--role must be hub, agent or both" ;;
esac
has_role() { [[ " ${ROLES[*]} " == *" $1 "* ]]; }

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
for port in "$HUB_HTTPS_PORT" "$HUB_MQTT_PORT" "$SETUP_PORT"; do
  is_port "$port" || die "not a port: $port"
done
LIVE_MIN="${LIVE_PORTS%%-*}"
LIVE_MAX="${LIVE_PORTS#*-}"
if [[ "$LIVE_PORTS" != *-* ]] || ! is_port "$LIVE_MIN" || ! is_port "$LIVE_MAX" || ((10#$LIVE_MIN > 10#$LIVE_MAX)); then
  die "--live-ports must be MIN-MAX, e.g. 50000-50199"
fi

if [[ -n "$ROOT" ]]; then
  mkdir -p "$ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  [[ "$ROOT" != "/" ]] || ROOT=""
fi
if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then
  die "run it as root (sudo), or with --root DIR to install into a folder"
fi

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_DIR=/opt/ts-vms
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/ts-vms
DATA_DIR=/var/lib/ts-vms
NFT_FILE=/etc/nftables.d/ts-vms.nft
NFT_MAIN=/etc/nftables.conf
UNITS_CHANGED=0

# run CMD...: a privileged command, run for real, or printed under --root.
run() {
  if [[ -n "$ROOT" ]]; then
    printf 'would run: %s\n' "$*"
  else
    "$@"
  fi
}

# ensure_dir MODE OWNER:GROUP PATH: the folder exists with that mode and owner.
ensure_dir() {
  local mode=$1 owner=$2 dir=$ROOT$3
  if [[ ! -d "$dir" ]]; then
    mkdir -p "$dir"
    printf 'created %s\n' "$3"
  fi
  [[ "$(stat -c %a "$dir")" == "${mode#0}" ]] || chmod "$mode" "$dir"
  [[ "$(stat -c %U:%G "$dir")" == "$owner" ]] || run chown "$owner" "$3"
}

# install_file MODE OWNER:GROUP SOURCE PATH: copies SOURCE when PATH differs (a rerun changes nothing).
install_file() {
  local mode=$1 owner=$2 src=$3 dest=$ROOT$4
  if [[ ! -f "$dest" ]] || ! cmp -s "$src" "$dest"; then
    cp "$src" "$dest.tmp"
    chmod "$mode" "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    printf 'installed %s\n' "$4"
    return 0
  fi
  [[ "$(stat -c %a "$dest")" == "${mode#0}" ]] || chmod "$mode" "$dest"
  [[ "$(stat -c %U:%G "$dest")" == "$owner" ]] || run chown "$owner" "$4"
  return 1
}

# create_once MODE OWNER:GROUP SOURCE PATH: a settings file, created from SOURCE only if missing.
create_once() {
  local mode=$1 owner=$2 src=$3 dest=$ROOT$4
  if [[ ! -e "$dest" ]]; then
    (umask 077 && cp "$src" "$dest")
    printf 'created %s (edit it, then restart the service)\n' "$4"
  fi
  [[ "$(stat -c %a "$dest")" == "${mode#0}" ]] || chmod "$mode" "$dest"
  [[ "$(stat -c %U:%G "$dest")" == "$owner" ]] || run chown "$owner" "$4"
}

# render TEMPLATE OUT: the template with the @...@ placeholders filled in.
render() {
  local hub_prefix="# " agent_prefix="# "
  if has_role hub; then hub_prefix=""; fi
  if has_role agent; then agent_prefix=""; fi
  sed -e "s|@LOCAL_SUBNET@|$LOCAL_SUBNET|g" \
    -e "s|@HUB_HTTPS_PORT@|$HUB_HTTPS_PORT|g" \
    -e "s|@HUB_MQTT_PORT@|$HUB_MQTT_PORT|g" \
    -e "s|@LIVE_PORTS@|$LIVE_PORTS|g" \
    -e "s|@SETUP_PORT@|$SETUP_PORT|g" \
    -e "s|^@HUB@|$hub_prefix|" \
    -e "s|^@AGENT@|$agent_prefix|" \
    "$1" >"$2"
}

# The subnet of the first interface with an IPv4 route of its own (e.g. 192.168.1.0/24).
detect_subnet() {
  ip -o -4 route show scope link proto kernel 2>/dev/null | awk '$1 ~ /\// { print $1; exit }'
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "== TS-VMS install (${ROLES[*]})${ROOT:+ into $ROOT}"

# 1. The service user: a system account without a shell or a home of its own.
if [[ -n "$ROOT" ]] || ! getent passwd vms >/dev/null; then
  run useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin vms
fi

# 2. Folders: settings readable by the services only, data by the vms user only.
mkdir -p "$ROOT$UNIT_DIR"
ensure_dir 0750 root:vms "$CONF_DIR"
ensure_dir 0750 vms:vms "$DATA_DIR"
for role in "${ROLES[@]}"; do
  ensure_dir 0700 vms:vms "$DATA_DIR/$role"
done

# 3. Settings (created once, never overwritten: they hold the operator's values and secrets).
for role in "${ROLES[@]}"; do
  render "$HERE/$role.env.example" "$WORK/$role.env"
  create_once 0640 root:vms "$WORK/$role.env" "$CONF_DIR/$role.env"
done

# 4. The units, as they are in the release.
for role in "${ROLES[@]}"; do
  if install_file 0644 root:root "$HERE/ts-vms-$role.service" "$UNIT_DIR/ts-vms-$role.service"; then
    UNITS_CHANGED=1
  fi
done
if ((UNITS_CHANGED)); then
  run systemctl daemon-reload
fi

# 5. Firewall rules (optional).
if ((FIREWALL)); then
  if [[ -z "$LOCAL_SUBNET" ]]; then
    LOCAL_SUBNET="$(detect_subnet || true)"
    [[ -n "$LOCAL_SUBNET" ]] || die "cannot detect the local subnet: give it with --local-subnet CIDR"
  fi
  [[ "$LOCAL_SUBNET" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] || die "--local-subnet must be an IPv4 CIDR, e.g. 192.168.1.0/24"
  mkdir -p "$ROOT$(dirname "$NFT_FILE")"
  render "$HERE/ts-vms.nft" "$WORK/ts-vms.nft"
  NFT_CHANGED=0
  if install_file 0644 root:root "$WORK/ts-vms.nft" "$NFT_FILE"; then
    NFT_CHANGED=1
  fi
  # Loaded at boot by nftables.service through /etc/nftables.conf.
  if [[ -f "$ROOT$NFT_MAIN" ]] && ! grep -qF "include \"$NFT_FILE\"" "$ROOT$NFT_MAIN"; then
    [[ -z "$(tail -c 1 "$ROOT$NFT_MAIN")" ]] || echo >>"$ROOT$NFT_MAIN"
    printf '# TS-VMS (installer/linux/install.sh; uninstall.sh removes it)\ninclude "%s"\n' "$NFT_FILE" >>"$ROOT$NFT_MAIN"
    printf 'added the rules to %s\n' "$NFT_MAIN"
    NFT_CHANGED=1
  fi
  if ((NFT_CHANGED)); then
    run nft -f "$NFT_FILE"
    run systemctl enable nftables.service
  fi
fi

# 6. Start, if asked.
if ((ENABLE)); then
  for role in "${ROLES[@]}"; do
    run systemctl enable --now "ts-vms-$role.service"
  done
fi

[[ -f "$ROOT$APP_DIR/package.json" ]] ||
  echo "note: no release in $APP_DIR yet: unpack it there and run 'npm ci --omit=dev' in it (installer/README.md)"
echo "== done. Next:"
if has_role hub; then
  echo "   hub:   edit $CONF_DIR/hub.env, check it (npm run hub -- doctor), then: systemctl enable --now ts-vms-hub"
fi
if has_role agent; then
  echo "   agent: edit $CONF_DIR/agent.env, then: systemctl enable --now ts-vms-agent (it opens the setup wizard until enrolled)"
fi
