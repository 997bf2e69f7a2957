#!/usr/bin/env bash
# Stops the libvirtd (and virtlogd) that scripts/start-libvirtd.sh started, cleanly (SIGTERM,
# bounded wait, SIGKILL as a last resort). Idempotent: exits 0 when nothing runs.
#
# Running QEMU domains and network dnsmasq processes are NOT touched: they survive a libvirtd
# restart and libvirtd reconnects to them on its next start (that is what restart tests want).
# virtlogd is stopped too unless QEMU processes are still running (they write their
# stdout/stderr to it); pass --all to stop it regardless, --keep-virtlogd to never stop it.
#
# Env: STOP_WAIT_SECS (default 15) per daemon before SIGKILL.
set -euo pipefail

WAIT_SECS=${STOP_WAIT_SECS:-15}
LIBVIRTD_PID=/run/libvirtd.pid
VIRTLOGD_PID=/run/virtlogd.pid
mode=auto
case "${1:-}" in
    --all) mode=all ;;
    --keep-virtlogd) mode=keep ;;
    "") ;;
    *) echo "usage: $0 [--all|--keep-virtlogd]" >&2; exit 2 ;;
esac

log() { echo "stop-libvirtd: $*" >&2; }
[ "$(id -u)" -eq 0 ] || { log "ERROR: must run as root"; exit 1; }

. "$(dirname "$0")/proc.sh"

# pids_of PIDFILE NAME: the daemon's pid from its pidfile, else exact-name matches.
pids_of() {
    local f=$1 name=$2 pid
    if [ -s "$f" ]; then
        pid=$(tr -dc '0-9' <"$f")
        if proc_running "$pid" "$name"; then echo "$pid"; return 0; fi
    fi
    # No (valid) pidfile: a daemon started some other way, matched by exact process name.
    for pid in $(pgrep -x "$name" || true); do
        proc_running "$pid" "$name" && echo "$pid"
    done
    return 0
}

# stop NAME PIDFILE
stop() {
    local name=$1 f=$2 pids p alive
    pids=$(pids_of "$f" "$name")
    if [ -z "$pids" ]; then
        log "$name not running"
    else
        log "stopping $name (pid $(echo $pids))"
        kill -TERM $pids 2>/dev/null || true
        for _ in $(seq 1 $((WAIT_SECS * 10))); do
            alive=
            for p in $pids; do proc_running "$p" "$name" && alive=1; done
            [ -z "$alive" ] && break
            sleep 0.1
        done
        for p in $pids; do
            if proc_running "$p" "$name"; then
                log "$name pid $p ignored SIGTERM for ${WAIT_SECS}s: SIGKILL"
                kill -KILL "$p" 2>/dev/null || true
            fi
        done
    fi
    rm -f "$f"
}

stop libvirtd "$LIBVIRTD_PID"
# A killed libvirtd may leave its sockets behind; start-libvirtd.sh removes them too.
rm -f /run/libvirt/libvirt-sock /run/libvirt/libvirt-sock-ro /run/libvirt/libvirt-admin-sock

case $mode in
    keep) log "leaving virtlogd running (--keep-virtlogd)" ;;
    auto)
        if pgrep -x 'qemu-system-x86' >/dev/null || pgrep -f '^/usr/bin/qemu-system-' >/dev/null; then
            log "QEMU domains still running: leaving virtlogd running (use --all to stop it)"
        else
            stop virtlogd "$VIRTLOGD_PID"
        fi ;;
    all) stop virtlogd "$VIRTLOGD_PID" ;;
esac
log "done"
