import Logging
import NIOCore
import NIOPosix
import Redis
import Testing
import TestSupport

@Suite("Redis client against a real redis-server")
struct RedisClientTests {
    let logger = Logger(label: "redis-tests")

    /// Runs `body` with a fresh server and a client on it; both are stopped afterwards.
    func withRedis(
        connections: Int = 2, commandTimeout: Duration = .seconds(5), serverArguments: [String] = [],
        _ body: (RedisServer, RedisClient) async throws -> Void
    ) async throws {
        let server = try await RedisServer.start(arguments: serverArguments)
        var configuration = server.configuration
        configuration.connections = connections
        configuration.commandTimeout = commandTimeout
        let client = RedisClient(configuration: configuration, logger: logger)
        do {
            try await body(server, client)
        } catch {
            await client.shutdown()
            await server.stopAndRemove()
            throw error
        }
        await client.shutdown()
        await server.stopAndRemove()
    }

    @Test func everyReplyTypeBecomesASwiftValue() async throws {
        try await withRedis { _, client in
            let replies = try await client.pipeline([
                ["SET", "k", "välue"],  // status
                ["GET", "k"],  // bulk
                ["GET", "missing"],  // nil
                ["INCRBY", "n", "-42"],  // integer
                ["RPUSH", "l", "a", "", "c"],
                ["LRANGE", "l", "0", "-1"],  // array, with an empty bulk
                ["LPUSH", "k", "x"],  // error: wrong type
            ])
            #expect(replies[0] == .simpleString("OK"))
            #expect(replies[1] == .bulkString("välue"))
            #expect(replies[2] == .null)
            #expect(replies[3] == .integer(-42))
            #expect(replies[5] == .array([.bulkString("a"), .bulkString(""), .bulkString("c")]))
            guard case .error(let message) = replies[6] else {
                Issue.record("expected an error reply, got \(replies[6])")
                return
            }
            #expect(message.hasPrefix("WRONGTYPE"))
        }
    }

    @Test func anEmptyPipelineAnswersAtOnce() async throws {
        // A timeout far below the test's own limits: an empty batch waiting for replies that never
        // come would end in it. (500 ms was too short for the first PING on a loaded machine.)
        try await withRedis(commandTimeout: .seconds(2)) { _, client in
            #expect(try await client.pipeline([]) == [])
            try await client.ping()
        }
    }

    @Test func anErrorReplyIsThrownAsServerError() async throws {
        try await withRedis { _, client in
            let error = await redisError { try await client.send(["NOSUCHCOMMAND"]) }
            #expect(error?.code == .serverError)
            #expect(error?.message.contains("unknown command") == true)
        }
    }

    @Test func binarySafeArguments() async throws {
        try await withRedis { _, client in
            let value = "a\r\nb\u{0}c $3 *2 😀"
            try await client.set("key with spaces\r\n", value)
            #expect(try await client.get("key with spaces\r\n") == value)
        }
    }

    @Test func argumentsOfEveryLengthDigitCountRoundTrip() async throws {
        try await withRedis { _, client in
            for length in [0, 1, 9, 10, 99, 100, 999, 1_000, 65_536, 1_000_001] {
                let value = String(repeating: "é", count: length / 2) + String(repeating: "x", count: length % 2)
                #expect(value.utf8.count == length)
                try await client.set("length-\(length)", value)
                #expect(try await client.get("length-\(length)") == value, "\(length) bytes")
            }
            // One command of many arguments (its count line has several digits too).
            let fields = (0..<1_234).flatMap { ["f\($0)", "v\($0)"] }
            #expect(try await client.send(["HSET", "wide"] + fields).int == 1_234)
        }
    }

