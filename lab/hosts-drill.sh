# shellcheck shell=bash
# Failover drills of the 12-host lab, sourced by lab/hosts (not run on its own).
#
# Seven drills: crash a backend host, crash a Redis master's host, crash the active load
# balancer, stop the active load balancer, stop nginx on the active load balancer (the
# vrrp_script moves the floating IP), restart PostgreSQL, restart every backend one at a
# time (the upgrade path). Each runs tuitalk-load through the floating IP (receivers and senders
# over four rooms; they reconnect with backoff, resume and re-send like real clients),
# breaks something a few seconds in, and passes only when tuitalk-load reports every
# acknowledged post delivered to every receiver exactly once, in order (exit 0: 0 lost,
# 0 duplicated, 0 out of order, nothing unacknowledged). It prints one JSON line with
# the outage figures: the longest time a receiver went without a delivery while posts
# went on (outage_max_ms, from delivery_gap_ms), reconnections, and what the drill timed
# itself (how long the floating IP or the Redis failover took). A broken host is booted
# again afterwards and the drill waits until the cluster is whole before the next one.

# The load of every drill. 6 senders at 90 posts/s in all (15 per sender per second).
DRILL_SECONDS=${TUITALK_DRILL_SECONDS:-30}
DRILL_BREAK_AFTER=${TUITALK_DRILL_BREAK_AFTER:-8}
DRILL_LOAD_ARGS=(--url "ws://$VIP/ws" --rooms 4 --receivers 12 --senders 6 --rate 90 --settle 90)
DRILL_FAILED=0

redis_cli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning "$@"; }

# Monotonic seconds with milliseconds.
now_s() { awk '{ printf "%.3f", $1 }' /proc/uptime; }
elapsed_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# Waits up to $1 seconds for "$2..." to succeed; fails the script otherwise.
wait_until() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s: $*"
    sleep 0.2
  done
}

backend_ready() { curl -fsS -m 2 -o /dev/null "http://$(host_addr "$1"):8080/readyz"; }
lb_ready() { curl -fsS -m 2 -o /dev/null "http://$(host_addr "$1")/readyz"; }
redis_role() { redis_cli -h "$(host_addr "$1")" -p 6379 role 2>/dev/null | head -n 1; }
redis_cluster_ok() {
  local name
  for name in $(group_hosts redis); do
    redis_cli -h "$(host_addr "$name")" -p 6379 cluster info 2>/dev/null | grep -q 'cluster_state:ok' || return 1
  done
}
vip_on_other_than() { local holder; holder=$(vip_holder); [[ $holder != none && $holder != "$1" ]]; }

# Everything up and healthy: every backend ready, the Redis Cluster ok on every node,
# every load balancer's nginx passes the check, the floating IP held by one of them.
cluster_whole() {
  local name
  require_bridge
  for name in $(group_hosts backend); do backend_ready "$name" || return 1; done
  redis_cluster_ok || return 1
  for name in $(group_hosts loadbalancer); do lb_ready "$name" || return 1; done
  [[ $(vip_holder) != none ]]
}

# Open WebSocket sessions of a backend (its /metrics).
backend_connections() {
  curl -fsS -m 2 -H "Authorization: Bearer $METRICS_TOKEN" "http://$(host_addr "$1"):8080/metrics" 2>/dev/null \
    | awk '$1 == "tuitalk_connections" { print $2; exit }'
}

LOAD_PID=""
LOAD_OUT=""
# $1 the drill's name, $2 seconds of sending (default DRILL_SECONDS).
load_start() {
  LOAD_OUT=$STATE/log/drill-$1.json
  "$LOAD" "${DRILL_LOAD_ARGS[@]}" --duration "${2:-$DRILL_SECONDS}" >"$LOAD_OUT" 2>"$LOAD_OUT.stderr" &
  LOAD_PID=$!
}

# Waits for the load; prints the drill's JSON line ($1 name, $2 extra JSON fields) and
# records a failure unless tuitalk-load passed.
load_finish() {
  local name=$1 extra=$2 rc=0
  wait "$LOAD_PID" || rc=$?
  local result
  result=$(cat "$LOAD_OUT")
  [[ -n $result ]] || result=null
  python3 - "$name" "$rc" "$extra" "$result" <<'EOF'
import json, sys
name, rc, extra, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = json.loads(result) if result != "null" else {}
line = {"drill": name, "passed": rc == 0}
line.update(json.loads("{" + extra + "}"))
line.update({
    "lost": r.get("lost"), "duplicated": r.get("duplicated"),
    "out_of_order": r.get("out_of_order"), "unacked": r.get("unacked"),
    "posts": r.get("posts"), "acked": r.get("acked"),
    "reconnects": r.get("reconnects"),
    "outage_max_ms": (r.get("delivery_gap_ms") or {}).get("max"),
    "outage_p50_ms": (r.get("delivery_gap_ms") or {}).get("p50"),
    "ack_latency_max_ms": (r.get("ack_latency_ms") or {}).get("max"),
    "settle_s": r.get("settle_s"),
})
print(json.dumps(line))
EOF
  if ((rc != 0)); then
    say "drill $name FAILED (tuitalk-load exit $rc): $LOAD_OUT"
    DRILL_FAILED=$((DRILL_FAILED + 1))
  fi
}

