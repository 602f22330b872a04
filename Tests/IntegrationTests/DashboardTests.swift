import Foundation
import ProcessSupport
import Redis
import SwiftRPC
import Testing
import TestSupport

/// SPEC §10's dashboard and its JSON API against the real binaries; the browser test drives
/// the page in headless Chromium when `SWIFTRPC_BROWSER_TESTS=1` (scripts/bootstrap installs
/// chromium and chromium-driver then).
@Suite("Dashboard", .serialized)
struct DashboardTests {
    /// A job that failed for good the way a lost one does, on `default`'s failed list, which
    /// succeeds when it runs again.
    func storeFailedJob(_ stack: Stack, id: String) async throws {
        _ = try await stack.client.send([
            "HSET", "swiftrpc:job:\(id)", "id", id, "func", "test_mq", "queue", "default", "args", "[2,3]", "kwargs", "{}", "status", "failed",
            "error", #"{"code":"worker_lost","message":"its worker was lost 3 times"}"#, "attempts", "3", "max_attempts", "1",
            "enqueued_at", Timestamp.iso8601(), "ended_at", Timestamp.iso8601(),
        ])
        _ = try await stack.client.send(["LPUSH", "swiftrpc:failed:default", id])
        _ = try await stack.client.send(["SADD", "swiftrpc:queues", "default"])
    }

    @Test func thePageAndItsAPIShowQueuesWorkersJobsAndFailures() async throws {
        try await Stack.with { stack in
            try await stack.startWorker()
            let done = try await stack.enqueue("test_mq", ["args": [2, 3]])
            _ = try await stack.waitForJob(done)
            let failed = try await stack.enqueue("fail_mq", ["args": ["<b>boom</b>"]])
            _ = try await stack.waitForJob(failed)
            _ = try await stack.call("test_mq", ["args": [1, 1], "options": ["queue": "later", "job_id": "waits"]])

            let page = try await httpRequest(port: stack.frontPort, method: "GET", path: "/dashboard")
            #expect(page.status == 200 && page.header("content-type") == "text/html; charset=utf-8")
            #expect(page.text.contains("<table id=\"queues\">") && page.text.contains("setInterval(refresh, 2000)"))
            #expect(page.text.contains("<td>later</td><td>1</td><td>0</td><td>0</td><td>0</td>"))
            #expect(page.text.contains("<a href=\"/jobs/\(done)\">\(done)</a>"))
            #expect(page.text.contains("&lt;b&gt;boom&lt;/b&gt;") && !page.text.contains("<b>boom</b>"))  // escaped
            #expect(page.text.contains("data-action=\"/api/failed/\(failed)/retry\""))
            #expect(!page.text.contains("http://") && !page.text.contains("https://"))  // nothing from the network
            let live = try await httpRequest(port: stack.frontPort, method: "GET", path: "/dashboard?part=live")
            #expect(live.text.hasPrefix("<h2>Queues</h2>") && !live.text.contains("<script>"))

            let overview = try #require(try await httpRequest(port: stack.frontPort, method: "GET", path: "/api/overview").json)
            let queues = overview["queues"]?.arrayValue ?? []
            let defaultQueue = try #require(queues.first { $0["name"] == "default" })
            #expect(defaultQueue["failed"] == 1 && defaultQueue["length"] == 0)
            #expect(defaultQueue["recent"]?.arrayValue?.compactMap { $0["job_id"]?.stringValue }.contains(done) == true)
            #expect(overview["workers"]?.arrayValue?.count == 1)
            let failedList = try await httpRequest(port: stack.frontPort, method: "GET", path: "/api/failed")
            #expect(failedList.json?["jobs"]?.arrayValue?.first?["job_id"]?.stringValue == failed)

            // Retry and delete, and what they refuse.
            try await storeFailedJob(stack, id: "lost-1")
            let retried = try await httpRequest(port: stack.frontPort, path: "/api/failed/lost-1/retry", body: "")
            #expect(retried.status == 200 && retried.json?["message"] == "job lost-1 queued again")
            #expect(try await stack.waitForJob("lost-1")["result"] == 5)
            #expect(try await httpRequest(port: stack.frontPort, path: "/api/failed/lost-1/retry", body: "").status == 404)  // not failed now
            let deleted = try await httpRequest(port: stack.frontPort, path: "/api/failed/\(failed)/delete", body: "")
            #expect(deleted.status == 200)
            #expect(try await stack.jobHash(failed).isEmpty)
            #expect(try await stack.client.llen("swiftrpc:failed:default") == 0)
            #expect(try await httpRequest(port: stack.frontPort, path: "/api/failed/\(done)/delete", body: "").status == 404)  // finished, kept
            #expect(try await stack.jobHash(done)["status"] == "finished")
            #expect(try await httpRequest(port: stack.frontPort, path: "/api/failed/a%20b/delete", body: "").status == 404)
            #expect(try await httpRequest(port: stack.frontPort, method: "GET", path: "/api/failed/x/delete").status == 405)
            #expect(try await httpRequest(port: stack.frontPort, path: "/api/overview", body: "").status == 405)
            #expect(try await httpRequest(port: stack.frontPort, path: "/dashboard", body: "").status == 405)
            #expect(try await httpRequest(port: stack.frontPort, method: "GET", path: "/api/nothing").status == 404)

            // Redis gone: 503, and the front goes on.
            await stack.redis.kill()
            #expect(try await httpRequest(port: stack.frontPort, method: "GET", path: "/dashboard").status == 503)
            #expect(try await httpRequest(port: stack.frontPort, method: "GET", path: "/api/overview").status == 503)
            #expect(try await stack.call("add", ["args": [1, 2]]).json?["response"] == 3)
        }
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["SWIFTRPC_BROWSER_TESTS"] == "1"), .timeLimit(.minutes(3)))
    func headlessChromiumSeesJobsComeRetriesAndDeletes() async throws {
        try await Stack.with { stack in
            try await stack.startWorker()  // queue default only: jobs on `later` stay queued
            try await storeFailedJob(stack, id: "lost-7")
            let doomed = try await stack.enqueue("fail_mq", ["args": ["out of paper"]])
            _ = try await stack.waitForJob(doomed)
            let screenshot = ProcessInfo.processInfo.environment["SWIFTRPC_SCREENSHOT"] ?? stack.directory + "/dashboard.png"
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Browser/dashboard_browser.py").path
            let log = stack.directory + "/browser.log"
            let browser = try ChildProcess(
                executable: "python3", arguments: [script, "http://127.0.0.1:\(stack.frontPort)", "order-77", "lost-7", doomed, screenshot], outputPath: log)
            let status = await browser.wait(timeout: .seconds(150))
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0, "\(output)")
            #expect(try await stack.jobHash("lost-7")["status"] == "finished")
            #expect(try await stack.jobHash(doomed).isEmpty)
            #expect(try await stack.jobHash("order-77")["status"] == "queued")
            #expect(FileManager.default.fileExists(atPath: screenshot))
        }
    }
}
