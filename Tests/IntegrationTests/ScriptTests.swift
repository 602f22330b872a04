import Logging
import NIOCore
import NIOPosix
import Redis
import SwiftRPC
import Testing
import TestSupport
@testable import SwiftRPCRedis

@Suite("Lua scripts")
struct ScriptTests {
    @Test func everyScriptCompiles() async throws {
        let server = try await RedisServer.start()
        let client = RedisClient(configuration: server.configuration, logger: Logger(label: "scripts"))
        for script in JobScripts.all {
            let reply = try await client.send(["SCRIPT", "LOAD", script.source])
            #expect(reply.string?.count == 40, "\(script.source.prefix(80))")
        }
        await client.shutdown()
        await server.stopAndRemove()
    }

    /// The enqueues of one event-loop tick go to Redis as one script call per 64 jobs; a job
    /// whose write fails fails alone, and leaves nothing that would stop its retry.
    @Test func theEnqueuesOfOneTickShareAScriptCallAndFailAlone() async throws {
        let server = try await RedisServer.start()
        let client = RedisClient(configuration: server.configuration, logger: Logger(label: "scripts"))
        let jobs = RedisJobQueue(redis: client, logger: Logger(label: "scripts"))
        let loop = client.eventLoopGroup.next()
        func request(_ id: String, queue: String = "default", delay: Double? = nil) -> EnqueueRequest {
            EnqueueRequest(id: id, function: "test_mq", queue: queue, positional: [1, 2], keywords: JSONObject(), maxAttempts: 1, delay: delay)
        }
        _ = try await jobs.enqueue(request("existing"))
        // Something that is not a list where the queue "broken" should be.
        try await client.set("swiftrpc:queue:broken", "not a list")
        _ = try await client.send(["CONFIG", "RESETSTAT"])

        let requests =
            (0..<150).map { request("job-\($0)") }
            + [request("existing"), request("doomed", queue: "broken"), request("twice"), request("twice"), request("later", delay: 60)]
        let results = try await loop.submit {
            requests.map { jobs.enqueue($0, on: loop) }
        }.get()
        var created = 0
        var twice: [Bool] = []
        for (request, result) in zip(requests, results) {
            let outcome: Result<EnqueueResult, any Error>
            do { outcome = .success(try await result.get()) } catch { outcome = .failure(error) }
            switch (request.id, outcome) {
            case ("existing", .success(let enqueued)): #expect(!enqueued.created && enqueued.status == "queued")
            case ("twice", .success(let enqueued)): twice.append(enqueued.created)
            case ("later", .success(let enqueued)): #expect(enqueued.created && enqueued.status == "scheduled")
            case ("doomed", .failure(let error)): #expect((error as? RedisClientError)?.message.contains("WRONGTYPE") == true, "\(error)")
            case (_, .success(let enqueued)) where enqueued.created: created += 1
            case (let id, let outcome): Issue.record("\(id): \(outcome)")
            }
        }
        #expect(created == 150)
        #expect(twice == [true, false])
        // Every new id once, in the order they came (taken from the right).
        let queued = (try await client.send(["LRANGE", "swiftrpc:queue:default", "0", "-1"]).array ?? []).compactMap(\.string)
        #expect(queued.reversed() == ["existing"] + (0..<150).map { "job-\($0)" } + ["twice"])
        #expect(try await client.send(["ZSCORE", "swiftrpc:scheduled", "later"]).string != nil)
        let stats = try await client.send(["INFO", "commandstats"]).string ?? ""
        #expect(stats.contains("cmdstat_evalsha:calls=3,"), "\(stats)")  // 155 jobs: 64 + 64 + 27
        #expect(try await client.send(["EXISTS", "swiftrpc:job:doomed"]).int == 0)

        // Once the key is mended, the failed job's retry creates it.
        _ = try await client.send(["DEL", "swiftrpc:queue:broken"])
        #expect(try await jobs.enqueue(request("doomed", queue: "broken")).created)
        await client.shutdown()
        await server.stopAndRemove()
    }
}