# Boots a host again after a drill and waits for the whole cluster.
restore() {
  say "booting $1 again"
  host_boot "$1"
  wait_ssh "$1" 90
  wait_until 120 cluster_whole
}

drill_backend() {
  say "drill backend: crash the backend host with the most connections, under load"
  load_start backend
  sleep "$DRILL_BREAK_AFTER"
  local name victim="" most=-1 count
  for name in $(group_hosts backend); do
    count=$(backend_connections "$name"); count=${count:-0}
    ((count > most)) && { most=$count; victim=$name; }
  done
  say "crash $victim ($most connections)"
  host_crash "$victim"
  load_finish backend "\"crashed\":\"$victim\",\"connections_on_it\":$most"
  restore "$victim"
}

drill_redis() {
  say "drill redis: crash the host of a Redis master, under load"
  local name victim="" id replica=""
  for name in $(group_hosts redis); do
    [[ $(redis_role "$name") == master ]] && { victim=$name; break; }
  done
  [[ -n $victim ]] || die "no Redis master found"
  id=$(redis_cli -h "$(host_addr "$victim")" -p 6379 cluster myid)
  local addr
  addr=$(redis_cli -h "$(host_addr "$victim")" -p 6379 cluster nodes \
    | awk -v m="$id" '$4 == m { split($2, a, ":"); print a[1]; exit }')
  for name in $(group_hosts redis); do [[ $(host_addr "$name") == "$addr" ]] && replica=$name; done
  [[ -n $replica ]] || die "no replica of $victim found"
  load_start redis
  sleep "$DRILL_BREAK_AFTER"
  say "crash $victim (master; its replica is $replica)"
  local t0
  t0=$(now_s)
  host_crash "$victim"
  local deadline=$((SECONDS + 30)) promoted=null
  while ((SECONDS < deadline)); do
    [[ $(redis_role "$replica") == master ]] && { promoted=$(elapsed_since "$t0"); break; }
    sleep 0.1
  done
  say "$replica promoted after ${promoted} s"
  load_finish redis "\"crashed\":\"$victim\",\"promoted\":\"$replica\",\"promoted_after_s\":$promoted"
  restore "$victim"
  say "$victim is back as $(redis_role "$victim")"
}

# $1: crash (power cut) or stop (clean shutdown).
drill_lb() {
  local how=$1 active
  active=$(vip_holder)
  [[ $active != none ]] || die "nobody holds the floating IP"
  say "drill lb-$how: $how the active load balancer ($active), under load"
  load_start "lb-$how"
  sleep "$DRILL_BREAK_AFTER"
  local t0 moved=null stopper=""
  t0=$(now_s)
  if [[ $how == crash ]]; then host_crash "$active"; else host_stop "$active" & stopper=$!; fi
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    vip_on_other_than "$active" && { moved=$(elapsed_since "$t0"); break; }
    sleep 0.05
  done
  [[ -z $stopper ]] || wait "$stopper"
  say "floating IP on $(vip_holder) after ${moved} s"
  local verb=crashed; [[ $how == crash ]] || verb=stopped
  load_finish "lb-$how" "\"$verb\":\"$active\",\"floating_ip_to\":\"$(vip_holder)\",\"floating_ip_moved_after_s\":$moved"
  restore "$active"
}

# nginx stops on the active load balancer while its host stays up: keepalived's
# vrrp_script (/readyz through the local nginx) fails, the priority drops, the peer takes
# the floating IP.
drill_lb_nginx() {
  local active
  active=$(vip_holder)
  [[ $active != none ]] || die "nobody holds the floating IP"
  say "drill lb-nginx: stop nginx on the active load balancer ($active), under load"
  load_start lb-nginx
  sleep "$DRILL_BREAK_AFTER"
  local t0 moved=null
  t0=$(now_s)
  ssh_host "$active" systemctl stop nginx
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    vip_on_other_than "$active" && { moved=$(elapsed_since "$t0"); break; }
    sleep 0.05
  done
  say "floating IP on $(vip_holder) after ${moved} s"
  load_finish lb-nginx "\"nginx_stopped_on\":\"$active\",\"floating_ip_to\":\"$(vip_holder)\",\"floating_ip_moved_after_s\":$moved"
  ssh_host "$active" systemctl start nginx
  wait_until 60 cluster_whole
}

