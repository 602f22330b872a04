import Foundation
import Logging
import NIOCore
import Redis
import SwiftRPC
@testable import SwiftRPCRedis
import Testing
import TestSupport

/// SPEC §5's delivery rules, step by step on a real Redis: leases, giving back, sweeping,
/// registration, failed lists.
@Suite("Leases and delivery")
struct LeaseTests {
    let policy = DeliveryPolicy(maxDeliveries: 3, failedMax: 3)

    func withQueue(_ body: (RedisJobQueue) async throws -> Void) async throws {
        let logger = Logger(label: "lease-tests")
        let redis = try await RedisServer.start()
        let client = RedisClient(configuration: redis.configuration, logger: logger)
        let jobs = RedisJobQueue(redis: client, logger: logger)
        do {
            try await body(jobs)
        } catch {
            await client.shutdown()
            await redis.stopAndRemove()
            throw error
        }
        await client.shutdown()
        await redis.stopAndRemove()
    }

    func enqueue(_ jobs: RedisJobQueue, _ id: String, queue: String = "q") async throws {
        _ = try await jobs.enqueue(EnqueueRequest(id: id, function: "f", queue: queue, positional: [], keywords: JSONObject(), maxAttempts: 1))
    }

    func info(_ id: String) -> WorkerInfo {
        WorkerInfo(id: id, host: "test", pid: 1, queues: ["q"], concurrency: 1, startedAt: Timestamp.iso8601())
    }

    /// Takes one job as `worker`, which must be registered.
    func takeOne(_ jobs: RedisJobQueue, as worker: String) async throws -> TakenJob {
        try #require(try await jobs.take(worker: worker, queues: ["q"], most: 1).first)
    }

    /// Declares `worker` dead (its heartbeat hash gone) and recovers its jobs.
    func declareDead(_ jobs: RedisJobQueue, _ worker: String) async throws -> Int {
        try await jobs.redis.del(jobs.keys.worker(worker))
        return try await jobs.recoverDeadWorkers(policy: policy)
    }

    @Test func aLateAnswerFromALostDeliveryChangesNothing() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            #expect(try await jobs.register(info("b"), ttl: .seconds(30)))
            try await enqueue(jobs, "j1")
            let first = try await takeOne(jobs, as: "a")
            #expect(try await jobs.job(id: "j1")?.fields["lease"] == first.lease)

            #expect(try await declareDead(jobs, "a") == 1)
            let recovered = try #require(try await jobs.job(id: "j1"))
            #expect(recovered.status == .queued)
            #expect(recovered.fields["lease"] == nil && recovered.fields["worker"] == nil)

            let second = try await takeOne(jobs, as: "b")
            #expect(second.lease != first.lease)
            #expect(second.attempts == 2)
            // The first delivery wakes up: its finish, failure and requeue all change nothing.
            #expect(try await !jobs.finish(first, worker: "a", result: "stale", resultTTL: .seconds(60), ran: .zero))
            #expect(try await jobs.fail(first, worker: "a", error: "stale", retryAt: nil, failureTTL: .seconds(60), policy: policy, ran: .zero) == .leaseLost)
            #expect(try await jobs.fail(first, worker: "a", error: "stale", retryAt: Timestamp.now(), failureTTL: .seconds(60), policy: policy, ran: .zero) == .leaseLost)
            #expect(try await !jobs.requeue(first, worker: "a"))
            let during = try #require(try await jobs.job(id: "j1"))
            #expect(during.status == .started && during.fields["worker"] == "b" && during.result == nil)
            #expect(try await jobs.redis.llen(jobs.keys.queue("q")) == 0)
            #expect(try await jobs.redis.send(["ZCARD", jobs.keys.scheduled]).int == 0)

