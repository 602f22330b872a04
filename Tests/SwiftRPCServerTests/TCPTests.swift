import Foundation
import Logging
import NIOCore
import SwiftRPC
import SwiftRPCClient
import SwiftRPCServer
import Testing
import TestSupport

/// A raw TCP connection to the front's TCP port, framing by hand exactly as a test says.
struct TCPTestConnection {
    let raw: RawHTTPConnection

    init(port: Int, receiveTimeout: Duration = .seconds(10)) throws {
        raw = try RawHTTPConnection(port: port, receiveTimeout: receiveTimeout)
    }

    static func frame(_ json: String) -> [UInt8] {
        let bytes = Array(json.utf8)
        return withUnsafeBytes(of: UInt32(bytes.count).littleEndian, Array.init) + bytes
    }

    func sendFrame(_ json: String) async throws { try await raw.send(Self.frame(json)) }

    func readFrame() async throws -> JSONValue? {
        guard let head = try await raw.read(count: 4) else { return nil }
        let length = head.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
        guard let body = try await raw.read(count: length) else { return nil }
        return try JSONParser.parse(body)
    }

    func readLine() async throws -> JSONValue? {
        guard let line = try await raw.readLine() else { return nil }
        return try JSONParser.parse(line)
    }

    func isClosedByServer() async throws -> Bool { try await raw.isClosedByServer() }
}

@Suite("TCP transport")
struct TCPTests {
    static func registry() -> FunctionRegistry {
        exampleRegistry { registry in
            registry.registerAsync("slow_echo", Param<Double>("seconds"), Param<JSONValue>("value")) { seconds, value in
                try await Task.sleep(for: .seconds(seconds))
                return value
            }
        }
    }

