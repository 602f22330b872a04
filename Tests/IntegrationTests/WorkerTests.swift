import Foundation
import Logging
import Redis
import ServiceLifecycle
import Synchronization
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCWorker
import Testing
import TestSupport

/// The worker in this process with functions of the test's own, on a real redis-server.
@Suite("Worker with test functions")
struct WorkerTests {
    final class Attempts: Sendable {
        let times = Mutex<[Double]>([])
        func record() -> Int { times.withLock { $0.append(Timestamp.now()); return $0.count } }
    }

    func withWorker(
        _ registry: FunctionRegistry, concurrency: Int = 2, _ body: (RedisJobQueue) async throws -> Void
    ) async throws {
        let logger = Logger(label: "worker-tests")
        let redis = try await RedisServer.start()
        let client = RedisClient(configuration: redis.configuration, logger: logger)
        let jobs = RedisJobQueue(redis: client, logger: logger)
        let worker = Worker(
            registry: registry, jobs: jobs, configuration: .init(queues: ["default"], concurrency: concurrency, unknownFunctionDelay: .milliseconds(100)),
            logger: logger)
        let group = ServiceGroup(services: [jobs, worker], logger: logger)
        async let running: Void = group.run()
        do {
            try await body(jobs)
        } catch {
            await group.triggerGracefulShutdown()
            try? await running
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running
        await client.shutdown()
        await redis.stopAndRemove()
    }

    @Test func aJobThatThrowsIsRetriedWithExponentialBackoff() async throws {
        let attempts = Attempts()
        var registry = FunctionRegistry()
        registry.registerMQ("flaky", options: MQOptions(retries: 2, retryBackoff: .milliseconds(300))) { _ in
            let attempt = attempts.record()
            if attempt < 3 { throw FunctionError("attempt \(attempt) fails") }
            return "ok on attempt \(attempt)"
        }
        try await withWorker(registry) { jobs in
            _ = try await jobs.enqueue(
                EnqueueRequest(id: "flaky-1", function: "flaky", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 3))
            var seen: Set<String> = []
            var record: JobRecord? = nil
            for _ in 0..<200 {
                record = try await jobs.job(id: "flaky-1")
                if let status = record?.status { seen.insert(status.rawValue) }
                if record?.status?.isTerminal == true { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(record?.status == .finished)
            #expect(record?.result == "ok on attempt 3")
            #expect(record?.attempts == 3)
            #expect(seen.contains("retrying"))
            let times = attempts.times.withLock { $0 }
            #expect(times.count == 3)
            // The backoff doubles: at least 0.3 s, then at least 0.6 s.
            #expect(times[1] - times[0] >= 0.29)
            #expect(times[2] - times[1] >= 0.59)
        }
    }

    @Test func aJobPastItsTimeoutFailsWithTimeout() async throws {
        var registry = FunctionRegistry()
        registry.registerMQ("sleepy", options: MQOptions(timeout: .milliseconds(200))) { _ in
            try await Task.sleep(for: .seconds(5))
            return "late"
        }
        registry.registerMQBlocking("blocking", .int("n")) { args in
            Thread.sleep(forTimeInterval: 0.05)
            return try args.int("n") * 2
        }
        try await withWorker(registry) { jobs in
            _ = try await jobs.enqueue(EnqueueRequest(id: "sleepy-1", function: "sleepy", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1))
            _ = try await jobs.enqueue(EnqueueRequest(id: "blocking-1", function: "blocking", queue: "default", positional: [21], keywords: JSONObject(), maxAttempts: 1))
            let sleepy = try await jobs.waitForJob(id: "sleepy-1", timeout: .seconds(10))
            #expect(sleepy?.status == .failed)
            #expect(sleepy?.error?["code"] == "timeout")
            let blocking = try await jobs.waitForJob(id: "blocking-1", timeout: .seconds(10))
            #expect(blocking?.result == 42)
        }
    }

    @Test func aJobForAnUnknownFunctionWaitsForAnotherWorkerThenFails() async throws {
        try await withWorker(FunctionRegistry()) { jobs in
            _ = try await jobs.enqueue(EnqueueRequest(id: "ghost-1", function: "ghost", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1))
            // Deferred (not failed) while a worker that has the function may still take it.
            var seen: Set<JobStatus> = []
            var record: JobRecord? = nil
            for _ in 0..<500 {
                record = try await jobs.job(id: "ghost-1")
                if let status = record?.status { seen.insert(status) }
                if record?.status?.isTerminal == true { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(seen.contains(.scheduled))
            #expect(record?.status == .failed)
            #expect(record?.attempts == 3)  // max_deliveries
            #expect(record?.error?["message"]?.stringValue?.contains("ghost") == true)
            #expect(record?.fields["lease"] == nil)
        }
    }

    /// Opens when the test says so; waiting on it ignores cancellation, as a careless function does.
    final class Gate: Sendable {
        let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))
        func wait() async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if !state.open { state.waiting.append(continuation) }
                    return state.open
                }
                if now { continuation.resume() }
            }
        }
        func open() {
            state.withLock { state in
                state.open = true
                defer { state.waiting = [] }
                return state.waiting
            }.forEach { $0.resume() }
        }
    }

