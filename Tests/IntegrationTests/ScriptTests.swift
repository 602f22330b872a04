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
        #expect(Set((try await client.send(["SMEMBERS", "swiftrpc:queues"]).array ?? []).compactMap(\.string)) == ["default", "broken"])

        // The queues set only lists queues: a key of the wrong type there loses no job.
        _ = try await client.send(["DEL", "swiftrpc:queues"])
        try await client.set("swiftrpc:queues", "not a set")
        let listedNowhere = try await jobs.enqueue(request("unlisted"))
        #expect(listedNowhere.created && listedNowhere.status == "queued")
        #expect(try await jobs.job(id: "unlisted")?.status == .queued)
        await client.shutdown()
        await server.stopAndRemove()
    }
}

extension ScriptTests {
    /// The finishes of one event-loop tick go to Redis as one script call per worker and 64
    /// jobs; a delivery that lost its job and a job whose write fails end alone, and the runs
    /// are counted once each.
    @Test func theFinishesOfOneTickShareAScriptCallAndEndAlone() async throws {
        let server = try await RedisServer.start()
        let client = RedisClient(configuration: server.configuration, logger: Logger(label: "scripts"))
        let jobs = RedisJobQueue(redis: client, logger: Logger(label: "scripts"))
        let loop = client.eventLoopGroup.next()
        for worker in ["a", "b"] {
            #expect(try await jobs.register(WorkerInfo(id: worker, host: "test", pid: 1, queues: ["q"], concurrency: 1, startedAt: Timestamp.iso8601()), ttl: .seconds(30)))
        }
        for n in 0..<73 {
            _ = try await jobs.enqueue(EnqueueRequest(id: "job-\(n)", function: "f", queue: "q", positional: [], keywords: JSONObject(), maxAttempts: 1))
        }
        let taken = try await jobs.take(worker: "a", queues: ["q"], most: 72)
        let other = try #require(try await jobs.take(worker: "b", queues: ["q"], most: 1).first)
        #expect(taken.count == 72)
        let lost = taken[3]
        let broken = taken[5]
        // Another delivery holds job 3 now; job 5's hash is not a hash.
        _ = try await client.send(["HSET", jobs.keys.job(lost.id), "lease", "someone-else"])
        _ = try await client.send(["DEL", jobs.keys.job(broken.id)])
        try await client.set(jobs.keys.job(broken.id), "not a hash")
        // Loaded now, so that the count below holds no NOSCRIPT attempt (another test's server
        // may have loaded it first, and the client then tries EVALSHA at once).
        _ = try await client.send(["SCRIPT", "LOAD", JobScripts.finish.source])
        _ = try await client.send(["CONFIG", "RESETSTAT"])

        let results = try await loop.submit {
            (taken + [other]).map { job in
                jobs.finish(
                    job, worker: job.id == other.id ? "b" : "a", result: .string("done \(job.id)"), resultTTL: .seconds(60),
                    ran: .milliseconds(3), on: loop)
            }
        }.get()
        for (job, result) in zip(taken + [other], results) {
            let outcome: Result<Bool, any Error>
            do { outcome = .success(try await result.get()) } catch { outcome = .failure(error) }
            switch (job.id, outcome) {
            case (lost.id, .success(let finished)): #expect(!finished)
            case (broken.id, .failure(let error)): #expect((error as? RedisClientError)?.message.contains("WRONGTYPE") == true, "\(error)")
            case (_, .success(true)):
                let record = try #require(try await jobs.job(id: job.id))
                #expect(record.status == .finished && record.fields["result"] == "\"done \(job.id)\"" && record.fields["lease"] == nil)
                #expect(try await client.send(["TTL", jobs.keys.job(job.id)]).int ?? 0 > 0)
            case (let id, let outcome): Issue.record("\(id): \(outcome)")
            }
        }
        #expect(try await jobs.job(id: lost.id)?.status == .started)
        // Every id left its worker's active list, the lost and the broken one too.
        #expect(try await jobs.activeJobs(worker: "a").isEmpty)
        #expect(try await jobs.activeJobs(worker: "b").isEmpty)
        let stats = try await client.send(["INFO", "commandstats"]).string ?? ""
        #expect(stats.contains("cmdstat_evalsha:calls=3,"), "\(stats)")  // a: 64 + 8 jobs; b: 1
        // 71 runs counted: 70 of a's and b's one.
        let counts = try #require(try await client.send(["HGETALL", "swiftrpc:metrics:jobs"]).fields)
        #expect(counts == ["finished q f": "71"])
        let durations = try #require(try await client.send(["HGETALL", "swiftrpc:metrics:durations"]).fields)
        #expect(durations["sum_us f"] == "\(71 * 3000)" && durations.values.filter { $0 == "71" }.count == 1, "\(durations)")
        #expect(try await client.send(["HGET", jobs.keys.worker("a"), "jobs_finished"]).string == "70")
        #expect(try await client.send(["HGET", jobs.keys.worker("b"), "jobs_finished"]).string == "1")
        let recent = (try await client.send(["LRANGE", "swiftrpc:recent:q", "0", "-1"]).array ?? []).compactMap(\.string)
        #expect(Set(recent) == Set((taken + [other]).map(\.id)).subtracting([lost.id, broken.id]) && recent.count == 71)

        // A counter key of the wrong type stops the counting, not the job.
        _ = try await client.send(["DEL", "swiftrpc:metrics:jobs"])
        try await client.set("swiftrpc:metrics:jobs", "not a hash")
        _ = try await jobs.enqueue(EnqueueRequest(id: "last", function: "f", queue: "q", positional: [], keywords: JSONObject(), maxAttempts: 1))
        let last = try #require(try await jobs.take(worker: "a", queues: ["q"], most: 1).first)
        #expect(try await jobs.finish(last, worker: "a", result: 1, resultTTL: .seconds(60), ran: .zero))
        #expect(try await jobs.job(id: "last")?.status == .finished)
        await client.shutdown()
        await server.stopAndRemove()
    }
}
