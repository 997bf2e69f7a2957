#!/usr/bin/env bash
# Starts virtlogd + libvirtd by hand (no systemd) so that qemu:///system works, then waits
# until the daemon answers. Idempotent: does nothing harmful when they already run, and
# copes with stale pidfiles/sockets left by a previous run or a killed daemon.
#
# Env knobs:
#   LIBVIRTD_WAIT_SECS   how long to wait for `virsh version` (default 30)
#   LIBVIRTD_LOG         libvirtd log file (default /var/log/libvirt/libvirtd.log)
#   VIRTLOGD_LOG         virtlogd log file (default /var/log/libvirt/virtlogd.log)
#
# Requires root. Exits 0 once `virsh -c qemu:///system version` answers, non-zero otherwise
# (printing the tail of the libvirtd log).
set -euo pipefail

WAIT_SECS=${LIBVIRTD_WAIT_SECS:-30}
LIBVIRTD_LOG=${LIBVIRTD_LOG:-/var/log/libvirt/libvirtd.log}
VIRTLOGD_LOG=${VIRTLOGD_LOG:-/var/log/libvirt/virtlogd.log}
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid
QEMU_CONF=/etc/libvirt/qemu.conf
URI=qemu:///system

log() { echo "start-libvirtd: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
for b in libvirtd virtlogd virsh; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] \
        || die "$b not found (run scripts/install-deps.sh first)"
done
export PATH="/usr/sbin:/sbin:$PATH"
# libvirt's network driver looks for iptables when it starts: warn early if it is missing.
command -v iptables >/dev/null 2>&1 || log "WARNING: iptables missing: libvirt networks will not start"

. "$(dirname "$0")/proc.sh"
# pid_alive PIDFILE NAME: PIDFILE names a running process whose comm is NAME.
pid_alive() {
    local f=$1 name=$2
    [ -s "$f" ] || return 1
    proc_running "$(tr -dc '0-9' <"$f")" "$name"
}

virsh_ok() { timeout 10 virsh -q -c "$URI" version >/dev/null 2>&1; }

# --- runtime / state directories -------------------------------------------------------
mkdir -p /var/log/libvirt/qemu /run/libvirt /run/libvirt/qemu /run/libvirt/network \
         /var/lib/libvirt/qemu /var/lib/libvirt/network /var/lib/libvirt/dnsmasq \
         /var/lib/libvirt/images /var/cache/libvirt/qemu \
         /etc/libvirt/qemu/networks/autostart /etc/libvirt/storage

# --- accounts + qemu.conf: run QEMU as root -------------------------------------------
# Debian's libvirt is built to run QEMU as libvirt-qemu:libvirt-qemu; that account is only
# created by libvirt-daemon-system (not installed: it pulls in systemd units). The QEMU
# driver resolves that built-in default user *before* it reads qemu.conf, so the account
# must exist even though qemu.conf below makes QEMU run as root ("Failed to parse user
# 'libvirt-qemu'" / "Initialization of QEMU state driver failed" otherwise).
# No AppArmor/SELinux here, so the DAC driver is the only security driver in play.
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null \
    || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin \
               -c "Libvirt Qemu" libvirt-qemu
# set_conf KEY VALUE: make "KEY = VALUE" the single effective setting in qemu.conf.
set_conf() {
    local key=$1 val=$2 line
    line="$key = $val"
    touch "$QEMU_CONF"
    if grep -qxF "$line" "$QEMU_CONF" && [ "$(grep -cE "^[[:space:]]*$key[[:space:]]*=" "$QEMU_CONF")" -eq 1 ]; then
        return 0
    fi
    # Drop any other effective setting of KEY, then append ours.
    sed -i -E "/^[[:space:]]*$key[[:space:]]*=/d" "$QEMU_CONF"
    echo "$line" >>"$QEMU_CONF"
    CONF_CHANGED=1
}
CONF_CHANGED=0
if [ ! -s "$QEMU_CONF" ]; then
    echo "# Written by vifd scripts/start-libvirtd.sh (no systemd, no libvirt-daemon-system)." >"$QEMU_CONF"
fi
set_conf user '"root"'
set_conf group '"root"'
if [ "$CONF_CHANGED" -eq 1 ] && pid_alive "$LIBVIRTD_PID" libvirtd; then
    log "qemu.conf changed while libvirtd runs: restarting libvirtd"
    kill "$(tr -dc '0-9' <"$LIBVIRTD_PID")" || true
    for _ in $(seq 1 100); do pid_alive "$LIBVIRTD_PID" libvirtd || break; sleep 0.1; done
fi

# --- virtlogd --------------------------------------------------------------------------
# libvirtd's QEMU driver sends each domain's stdout/stderr to virtlogd
# (/run/libvirt/virtlogd-sock); without systemd socket activation it must be running first.
if pid_alive "$VIRTLOGD_PID" virtlogd; then
    log "virtlogd already running (pid $(tr -dc '0-9' <"$VIRTLOGD_PID"))"
else
    rm -f "$VIRTLOGD_PID" /run/libvirt/virtlogd-sock /run/libvirt/virtlogd-admin-sock
    log "starting virtlogd"
    LIBVIRT_LOG_OUTPUTS="3:file:$VIRTLOGD_LOG" virtlogd -d -p "$VIRTLOGD_PID"
    for _ in $(seq 1 50); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
    [ -S /run/libvirt/virtlogd-sock ] || die "virtlogd did not create /run/libvirt/virtlogd-sock"
fi

# --- libvirtd --------------------------------------------------------------------------
start=$(date +%s.%N)
if pid_alive "$LIBVIRTD_PID" libvirtd; then
    log "libvirtd already running (pid $(tr -dc '0-9' <"$LIBVIRTD_PID"))"
elif virsh_ok; then
    # Answering without our pidfile: someone else started it (e.g. with another pidfile).
    log "libvirtd already answering on $URI (not started by this script)"
else
    rm -f "$LIBVIRTD_PID" /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro \
          /run/libvirt/libvirt-admin-sock
    log "starting libvirtd (log: $LIBVIRTD_LOG)"
    # Level 3 = warnings+errors; libvirtd -d would otherwise log nowhere without journald.
    LIBVIRT_LOG_OUTPUTS="3:file:$LIBVIRTD_LOG" libvirtd -d -p "$LIBVIRTD_PID"
fi

deadline=$(( $(date +%s) + WAIT_SECS ))
until virsh_ok; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "libvirtd did not answer '$URI' within ${WAIT_SECS}s"
        if pid_alive "$LIBVIRTD_PID" libvirtd; then log "libvirtd is running but not answering"
        else log "libvirtd is not running"; fi
        log "last lines of $LIBVIRTD_LOG:"
        tail -n 40 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
        exit 1
    fi
    # A libvirtd that failed to initialise exits within a second or two: don't wait the
    # whole deadline for it (allow 3 s for daemonising and writing the pidfile).
    if ! pid_alive "$LIBVIRTD_PID" libvirtd \
       && awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{exit !(b-a > 3)}'; then
        log "libvirtd exited during start-up; last lines of $LIBVIRTD_LOG:"
        tail -n 40 "$LIBVIRTD_LOG" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done
end=$(date +%s.%N)
log "libvirtd ready on $URI after $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')s"
