#!/usr/bin/env python3
"""One POST /add from a chosen source address, optionally with forged proxy headers.

    proxy_client.py HOST PORT SOURCE_ADDRESS [FORGED_ADDRESS]

Prints the status and the body on one line.
"""
import http.client
import json
import sys

host, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
headers = {"Content-Type": "application/json"}
if len(sys.argv) > 4:
    headers.update({"X-Forwarded-For": sys.argv[4], "X-Real-IP": sys.argv[4]})
connection = http.client.HTTPConnection(host, port, source_address=(source, 0), timeout=10)
connection.request("POST", "/add", body=json.dumps({"args": [1, 2]}), headers=headers)
answer = connection.getresponse()
print(answer.status, answer.read().decode())
