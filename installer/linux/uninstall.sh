#!/usr/bin/env bash
# Removes the TS-VMS services installed by install.sh: stops and disables them, removes the units
# and the firewall rules. Keeps the data (/var/lib/ts-vms: recordings, database, credentials) and
# the settings (/etc/ts-vms) unless --purge, which also removes the vms user. The release in
# /opt/ts-vms is yours: it is never removed.
#
# --root DIR works on DIR instead of /, printing the privileged commands instead of running them.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: sudo installer/linux/uninstall.sh [--purge] [--root DIR]

  --purge      also remove the data (/var/lib/ts-vms), the settings (/etc/ts-vms) and the vms user
  --root DIR   work on DIR, printing the privileged commands instead of running them
EOF
}

die() {
  printf 'uninstall.sh: %s\n' "$*" >&2
  exit 1
}

ROOT=""
PURGE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
    --purge) PURGE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

if [[ -n "$ROOT" ]]; then
  [[ -d "$ROOT" ]] || die "no such folder: $ROOT"
  ROOT="$(cd "$ROOT" && pwd)"
  [[ "$ROOT" != "/" ]] || ROOT=""
fi
if [[ -z "$ROOT" && "$(id -u)" -ne 0 ]]; then
  die "run it as root (sudo), or with --root DIR"
fi

UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/ts-vms
DATA_DIR=/var/lib/ts-vms
NFT_FILE=/etc/nftables.d/ts-vms.nft
NFT_MAIN=/etc/nftables.conf

# run CMD...: a privileged command, run for real, or printed under --root.
run() {
  if [[ -n "$ROOT" ]]; then
    printf 'would run: %s\n' "$*"
  else
    "$@"
  fi
}

echo "== TS-VMS uninstall${ROOT:+ in $ROOT}"

# 1. The services: stopped, disabled, their units gone.
units_removed=0
for unit in ts-vms-hub.service ts-vms-agent.service; do
  if [[ -f "$ROOT$UNIT_DIR/$unit" ]]; then
    run systemctl disable --now "$unit" || echo "note: could not stop $unit (continuing)"
    rm -f "$ROOT$UNIT_DIR/$unit"
    printf 'removed %s\n' "$UNIT_DIR/$unit"
    units_removed=1
  fi
done
if ((units_removed)); then
  run systemctl daemon-reload
fi

# 2. The firewall rules: the file, its include line, and the loaded table.
if [[ -f "$ROOT$NFT_FILE" ]]; then
  rm -f "$ROOT$NFT_FILE"
  printf 'removed %s\n' "$NFT_FILE"
  if [[ -f "$ROOT$NFT_MAIN" ]]; then
    sed -i -e '/^# TS-VMS (installer\/linux\/install.sh; uninstall.sh removes it)$/d' \
      -e "\\|^include \"$NFT_FILE\"\$|d" "$ROOT$NFT_MAIN"
  fi
  run nft delete table inet ts_vms || echo "note: the ts_vms table was not loaded"
fi

# 3. Data, settings and the user: only with --purge.
if ((PURGE)); then
  rm -rf -- "$ROOT$DATA_DIR"
  rm -rf -- "$ROOT$CONF_DIR"
  printf 'removed %s and %s\n' "$DATA_DIR" "$CONF_DIR"
  run userdel vms || echo "note: no vms user to remove"
else
  echo "kept $DATA_DIR (recordings, database, credentials) and $CONF_DIR (settings): --purge removes them"
fi
echo "== done (the release in /opt/ts-vms is left in place)"
