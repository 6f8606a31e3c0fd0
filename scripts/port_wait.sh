# Sourced by the ensure_*.sh scripts: is a TCP port answering, and wait for a server to start listening.
port_up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for_port NAME HOST PORT: up to 60 s, then a message naming the server and the address.
wait_for_port() {
  for _ in $(seq 1 60); do
    if port_up "$2" "$3"; then return 0; fi
    sleep 1
  done
  echo "$1 did not start listening on $2:$3 within 60s" >&2
  return 1
}
