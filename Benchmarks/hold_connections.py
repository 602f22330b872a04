#!/usr/bin/env python3
"""Opens N keep-alive HTTP connections to a front, sends one GET /healthz on each and reads its
answer, then holds them all open and idle while it reads the front's resident memory.

    Benchmarks/hold_connections.py PORT PID [N]     prints: N, RSS kB before, RSS kB holding N
"""
import resource
import selectors
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}")


def read_answers(selector, until=None):
    """Reads the answers that have arrived; with `until` (a monotonic time) waits for them all."""
    answered = 0
    while selector.get_map():
        timeout = 0 if until is None else until - time.monotonic()
        if until is not None and timeout <= 0:
            break
        events = selector.select(timeout=timeout)
        if not events and until is None:
            break
        for key, _ in events:
            if not key.fileobj.recv(65536):
                raise SystemExit("the front closed a connection it had not answered")
            selector.unregister(key.fileobj)
            answered += 1
    return answered


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    before = rss_kb(pid)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    selector = selectors.DefaultSelector()
    connections = []
    answered = 0
    for index in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(request)
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ)
        connections.append(connection)
        if index % 500 == 499:
            answered += read_answers(selector)
    answered += read_answers(selector, until=time.monotonic() + 60)
    if answered < count:
        raise SystemExit(f"only {answered} of {count} connections were answered")
    time.sleep(1)  # all idle now
    print(f"{count}\t{before}\t{rss_kb(pid)}")
    for connection in connections:
        connection.close()


if __name__ == "__main__":
    main()