            #expect(try await jobs.finish(second, worker: "b", result: "fresh", resultTTL: .seconds(60), ran: .zero))
            let done = try #require(try await jobs.job(id: "j1"))
            #expect(done.status == .finished && done.result == "fresh" && done.fields["lease"] == nil)
            // And after the end, the old delivery still cannot write.
            #expect(try await !jobs.finish(first, worker: "a", result: "stale", resultTTL: .seconds(60), ran: .zero))
            #expect(try await jobs.job(id: "j1")?.result == "fresh")
        }
    }

    @Test func everyDeliveryIsCountedOnceInTheSystemsMetrics() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            #expect(try await jobs.register(info("b"), ttl: .seconds(30)))
            for id in ["finishes", "retries", "fails", "is-lost"] { try await enqueue(jobs, id) }
            let finishes = try await takeOne(jobs, as: "a")
            #expect(try await jobs.finish(finishes, worker: "a", result: 1, resultTTL: .seconds(60), ran: .milliseconds(3)))
            let retries = try await takeOne(jobs, as: "a")
            #expect(try await jobs.fail(retries, worker: "a", error: "x", retryAt: Timestamp.now() + 60, failureTTL: .seconds(60), policy: policy, ran: .seconds(2)) == .retrying)
            let fails = try await takeOne(jobs, as: "a")
            #expect(try await jobs.fail(fails, worker: "a", error: "x", retryAt: nil, failureTTL: .seconds(60), policy: policy, ran: .zero) == .failed)
            let lost = try await takeOne(jobs, as: "a")
            #expect(lost.id == "is-lost")
            #expect(try await declareDead(jobs, "a") == 1)  // lost once: its worker died
            let again = try await takeOne(jobs, as: "b")
            #expect(try await jobs.requeue(again, worker: "b"))  // lost twice: the grace period ended
            // A late answer from a lost delivery counts nothing.
            #expect(try await !jobs.finish(lost, worker: "a", result: 1, resultTTL: .seconds(60), ran: .zero))

            let metrics = try await jobs.jobMetrics()
            #expect(metrics.workers == 1)
            #expect(metrics.queues == [QueueStats(name: "q", length: 1, active: 0)])
            #expect(metrics.outcomes.map { "\($0.outcome) \($0.queue) \($0.function) \($0.count)" } == [
                "failed q f 1", "finished q f 1", "lost q f 2", "retried q f 1",
            ])
            let durations = try #require(metrics.durations.first)
            #expect(metrics.durations.count == 1 && durations.function == "f")
            var expected = Array(repeating: 0, count: JobMetrics.bucketLabels.count)
            expected[JobMetrics.bucketLabels.firstIndex(of: "0.001")!] = 1  // ran 0 s
            expected[JobMetrics.bucketLabels.firstIndex(of: "0.005")!] = 1  // 3 ms
            expected[JobMetrics.bucketLabels.firstIndex(of: "2.5")!] = 1  // 2 s
            #expect(durations.runsPerBucket == expected)
            #expect(abs(durations.totalSeconds - 2.003) < 1e-9)
        }
    }

    @Test func requeueGivesBackOnlyAJobItsDeliveryStillHolds() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "j1")
            try await enqueue(jobs, "j2")
            let j1 = try await takeOne(jobs, as: "a")
            let j2 = try await takeOne(jobs, as: "a")
            #expect(try await jobs.finish(j1, worker: "a", result: 1, resultTTL: .seconds(60), ran: .zero))
            #expect(try await !jobs.requeue(j1, worker: "a"))  // ended
            #expect(try await jobs.requeue(j2, worker: "a"))
            #expect(try await !jobs.requeue(j2, worker: "a"))  // exactly once
            #expect(try await jobs.redis.send(["LRANGE", jobs.keys.queue("q"), "0", "-1"]) == .array([.bulkString("j2")]))
            #expect(try await jobs.job(id: "j1")?.status == .finished)
            #expect(try await jobs.activeJobs(worker: "a").isEmpty)
        }
    }

    @Test func startDropsIdsOfEndedJobsAndClearsAnyTTL() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "done")
            let done = try await takeOne(jobs, as: "a")
            #expect(try await jobs.finish(done, worker: "a", result: 1, resultTTL: .seconds(60), ran: .zero))
            // A stray copy of an ended job's id, and a queued job whose hash somehow has a TTL.
            try await jobs.redis.lpush(jobs.keys.queue("q"), "done")
            try await enqueue(jobs, "ttl")
            try await jobs.redis.send(["EXPIRE", jobs.keys.job("ttl"), "100"])
            let taken = try await jobs.take(worker: "a", queues: ["q"], most: 10)
            #expect(taken.map(\.id) == ["ttl"])
            #expect(try await jobs.redis.send(["TTL", jobs.keys.job("ttl")]).int == -1)
            #expect(try await jobs.activeJobs(worker: "a") == ["ttl"])
            #expect(try await jobs.job(id: "done")?.status == .finished)
        }
    }

    @Test func strandedIdsGoBackUnstartedOrAsLostDeliveries() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "moved")
            try await enqueue(jobs, "started")
            // "started" goes through a take whose worker never ran it; "moved" only reached the
            // active list, as a BLMOVE whose reply was lost leaves it.
            try await jobs.redis.send(["LMOVE", jobs.keys.queue("q"), jobs.keys.active("a"), "RIGHT", "LEFT"])
            _ = try await takeOne(jobs, as: "a")
            #expect(Set(try await jobs.activeJobs(worker: "a")) == ["moved", "started"])
            #expect(try await jobs.sweep(worker: "a", stranded: ["moved", "started", "unknown"], policy: policy) == 2)
            #expect(try await jobs.activeJobs(worker: "a").isEmpty)
            let moved = try #require(try await jobs.job(id: "moved"))
            #expect(moved.status == .queued && moved.attempts == 0)
            let started = try #require(try await jobs.job(id: "started"))
            #expect(started.status == .queued && started.attempts == 1 && started.fields["lease"] == nil)
            #expect(try await jobs.redis.llen(jobs.keys.queue("q")) == 2)
            // A BLMOVEd id that a sweep already gave back does not start.
            try await jobs.redis.send(["LMOVE", jobs.keys.queue("q"), jobs.keys.active("a"), "RIGHT", "LEFT"])
            let id = try #require(try await jobs.activeJobs(worker: "a").first)
            #expect(try await jobs.sweep(worker: "a", stranded: [id], policy: policy) == 1)
            #expect(try await jobs.start(job: id, worker: "a", on: jobs.redis.eventLoopGroup.any()).get() == nil)
            #expect(try await jobs.job(id: id)?.status == .queued)
        }
    }

    @Test func aDeliveryLostTooOftenFailsWithWorkerLostOnABoundedList() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "j")
            for delivery in 1...3 {
                let taken = try await takeOne(jobs, as: "a")
                #expect(taken.attempts == delivery)
                #expect(try await jobs.sweep(worker: "a", stranded: ["j"], policy: policy) == 1)
            }
            let failed = try #require(try await jobs.job(id: "j"))
            #expect(failed.status == .failed && failed.error?["code"] == "worker_lost" && failed.fields["lease"] == nil)
            #expect(try await jobs.redis.send(["LRANGE", jobs.keys.failed("q"), "0", "-1"]) == .array([.bulkString("j")]))
        }
    }

    @Test func deregisteringGivesBackWhatIsLeftInTheActiveList() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "unstarted")
            try await enqueue(jobs, "running")
            try await enqueue(jobs, "other")
            try await jobs.redis.send(["LMOVE", jobs.keys.queue("q"), jobs.keys.active("a"), "RIGHT", "LEFT"])
            _ = try await takeOne(jobs, as: "a")
            #expect(try await jobs.deregister(worker: "a", policy: policy) == 2)
            // Both back at the head of the queue (the right end, where workers take), before
            // "other", and in the order they were first taken.
            #expect(try await jobs.redis.send(["LRANGE", jobs.keys.queue("q"), "0", "-1"]) == .array(["other", "running", "unstarted"].map(RESPValue.bulkString)))
            #expect(try await jobs.job(id: "unstarted")?.attempts == 0)
            #expect(try await jobs.redis.send(["EXISTS", jobs.keys.active("a"), jobs.keys.worker("a")]).int == 0)
            #expect(try await jobs.redis.send(["SISMEMBER", jobs.keys.workers, "a"]).int == 0)
        }
    }

    @Test func aWorkerIdIsNeverReusedAndADeclaredDeadWorkerFindsOut() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            #expect(try await !jobs.register(info("a"), ttl: .seconds(30)))
            // Only its active list left (hash expired, not yet recovered): still taken.
            try await enqueue(jobs, "j")
            _ = try await takeOne(jobs, as: "a")
            try await jobs.redis.del(jobs.keys.worker("a"))
            try await jobs.redis.send(["SREM", jobs.keys.workers, "a"])
            #expect(try await !jobs.register(info("a"), ttl: .seconds(30)))

            #expect(try await jobs.register(info("b"), ttl: .seconds(30)))
            #expect(try await jobs.heartbeat(info("b"), ttl: .seconds(30)))
            #expect(try await declareDead(jobs, "b") == 0)
            #expect(try await !jobs.heartbeat(info("b"), ttl: .seconds(30)))  // it finds out, and is back
            #expect(try await jobs.heartbeat(info("b"), ttl: .seconds(30)))
        }
    }

    @Test func failedListsStayBoundedAndPurgeSparesLiveJobs() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            for index in 1...5 {
                try await enqueue(jobs, "f\(index)")
                let taken = try await takeOne(jobs, as: "a")
                #expect(try await jobs.fail(taken, worker: "a", error: "boom", retryAt: nil, failureTTL: .seconds(600), policy: policy, ran: .zero) == .failed)
            }
            // failed_max = 3: the newest three.
            #expect(try await jobs.redis.send(["LRANGE", jobs.keys.failed("q"), "0", "-1"]) == .array(["f5", "f4", "f3"].map(RESPValue.bulkString)))
            // f4's hash expires; f3's id is reused by a live job.
            try await jobs.redis.del(jobs.keys.job("f4"), jobs.keys.job("f3"))
            try await enqueue(jobs, "f3")
            #expect(try await jobs.trimFailedLists() == 2)
            #expect(try await jobs.redis.send(["LRANGE", jobs.keys.failed("q"), "0", "-1"]) == .array([.bulkString("f5")]))
            try await jobs.redis.lpush(jobs.keys.failed("q"), "f3")  // as an older SwiftRPC could leave it
            #expect(try await jobs.purgeFailed(queue: nil) == 1)
            #expect(try await jobs.job(id: "f5") == nil)
            #expect(try await jobs.job(id: "f3")?.status == .queued)
            #expect(try await jobs.redis.send(["EXISTS", jobs.keys.failed("q")]).int == 0)
        }
    }

    @Test func aDeferredJobWaitsInScheduledUntilMaxDeliveries() async throws {
        try await withQueue { jobs in
            #expect(try await jobs.register(info("a"), ttl: .seconds(30)))
            try await enqueue(jobs, "d")
            let error: JSONValue = ["code": "function_error", "message": "unknown"]
            for delivery in 1...3 {
                let taken = try await takeOne(jobs, as: "a")
                let outcome = try await jobs.deferJob(taken, worker: "a", dueAt: Timestamp.now(), error: error, policy: policy)
                #expect(outcome == (delivery < 3 ? .retrying : .failed))
                if delivery < 3 {
                    let record = try #require(try await jobs.job(id: "d"))
                    #expect(record.status == .scheduled && record.fields["lease"] == nil)
                    #expect(try await jobs.promoteDueJobs() == 1)
                }
            }
            #expect(try await jobs.job(id: "d")?.status == .failed)
            #expect(try await jobs.activeJobs(worker: "a").isEmpty)
        }
    }
}
