# Shared by start-libvirtd.sh and stop-libvirtd.sh (sourced, not run).

# proc_running PID NAME: PID is a live (not zombie) process whose comm is NAME. PID 1 here
# is not an init that reaps promptly, so a dead daemon can linger as a zombie for a while.
proc_running() {
    local pid=$1 name=$2 stat
    [ -n "$pid" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 1
    stat=${stat##*) }           # fields after "(comm) "
    [ "${stat%% *}" != Z ] && [ "${stat%% *}" != X ]
}
