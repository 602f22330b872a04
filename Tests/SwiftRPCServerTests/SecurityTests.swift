import ExampleApp
import Logging
import NIOCore
import NIOHTTP1
import Redis
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCServer
import Testing
import TestSupport

@Suite("Access filters and limits")
struct SecurityTests {
    static let logger = Logger(label: "security-tests")

    func withServer(
        policy: AccessPolicy = AccessPolicy(), maxConnections: Int = 10_000, jobs: (any JobQueueDriver)? = nil,
        idleTimeout: Duration = .seconds(60), requestTimeout: Duration = .seconds(30), _ body: (Int) async throws -> Void
    ) async throws {
        try await withTestServer(
            jobs: jobs, router: .init(accessPolicy: policy),
            server: .init(host: "127.0.0.1", port: 0, maxConnections: maxConnections, idleTimeout: idleTimeout, requestTimeout: requestTimeout)
        ) { port, _ in try await body(port) }
    }

    func add(_ port: Int, headers: [(String, String)] = []) async throws -> RawHTTPResponse {
        try await httpRequest(port: port, path: "/add", body: #"{"args": [1, 2]}"#, headers: headers)
    }

    // MARK: - Addresses

    @Test func cidrParsingAndMatching() throws {
        let v4 = try #require(CIDR("10.0.0.0/8"))
        #expect(v4.contains(IPAddress.parse("10.200.3.4")!))
        #expect(!v4.contains(IPAddress.parse("11.0.0.1")!))
        #expect(v4.contains(IPAddress.parse("::ffff:10.1.1.1")!))  // IPv4-mapped
        let v6 = try #require(CIDR("2001:db8::/32"))
        #expect(v6.contains(IPAddress.parse("2001:db8:1::5")!))
        #expect(!v6.contains(IPAddress.parse("2001:db9::1")!))
        #expect(!v6.contains(IPAddress.parse("10.0.0.1")!))
        #expect(CIDR("127.0.0.1")?.contains(IPAddress.parse("127.0.0.1")!) == true)
        #expect(CIDR("127.0.0.1")?.contains(IPAddress.parse("127.0.0.2")!) == false)
        #expect(CIDR("0.0.0.0/0")?.contains(IPAddress.parse("8.8.8.8")!) == true)
        for bad in ["300.1.1.1", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "abc", "", "::/129", "1.2.3.4/"] {
            #expect(CIDR(bad) == nil, "\(bad)")
        }
    }

    @Test func clientAddressComesFromProxyHeadersOnlyThroughTrustedProxies() {
        let policy = AccessPolicy(trustedProxies: [CIDR("10.0.0.0/8")!])
        func client(_ peer: String, _ headers: [(String, String)]) -> [UInt8]? {
            policy.clientAddress(headers: HTTPHeaders(headers), peer: peer)
        }
        // An untrusted peer's headers are ignored.
        #expect(client("203.0.113.9", [("X-Forwarded-For", "1.1.1.1"), ("X-Real-IP", "2.2.2.2")]) == IPAddress.parse("203.0.113.9"))
        // Through a trusted proxy: the rightmost hop that is not a trusted proxy.
        #expect(client("10.0.0.1", [("X-Forwarded-For", "6.6.6.6, 1.2.3.4, 10.0.0.7")]) == IPAddress.parse("1.2.3.4"))
        #expect(client("10.0.0.1", [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "1.2.3.4")]) == IPAddress.parse("1.2.3.4"))
        // All hops trusted: the leftmost.
        #expect(client("10.0.0.1", [("X-Forwarded-For", "10.0.0.3, 10.0.0.4")]) == IPAddress.parse("10.0.0.3"))
        #expect(client("10.0.0.1", [("X-Real-IP", "5.5.5.5")]) == IPAddress.parse("5.5.5.5"))
        #expect(client("10.0.0.1", []) == IPAddress.parse("10.0.0.1"))
        // Unparsable: no address (the filter answers 403).
        #expect(client("10.0.0.1", [("X-Forwarded-For", "not-an-ip")]) == nil)
        #expect(client("10.0.0.1", [("X-Real-IP", "999.1.1.1")]) == nil)
    }

    // MARK: - Filters over HTTP

    @Test func userAgentFilter() async throws {
        try await withServer(policy: AccessPolicy(allowedUserAgents: ["swift_rpc"])) { (port: Int) async throws in
            #expect(try await add(port, headers: [("User-Agent", "swift_rpc")]).response == 3)
            let refused = try await add(port, headers: [("User-Agent", "Swift_rpc")])
            #expect(refused.status == 403 && refused.errorCode == "forbidden")
            #expect(try await add(port).status == 403)  // no User-Agent at all
            // The health probe stays open; every other route is filtered.
            #expect(try await httpRequest(port: port, method: "GET", path: "/healthz").status == 200)
            #expect(try await httpRequest(port: port, method: "GET", path: "/functions").status == 403)
            #expect(try await httpRequest(port: port, method: "GET", path: "/nope").status == 403)
        }
    }

    @Test func ipFilterAllowedRefusedForgedAndThroughATrustedProxy() async throws {
        try await withServer(policy: AccessPolicy(allowedNetworks: [CIDR("127.0.0.1/32")!])) { (port: Int) async throws in
            #expect(try await add(port).response == 3)
        }
        try await withServer(policy: AccessPolicy(allowedNetworks: [CIDR("10.0.0.0/8")!])) { (port: Int) async throws in
            #expect(try await add(port).status == 403)
            // 127.0.0.1 is no trusted proxy, so a forged header changes nothing.
            #expect(try await add(port, headers: [("X-Forwarded-For", "10.1.2.3")]).status == 403)
            #expect(try await add(port, headers: [("X-Real-IP", "10.1.2.3")]).status == 403)
        }
        let behindProxy = AccessPolicy(allowedNetworks: [CIDR("10.0.0.0/8")!], trustedProxies: [CIDR("127.0.0.1")!])
        try await withServer(policy: behindProxy) { (port: Int) async throws in
            #expect(try await add(port, headers: [("X-Forwarded-For", "10.1.2.3")]).response == 3)
            #expect(try await add(port, headers: [("X-Forwarded-For", "10.1.2.3, 192.0.2.1")]).status == 403)
            #expect(try await add(port, headers: [("X-Forwarded-For", "garbage")]).status == 403)
        }
    }

    @Test func tokens() async throws {
        try await withServer(policy: AccessPolicy(tokens: ["s3cret", "other"])) { (port: Int) async throws in
            #expect(try await add(port, headers: [("Authorization", "Bearer s3cret")]).response == 3)
            #expect(try await add(port, headers: [("Token", "other")]).response == 3)
            for headers in [[], [("Authorization", "Bearer s3cre")], [("Authorization", "Bearer s3crett")], [("Authorization", "Basic s3cret")], [("Token", "")]] {
                let refused = try await add(port, headers: headers)
                #expect(refused.status == 401, "\(headers)")
                #expect(refused.errorCode == "unauthorized")
                #expect(!refused.text.contains("s3cret"))
            }
        }
    }

    @Test func aRequestFailingTwoFiltersGetsTheFirstOnesAnswerOnly() async throws {
        try await withServer(policy: AccessPolicy(allowedUserAgents: ["swift_rpc"], tokens: ["t"])) { (port: Int) async throws in
            let refused = try await add(port, headers: [("User-Agent", "curl")])
            #expect(refused.status == 403)
            #expect(refused.json == ["error": ["code": "forbidden", "message": "this User-Agent is not allowed"]])
            #expect(try await add(port, headers: [("User-Agent", "swift_rpc")]).status == 401)
        }
    }

    @Test func aRefusedCallStoresNothing() async throws {
        let redis = try await RedisServer.start()
        let client = RedisClient(configuration: redis.configuration, logger: Self.logger)
        try await withServer(policy: AccessPolicy(tokens: ["t"]), jobs: RedisJobQueue(redis: client, logger: Self.logger)) { (port: Int) async throws in
            let refused = try await httpRequest(port: port, path: "/test_mq", body: #"{"args": [1, 2], "options": {"job_id": "refused-1"}}"#)
            #expect(refused.status == 401)
            #expect(try await client.send(["DBSIZE"]).int == 0)
            let allowed = try await httpRequest(
                port: port, path: "/test_mq", body: #"{"args": [1, 2], "options": {"job_id": "allowed-1"}}"#, headers: [("Token", "t")])
            #expect(allowed.status == 202)
            #expect(try await client.hgetall("swiftrpc:job:allowed-1")["status"] == "queued")
        }
        await client.shutdown()
        await redis.stopAndRemove()
    }

    // MARK: - Limits

    @Test func connectionsOverTheLimitGet503AndAreClosed() async throws {
        try await withServer(policy: AccessPolicy(), maxConnections: 2) { (port: Int) async throws in
            let first = try RawHTTPConnection(port: port)
            let second = try RawHTTPConnection(port: port)
            try await first.send("GET /add?args=1&args=2 HTTP/1.1\r\nHost: x\r\n\r\n")
            try await second.send("GET /add?args=1&args=2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await first.readResponse()?.response == 3)
            #expect(try await second.readResponse()?.response == 3)
            let third = try RawHTTPConnection(port: port)
            let refused = try await third.readResponse()
            #expect(refused?.status == 503)
            #expect(refused?.errorCode == "unavailable")
            #expect(try await third.isClosedByServer())
            // The two kept-alive connections still work, and a slot frees when one closes.
            try await first.send("GET /add?args=2&args=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(try await first.readResponse()?.response == 4)
            #expect(try await first.isClosedByServer())
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await httpRequest(port: port, method: "GET", path: "/add?args=3&args=3").response == 6)
        }
    }

    @Test func anIdleKeptAliveConnectionIsClosed() async throws {
        try await withServer(idleTimeout: .milliseconds(300)) { (port: Int) async throws in
            let connection = try RawHTTPConnection(port: port)
            try await connection.send("GET /add?args=1&args=2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try await connection.readResponse()?.response == 3)
            let clock = ContinuousClock()
            let started = clock.now
            #expect(try await connection.isClosedByServer())
            #expect(clock.now - started < .seconds(10))
        }
    }

    @Test func aSlowClientGets408AndIsClosed() async throws {
        try await withServer(idleTimeout: .seconds(30), requestTimeout: .milliseconds(300)) { (port: Int) async throws in
            let connection = try RawHTTPConnection(port: port)
            try await connection.send("POST /add HTTP/1.1\r\nHost: x\r\nContent-Le")  // and then nothing more
            let answer = try await connection.readResponse()
            #expect(answer?.status == 408)
            #expect(answer?.errorCode == "request_timeout")
            #expect(try await connection.isClosedByServer())
            // A slow *answer* is not the client's fault: it is not cut short.
            #expect(try await httpRequest(port: port, path: "/test_block", body: #"{"args": [0.6]}"#).response == "You said ")
        }
    }

    @Test func malformedHTTPGetsAJSON400() async throws {
        try await withServer { (port: Int) async throws in
            for request in [
                "GARBAGE\r\n\r\n",
                "POST /add HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "GET /add HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n",
            ] {
                let connection = try RawHTTPConnection(port: port)
                try await connection.send(request)
                let answer = try await connection.readResponse()
                #expect(answer?.status == 400, "\(request.prefix(40))")
                #expect(answer?.errorCode == "bad_request")
                #expect(try await connection.isClosedByServer())
            }
            #expect(try await httpRequest(port: port, method: "GET", path: "/healthz").status == 200)
            #expect(try await add(port).response == 3)
        }
    }

    @Test func constantTimeTokenComparison() {
        let refused = AccessPolicy.Verdict.refused(RPCError(.unauthorized, "a valid token is required (Authorization: Bearer <token>)"))
        #expect(AccessPolicy(tokens: ["abc"]).check(headers: HTTPHeaders([("Token", "abc")]), peer: "127.0.0.1") == .allowed)
        #expect(AccessPolicy(tokens: ["abc"]).check(headers: HTTPHeaders([("Token", "abcd")]), peer: "127.0.0.1") == refused)
        #expect(AccessPolicy(tokens: ["abc"]).check(headers: HTTPHeaders([("Token", "ab")]), peer: "127.0.0.1") == refused)
    }
}
