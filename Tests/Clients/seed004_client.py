#!/usr/bin/env python3
"""Seed 004's socket client, as the seed writes it (struct.pack("I", n), then the JSON), run
against a front's TCP port: seed004_client.py TCP_PORT. Exit 0 when every check holds."""
import json
import socket
import struct
import sys


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def send(sock, name, params):
    body = json.dumps({"in": name, "params": params}).encode()
    sock.send(struct.pack("I", len(body)) + body)


def receive(sock):
    (size,) = struct.unpack("I", recv_exactly(sock, 4))
    return json.loads(recv_exactly(sock, size))


def call(sock, name, params):
    send(sock, name, params)
    return receive(sock)


sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
assert call(sock, "ping", "hello") == {"out": "pong", "result": "hello"}
assert call(sock, "add", [1, 2]) == {"out": "add", "result": 3}
assert call(sock, "add", {"a": 5, "b": 6}) == {"out": "add", "result": 11}
assert call(sock, "nope", [])["error"]["code"] == "unknown_function"

# Pipelined: every request first, then every answer, in order.
for i in range(200):
    send(sock, "add", [i, 1])
for i in range(200):
    assert receive(sock) == {"out": "add", "result": i + 1}

# The newline framing on another connection, as nc would send it.
lines = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
lines.sendall(b'{"in": "add", "params": [2, 2]}\n{"in": "ping", "params": 1}\n')
reader = lines.makefile("rb")
assert json.loads(reader.readline()) == {"out": "add", "result": 4}
assert json.loads(reader.readline()) == {"out": "pong", "result": 1}

print("seed 004 client: all checks passed")
