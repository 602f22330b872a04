#!/usr/bin/env python3
"""Python's own XML-RPC client against a front: xmlrpc_client.py HTTP_PORT. Exit 0 when every check holds."""
import sys
import xmlrpc.client

port = int(sys.argv[1])
proxy = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2", allow_none=True)

assert proxy.add(20, 22) == 42
assert proxy.test("hi") == "this is test hi"
assert proxy.test_args("welcome", "x", "nima") == "this is test welcome nima"
value = {"n": 1, "f": 2.5, "yes": True, "none": None, "list": [1, "two"], "text": "<&>"}
assert proxy.echo(value) == value, proxy.echo(value)
assert proxy.echo(xmlrpc.client.Binary(b"bytes")) == "bytes"
assert proxy.echo(xmlrpc.client.DateTime("20261203T10:00:00")) == "20261203T10:00:00"

methods = proxy.system.listMethods()
assert {"add", "test", "system.multicall", "system.listMethods"} <= set(methods), methods
assert proxy.system.methodHelp("add") == "add(a: int, b: int)"
assert proxy.system.methodSignature("add") == [["undef", "int", "int"]]

for call, code in [(lambda: proxy.nope(), -32601), (lambda: proxy.add(1), -32602), (lambda: proxy.fail("boom"), -32500)]:
    try:
        call()
    except xmlrpc.client.Fault as fault:
        assert fault.faultCode == code, (fault.faultCode, code)
    else:
        raise AssertionError(f"no fault, expected {code}")

multi = xmlrpc.client.MultiCall(proxy)
multi.add(1, 2)
multi.test("m")
multi.add(1)
multi.echo(None)
results = multi()
assert results[0] == 3 and results[1] == "this is test m"
try:
    results[2]
except xmlrpc.client.Fault as fault:
    assert fault.faultCode == -32602
else:
    raise AssertionError("the bad call in the multicall did not fault")
assert results[3] is None

print("xmlrpc.client: all checks passed")
