#!/usr/bin/env bash
# Test database servers for the test suite: a PostgreSQL and a MariaDB of our own.
#
#   scripts/services.sh start    install (Debian, if missing) and start both servers; idempotent
#   scripts/services.sh stop     stop our servers (never anything else)
#   scripts/services.sh status   show what is running where
#   scripts/services.sh clean    stop our servers and delete their data directory
#
# `start` prints exactly two lines on stdout, everything else goes to stderr, so that
#
#   eval "$(scripts/services.sh start)"
#
# sets TEST_PG_URL and TEST_MARIADB_URL. When either variable is already set and its server answers
# on TCP, it is used as it is and no server of ours is started for that engine.
#
# The servers are private to this checkout: loopback only (127.0.0.1), non-default ports, their own
# data directories, started with --no-defaults / our own command line (no /etc configuration, no
# systemd, no packaged service on 5432/3306). They hold throwaway test data only; the fixed password
# "dental" is a local test credential, not a secret.
#
# Where the data lives: by default /var/tmp/dental-test-servers-<hash of uid and repo path>.
# As root the servers run as the OS users `postgres` and `mysql`, which cannot traverse into e.g.
# /root or a 0700 home directory; /var/tmp is always reachable, survives reboots and keeps socket paths
# short (unix sockets are limited to ~107 bytes). Set DENTAL_TEST_SERVERS_DIR to put it elsewhere; the
# script then checks that the server users can reach it and, if not, says which directories need
# `chmod o+x` (it does not change permissions outside its own directory).
#
# Configuration (environment):
#   DENTAL_TEST_SERVERS_DIR    data/log/socket directory          (default: see above)
#   DENTAL_TEST_PG_PORT        PostgreSQL TCP port on 127.0.0.1   (default 55432, see "Ports" below)
#   DENTAL_TEST_MARIADB_PORT   MariaDB TCP port on 127.0.0.1      (default 53306, see "Ports" below)
#   DENTAL_TEST_PG_BINDIR      PostgreSQL bin directory           (default: newest /usr/lib/postgresql/*/bin)
#   DENTAL_TEST_PG_SHARED_BUFFERS    PostgreSQL shared_buffers     (default initdb's, 128MB; read at start)
#   DENTAL_TEST_MARIADB_BUFFER_POOL  InnoDB buffer pool size       (default 1G; read at start)
#   TEST_PG_URL, TEST_MARIADB_URL   use these servers instead of starting ours (if reachable)
#
# Ports: a port set in DENTAL_TEST_*_PORT is used as it is (start fails if something else holds it).
# Otherwise each server uses the port persisted in its data directory by an earlier start
# (postgresql/port, mariadb/port), else the default. When that port is held by a process that is not
# our server (e.g. a second checkout's test servers), start picks the next free port above it and
# persists it, so the checkout keeps its port from then on.

set -euo pipefail

# Keep the real stdout on fd 3 for the `export` lines; everything else (including the output of every
# tool we run) goes to stderr. Daemons we launch must not inherit fd 3 (nor the lock on fd 9): a
# command substitution waiting for EOF on fd 3 would otherwise hang until the server stops.
exec 3>&1 1>&2

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)

TEST_USER=dental
TEST_PASSWORD=dental # loopback-only throwaway test servers

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: error: %s\n' "$*" >&2
    exit 1
}

