import ExampleApp
import Foundation
import Logging
import NIOCore
import Redis
import Synchronization
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCServer
import Testing
import TestSupport

/// Pool calls that block until the test releases them, counting how many run at once.
final class Gate: Sendable {
    let running = Atomic<Int>(0)
    let mostAtOnce = Atomic<Int>(0)
    private let semaphore = DispatchSemaphore(value: 0)

    func pass() throws {
        let now = running.wrappingAdd(1, ordering: .relaxed).newValue
        mostAtOnce.max(now, ordering: .relaxed)
        defer { running.wrappingSubtract(1, ordering: .relaxed) }
        guard semaphore.wait(timeout: .now() + 20) == .success else { throw FunctionError("the gate was never opened") }
    }

    func open(_ count: Int) {
        for _ in 0..<count { semaphore.signal() }
    }

    func waitUntilRunning(_ count: Int) async throws {
        for _ in 0..<400 where running.load(ordering: .relaxed) < count {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(running.load(ordering: .relaxed) == count)
    }
}

@Suite("HTTP front")
struct ServerTests {
    static let logger = Logger(label: "server-tests")

    static func registry(gate: Gate = Gate()) -> FunctionRegistry {
        exampleRegistry { registry in
        registry.registerAsync("slow_async", .double("seconds"), timeout: .seconds(1)) { args in
            try await Task.sleep(for: .seconds(try args.double("seconds")))
            return "woke"
        }
        registry.registerPool("slow_pool", .double("seconds"), timeout: .seconds(1)) { args in
            Thread.sleep(forTimeInterval: try args.double("seconds"))
            return "woke"
        }
        registry.registerPool("gate") { _ in
            try gate.pass()
            return "passed"
        }
        }
    }

    func withServer(
        gate: Gate = Gate(), jobs: (any JobQueueDriver)? = nil, router routerConfiguration: RPCRouter.Configuration = .init(),
        maxBodyBytes: Int = 1_048_576, _ body: (Int, RPCServer) async throws -> Void
    ) async throws {
        try await withTestServer(
            registry: Self.registry(gate: gate), jobs: jobs, router: routerConfiguration,
            server: .init(host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes), body)
    }

    // MARK: - SPEC §3 answers and error rows