    @Test func manyConcurrentCallersShareOneConnection() async throws {
        try await withRedis(connections: 1) { _, client in
            let ourID = try #require(try await client.send(["CLIENT", "ID"]).int)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<2_000 {
                    group.addTask {
                        let reply = try await client.send(["INCR", "counter:\(index % 10)"])
                        #expect(reply.int != nil)
                    }
                }
                try await group.waitForAll()
            }
            var total = 0
            for index in 0..<10 { total += Int(try await client.get("counter:\(index)") ?? "0") ?? 0 }
            #expect(total == 2_000)
            // All of it went over our one connection: no connection was opened after it.
            let clients = try await client.send(["CLIENT", "LIST"]).string ?? ""
            let ids = clients.split(separator: "\n").compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("id=") }.flatMap { Int($0.dropFirst(3)) }
            }
            #expect(ids.filter { $0 >= ourID } == [ourID])
        }
    }

    @Test func repliesKeepTheirOrderWithinAndAcrossBatches() async throws {
        try await withRedis(connections: 1) { _, client in
            let results = try await withThrowingTaskGroup(of: (Int, [RESPValue]).self) { group in
                for batch in 0..<50 {
                    group.addTask {
                        (batch, try await client.pipeline((0..<20).map { ["ECHO", "\(batch)-\($0)"] }))
                    }
                }
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            for (batch, replies) in results {
                #expect(replies == (0..<20).map { .bulkString("\(batch)-\($0)") })
            }
        }
    }

    @Test func authAndSelectComeFromTheURL() async throws {
        let server = try await RedisServer.start(arguments: ["--requirepass", "s3cret:/@"])
        let url = "redis://:s3cret%3A%2F%40@127.0.0.1:\(server.port)/3"
        let client = RedisClient(configuration: try RedisConfiguration(url: url), logger: logger)
        try await client.set("where", "db3")
        #expect(try await client.send(["CLIENT", "INFO"]).string?.contains("db=3") == true)
        await client.shutdown()

        let wrong = RedisClient(configuration: try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(server.port)/0"), logger: logger)
        let error = await redisError { try await wrong.ping() }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("nope") == false)
        await wrong.shutdown()
        await server.stopAndRemove()
    }

    @Test func aSlowReplyTimesOutAndTheConnectionIsReplaced() async throws {
        try await withRedis(connections: 1, commandTimeout: .milliseconds(300), serverArguments: ["--enable-debug-command", "yes"]) { _, client in
            let error = await redisError { try await client.send(["DEBUG", "SLEEP", "1.5"]) }
            #expect(error?.code == .timeout)
            // The timed-out connection was closed; once Redis wakes up, the next command gets a fresh one.
            try await Task.sleep(for: .seconds(1.5))
            try await client.ping()
        }
    }

    @Test func connectingToNothingFailsFast() async throws {
        let port = try freePort()
        // Held, so that no other test's server starts on it meanwhile.
        let hold = try #require(PortHold(port: port))
        defer { hold.release() }
        let client = RedisClient(configuration: RedisConfiguration(port: port), logger: logger)
        let clock = ContinuousClock()
        let started = clock.now
        let error = await redisError { try await client.ping() }
        #expect(error?.code == .connectionFailed)
        #expect(clock.now - started < .seconds(5))
        await client.shutdown()
    }

    @Test func theClientRecoversAfterRedisIsKilledAndRestarted() async throws {
        let server = try await RedisServer.start()
        // One connection, so the pings below meet the one the kill broke: with several, one
        // not yet tried could still look open when Redis is back (its end-of-file unread).
        var configuration = server.configuration
        configuration.connections = 1
        let client = RedisClient(configuration: configuration, logger: logger)
        try await client.set("before", "1")

        await server.kill()
        // The dead server's port is held (bound, not listening) so no other test's server takes
        // it while it is down: the client must see Redis gone, not someone else's Redis.
        let hold = try #require(PortHold(port: server.port))
        await #expect(throws: RedisClientError.self) { try await client.ping() }
        await #expect(throws: RedisClientError.self) { try await client.ping() }
        hold.release()

        let restarted = try await RedisServer.start(port: server.port, directory: server.directory)
        try await client.ping()  // reconnects by itself
        try await client.set("after", "2")
        #expect(try await client.get("after") == "2")
        await client.shutdown()
        await restarted.stopAndRemove()
    }

    @Test(.timeLimit(.minutes(1))) func aCommandOnAClosedConnectionFailsInsteadOfWaiting() async throws {
        try await withRedis { server, _ in
            let connection = try await RedisConnection.connect(server.configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            await connection.close()
            // The write never reaches the handler that would answer it; its failure must.
            await #expect(throws: RedisClientError.self) { try await connection.pipeline([["PING"]]) }
            let aborted = try await RedisConnection.connect(server.configuration, eventLoop: MultiThreadedEventLoopGroup.singleton.next(), logger: logger)
            let blocked = Task { try await aborted.pipeline([["BLPOP", "nothing", "0"]], extraTimeout: .seconds(60)) }
            try await Task.sleep(for: .milliseconds(100))
            aborted.abort()  // withdraws a blocking command at once
            await #expect(throws: RedisClientError.self) { try await blocked.value }
        }
    }

    @Test func aDedicatedConnectionServesBlockingCommands() async throws {
        try await withRedis { _, client in
            async let popped = client.withDedicatedConnection { connection in
                try await connection.pipeline([["BLMOVE", "src", "dst", "RIGHT", "LEFT", "2"]], extraTimeout: .seconds(2))
            }
            try await Task.sleep(for: .milliseconds(100))
            // The shared connections are not held up by the blocked one.
            try await client.ping()
            try await client.lpush("src", "job-1")
            #expect(try await popped == [.bulkString("job-1")])
        }
    }

    @Test func urlParsing() throws {
        let full = try RedisConfiguration(url: "redis://user:pa%40ss@redis.local:6380/4")
        #expect(full.host == "redis.local")
        #expect(full.port == 6380)
        #expect(full.username == "user")
        #expect(full.password == "pa@ss")
        #expect(full.database == 4)
        #expect(full.redactedURL == "redis://user:***@redis.local:6380/4")
        let plain = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(plain.port == 6379 && plain.database == 0 && plain.password == nil)
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: "http://x") }
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: "redis://h:99999/0") }
        #expect(throws: RedisClientError.self) { try RedisConfiguration(url: "redis://h:1/x") }
    }
}

/// The `RedisClientError` that `body` throws, or `nil` when it succeeds.
func redisError(_ body: () async throws -> Void) async -> RedisClientError? {
    do {
        try await body()
        return nil
    } catch let error as RedisClientError {
        return error
    } catch {
        Issue.record("expected a RedisClientError, got \(error)")
        return nil
    }
}