default_servers_dir() {
    local hash
    hash=$(printf '%s:%s' "$(id -u)" "$REPO_ROOT" | sha256sum | cut -c1-10)
    printf '/var/tmp/dental-test-servers-%s' "$hash"
}
SERVERS_DIR=${DENTAL_TEST_SERVERS_DIR:-$(default_servers_dir)}
[[ $SERVERS_DIR == /* ]] || SERVERS_DIR="$REPO_ROOT/$SERVERS_DIR"

PG_DIR=$SERVERS_DIR/postgresql
PG_DATA=$PG_DIR/data
PG_RUN=$PG_DIR/run # unix socket directory
PG_LOG=$PG_DIR/postgresql.log

MARIADB_DIR=$SERVERS_DIR/mariadb
MARIADB_DATA=$MARIADB_DIR/data
MARIADB_RUN=$MARIADB_DIR/run
MARIADB_SOCK=$MARIADB_RUN/mariadb.sock
MARIADB_PID=$MARIADB_RUN/mariadb.pid
MARIADB_LOG=$MARIADB_DIR/mariadb.log

PG_PORT_FILE=$PG_DIR/port
MARIADB_PORT_FILE=$MARIADB_DIR/port
PG_DEFAULT_PORT=55432
MARIADB_DEFAULT_PORT=53306

# A server's port: the DENTAL_TEST_*_PORT value, else the persisted one, else the default.
port_setting() { # env_value port_file default
    local persisted=""
    [[ -f $2 ]] && persisted=$(<"$2")
    if [[ -n $1 ]]; then
        printf '%s\n' "$1"
    elif [[ $persisted =~ ^[0-9]+$ ]]; then
        printf '%s\n' "$persisted"
    else
        printf '%s\n' "$3"
    fi
}
PG_PORT=$(port_setting "${DENTAL_TEST_PG_PORT:-}" "$PG_PORT_FILE" "$PG_DEFAULT_PORT")
MARIADB_PORT=$(port_setting "${DENTAL_TEST_MARIADB_PORT:-}" "$MARIADB_PORT_FILE" "$MARIADB_DEFAULT_PORT")

# As root the servers run as the packaged service users; otherwise as the invoking user.
if ((EUID == 0)); then
    PG_OS_USER=postgres
    MARIADB_OS_USER=mysql
else
    PG_OS_USER=$(id -un)
    MARIADB_OS_USER=$PG_OS_USER
fi

# ---------------------------------------------------------------------------------------------- helpers

# Run a command as root (sudo when we are not root).
as_root() {
    if ((EUID == 0)); then
        "$@"
    else
        command -v sudo >/dev/null || die "need root to install packages; run as root or install sudo"
        sudo "$@"
    fi
}

# Run a command as the given server user, from / (runuser keeps the cwd, which that user may not be
# allowed to enter, e.g. /root).
as_user() {
    local user=$1
    shift
    if ((EUID == 0)) && [[ $user != root ]]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Run a command with its output in a log file; on failure show the end of the log and stop.
run_logged() {
    local logfile=$1
    shift
    if ! "$@" >>"$logfile" 2>&1 3>&- 9>&-; then
        log "command failed: $*"
        tail -n 40 "$logfile" >&2 || true
        die "see $logfile"
    fi
}

# True when something accepts TCP connections on host:port.
tcp_open() {
    # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
    timeout 3 bash -c 'exec 5<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# Print `export NAME=VALUE` on the real stdout, quoted for eval.
emit_export() {
    printf 'export %s=%q\n' "$1" "$2" >&3
}

# True when the TCP server named by a SQLAlchemy URL answers. URLs without a TCP host (unix sockets)
# cannot be checked this way and are trusted.
url_reachable() {
    local url=$1 default_port=$2
    local re='^[^:]+://([^@/]*@)?(\[[^]]*\]|[^:/?]*)(:([0-9]+))?'
    [[ $url =~ $re ]] || return 1
    local host=${BASH_REMATCH[2]} port=${BASH_REMATCH[4]:-$default_port}
    host=${host#[}
    host=${host%]}
    [[ -n $host ]] || return 0
    tcp_open "$host" "$port"
}

# The first port above $1 on which nothing accepts connections on 127.0.0.1 (tries 200 ports).
next_free_port() {
    local port
    for ((port = $1 + 1; port <= $1 + 200 && port < 65536; port++)); do
        if ! tcp_open 127.0.0.1 "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

# Called when our server is not running and its port is held by another process: with an explicit
# DENTAL_TEST_*_PORT that is an error; otherwise print a free port, persisted in the port file.
replacement_port() { # engine port explicit_env_name port_file
    local engine=$1 port=$2 env_name=$3 file=$4 free
    if [[ -n ${!env_name:-} ]]; then
        die "127.0.0.1:$port ($env_name) is taken by another process; set $env_name to a free port"
    fi
    free=$(next_free_port "$port") || die "127.0.0.1:$port is taken and no free port found above it; set $env_name"
    log "$engine: 127.0.0.1:$port is taken by a server that is not ours: using $free (kept in $file)"
    printf '%s\n' "$free" >"$file"
    printf '%s\n' "$free"
}

find_bin() { # name [extra dir...]: print the path of an executable or fail
    local name=$1 dir
    shift
    if command -v "$name" 2>/dev/null; then return 0; fi
    for dir in "$@" /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
        if [[ -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done
    return 1
}

pg_bindir() {
    if [[ -n ${DENTAL_TEST_PG_BINDIR:-} ]]; then
        printf '%s\n' "$DENTAL_TEST_PG_BINDIR"
        return 0
    fi
    local candidate
    candidate=$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | sort -V | tail -n 1 || true)
    [[ -n $candidate ]] || return 1
    dirname "$candidate"
}

have_pg_binaries() {
    local bindir
    bindir=$(pg_bindir) || return 1
    [[ -x $bindir/postgres && -x $bindir/initdb && -x $bindir/pg_ctl && -x $bindir/psql ]]
}
have_mariadb_server() { find_bin mariadbd >/dev/null && find_bin mariadb-install-db >/dev/null; }
have_mariadb_client() { find_bin mariadb >/dev/null && find_bin mariadb-admin >/dev/null; }

# ------------------------------------------------------------------------------------------ installing

POLICY=/usr/sbin/policy-rc.d
POLICY_BACKUP=$POLICY.dental-backup
POLICY_OURS=0

# Put back whatever policy-rc.d was there before (or nothing): leaving `exit 101` behind would stop
# every later package upgrade on this machine from (re)starting its services.
restore_policy() {
    ((POLICY_OURS)) || return 0
    POLICY_OURS=0
    as_root rm -f "$POLICY"
    if [[ -e $POLICY_BACKUP ]]; then as_root mv "$POLICY_BACKUP" "$POLICY"; fi
}

# apt-get install the given packages without letting dpkg start the packaged services (they would
# take the default ports 5432/3306 and run from /etc configuration we do not want).
apt_install() {
    local aptlog=$SERVERS_DIR/apt.log
    log "installing from Debian: $* (log: $aptlog)"
    if [[ -e $POLICY ]] && grep -qx 'exit 101' "$POLICY"; then
        : # services are already never started by dpkg (e.g. the policy file Docker images ship)
    else
        if [[ -e $POLICY ]]; then as_root mv "$POLICY" "$POLICY_BACKUP"; fi
        POLICY_OURS=1
        trap restore_policy EXIT
        printf '#!/bin/sh\n# written by dental scripts/services.sh while installing; removed afterwards\nexit 101\n' |
            as_root tee "$POLICY" >/dev/null
        as_root chmod 755 "$POLICY"
    fi
    run_logged "$aptlog" as_root apt-get -q update
    run_logged "$aptlog" as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@"
    restore_policy
    log "installed: $*"
}

ensure_packages() { # want_pg want_mariadb
    local pkgs=()
    if (($1)) && ! have_pg_binaries; then pkgs+=(postgresql); fi
    if (($2)) && ! have_mariadb_server; then pkgs+=(mariadb-server mariadb-client); fi
    if (($2)) && have_mariadb_server && ! have_mariadb_client; then pkgs+=(mariadb-client); fi
    if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi
    if (($1)); then have_pg_binaries || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"; fi
    if (($2)) && ! { have_mariadb_server && have_mariadb_client; }; then
        die "MariaDB binaries (mariadbd, mariadb-install-db, mariadb, mariadb-admin) not found"
    fi
    return 0
}

# --------------------------------------------------------------------------------- the data directory

prepare_servers_dir() {
    mkdir -p "$SERVERS_DIR"
    # The default lives in the world-writable /var/tmp: refuse a directory someone else planted there.
    [[ ! -L $SERVERS_DIR ]] || die "$SERVERS_DIR is a symlink; refusing to use it"
    [[ $(stat -c %u "$SERVERS_DIR") == "$EUID" ]] || die "$SERVERS_DIR is not owned by uid $EUID; refusing to use it"
    chmod 755 "$SERVERS_DIR" # the server users need to traverse into their own subdirectories
    # Unix socket paths are limited to ~107 bytes.
    ((${#MARIADB_SOCK} < 100)) || die "socket path too long: $MARIADB_SOCK (set DENTAL_TEST_SERVERS_DIR to a shorter path)"
    ((${#PG_RUN} < 80)) || die "socket path too long: $PG_RUN (set DENTAL_TEST_SERVERS_DIR to a shorter path)"
}

# As root: make sure a server user can reach the data directory; list the ancestors that block it.
check_reachable_by() {
    local user=$1
    ((EUID == 0)) || return 0
    if runuser -u "$user" -- test -x "$SERVERS_DIR"; then return 0; fi
    local dir=$SERVERS_DIR blocking=()
    while [[ $dir != / ]]; do
        dir=$(dirname "$dir")
        runuser -u "$user" -- test -x "$dir" || blocking+=("$dir")
    done
    die "the OS user '$user' cannot reach $SERVERS_DIR; either unset DENTAL_TEST_SERVERS_DIR (default under /var/tmp) or run: chmod o+x ${blocking[*]}"
}

# ----------------------------------------------------------------------------------------- PostgreSQL

pg_running() { as_user "$PG_OS_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres; }

pg_start() {
    PG_BIN=$(pg_bindir)
    local version
    version=$("$PG_BIN/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')
    check_reachable_by "$PG_OS_USER"
    mkdir -p "$PG_DIR" "$PG_RUN"
    chmod 700 "$PG_DIR"
    if ((EUID == 0)); then chown "$PG_OS_USER": "$PG_DIR" "$PG_RUN"; fi

    # A cluster made by another major version cannot be started by these binaries.
    if [[ -f $PG_DATA/PG_VERSION && $(<"$PG_DATA/PG_VERSION") != "$version" ]]; then
        die "$PG_DATA was made by PostgreSQL $(<"$PG_DATA/PG_VERSION"), the binaries are $version: run '$0 clean' to start afresh"
    fi

    if pg_running; then
        local running_port
        running_port=$(sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true)
        if [[ $running_port == "$PG_PORT" ]]; then
            log "PostgreSQL $version already running on 127.0.0.1:$PG_PORT ($PG_DATA)"
        else
            log "PostgreSQL is running on port $running_port, wanted $PG_PORT: restarting it"
            pg_stop
        fi
    fi

    if ! pg_running; then
        if [[ ! -f $PG_DATA/PG_VERSION ]]; then
            log "initialising a PostgreSQL $version cluster in $PG_DATA"
            rm -rf "$PG_DATA" # an initdb interrupted half-way leaves a directory initdb refuses
            run_logged "$PG_DIR/initdb.log" as_user "$PG_OS_USER" "$PG_BIN/initdb" -D "$PG_DATA" \
                -U postgres --auth=trust -E UTF8 --locale=C --no-sync
        fi
        if tcp_open 127.0.0.1 "$PG_PORT"; then
            PG_PORT=$(replacement_port PostgreSQL "$PG_PORT" DENTAL_TEST_PG_PORT "$PG_PORT_FILE")
        fi
        printf '%s\n' "$PG_PORT" >"$PG_PORT_FILE"
        # fsync and friends off: test data is disposable, and this makes CREATE DATABASE/TABLE fast.
        # shared_buffers: what initdb chose (PostgreSQL's 128 MB default) unless
        # DENTAL_TEST_PG_SHARED_BUFFERS says (e.g. 4GB for the 50,000-patient benchmark's raw tables).
        local pg_options="-p $PG_PORT -k '$PG_RUN' -c listen_addresses=127.0.0.1"
        pg_options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if [[ -n ${DENTAL_TEST_PG_SHARED_BUFFERS:-} ]]; then
            [[ $DENTAL_TEST_PG_SHARED_BUFFERS =~ ^[0-9]+(kB|MB|GB)?$ ]] ||
                die "DENTAL_TEST_PG_SHARED_BUFFERS: a size such as 512MB or 4GB, got '$DENTAL_TEST_PG_SHARED_BUFFERS'"
            pg_options+=" -c shared_buffers=$DENTAL_TEST_PG_SHARED_BUFFERS"
        fi
        log "starting PostgreSQL $version on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        if ! as_user "$PG_OS_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start -o "$pg_options" \
            >&2 3>&- 9>&-; then
            tail -n 40 "$PG_LOG" >&2 || true
            die "PostgreSQL did not start (log: $PG_LOG)"
        fi
    fi

    # The test role; a superuser, so that tests can create databases and roles.
    pg_psql <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_USER') THEN
        CREATE ROLE $TEST_USER;
    END IF;
END
\$\$;
ALTER ROLE $TEST_USER WITH LOGIN SUPERUSER PASSWORD '$TEST_PASSWORD';
SQL
}

pg_stop() {
    PG_BIN=${PG_BIN:-$(pg_bindir)} || {
        log "PostgreSQL binaries not found: nothing to stop"
        return 0
    }
    if [[ -f $PG_DATA/PG_VERSION ]] && pg_running; then
        log "stopping PostgreSQL ($PG_DATA)"
        as_user "$PG_OS_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >&2
    else
        log "PostgreSQL: not running"
    fi
}

pg_status() {
    PG_BIN=$(pg_bindir 2>/dev/null) || PG_BIN=
    if [[ -n $PG_BIN && -f $PG_DATA/PG_VERSION ]] && pg_running; then
        printf 'postgresql: running  port %s  data %s  log %s\n' \
            "$(sed -n 4p "$PG_DATA/postmaster.pid")" "$PG_DATA" "$PG_LOG" >&3
        return 0
    fi
    printf 'postgresql: stopped  (data %s)\n' "$PG_DATA" >&3
    return 1
}

# -------------------------------------------------------------------------------------------- MariaDB

# The PID from our pid file if that process is alive and is a MariaDB server (PIDs get reused).
mariadb_pid() {
    [[ -f $MARIADB_PID ]] || return 1
    local pid comm
    pid=$(<"$MARIADB_PID")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == mariadbd || $comm == mysqld ]] || return 1
    printf '%s\n' "$pid"
}

# The admin connection: over our socket, as the OS user that mariadb-install-db made an account for
# (unix_socket authentication, no password).
mariadb_admin_sql() {
    local admin=root
    ((EUID == 0)) || admin=$(id -un)
    "$MARIADB_CLIENT" --no-defaults --protocol=socket --socket="$MARIADB_SOCK" -u "$admin" "$@"
}

mariadb_start() {
    local mariadbd install_db version
    mariadbd=$(find_bin mariadbd)
    install_db=$(find_bin mariadb-install-db)
    MARIADB_CLIENT=$(find_bin mariadb)
    MARIADB_ADMIN=$(find_bin mariadb-admin)
    version=$("$mariadbd" --no-defaults --version | sed -E 's/.*Ver ([0-9.]+).*/\1/')
    check_reachable_by "$MARIADB_OS_USER"
    mkdir -p "$MARIADB_DIR" "$MARIADB_RUN"
    chmod 700 "$MARIADB_DIR"
    if ((EUID == 0)); then chown "$MARIADB_OS_USER": "$MARIADB_DIR" "$MARIADB_RUN"; fi

    local pid running_port
    if pid=$(mariadb_pid); then
        running_port=$(mariadb_admin_sql -N -B -e 'SELECT @@port' 2>/dev/null || true)
        if [[ $running_port == "$MARIADB_PORT" ]]; then
            log "MariaDB $version already running on 127.0.0.1:$MARIADB_PORT (pid $pid, $MARIADB_DATA)"
        else
            log "MariaDB is running on port ${running_port:-?}, wanted $MARIADB_PORT: restarting it"
            mariadb_stop
        fi
    fi

    if ! mariadb_pid >/dev/null; then
        rm -f "$MARIADB_PID" "$MARIADB_SOCK" # stale, from a server that did not shut down cleanly
        local user_opt=()
        if ((EUID == 0)); then user_opt=(--user="$MARIADB_OS_USER"); fi
        if [[ ! -d $MARIADB_DATA/mysql ]]; then
            log "initialising a MariaDB $version data directory in $MARIADB_DATA"
            rm -rf "$MARIADB_DATA"
            mkdir -p "$MARIADB_DATA"
            if ((EUID == 0)); then chown "$MARIADB_OS_USER": "$MARIADB_DATA"; fi
            run_logged "$MARIADB_DIR/install-db.log" "$install_db" --no-defaults "${user_opt[@]}" \
                --datadir="$MARIADB_DATA" --auth-root-authentication-method=socket \
                --skip-test-db --skip-name-resolve
        fi
        if tcp_open 127.0.0.1 "$MARIADB_PORT"; then
            MARIADB_PORT=$(replacement_port MariaDB "$MARIADB_PORT" DENTAL_TEST_MARIADB_PORT "$MARIADB_PORT_FILE")
        fi
        printf '%s\n' "$MARIADB_PORT" >"$MARIADB_PORT_FILE"
        log "starting MariaDB $version on 127.0.0.1:$MARIADB_PORT (log: $MARIADB_LOG)"
        # sql-mode NO_ENGINE_SUBSTITUTION only (no STRICT_*, no NO_ZERO_DATE): OpenDental's own server
        # setting, which its data depends on (zero dates, TEXT columns without defaults).
        # Durability settings off: test data is disposable. A 1 GB buffer pool, as a practice server
        # sized for its data keeps its tables in memory (the default 128 MB makes every incremental
        # read of a benchmark-size table a disk read).
        setsid nohup "$mariadbd" --no-defaults "${user_opt[@]}" \
            --datadir="$MARIADB_DATA" --socket="$MARIADB_SOCK" --pid-file="$MARIADB_PID" \
            --port="$MARIADB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
            --sql-mode=NO_ENGINE_SUBSTITUTION --character-set-server=utf8mb4 \
            --collation-server=utf8mb4_general_ci \
            --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
            --innodb-buffer-pool-size="${DENTAL_TEST_MARIADB_BUFFER_POOL:-1G}" \
            >>"$MARIADB_LOG" 2>&1 </dev/null 3>&- 9>&- &
        local launcher=$! waited=0
        until "$MARIADB_ADMIN" --no-defaults --socket="$MARIADB_SOCK" --connect-timeout=2 ping >/dev/null 2>&1; do
            if ! kill -0 "$launcher" 2>/dev/null || ((waited >= 60)); then
                tail -n 40 "$MARIADB_LOG" >&2 || true
                die "MariaDB did not start within ${waited}s (log: $MARIADB_LOG)"
            fi
            sleep 1
            waited=$((waited + 1))
        done
    fi

    # The test user, for TCP from 127.0.0.1 and the socket (localhost); it may create databases and
    # users (tests create a read-only user), hence ALL ... WITH GRANT OPTION.
    local host sql=""
    for host in 127.0.0.1 localhost; do
        sql+="CREATE USER IF NOT EXISTS '$TEST_USER'@'$host' IDENTIFIED BY '$TEST_PASSWORD';
ALTER USER '$TEST_USER'@'$host' IDENTIFIED BY '$TEST_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$TEST_USER'@'$host' WITH GRANT OPTION;
"
    done
    mariadb_admin_sql <<<"$sql"
}

mariadb_stop() {
    local pid waited=0
    if ! pid=$(mariadb_pid); then
        log "MariaDB: not running"
        rm -f "$MARIADB_PID"
        return 0
    fi
    log "stopping MariaDB (pid $pid, $MARIADB_DATA)"
    kill -TERM "$pid"
    while [[ -e /proc/$pid ]]; do
        ((waited < 120)) || die "MariaDB (pid $pid) did not exit within 120s after SIGTERM; see $MARIADB_LOG"
        sleep 0.5
        waited=$((waited + 1))
    done
}

mariadb_status() {
    local pid
    if pid=$(mariadb_pid); then
        printf 'mariadb:    running  pid %s  port %s  data %s  log %s\n' \
            "$pid" "$MARIADB_PORT" "$MARIADB_DATA" "$MARIADB_LOG" >&3
        return 0
    fi
    printf 'mariadb:    stopped  (data %s)\n' "$MARIADB_DATA" >&3
    return 1
}

# ------------------------------------------------------------------------------------------- commands

take_lock() {
    prepare_servers_dir
    exec 9>"$SERVERS_DIR/.lock"
    flock -w 900 9 || die "timed out waiting for another services.sh (lock $SERVERS_DIR/.lock)"
}

cmd_start() {
    local pg_url=${TEST_PG_URL:-} mariadb_url=${TEST_MARIADB_URL:-}
    local want_pg=1 want_mariadb=1
    if [[ -n $pg_url ]]; then
        if url_reachable "$pg_url" 5432; then
            log "using the PostgreSQL server from TEST_PG_URL"
            want_pg=0
        else
            log "TEST_PG_URL is set but its server does not answer: starting our own instead"
        fi
    fi
    if [[ -n $mariadb_url ]]; then
        if url_reachable "$mariadb_url" 3306; then
            log "using the MariaDB server from TEST_MARIADB_URL"
            want_mariadb=0
        else
            log "TEST_MARIADB_URL is set but its server does not answer: starting our own instead"
        fi
    fi

    if ((want_pg || want_mariadb)); then
        take_lock
        ensure_packages "$want_pg" "$want_mariadb"
        if ((want_pg)); then
            pg_start
            pg_url="postgresql+psycopg2://$TEST_USER:$TEST_PASSWORD@127.0.0.1:$PG_PORT/postgres"
        fi
        if ((want_mariadb)); then
            mariadb_start
            mariadb_url="mysql+pymysql://$TEST_USER:$TEST_PASSWORD@127.0.0.1:$MARIADB_PORT/mysql"
        fi
        log "ready (data: $SERVERS_DIR)"
    fi
    emit_export TEST_PG_URL "$pg_url"
    emit_export TEST_MARIADB_URL "$mariadb_url"
}

cmd_stop() {
    if [[ ! -d $SERVERS_DIR ]]; then
        log "nothing to stop ($SERVERS_DIR does not exist)"
        return 0
    fi
    take_lock
    mariadb_stop
    pg_stop
}

cmd_status() {
    local rc=0
    printf 'data:       %s\n' "$SERVERS_DIR" >&3
    pg_status || rc=3
    mariadb_status || rc=3
    return "$rc"
}

cmd_clean() {
    cmd_stop
    if [[ -d $SERVERS_DIR ]]; then
        log "deleting $SERVERS_DIR"
        rm -rf "$SERVERS_DIR"
    fi
}

usage() {
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&3
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
clean) cmd_clean ;;
-h | --help | help) usage ;;
*)
    usage
    exit 2
    ;;
esac