    @Test func inlineAnswerShape() async throws {
        try await withServer { port, _ in
            let response = try await httpRequest(port: port, path: "/test_args", body: #"{"args": ["welcome", "x"], "kwargs": {"name": "nima"}}"#)
            #expect(response.status == 200)
            #expect(response.header("content-type") == "application/json")
            #expect(response.text == #"{"response":"this is test welcome nima"}"#)
        }
    }

    @Test func badRequest400() async throws {
        try await withServer { port, _ in
            let response = try await httpRequest(port: port, path: "/add", body: #"{"args": [1,"#)
            #expect(response.status == 400)
            #expect(response.errorCode == "bad_request")
        }
    }

    @Test func unknownFunction404() async throws {
        try await withServer { port, _ in
            for path in ["/nope", "/test/", "/a%20b", "/"] {
                let response = try await httpRequest(port: port, path: path, body: "{}")
                #expect(response.status == 404, "\(path)")
                #expect(response.errorCode == "unknown_function", "\(path)")
            }
        }
    }

    @Test func methodNotAllowed405() async throws {
        try await withServer { port, _ in
            let response = try await httpRequest(port: port, method: "DELETE", path: "/add")
            #expect(response.status == 405)
            #expect(response.errorCode == "method_not_allowed")
        }
    }

    @Test func payloadTooLarge413() async throws {
        try await withServer(maxBodyBytes: 20) { port, _ in
            let exactly = #"{"args": [123456789]}"#.prefix(20)  // 20 bytes, not valid JSON: 400, not 413
            #expect(exactly.utf8.count == 20)
            let atLimit = try await httpRequest(port: port, path: "/echo", body: String(exactly))
            #expect(atLimit.status == 400)
            let over = try await httpRequest(port: port, path: "/echo", body: #"{"args": [1234567890]}"#)
            #expect(over.status == 413)
            #expect(over.errorCode == "payload_too_large")

            // A chunked body with no Content-Length is cut off while it streams in.
            let connection = try RawHTTPConnection(port: port)
            let chunks = [#"{"args": [12345"#, #"67890123456789]}"#]
            let chunked = chunks.map { String($0.utf8.count, radix: 16) + "\r\n" + $0 + "\r\n" }.joined()
            try await connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + "0\r\n\r\n")
            let streamed = try await connection.readResponse()
            #expect(streamed?.status == 413)
            #expect(try await connection.isClosedByServer())
        }
    }

    @Test func aClientThatSendsAWholeOversizedBodyBeforeReadingGetsThe413() async throws {
        try await withServer(maxBodyBytes: 1024) { port, _ in
            // The server answers while the body is still coming, and must read the rest
            // instead of closing with unread bytes (which resets the connection).
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 16 << 20)
            let connection = try RawHTTPConnection(port: port)
            try await connection.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let answer = try await connection.readResponse()
            #expect(answer?.status == 413)
            #expect(answer?.errorCode == "payload_too_large")
            #expect(try await connection.isClosedByServer())
        }
    }

    @Test func invalidArguments422() async throws {
        try await withServer { port, _ in
            for body in [#"{"args": [1]}"#, #"{"args": [1, "x"]}"#, #"{"args": [1, 2], "kwargs": {"c": 3}}"#, #"{"args": [1, 2], "kwargs": {"a": 3}}"#] {
                let response = try await httpRequest(port: port, path: "/add", body: body)
                #expect(response.status == 422, "\(body)")
                #expect(response.errorCode == "invalid_arguments", "\(body)")
            }
        }
    }

    @Test func functionError500() async throws {
        try await withServer { port, _ in
            let response = try await httpRequest(port: port, path: "/fail", body: #"{"args": ["¡boom!"]}"#)
            #expect(response.status == 500)
            #expect(response.json == ["error": ["code": "function_error", "message": "¡boom!"]])
            let overflow = try await httpRequest(port: port, path: "/add", body: #"{"args": [9223372036854775807, 1]}"#)
            #expect(overflow.status == 500)
            #expect(overflow.errorCode == "function_error")
        }
    }

    @Test func poolFull503() async throws {
        let gate = Gate()
        try await withServer(gate: gate, router: .init(poolThreads: 1, poolQueueLimit: 0)) { port, _ in
            async let first = httpRequest(port: port, path: "/gate")
            try await gate.waitUntilRunning(1)
            let refused = try await httpRequest(port: port, path: "/gate")
            #expect(refused.status == 503)
            #expect(refused.errorCode == "unavailable")
            gate.open(1)
            #expect(try await first.status == 200)
        }
    }

    @Test func timeout504() async throws {
        try await withServer { port, _ in
            for path in ["/slow_async", "/slow_pool"] {
                // Wide margins both ways (1 s timeout, 5 s or 0 s of sleep), so a loaded machine
                // cannot turn one into the other.
                let late = try await httpRequest(port: port, path: path, body: #"{"args": [5]}"#)
                #expect(late.status == 504, "\(path)")
                #expect(late.errorCode == "timeout", "\(path)")
                let inTime = try await httpRequest(port: port, path: path, body: #"{"args": [0]}"#)
                #expect(inTime.response == "woke", "\(path)")
            }
        }
    }

    // MARK: - Modes

    @Test func poolCallsRunInParallelAndLeaveTheEventLoopsFree() async throws {
        let gate = Gate()
        try await withServer(gate: gate, router: .init(poolThreads: 8)) { port, _ in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await httpRequest(port: port, path: "/gate").status } }
                try await gate.waitUntilRunning(8)
                // All pool threads are blocked; inline and async calls still answer.
                #expect(try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#).response == 3)
                #expect(try await httpRequest(port: port, path: "/test_async", body: #"{"args": ["z"]}"#).response == "this is test_async async z")
                gate.open(8)
                for try await status in group { #expect(status == 200) }
            }
            #expect(gate.mostAtOnce.load(ordering: .relaxed) == 8)
        }
    }

    // MARK: - HTTP/1.1

    @Test func keepAliveAndPipelinedRequestsAnswerInOrder() async throws {
        try await withServer { port, _ in
            let connection = try RawHTTPConnection(port: port)
            let one = "POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"args\":[1,2]}\n"
            let slow = "POST /test_async HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"args\":[\"s\"]}"
            let two = "GET /add?args=40&args=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            try await connection.send(one + slow + two)
            #expect(try await connection.readResponse()?.response == 3)
            #expect(try await connection.readResponse()?.response == "this is test_async async s")
            #expect(try await connection.readResponse()?.response == 42)
        }
    }

    /// Many requests sent ahead of a slow one, and a malformed one among them: every answer
    /// comes in order, the 400 in its turn, and the connection closes after it.
    @Test func requestsSentAheadAreAnsweredInTheirTurnEvenAMalformedOne() async throws {
        try await withServer { port, _ in
            let connection = try RawHTTPConnection(port: port)
            let slow = "POST /test_async HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{\"args\":[\"s\"]}"
            let adds = (0..<200).map { "GET /add?args=\($0)&args=1 HTTP/1.1\r\nHost: x\r\n\r\n" }
            try await connection.send(slow + adds.joined() + slow + "NOT HTTP AT ALL\r\n\r\n" + adds[0])
            #expect(try await connection.readResponse()?.response == "this is test_async async s")
            for n in 0..<200 { #expect(try await connection.readResponse()?.response == .int(n + 1)) }
            #expect(try await connection.readResponse()?.response == "this is test_async async s")
            let malformed = try await connection.readResponse()
            #expect(malformed?.status == 400 && malformed?.errorCode == "bad_request")
            #expect(try await connection.isClosedByServer())
        }
    }

    /// At shutdown an idle keep-alive connection is closed, and one with a call in hand gets
    /// its answer, marked as the last, before it closes.
    @Test func shutdownClosesIdleConnectionsAndEndsBusyOnesAfterTheirAnswer() async throws {
        let gate = Gate()
        try await withServer(gate: gate) { port, server in
            let idle = try RawHTTPConnection(port: port)
            let busy = try RawHTTPConnection(port: port)
            let add = "GET /add?args=1&args=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            for connection in [idle, busy] {
                try await connection.send(add)
                #expect(try await connection.readResponse()?.response == 3)
            }
            try await busy.send("POST /gate HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            try await gate.waitUntilRunning(1)
            async let stopped: Void = server.shutdown()
            #expect(try await idle.isClosedByServer())
            gate.open(1)
            let last = try await busy.readResponse()
            #expect(last?.response == "passed" && last?.header("connection") == "close")
            #expect(try await busy.isClosedByServer())
            await stopped
        }
    }

    @Test func builtInRoutes() async throws {
        try await withServer { port, _ in
            _ = try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#)
            _ = try await httpRequest(port: port, path: "/add", body: #"{"args": [1]}"#)
            let functions = try await httpRequest(port: port, method: "GET", path: "/functions")
            let add = functions.json?["functions"].flatMap { list -> JSONValue? in
                guard case .array(let entries) = list else { return nil }
                return entries.first { $0["name"] == "add" }
            }
            #expect(add == ["name": "add", "mode": "sync", "parameters": [["name": "a", "type": "int"], ["name": "b", "type": "int"]]])
            let routes = try await httpRequest(port: port, method: "GET", path: "/_getroutes")
            #expect(routes.response?.jsonText.contains("\"test_block\"") == true)
            let metrics = try await httpRequest(port: port, method: "GET", path: "/metrics")
            #expect(metrics.header("content-type")?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains(#"swiftrpc_calls_total{func="add",mode="sync",code="ok"} 1"#))
            #expect(metrics.text.contains(#"swiftrpc_calls_total{func="add",mode="sync",code="invalid_arguments"} 1"#))
            #expect(metrics.text.contains(#"swiftrpc_call_duration_seconds_count{func="add",mode="sync"} 2"#))
            let health = try await httpRequest(port: port, method: "GET", path: "/healthz")
            #expect(health.json == ["status": "ok"])
        }
    }

    @Test func gracefulShutdownAnswersTheCallsInFlight() async throws {
        let gate = Gate()
        try await withServer(gate: gate) { port, server in
            async let inFlight = httpRequest(port: port, path: "/gate")
            try await gate.waitUntilRunning(1)
            async let stopped: Void = server.shutdown()
            // The listener closes while the call is still in hand (polled: under load the
            // shutdown task may take a while to start).
            for _ in 0..<200 where server.isListening { try await Task.sleep(for: .milliseconds(10)) }
            #expect(server.isListening == false)
            gate.open(1)
            #expect(try await inFlight.response == "passed")
            #expect(server.isListening == false)
            await stopped
            #expect(server.isListening == false)
        }
    }

    // MARK: - Redis going away and coming back

    @Test func aWaitThatRunsOutAnswersTheJobAsItIs() async throws {
        let redisServer = try await RedisServer.start()
        let client = RedisClient(configuration: redisServer.configuration, logger: Self.logger)
        try await withServer(jobs: RedisJobQueue(redis: client, logger: Self.logger)) { port, _ in
            // No worker runs: each wait ends at its deadline, on the request's event loop.
            let clock = ContinuousClock()
            let started = clock.now
            let enqueued = try await httpRequest(port: port, path: "/test_mq?wait=0.3", body: #"{"args": [2, 3]}"#)
            #expect(clock.now - started >= .milliseconds(290))
            #expect(enqueued.status == 202)
            #expect(enqueued.json?["status"] == "queued")
            let id = try #require(enqueued.json?["job_id"]?.stringValue)

            let read = try await httpRequest(port: port, method: "GET", path: "/jobs/\(id)?wait=0.3")
            #expect(read.status == 200)
            #expect(read.json?["status"] == "queued")
            #expect(clock.now - started >= .milliseconds(590))

            // Redis gone: the wait fails at once with 503 and the front keeps answering.
            await redisServer.kill()
            #expect(try await httpRequest(port: port, path: "/test_mq?wait=5", body: #"{"args": [2, 3]}"#).status == 503)
            #expect(try await httpRequest(port: port, method: "GET", path: "/jobs/\(id)?wait=5").status == 503)
            #expect(try await httpRequest(port: port, path: "/add", body: #"{"args": [2, 2]}"#).response == 4)
        }
        await client.shutdown()
        await redisServer.stopAndRemove()
    }

    @Test func healthFollowsRedisAndInlineCallsKeepWorking() async throws {
        let redisServer = try await RedisServer.start()
        let client = RedisClient(configuration: redisServer.configuration, logger: Self.logger)
        try await withServer(jobs: RedisJobQueue(redis: client, logger: Self.logger)) { port, _ in
            #expect(try await httpRequest(port: port, method: "GET", path: "/healthz").json == ["status": "ok", "redis": "up"])

            await redisServer.kill()
            let down = try await httpRequest(port: port, method: "GET", path: "/healthz")
            #expect(down.status == 503)
            #expect(down.json == ["status": "degraded", "redis": "down"])
            #expect(try await httpRequest(port: port, path: "/add", body: #"{"args": [2, 2]}"#).response == 4)

            let restarted = try await RedisServer.start(port: redisServer.port, directory: redisServer.directory)
            #expect(try await httpRequest(port: port, method: "GET", path: "/healthz").status == 200)
            await restarted.stopAndRemove()
        }
        await client.shutdown()
    }
}
