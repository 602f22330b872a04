import Foundation
import NIOHTTP1
import SwiftRPC
import SwiftRPCServer
import Testing

/// JSON-RPC 2.0, XML-RPC and `/rpc` through the router, without sockets.
@Suite("Protocols")
struct ProtocolTests {
    let router = exampleRouter { registry in
        registry.registerAsync("slow_echo", Param<Double>("seconds"), Param<JSONValue>("value")) { seconds, value in
            try await Task.sleep(for: .seconds(seconds))
            return value
        }
    }

    // MARK: - JSON-RPC 2.0

    @Test func jsonRPCSingleCallsByPositionAndByName() async throws {
        let positional = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "add", "params": [20, 22], "id": 1}"#)
        #expect(positional.status == .ok)
        #expect(positional.json == ["jsonrpc": "2.0", "result": 42, "id": 1])
        let named = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "add", "params": {"b": 2, "a": 40}, "id": "abc"}"#)
        #expect(named.json == ["jsonrpc": "2.0", "result": 42, "id": "abc"])
        let nullID = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "test", "params": ["x"], "id": null}"#)
        #expect(nullID.json == ["jsonrpc": "2.0", "result": "this is test x", "id": nil])
        let async = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "test_async", "params": ["y"], "id": 2.5}"#)
        #expect(async.json?["result"] != nil)
        #expect(async.json?["id"] == 2.5)
    }

    @Test func jsonRPCErrorCodes() async throws {
        func code(_ body: String) async throws -> (Int?, String?) {
            let answer = try await router.answer("/jsonrpc", body: body)
            #expect(answer.status == .ok)
            return (answer.json?["error"]?["code"]?.intValue, answer.json?["error"]?["data"]?["code"]?.stringValue)
        }
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "#).0 == -32700)
        #expect(try await code("\u{FF}").0 == -32700)
        #expect(try await code(#"{"jsonrpc": "1.0", "method": "add", "id": 1}"#).0 == -32600)
        #expect(try await code(#"{"jsonrpc": "2.0", "method": 5, "id": 1}"#).0 == -32600)
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "params": 5, "id": 1}"#).0 == -32600)
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "id": [1]}"#).0 == -32600)
        #expect(try await code("[]").0 == -32600)
        #expect(try await code(String(repeating: "[", count: 1_000) + String(repeating: "]", count: 1_000)).0 == -32700)  // deeper than 256
        #expect(try await code(#""just a string""#).0 == -32600)
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "nope", "id": 1}"#) == (-32601, "unknown_function"))
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "params": [1], "id": 1}"#) == (-32602, "invalid_arguments"))
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "params": {"a": 1, "c": 2}, "id": 1}"#).0 == -32602)
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "fail", "params": ["boom"], "id": 1}"#) == (-32000, "function_error"))
        let failed = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "fail", "params": ["boom"], "id": 1}"#)
        #expect(failed.json?["error"]?["message"] == "boom")
        // Overflow in `add` is the function's error, never a crash.
        #expect(try await code(#"{"jsonrpc": "2.0", "method": "add", "params": [9223372036854775807, 1], "id": 1}"#).0 == -32000)
    }

    @Test func jsonRPCBatchesKeepOrderAndSkipNotifications() async throws {
        let body = """
            [{"jsonrpc": "2.0", "method": "slow_echo", "params": [0.2, "first"], "id": 1},
             {"jsonrpc": "2.0", "method": "add", "params": [1, 2]},
             {"jsonrpc": "2.0", "method": "add", "params": [3, 4], "id": 2},
             {"jsonrpc": "2.0", "method": "nope", "id": 3},
             42]
            """
        let answer = try await router.answer("/jsonrpc", body: body)
        guard case .array(let answers)? = answer.json else {
            Issue.record("not an array: \(answer.text)")
            return
        }
        #expect(answers.count == 4)
        #expect(answers[0] == ["jsonrpc": "2.0", "result": "first", "id": 1])
        #expect(answers[1] == ["jsonrpc": "2.0", "result": 7, "id": 2])
        #expect(answers[2]["error"]?["code"] == -32601)
        #expect(answers[3]["error"]?["code"] == -32600)
        #expect(answers[3]["id"] == .null)
    }

    @Test func notificationsOnlyAnswerNoContent() async throws {
        let single = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "add", "params": [1, 2]}"#)
        #expect(single.status == .noContent)
        #expect(single.body.isEmpty)
        let batch = try await router.answer(
            "/jsonrpc", body: #"[{"jsonrpc": "2.0", "method": "add", "params": [1, 2]}, {"jsonrpc": "2.0", "method": "nope"}]"#)
        #expect(batch.status == .noContent)
        #expect(batch.body.isEmpty)
    }

    @Test func aTenThousandCallBatchIsAnsweredWhole() async throws {
        let calls = (0..<10_000).map { #"{"jsonrpc":"2.0","method":"add","params":[\#($0),1],"id":\#($0)}"# }
        let body = "[" + calls.joined(separator: ",") + "]"
        #expect(body.utf8.count < 1_048_576)
        let answer = try await router.answer("/jsonrpc", body: body)
        guard case .array(let answers)? = answer.json else {
            Issue.record("not an array")
            return
        }
        #expect(answers.count == 10_000)
        #expect(answers[9_999] == ["jsonrpc": "2.0", "result": 10_000, "id": 9_999])
    }

    @Test func protocolEndpointsTakePOSTOnly() async throws {
        for path in ["/jsonrpc", "/RPC2", "/rpc"] {
            let answer = try await router.answer(path, method: .GET)
            #expect(answer.status == .methodNotAllowed, "\(path)")
        }
    }

    // MARK: - /rpc

    @Test func singleEndpoint() async throws {
        let sum = try await router.answer("/rpc", body: #"{"fun": "add", "args": [1, 2]}"#)
        #expect(sum.status == .ok)
        #expect(sum.json == ["ret": 3])
        let keywords = try await router.answer("/rpc", body: #"{"fun": "test_args", "args": ["a", "b"], "kwargs": {"name": "n"}}"#)
        #expect(keywords.json?["ret"] != nil)
        for (body, status, code) in [
            (#"{"fun": "nope"}"#, 404, "unknown_function"),
            (#"{"fun": "add", "args": [1]}"#, 422, "invalid_arguments"),
            (#"{"args": [1, 2]}"#, 400, "bad_request"),
            (#"{"fun": "add", "args": {"a": 1}}"#, 400, "bad_request"),
            (#"{"fun": "add", "bogus": 1}"#, 400, "bad_request"),
            (#"[1]"#, 400, "bad_request"),
            (#"{"fun": "add""#, 400, "bad_request"),
            (#"{"fun": "fail", "args": ["no"]}"#, 500, "function_error"),
        ] {
            let answer = try await router.answer("/rpc", body: body)
            #expect(Int(answer.status.code) == status, "\(body)")
            #expect(answer.json?["error"]?["code"]?.stringValue == code, "\(body)")
        }
    }

    @Test func anMQFunctionWithoutAJobQueueIsUnavailableOnEveryProtocol() async throws {
        let rpc = try await router.answer("/rpc", body: #"{"fun": "test_mq", "args": [1, 2]}"#)
        #expect(rpc.status == .serviceUnavailable)
        let jsonRPC = try await router.answer("/jsonrpc", body: #"{"jsonrpc": "2.0", "method": "test_mq", "params": [1, 2], "id": 1}"#)
        #expect(jsonRPC.json?["error"]?["data"]?["code"] == "unavailable")
    }

    // MARK: - XML-RPC

    static func methodCall(_ name: String, _ params: String...) -> String {
        "<?xml version=\"1.0\"?><methodCall><methodName>\(name)</methodName><params>"
            + params.map { "<param><value>\($0)</value></param>" }.joined() + "</params></methodCall>"
    }

    @Test func xmlRPCRoundTripsEveryType() async throws {
        let call = Self.methodCall(
            "echo",
            """
            <struct>
              <member><name>int</name><value><int>-7</int></value></member>
              <member><name>i4</name><value><i4> 12 </i4></value></member>
              <member><name>i8</name><value><i8>9000000000</i8></value></member>
              <member><name>yes</name><value><boolean>1</boolean></value></member>
              <member><name>no</name><value><boolean>0</boolean></value></member>
              <member><name>typed</name><value><string>a &lt;b&gt; &amp; &#233;&#x4E2D;</string></value></member>
              <member><name>untyped</name><value>plain text</value></member>
              <member><name>double</name><value><double>2.5</double></value></member>
              <member><name>when</name><value><dateTime.iso8601>20261203T10:00:00</dateTime.iso8601></value></member>
              <member><name>bytes</name><value><base64>aGVsbG8=</base64></value></member>
              <member><name>list</name><value><array><data><value><int>1</int></value><value>two</value></data></array></value></member>
              <member><name>nothing</name><value><nil/></value></member>
              <member><name>cdata</name><value><string><![CDATA[<raw>]]></string></value></member>
            </struct>
            """)
        let answer = try await router.answer("/RPC2", body: call, headers: ["Content-Type": "text/xml"])
        #expect(answer.status == .ok)
        #expect(answer.contentType == "text/xml")
        let text = answer.text
        for fragment in [
            "<member><name>int</name><value><int>-7</int></value></member>", "<name>i4</name><value><int>12</int></value>",
            "<name>i8</name><value><i8>9000000000</i8></value>", "<name>yes</name><value><boolean>1</boolean></value>",
            "<name>no</name><value><boolean>0</boolean></value>", "<value><string>a &lt;b&gt; &amp; é中</string></value>",
            "<name>untyped</name><value><string>plain text</string></value>", "<name>double</name><value><double>2.5</double></value>",
            "<value><string>20261203T10:00:00</string></value>", "<name>bytes</name><value><string>hello</string></value>",
            "<array><data><value><int>1</int></value><value><string>two</string></value></data></array>",
            "<name>nothing</name><value><nil/></value>", "<value><string>&lt;raw&gt;</string></value>",
        ] {
            #expect(text.contains(fragment), "\(fragment) not in \(text)")
        }
    }

    @Test func xmlRPCFaults() async throws {
        func fault(_ body: String) async throws -> Int? {
            let answer = try await router.answer("/RPC2", body: body, headers: ["Content-Type": "text/xml"])
            #expect(answer.status == .ok)
            let text = answer.text
            guard text.contains("<fault>"), let start = text.range(of: "<name>faultCode</name><value><int>"),
                let end = text[start.upperBound...].firstIndex(of: "<")
            else { return nil }
            return Int(text[start.upperBound..<end])
        }
        #expect(try await fault("<methodCall><methodName>add</methodName>") == -32700)
        #expect(try await fault("not xml at all") == -32700)
        #expect(try await fault(Self.methodCall("nope")) == -32601)
        #expect(try await fault(Self.methodCall("add", "<int>1</int>")) == -32602)
        #expect(try await fault(Self.methodCall("add", "<int>1</int>", "<string>2</string>")) == -32602)
        #expect(try await fault(Self.methodCall("add", "<int>x</int>", "<int>2</int>")) == -32602)
        #expect(try await fault(Self.methodCall("add", "<bogus>1</bogus>", "<int>2</int>")) == -32602)
        #expect(try await fault(Self.methodCall("fail", "<string>boom</string>")) == -32500)
        #expect(try await fault(Self.methodCall("add", "<int>9223372036854775807</int>", "<int>1</int>")) == -32500)
    }

    @Test func xmlRPCRefusesDTDsEntitiesDepthAndBadUTF8() async throws {
        let bomb = """
            <?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
            <methodCall><methodName>echo</methodName><params><param><value><string>&lol2;</string></value></param></params></methodCall>
            """
        let external = """
            <?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <methodCall><methodName>echo</methodName><params><param><value>&xxe;</value></param></params></methodCall>
            """
        let undeclared = Self.methodCall("echo", "<string>&lol;</string>")
        let deep = Self.methodCall("echo", String(repeating: "<array><data><value>", count: 40) + "1" + String(repeating: "</value></data></array>", count: 40))
        for body in [bomb, external, undeclared, deep] {
            let answer = try await router.answer("/RPC2", body: body, headers: ["Content-Type": "text/xml"])
            #expect(answer.text.contains("<name>faultCode</name><value><int>-32700</int>"), "\(answer.text)")
            #expect(!answer.text.contains("root:"))
        }
        let badUTF8 = Array(Self.methodCall("echo", "<string>x</string>").utf8) + [0xC3, 0x28]
        let answer = try await router.answer("/RPC2", bytes: badUTF8)
        #expect(answer.text.contains("-32700"))
    }

    @Test func xmlRPCIntrospection() async throws {
        let methods = try await router.answer("/RPC2", body: Self.methodCall("system.listMethods")).text
        for name in ["add", "test_mq", "system.multicall", "system.methodHelp"] {
            #expect(methods.contains("<value><string>\(name)</string></value>"))
        }
        let help = try await router.answer("/RPC2", body: Self.methodCall("system.methodHelp", "<string>add</string>")).text
        #expect(help.contains("<string>add(a: int, b: int)</string>"))
        let signature = try await router.answer("/RPC2", body: Self.methodCall("system.methodSignature", "<string>add</string>")).text
        #expect(signature.contains("<array><data><value><array><data><value><string>undef</string></value><value><string>int</string></value>"))
        let unknown = try await router.answer("/RPC2", body: Self.methodCall("system.methodHelp", "<string>nope</string>")).text
        #expect(unknown.contains("-32601"))
    }

    @Test func xmlRPCMulticallAnswersEachInOrder() async throws {
        func entry(_ name: String, _ params: String) -> String {
            "<value><struct><member><name>methodName</name><value>\(name)</value></member>"
                + "<member><name>params</name><value><array><data>\(params)</data></array></value></member></struct></value>"
        }
        let entries = [
            entry("slow_echo", "<value><double>0.1</double></value><value>late</value>"), entry("add", "<value><int>1</int></value>"),
            entry("add", "<value><int>1</int></value><value><int>2</int></value>"), entry("system.multicall", ""),
        ]
        let body = Self.methodCall("system.multicall", "<array><data>" + entries.joined() + "</data></array>")
        let text = try await router.answer("/RPC2", body: body).text
        let late = try #require(text.range(of: "<value><array><data><value><string>late</string></value></data></array></value>"))
        let badParams = try #require(text.range(of: "<int>-32602</int>"))
        let three = try #require(text.range(of: "<value><array><data><value><int>3</int></value></data></array></value>"))
        #expect(late.lowerBound < badParams.lowerBound)
        #expect(badParams.lowerBound < three.lowerBound)
        #expect(text.components(separatedBy: "-32602").count == 3)  // the bad call and the nested multicall
    }

    @Test func aFourThousandCallMulticallIsAnsweredWhole() async throws {
        let entry =
            "<value><struct><member><name>methodName</name><value>add</value></member><member><name>params</name><value><array><data><value><int>1</int></value><value><int>2</int></value></data></array></value></member></struct></value>"
        let body = Self.methodCall("system.multicall", "<array><data>" + String(repeating: entry, count: 4_000) + "</data></array>")
        #expect(body.utf8.count < 1_048_576)
        let text = try await router.answer("/RPC2", body: body).text
        #expect(text.components(separatedBy: "<int>3</int>").count == 4_001)
    }
}