    @Test func aTimeoutFreesTheSlotEvenWhenTheFunctionIgnoresCancellation() async throws {
        let gate = Gate()
        var registry = FunctionRegistry()
        registry.registerMQ("stubborn", options: MQOptions(timeout: .milliseconds(200))) { _ in
            await gate.wait()
            return "too late"
        }
        registry.registerMQ("quick") { _ in "quick" }
        try await withWorker(registry, concurrency: 1) { jobs in
            _ = try await jobs.enqueue(EnqueueRequest(id: "stubborn-1", function: "stubborn", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1))
            let stubborn = try await jobs.waitForJob(id: "stubborn-1", timeout: .seconds(10))
            #expect(stubborn?.status == .failed && stubborn?.error?["code"] == "timeout")
            // The one slot is free while the stubborn function still waits at its gate.
            _ = try await jobs.enqueue(EnqueueRequest(id: "quick-1", function: "quick", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1))
            #expect(try await jobs.waitForJob(id: "quick-1", timeout: .seconds(10))?.result == "quick")
            gate.open()
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await jobs.job(id: "stubborn-1")?.error?["code"] == "timeout")  // its late result is not recorded
        }
    }

    @Test func aTypedMQFunctionGetsItsJobsContext() async throws {
        var registry = FunctionRegistry()
        registry.registerMQ("whoami", Param<Int>("n")) { (context: JobContext, n: Int) in
            context.logger.info("running")
            let left = context.deadline - ContinuousClock.now
            return "\(context.jobID) attempt \(context.attempt) n \(n) deadline ahead \(left > .zero)"
        }
        registry.registerMQ("tick") { (context: JobContext) in context.delivery == JobContext.current?.delivery }
        try await withWorker(registry) { jobs in
            _ = try await jobs.enqueue(EnqueueRequest(id: "who-1", function: "whoami", queue: "default", positional: [5], keywords: JSONObject(), maxAttempts: 1))
            _ = try await jobs.enqueue(EnqueueRequest(id: "tick-1", function: "tick", queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1))
            #expect(try await jobs.waitForJob(id: "who-1", timeout: .seconds(10))?.result == "who-1 attempt 1 n 5 deadline ahead true")
            #expect(try await jobs.waitForJob(id: "tick-1", timeout: .seconds(10))?.result == true)
        }
    }

    /// `?wait`'s answer: a result of up to 4 KiB comes with the completion notice, so the
    /// front reads nothing; a larger one is read from the job.
    @Test func aSmallResultComesWithItsNoticeAndALargeOneIsRead() async throws {
        var registry = FunctionRegistry()
        registry.registerMQ("small") { _ in JSONValue.string("a b c") }
        registry.registerMQ("large") { _ in JSONValue.string(String(repeating: "x", count: 5_000)) }
        try await withWorker(registry) { jobs in
            func run(_ function: String) async throws -> JobRecord? {
                let request = EnqueueRequest(id: "\(function)-1", function: function, queue: "default", positional: [], keywords: JSONObject(), maxAttempts: 1)
                return try await jobs.enqueueAndWait(request, timeout: .seconds(10)).1
            }
            // Only the notice's three fields: a read would have brought the whole hash.
            #expect(try await run("small")?.fields == ["id": "small-1", "status": "finished", "result": #""a b c""#])
            let large = try await run("large")
            #expect(large?.function == "large" && large?.result == .string(String(repeating: "x", count: 5_000)))
        }
    }

    @Test func oneThousandWaitersShareOneSubscriberConnection() async throws {
        var registry = FunctionRegistry()
        registry.registerMQ("quick", .int("n")) { args in try args.int("n") }
        try await withWorker(registry) { jobs in
            // 1,000 callers wait at once on jobs no worker serves: the connections to Redis
            // while they wait are the client's few, not one per waiter.
            let connectionsWhileWaiting = try await withThrowingTaskGroup(of: Int?.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        let request = EnqueueRequest(
                            id: "held-\(index)", function: "quick", queue: "held", positional: [.int(index)], keywords: JSONObject(), maxAttempts: 1)
                        let (_, record) = try await jobs.enqueueAndWait(request, timeout: .seconds(3))
                        #expect(record?.status == .queued)
                        return nil
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(1500))
                    return try await jobs.redis.send(["CLIENT", "LIST"]).string?.split(separator: "\n").count
                }
                return try await group.reduce(into: [Int]()) { if let count = $1 { $0.append(count) } }.first
            }
            let connections = try #require(connectionsWhileWaiting)
            #expect(connections <= 6, "\(connections) connections while 1,000 callers waited")

            // And every waiter is woken with its own result when jobs do run.
            let results = try await withThrowingTaskGroup(of: JSONValue?.self) { group in
                for index in 0..<1000 {
                    group.addTask {
                        let request = EnqueueRequest(
                            id: "quick-\(index)", function: "quick", queue: "default", positional: [.int(index)], keywords: JSONObject(), maxAttempts: 1)
                        if index % 2 == 0 {  // half wait as an MQ call with ?wait= does
                            return try await jobs.enqueueAndWait(request, timeout: .seconds(30)).1?.result
                        }
                        _ = try await jobs.enqueue(request)
                        return try await jobs.waitForJob(id: request.id, timeout: .seconds(30))?.result
                    }
                }
                return try await group.reduce(into: [JSONValue?]()) { $0.append($1) }
            }
            #expect(results.compactMap { $0?.intValue }.sorted() == Array(0..<1000))
        }
    }
}