    /// A front with a TCP port; `body` gets the TCP port and the HTTP port.
    func withTCPServer(
        router: RPCRouter.Configuration = .init(), maxBodyBytes: Int = 1_048_576, maxConnections: Int = 10_000, perIP: Int = 0,
        idleTimeout: Duration = .seconds(60), _ body: (_ tcpPort: Int, _ httpPort: Int) async throws -> Void
    ) async throws {
        let configuration = RPCServer.Configuration(
            host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes, maxConnections: maxConnections, maxConnectionsPerIP: perIP, tcpPort: 0,
            tcpIdleTimeout: idleTimeout)
        try await withTestServer(registry: Self.registry(), router: router, server: configuration) { httpPort, server in
            try await body(try #require(server.tcpAddress?.port), httpPort)
        }
    }

    @Test func lengthPrefixedCallsPingIDsAndArgumentForms() async throws {
        try await withTCPServer { port, _ in
            let connection = try TCPTestConnection(port: port)
            try await connection.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await connection.readFrame() == ["out": "add", "result": 3])
            try await connection.sendFrame(#"{"in": "add", "params": {"a": 40, "b": 2}, "id": 7}"#)
            #expect(try await connection.readFrame() == ["out": "add", "result": 42, "id": 7])
            try await connection.sendFrame(#"{"in": "add", "args": [1], "kwargs": {"b": 5}, "id": "x"}"#)
            #expect(try await connection.readFrame() == ["out": "add", "result": 6, "id": "x"])
            try await connection.sendFrame(#"{"in": "test", "params": "one"}"#)
            #expect(try await connection.readFrame() == ["out": "test", "result": "this is test one"])
            try await connection.sendFrame(#"{"in": "ping", "params": {"n": 1}}"#)
            #expect(try await connection.readFrame() == ["out": "pong", "result": ["n": 1]])
            try await connection.sendFrame(#"{"in": "nope"}"#)
            #expect(try await connection.readFrame()?["error"]?["code"] == "unknown_function")
            try await connection.sendFrame(#"{"in": "add", "params": [1]}"#)
            #expect(try await connection.readFrame()?["error"]?["code"] == "invalid_arguments")
            try await connection.sendFrame(#"{"in": "fail", "params": ["boom"]}"#)
            #expect(try await connection.readFrame() == ["out": "fail", "error": ["code": "function_error", "message": "boom"]])
            try await connection.sendFrame(#"{"in": "test_mq", "params": [1, 2]}"#)
            #expect(try await connection.readFrame()?["error"]?["code"] == "unavailable")  // this front has no job queue
        }
    }

    @Test func aFirstFrameOf123BytesIsLengthPrefixedThoughItsPrefixStartsWithABrace() async throws {
        try await withTCPServer { port, _ in
            let padding = String(repeating: "a", count: 123 - #"{"in": "echo", "params": [""]}"#.utf8.count)
            let json = #"{"in": "echo", "params": [""# + padding + #""]}"#
            #expect(json.utf8.count == 123)
            #expect(TCPTestConnection.frame(json).first == UInt8(ascii: "{"))
            let connection = try TCPTestConnection(port: port)
            try await connection.sendFrame(json)
            #expect(try await connection.readFrame() == ["out": "echo", "result": .string(padding)])
        }
    }

    @Test func newlineDelimitedJSON() async throws {
        try await withTCPServer { port, _ in
            let connection = try TCPTestConnection(port: port)
            try await connection.raw.send("{\"in\": \"add\", \"params\": [2, 3]}\r\n{\"in\": \"ping\"}\n")
            #expect(try await connection.readLine() == ["out": "add", "result": 5])
            #expect(try await connection.readLine() == ["out": "pong", "result": nil])
            try await connection.raw.send("not json\n")
            #expect(try await connection.readLine()?["error"]?["code"] == "bad_request")
            try await connection.raw.send("{\"in\": \"echo\", \"params\": [\"a\\nb\"]}\n")
            #expect(try await connection.readLine() == ["out": "echo", "result": "a\nb"])

            // A first line shorter than 4 bytes still chooses the line framing.
            let short = try TCPTestConnection(port: port)
            try await short.raw.send("{}\n")
            #expect(try await short.readLine()?["error"]?["code"] == "bad_request")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withTCPServer { port, _ in
            let connection = try TCPTestConnection(port: port)
            let requests = [
                #"{"in": "slow_echo", "params": [0.3, "first"]}"#, #"{"in": "add", "params": [1, 1]}"#,
                #"{"in": "slow_echo", "params": [0.1, "third"]}"#, #"{"in": "bad"#, #"{"in": "test_block", "params": [0.05]}"#,
                #"{"in": "ping", "params": 6}"#,
            ]
            try await connection.raw.send(requests.flatMap(TCPTestConnection.frame))
            #expect(try await connection.readFrame() == ["out": "slow_echo", "result": "first"])
            #expect(try await connection.readFrame() == ["out": "add", "result": 2])
            #expect(try await connection.readFrame() == ["out": "slow_echo", "result": "third"])
            #expect(try await connection.readFrame()?["error"]?["code"] == "bad_request")
            #expect(try await connection.readFrame()?["out"] == "test_block")
            #expect(try await connection.readFrame() == ["out": "pong", "result": 6])
        }
    }

    @Test func badFramesTooLargeFramesAndTruncatedFrames() async throws {
        try await withTCPServer(maxBodyBytes: 100) { port, _ in
            // Bad JSON and bad shapes answer bad_request; the connection stays open.
            let connection = try TCPTestConnection(port: port)
            for bad in ["nope", "[1, 2]", #"{"params": [1]}"#, #"{"in": "add", "args": {"a": 1}}"#, #"{"in": "add", "id": [1]}"#, "\u{0}\u{1}"] {
                try await connection.sendFrame(bad)
                #expect(try await connection.readFrame()?["error"]?["code"] == "bad_request", "\(bad)")
            }
            try await connection.raw.send(TCPTestConnection.frame(#"{"in": "echo", "params": ["x"]}"#) + [0x04, 0, 0, 0, 0xFF, 0xFE, 0x22, 0x22])
            #expect(try await connection.readFrame() == ["out": "echo", "result": "x"])
            #expect(try await connection.readFrame()?["error"]?["code"] == "bad_request")  // not UTF-8

            // A length of 2^32 - 1 is refused as soon as its prefix arrives, then the connection closes.
            let huge = try TCPTestConnection(port: port)
            try await huge.raw.send([0xFF, 0xFF, 0xFF, 0xFF, UInt8(ascii: "{")])
            #expect(try await huge.readFrame()?["error"]?["code"] == "payload_too_large")
            #expect(try await huge.isClosedByServer())

            // Exactly the limit is allowed; one byte more is not.
            let exact = try TCPTestConnection(port: port)
            let padding = String(repeating: "b", count: 100 - #"{"in": "echo", "params": [""]}"#.utf8.count)
            try await exact.sendFrame(#"{"in": "echo", "params": [""# + padding + #""]}"#)
            #expect(try await exact.readFrame()?["result"] == .string(padding))
            try await exact.sendFrame(#"{"in": "echo", "params": [""# + padding + #"b"]}"#)
            #expect(try await exact.readFrame()?["error"]?["code"] == "payload_too_large")
            #expect(try await exact.isClosedByServer())

            // A line longer than the limit, with no newline in sight.
            let long = try TCPTestConnection(port: port)
            try await long.raw.send(#"{"in": "echo", "params": [""# + String(repeating: "c", count: 300))
            #expect(try await long.readLine()?["error"]?["code"] == "payload_too_large")
            #expect(try await long.isClosedByServer())

            // A frame cut off by the client: the front drops it and goes on serving.
            let cut = try TCPTestConnection(port: port)
            try await cut.raw.send([50, 0, 0, 0] + Array(#"{"in": "add""#.utf8))
            let next = try TCPTestConnection(port: port)
            try await next.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await next.readFrame()?["result"] == 3)
        }
    }

    @Test func deepNestingIsABadRequest() async throws {
        try await withTCPServer { port, _ in
            let connection = try TCPTestConnection(port: port)
            let deep = #"{"in": "echo", "params": ["# + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "]}"
            try await connection.sendFrame(deep)
            #expect(try await connection.readFrame()?["error"]?["code"] == "bad_request")
        }
    }

    @Test func idleConnectionsCloseAndPingKeepsThemOpen() async throws {
        // Pings every 0.4 s against a 2 s timeout: wide enough for a loaded machine.
        try await withTCPServer(idleTimeout: .seconds(2)) { port, _ in
            let pinging = try TCPTestConnection(port: port)
            let idle = try TCPTestConnection(port: port)
            for _ in 0..<8 {
                try await Task.sleep(for: .milliseconds(400))
                try await pinging.sendFrame(#"{"in": "ping"}"#)
                #expect(try await pinging.readFrame() == ["out": "pong", "result": nil])
            }
            #expect(try await idle.isClosedByServer())
            try await pinging.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await pinging.readFrame()?["result"] == 3)
        }
    }

    @Test func connectionLimitsCountHTTPAndTCPTogether() async throws {
        try await withTCPServer(maxConnections: 2) { tcpPort, httpPort in
            let http = try RawHTTPConnection(port: httpPort)
            try await http.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await http.readResponse()?.status == 200)
            let tcp = try TCPTestConnection(port: tcpPort)
            try await tcp.sendFrame(#"{"in": "ping"}"#)
            #expect(try await tcp.readFrame()?["out"] == "pong")
            // Both slots are taken: a third connection of either kind is turned away.
            let refusedTCP = try TCPTestConnection(port: tcpPort)
            #expect(try await refusedTCP.isClosedByServer())
            let refusedHTTP = try await httpRequest(port: httpPort, method: "GET", path: "/healthz")
            #expect(refusedHTTP.status == 503)
        }
        try await withTCPServer(perIP: 1) { tcpPort, httpPort in
            let first = try TCPTestConnection(port: tcpPort)
            try await first.sendFrame(#"{"in": "ping"}"#)
            #expect(try await first.readFrame()?["out"] == "pong")
            #expect(try await TCPTestConnection(port: tcpPort).isClosedByServer())
            let refusedHTTP = try await httpRequest(port: httpPort, method: "GET", path: "/healthz")
            #expect(refusedHTTP.status == 503)
            #expect(refusedHTTP.errorCode == "unavailable")
        }
    }

    @Test func allowedIPsApply() async throws {
        try await withTCPServer(router: .init(accessPolicy: AccessPolicy(allowedNetworks: [CIDR("10.0.0.0/8")!]))) { port, _ in
            let connection = try TCPTestConnection(port: port)
            try await connection.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await connection.readFrame()?["error"]?["code"] == "forbidden")
            #expect(try await connection.isClosedByServer())
        }
        try await withTCPServer(router: .init(accessPolicy: AccessPolicy(allowedNetworks: [CIDR("127.0.0.0/8")!]))) { port, _ in
            let connection = try TCPTestConnection(port: port)
            try await connection.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await connection.readFrame()?["result"] == 3)
        }
    }

    @Test func withTokensTheFirstFrameMustAuthenticate() async throws {
        try await withTCPServer(router: .init(accessPolicy: AccessPolicy(tokens: ["s3cret"]))) { port, _ in
            let unauthenticated = try TCPTestConnection(port: port)
            try await unauthenticated.sendFrame(#"{"in": "add", "params": [1, 2]}"#)
            #expect(try await unauthenticated.readFrame()?["error"]?["code"] == "unauthorized")
            #expect(try await unauthenticated.isClosedByServer())

            let wrong = try TCPTestConnection(port: port)
            try await wrong.sendFrame(#"{"in": "auth", "params": {"token": "guess"}}"#)
            #expect(try await wrong.readFrame()?["error"]?["code"] == "unauthorized")
            #expect(try await wrong.isClosedByServer())

            let right = try TCPTestConnection(port: port)
            try await right.raw.send(
                TCPTestConnection.frame(#"{"in": "auth", "params": {"token": "s3cret"}}"#) + TCPTestConnection.frame(#"{"in": "add", "params": [1, 2]}"#))
            #expect(try await right.readFrame() == ["out": "auth", "result": "ok"])
            #expect(try await right.readFrame()?["result"] == 3)

            // The Swift client authenticates by itself.
            let client = RPCClient(tcpHost: "127.0.0.1", port: port, configuration: .init(token: "s3cret"))
            #expect(try await client.call("add", 2, 3) as Int == 5)
            await client.close()
            let refused = RPCClient(tcpHost: "127.0.0.1", port: port, configuration: .init(token: "guess"))
            await #expect(throws: RPCClientError.self) { _ = try await refused.call("add", 2, 3) as Int }
            await refused.close()
        }
    }

    @Test func theSwiftClientOverTCPHasTheSameCallAPI() async throws {
        try await withTCPServer { port, _ in
            let client = RPCClient(tcpHost: "127.0.0.1", port: port)
            #expect(try await client.call("add", 20, 22) as Int == 42)
            #expect(try await client.test("hi") == "this is test hi")
            #expect(try await client.test_args("welcome", "x", name: "nima") == "this is test welcome nima")
            let failure = await #expect(throws: RPCClientError.self) { _ = try await client.call("fail", "boom") as JSONValue }
            #expect(failure?.code == "function_error")
            #expect(failure?.message == "boom")
            // Concurrent calls share the one connection, pipelined.
            let sums = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<50 { group.addTask { try await client.call("add", index, 1) } }
                return try await group.reduce(0, +)
            }
            #expect(sums == (1...50).reduce(0, +))
            await client.close()
            // After close, the next call connects again.
            #expect(try await client.call("add", 1, 1) as Int == 2)
            await client.close()
        }
    }
}