# PostgreSQL restarts (systemctl restart) under load: posts pause (clients keep them in
# their outbox and retry), then every one is stored once.
drill_pg_restart() {
  local pg
  pg=$(group_hosts postgresql | head -n 1)
  say "drill pg-restart: restart PostgreSQL on $pg, under load"
  load_start pg-restart
  sleep "$DRILL_BREAK_AFTER"
  local t0 took
  t0=$(now_s)
  ssh_host "$pg" systemctl restart postgresql
  took=$(elapsed_since "$t0")
  say "PostgreSQL restarted in ${took} s"
  load_finish pg-restart "\"restarted\":\"$pg\",\"restart_s\":$took"
  wait_until 60 cluster_whole
}

# An upgrade's restart: ansible/rolling-restart.yml restarts the backends one at a time
# (each drains: its clients are told to reconnect elsewhere) and waits for each /readyz.
drill_rolling() {
  say "drill rolling: restart every backend, one at a time (rolling-restart.yml), under load"
  load_start rolling 60
  sleep "$DRILL_BREAK_AFTER"
  local t0 took rc=0
  t0=$(now_s)
  (cd "$ROOT/ansible" && ANSIBLE_FORCE_COLOR=0 ansible-playbook -i inventories/lab rolling-restart.yml) \
    >"$STATE/log/ansible-rolling.log" 2>&1 || rc=$?
  took=$(elapsed_since "$t0")
  ((rc == 0)) || { say "rolling-restart.yml failed (log: $STATE/log/ansible-rolling.log)"; DRILL_FAILED=$((DRILL_FAILED + 1)); }
  say "every backend restarted in ${took} s"
  load_finish rolling "\"restarted\":$(group_hosts backend | wc -l),\"rolling_restart_s\":$took"
  wait_until 60 cluster_whole
}

# $@: the drills to run (backend redis lb-crash lb-stop lb-nginx pg-restart rolling); all
# by default.
cmd_drill() {
  need_root
  [[ -x $LOAD ]] || die "no $LOAD: run scripts/build-static.sh (or set TUITALK_LOAD_BIN)"
  wait_until 60 cluster_whole
  local started=$SECONDS drill
  (($#)) || set -- backend redis lb-crash lb-stop lb-nginx pg-restart rolling
  for drill in "$@"; do
    case $drill in
      backend) drill_backend ;;
      redis) drill_redis ;;
      lb-crash) drill_lb crash ;;
      lb-stop) drill_lb stop ;;
      lb-nginx) drill_lb_nginx ;;
      pg-restart) drill_pg_restart ;;
      rolling) drill_rolling ;;
      *) die "unknown drill '$drill' (backend, redis, lb-crash, lb-stop, lb-nginx, pg-restart, rolling)" ;;
    esac
  done
  say "drills done in $((SECONDS - started)) s: $DRILL_FAILED failed"
  ((DRILL_FAILED == 0)) || die "$DRILL_FAILED drill(s) failed"
}

# Copies the lab's logs to $TUITALK_HOSTS_LOGS (default /tmp/tuitalk-hosts-logs), which
# `down` leaves alone.
keep_logs() {
  local dest=${TUITALK_HOSTS_LOGS:-/tmp/tuitalk-hosts-logs}
  [[ -d $STATE/log ]] || return 0
  rm -rf "$dest"
  cp -r "$STATE/log" "$dest"
  say "logs kept in $dest"
}

# The whole proof, from nothing to nothing: what CI runs.
cmd_all() {
  need_root
  local t0=$SECONDS t
  # Whatever happens, the logs are kept (ansible, consoles, drills) and the lab removed.
  trap 'keep_logs; cmd_down >/dev/null 2>&1 || true' EXIT
  # Whatever an earlier run left (a stopped session leaves namespaces, links, mounts).
  cmd_down >/dev/null 2>&1
  t=$SECONDS; "$ROOT/scripts/build-static.sh"; local t_build=$((SECONDS - t))
  t=$SECONDS; ensure_packages; image_build; local t_image=$((SECONDS - t))
  t=$SECONDS; cmd_up; local t_up=$((SECONDS - t))
  t=$SECONDS; cmd_deploy; local t_deploy=$((SECONDS - t))
  t=$SECONDS; cmd_drill; local t_drill=$((SECONDS - t))
  keep_logs
  t=$SECONDS; cmd_down; trap - EXIT; local t_down=$((SECONDS - t))
  printf '{"step":"all","build_s":%s,"image_s":%s,"up_s":%s,"deploy_s":%s,"drill_s":%s,"down_s":%s,"total_s":%s}\n' \
    "$t_build" "$t_image" "$t_up" "$t_deploy" "$t_drill" "$t_down" "$((SECONDS - t0))"
}
