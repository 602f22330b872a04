import Logging
import Redis
import SwiftRPC
import SwiftRPCRedis
import Testing
import TestSupport

/// SPEC §10's system-wide metrics with real processes: workers count in Redis, any front reports.
@Suite("System-wide metrics", .serialized)
struct MetricsTests {
    @Test(.timeLimit(.minutes(2))) func aFrontStartedAfterTwoWorkersRanAThousandJobsReportsThemAll() async throws {
        try await Stack.with(front: false) { stack in
            try await stack.startWorker(["--concurrency", "16"])
            try await stack.startWorker(["--concurrency", "16"])
            let jobs = RedisJobQueue(redis: stack.client, logger: Logger(label: "metrics-tests"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in 0..<10 {
                    group.addTask {
                        for n in 0..<100 {
                            _ = try await jobs.enqueue(
                                EnqueueRequest(
                                    id: "m-\(batch)-\(n)", function: "test_mq", queue: "default", positional: [1, 2], keywords: JSONObject(), maxAttempts: 1))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let finishedField = "finished default test_mq"
            for _ in 0..<600 {
                if try await stack.client.send(["HGET", "swiftrpc:metrics:jobs", finishedField]).int == 1000 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // Each worker counted its own share in its hash; together they ran all 1,000.
            var byWorker: [Int] = []
            for id in try await stack.workerIDs() {
                byWorker.append(Int(try await stack.client.hgetall("swiftrpc:worker:\(id)")["jobs_finished"] ?? "") ?? 0)
            }
            #expect(byWorker.count == 2 && byWorker.reduce(0, +) == 1000)

            try await stack.startFront()
            let metrics = try await httpRequest(port: stack.frontPort, method: "GET", path: "/metrics")
            let lines = Set(metrics.text.split(separator: "\n").map(String.init))
            #expect(lines.contains(#"swiftrpc_jobs_total{queue="default",func="test_mq",outcome="finished"} 1000"#))
            #expect(lines.contains(#"swiftrpc_job_duration_seconds_count{func="test_mq"} 1000"#))
            #expect(lines.contains(#"swiftrpc_job_duration_seconds_bucket{func="test_mq",le="+Inf"} 1000"#))
            #expect(lines.contains(#"swiftrpc_queue_length{queue="default"} 0"#))
            #expect(lines.contains(#"swiftrpc_queue_active{queue="default"} 0"#))
            #expect(lines.contains("swiftrpc_workers 2"))
            #expect(lines.contains("# TYPE swiftrpc_job_duration_seconds histogram"))
            #expect(!metrics.text.contains(#"outcome="failed""#))
        }
    }

    @Test(.timeLimit(.minutes(2))) func aWorkerServesItsOwnMetricsAndHealthOnItsMetricsPort() async throws {
        try await Stack.with(front: false) { stack in
            let port = try freePort()
            try await stack.startWorker(["--metrics-port", String(port)])
            let jobs = RedisJobQueue(redis: stack.client, logger: Logger(label: "metrics-tests"))
            for (id, function, arguments) in [("ok-1", "test_mq", [1, 2]), ("ok-2", "test_mq", [3, 4]), ("bad", "fail_mq", ["no"] as [JSONValue])] {
                _ = try await jobs.enqueue(
                    EnqueueRequest(id: id, function: function, queue: "default", positional: arguments, keywords: JSONObject(), maxAttempts: 1))
            }
            for id in ["ok-1", "ok-2", "bad"] {
                for _ in 0..<200 where try await jobs.job(id: id)?.status?.isTerminal != true { try await Task.sleep(for: .milliseconds(50)) }
            }
            let metrics = try await httpRequest(port: port, method: "GET", path: "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"swiftrpc_worker_jobs_total{queue="default",func="test_mq",outcome="finished"} 2"#))
            #expect(metrics.text.contains(#"swiftrpc_worker_jobs_total{queue="default",func="fail_mq",outcome="failed"} 1"#))
            #expect(metrics.text.contains(#"swiftrpc_worker_job_duration_seconds_count{func="test_mq"} 2"#))
            #expect(try await httpRequest(port: port, method: "GET", path: "/nothing").status == 404)

            let health = try await httpRequest(port: port, method: "GET", path: "/healthz")
            #expect(health.status == 200 && health.json?["redis"] == "up")
            await stack.redis.kill()
            let down = try await httpRequest(port: port, method: "GET", path: "/healthz")
            #expect(down.status == 503 && down.json?["status"] == "degraded" && down.json?["redis"] == "down")
        }
    }
}
