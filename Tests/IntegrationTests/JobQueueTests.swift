import Foundation
import ProcessSupport
import Redis
import SwiftRPC
import SwiftRPCClient
import Testing
import TestSupport

/// The job queue end to end: real redis-server, `swift-rpc serve` and `swift-rpc-worker` processes.
@Suite("Job queue with real processes", .serialized)
struct JobQueueTests {
    func withStack(_ body: (Stack) async throws -> Void) async throws {
        try await Stack.with(body)
    }

    @Test func aJobRunsAndItsHashHoldsTheSpecFields() async throws {
        try await withStack { stack in
            try await stack.startWorker()
            let id = try await stack.enqueue("test_mq", ["args": [2, 3]])
            let job = try await stack.waitForJob(id)
            #expect(job["status"] == "finished")
            #expect(job["result"] == 5)
            #expect(job["attempts"] == 1)
            let hash = try await stack.jobHash(id)
            #expect(Set(hash.keys) == ["id", "func", "queue", "args", "kwargs", "status", "result", "attempts", "max_attempts", "enqueued_at", "started_at", "ended_at", "worker"])
            #expect(hash["args"] == "[2,3]")
            #expect(hash["kwargs"] == "{}")
            #expect(hash["status"] == "finished")
            #expect(try await stack.client.send(["TTL", "swiftrpc:job:\(id)"]).int.map { $0 > 86_000 && $0 <= 86_400 } == true)
            #expect(try await stack.client.llen("swiftrpc:active:\(hash["worker"] ?? "")") == 0)
            // The worker logs one line per job event with the job id.
            #expect(stack.log("worker1.log").contains("job=\(id)"))
        }
    }

    @Test func aCallersTraceparentGoesIntoTheJobAndTheWorkersLogLines() async throws {
        try await withStack { stack in
            try await stack.startWorker(["--log-format", "json"])
            let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let answer = try await httpRequest(port: stack.frontPort, path: "/test_mq", body: #"{"args": [2, 3]}"#, headers: [("traceparent", caller)])
            let id = try #require(answer.json?["job_id"]?.stringValue)
            #expect(try await stack.waitForJob(id)["result"] == 5)
            // The job holds the enqueue's span: the caller's trace, a span of its own.
            let field = try await stack.jobHash(id)["traceparent"] ?? ""
            let stored = try #require(TraceParent(field), "traceparent field: '\(field)'")
            #expect(stored.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && stored.parentID != "00f067aa0ba902b7")
            // The worker logs "job finished" after the finish is stored, so the line may come a moment after the result.
            func jobLines() -> [JSONValue] {
                stack.log("worker1.log").split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }.filter { $0["job"]?.stringValue == id }
            }
            try await waitUntil(seconds: 5) { jobLines().count >= 2 }
            #expect(jobLines().count == 2 && jobLines().allSatisfy { $0["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" }, "\(jobLines())")

            // A malformed header is ignored: no field, no trace id.
            let untraced = try await httpRequest(port: stack.frontPort, path: "/test_mq", body: #"{"args": [1, 1]}"#, headers: [("traceparent", "00-xyz")])
            let other = try #require(untraced.json?["job_id"]?.stringValue)
            _ = try await stack.waitForJob(other)
            #expect(try await stack.jobHash(other)["traceparent"] == nil)
        }
    }

    @Test func aFailingJobEndsFailedOnTheFailedList() async throws {
        try await withStack { stack in
            try await stack.startWorker()
            let id = try await stack.enqueue("fail_mq", ["args": ["bad input"]])
            let job = try await stack.waitForJob(id)
            #expect(job["status"] == "failed")
            #expect(job["error"] == ["code": "function_error", "message": "bad input"])
            #expect(try await stack.client.send(["LRANGE", "swiftrpc:failed:default", "0", "-1"]) == .array([.bulkString(id)]))
            let ttl = try await stack.client.send(["TTL", "swiftrpc:job:\(id)"]).int ?? 0
            #expect(ttl > 7 * 86_400 - 100)
        }
    }

    @Test func aDelayedJobWaitsInScheduledThenRuns() async throws {
        try await withStack { stack in
            try await stack.startWorker()
            let id = try await stack.enqueue("test_mq", ["args": [1, 1], "options": ["delay": 1.5]])
            #expect(try await stack.jobHash(id)["status"] == "scheduled")
            #expect(try await stack.client.send(["ZSCORE", "swiftrpc:scheduled", id]).isNull == false)
            let job = try await stack.waitForJob(id)
            #expect(job["status"] == "finished")
            let hash = try await stack.jobHash(id)
            let enqueued = try #require(hash["enqueued_at"].flatMap(parseISO))
            let started = try #require(hash["started_at"].flatMap(parseISO))
            #expect(started - enqueued >= 1.4)
        }
    }

    @Test func anExistingJobIDRunsNothingTwice() async throws {
        try await withStack { stack in
            let id = "idem-\(UUID().uuidString.prefix(8))"
            let first = try await stack.call("test_mq", ["args": [1, 2], "options": ["job_id": .string(id), "queue": "idle"]])
            let second = try await stack.call("test_mq", ["args": [5, 5], "options": ["job_id": .string(id), "queue": "idle"]])
            #expect(first.status == 202 && second.status == 202)
            #expect(second.json?["job_id"] == .string(id))
            #expect(try await stack.client.send(["LRANGE", "swiftrpc:queue:idle", "0", "-1"]) == .array([.bulkString(id)]))
            #expect(try await stack.jobHash(id)["args"] == "[1,2]")
        }
    }

    @Test func argumentsAreCheckedBeforeAnythingIsEnqueued() async throws {
        try await withStack { stack in
            let refused = try await stack.call("test_mq", ["args": ["x", 1], "options": ["queue": "never"]])
            #expect(refused.status == 422)
            #expect(try await stack.client.llen("swiftrpc:queue:never") == 0)
            #expect(try await stack.client.send(["SISMEMBER", "swiftrpc:queues", "never"]).int == 0)
        }
    }

    @Test func aJobOfAWorkerKilledMidJobFinishesOnAnotherWorker() async throws {
        try await withStack { stack in
            let fast = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2"]
            let doomed = try await stack.startWorker(fast)
            let id = try await stack.enqueue("go", ["args": [3]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            let firstWorker = try await stack.jobHash(id)["worker"]
            doomed.signal(SIGKILL)
            _ = await doomed.wait(timeout: .seconds(5))
            try await stack.startWorker(fast)
            let job = try await stack.waitForJob(id, seconds: 30)
            #expect(job["status"] == "finished")
            #expect(job["attempts"] == 2)
            #expect(job["worker"] != firstWorker.map(JSONValue.string))
            #expect(try await stack.client.send(["SISMEMBER", "swiftrpc:workers", firstWorker ?? ""]).int == 0)
        }
    }

    @Test func aJobLostTooOftenFailsWithWorkerLost() async throws {
        try await withStack { stack in
            let fast = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "1", "--max-deliveries", "1"]
            let doomed = try await stack.startWorker(fast)
            let id = try await stack.enqueue("go", ["args": [5]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            doomed.signal(SIGKILL)
            _ = await doomed.wait(timeout: .seconds(5))
            try await stack.startWorker(fast)
            let job = try await stack.waitForJob(id, seconds: 20)
            #expect(job["status"] == "failed")
            #expect(job["error"]?["code"] == "worker_lost")
        }
    }

    @Test func sigtermMidJobFinishesTheJobAndExitsZero() async throws {
        try await withStack { stack in
            let worker = try await stack.startWorker()
            let id = try await stack.enqueue("go", ["args": [1.5]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            worker.signal(SIGTERM)
            let status = await worker.wait(timeout: .seconds(15))
            #expect(status == 0)
            #expect(try await stack.jobHash(id)["status"] == "finished")
            #expect(try await stack.workerIDs().isEmpty)
        }
    }

    @Test func aJobStillRunningWhenTheGraceEndsGoesBackToItsQueue() async throws {
        try await withStack { stack in
            let worker = try await stack.startWorker(["--grace", "0.5"])
            let id = try await stack.enqueue("go", ["args": [10]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(10)) == 0)
            #expect(try await stack.jobHash(id)["status"] == "queued")
            #expect(try await stack.client.send(["LRANGE", "swiftrpc:queue:default", "0", "-1"]) == .array([.bulkString(id)]))
        }
    }

    @Test func aStoppingWorkerWithdrawsItsWaitingFetch() async throws {
        try await withStack { stack in
            let worker = try await stack.startWorker(["--concurrency", "2"])
            let long = try await stack.enqueue("go", ["args": [2]])
            try await waitUntil { try await stack.jobHash(long)["status"] == "started" }
            // One slot busy, the other blocked in BLMOVE; the stop withdraws the wait at once.
            worker.signal(SIGTERM)
            try await waitUntil { stack.log("worker1.log").contains("graceful shutdown") }
            let late = try await stack.enqueue("test_mq", ["args": [1, 2]])
            #expect(await worker.wait(timeout: .seconds(15)) == 0)
            #expect(try await stack.jobHash(long)["status"] == "finished")
            let hash = try await stack.jobHash(late)
            #expect(hash["status"] == "queued" && hash["attempts"] == "0", "\(hash)")
            #expect(try await stack.client.send(["LRANGE", "swiftrpc:queue:default", "0", "-1"]) == .array([.bulkString(late)]))
            try await stack.startWorker()
            #expect(try await stack.waitForJob(late)["result"] == 3)
        }
    }

    @Test func theGracePeriodStartsAtSigtermEvenWhenEverySlotIsBusy() async throws {
        try await withStack { stack in
            let worker = try await stack.startWorker(["--concurrency", "1", "--grace", "0.5"])
            let id = try await stack.enqueue("go", ["args": [8]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            worker.signal(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(6)) == 0, "the worker waited for its busy slot instead of the grace period")
            let hash = try await stack.jobHash(id)
            #expect(hash["status"] == "queued" && hash["attempts"] == "1" && hash["result"] == nil)
            #expect(try await stack.client.llen("swiftrpc:queue:default") == 1)
        }
    }

    @Test func aDeployDoesNotRunALongJobTwice() async throws {
        try await withStack { stack in
            // Heartbeats every 0.5 s, dead after 2 s: a drain without heartbeats would look dead.
            let fast = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2"]
            let old = try await stack.startWorker(fast + ["--grace", "30"])
            let id = try await stack.enqueue("go", ["args": [4]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            let oldID = try await stack.jobHash(id)["worker"]
            old.signal(SIGTERM)
            try await stack.startWorker(fast)  // the new version, on the same queue
            #expect(await old.wait(timeout: .seconds(20)) == 0)
            let job = try await stack.waitForJob(id)
            #expect(job["status"] == "finished")
            #expect(job["attempts"] == 1)
            #expect(job["worker"] == oldID.map(JSONValue.string))
            #expect(!stack.log("worker2.log").contains("job=\(id)"))
        }
    }

    @Test func aWorkerStoppedPastItsHeartbeatDropsItsLateAnswerAndRegistersAgain() async throws {
        try await withStack { stack in
            let fast = ["--heartbeat-interval", "0.5", "--heartbeat-ttl", "2"]
            let sleeper = try await stack.startWorker(fast)
            let id = try await stack.enqueue("go", ["args": [3]])
            try await waitUntil { try await stack.jobHash(id)["status"] == "started" }
            let sleeperID = try #require(try await stack.jobHash(id)["worker"])
            sleeper.signal(SIGSTOP)
            try await stack.startWorker(fast)
            try await waitUntil(seconds: 20) { try await stack.jobHash(id)["worker"] != sleeperID }
            sleeper.signal(SIGCONT)
            let job = try await stack.waitForJob(id)
            #expect(job["status"] == "finished" && job["attempts"] == 2)
            #expect(job["worker"] != .string(sleeperID))
            // The sleeper's own run ends later; its answer is dropped, and it registers again.
            try await waitUntil(seconds: 15) { stack.log("worker1.log").contains("outcome dropped") }
            try await waitUntil(seconds: 15) { try await stack.workerIDs().contains(sleeperID) }
            #expect(stack.log("worker1.log").contains("declared dead"))
            #expect(try await stack.waitForJob(id)["worker"] != .string(sleeperID))
            // And it goes on working.
            #expect(try await stack.waitForJob(try await stack.enqueue("test_mq", ["args": [2, 2]]))["result"] == 4)
        }
    }

    @Test func theTypedClientWaitsForAJobsResultWithoutPolling() async throws {
        try await withStack { stack in
            try await stack.startWorker()
            let client = RPCClient(baseURL: "http://127.0.0.1:\(stack.frontPort)")
            let job = try await client.enqueue("test_mq", 2, 3, as: Int.self)
            #expect(try await job.result(timeout: .seconds(20)) == 5)
            let failing = try await client.enqueue("fail_mq", "bad", as: JSONValue.self)
            await #expect { try await failing.result(timeout: .seconds(20)) } throws: { ($0 as? RPCClientError)?.message == "bad" }
            let slow = try await client.enqueue("go", 5, as: String.self)
            await #expect { try await slow.result(timeout: .milliseconds(500)) } throws: { ($0 as? RPCClientError)?.code == "timeout" }
            await #expect { try await client.enqueue("add", 1, 2, as: Int.self) } throws: { ($0 as? RPCClientError)?.code == "not_mq" }
        }
    }

    @Test func aHugeSleepIsAFunctionErrorNotACrash() async throws {
        try await withStack { stack in
            let worker = try await stack.startWorker()
            let job = try await stack.waitForJob(try await stack.enqueue("go", ["args": [1e21]]))
            #expect(job["status"] == "failed" && job["error"]?["code"] == "function_error")
            #expect(worker.exitStatus() == nil)
        }
    }

    @Test func anIdleWorkerAndTheFrontReconnectAfterRedisRestarts() async throws {
        try await withStack { stack in
            try await stack.startWorker()
            #expect(try await stack.waitForJob(try await stack.enqueue("test_mq", ["args": [1, 1]]))["status"] == "finished")
            await stack.redis.kill()
            let down = try await stack.call("test_mq", ["args": [1, 1]])
            #expect(down.status == 503)
            #expect(down.errorCode == "unavailable")
            // Inline calls still work while Redis is away.
            #expect(try await stack.call("add", ["args": [2, 2]]).response == 4)
            let restarted = try await RedisServer.start(port: stack.redis.port, directory: stack.redis.directory)
            do {
                try await waitUntil(seconds: 15) { (try? await stack.workerIDs().isEmpty) == false }
                let id = try await stack.enqueue("test_mq", ["args": [20, 22]])
                let job = try await stack.waitForJob(id)
                #expect(job["result"] == 42)
            } catch {
                await restarted.stop()
                throw error
            }
            await restarted.stop()
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func twoThousandJobsFromSixteenClientsAllRunExactlyOnce() async throws {
        try await withStack { stack in
            try await stack.startWorker(["--concurrency", "16"])
            try await stack.startWorker(["--concurrency", "16"])
            let ids = try await withThrowingTaskGroup(of: [(String, Int)].self) { group in
                for client in 0..<16 {
                    group.addTask {
                        let connection = try RawHTTPConnection(port: stack.frontPort)
                        var mine: [(String, Int)] = []
                        for index in 0..<125 {
                            let a = client * 1000 + index
                            let body = #"{"args": [\#(a), 7]}"#
                            try await connection.send("POST /test_mq HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                            guard let answer = try await connection.readResponse(), let id = answer.json?["job_id"]?.stringValue else {
                                throw TestSupportError("enqueue failed")
                            }
                            mine.append((id, a + 7))
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(ids.count == 2000)
            #expect(Set(ids.map(\.0)).count == 2000)
            try await waitUntil(seconds: 120) {
                let statuses = try await stack.client.pipeline(ids.map { ["HGET", "swiftrpc:job:\($0.0)", "status"] })
                return statuses.allSatisfy { $0.string == "finished" }
            }
            let results = try await stack.client.pipeline(ids.map { ["HGET", "swiftrpc:job:\($0.0)", "result"] })
            #expect(zip(ids, results).allSatisfy { $1.string == String($0.1) })
            // Count executions, not statuses: every job was started exactly once across both workers.
            let logs = stack.log("worker1.log") + stack.log("worker2.log")
            var starts: [String: Int] = [:]
            for line in logs.split(separator: "\n") where line.contains("job started") {
                if let range = line.range(of: "job=") {
                    starts[String(line[range.upperBound...].prefix { $0 != " " }), default: 0] += 1
                }
            }
            #expect(starts.count == 2000)
            #expect(starts.values.allSatisfy { $0 == 1 })
        }
    }
}

/// Polls `condition` (every 50 ms) until it holds or `seconds` pass.
func waitUntil(seconds: Int = 10, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestSupportError("condition not met within \(seconds) s")
}

func parseISO(_ text: String) -> Double? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.date(from: text)?.timeIntervalSince1970
}
