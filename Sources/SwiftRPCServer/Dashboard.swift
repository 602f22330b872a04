import NIOCore
import NIOHTTP1
import SwiftRPC

/// The dashboard (SPEC §10): `GET /dashboard`, an HTML page rendered here with everything it
/// needs inside it, and the JSON API under `/api/` that its buttons and any script use. The
/// page reloads its live part from `/dashboard?part=live` every 2 s.
struct Dashboard {
    let dispatcher: Dispatcher

    /// Jobs shown per queue.
    static let recentJobs = 20

    /// The answer for `/dashboard` or a path under `/api/`.
    func respond(to request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        let path = request.path
        if !path.utf8.starts(with: "/api/".utf8) {
            guard request.method == .GET || request.method == .HEAD else { return .now(.error(RPCError(.methodNotAllowed, "\(path) answers GET only"))) }
            return withJobs(on: eventLoop) { jobs in
                let overview = try await jobs.overview(recentJobs: Self.recentJobs)
                let failed = try await jobs.failedJobs(queue: nil)
                let live = Self.live(overview, failed: failed, now: Timestamp.now())
                let html = request.query.map { $0.split(separator: "&").contains("part=live") } == true ? live : Self.page(live: live)
                return RPCResponse(status: .ok, body: Array(html.utf8), contentType: "text/html; charset=utf-8", headers: [("Cache-Control", "no-store")])
            }
        }
        let parts = path.split(separator: "/")  // ["api", ...]
        switch (request.method, parts.count) {
        case (.GET, 2) where parts[1] == "overview":
            return withJobs(on: eventLoop) { jobs in .json(Self.json(try await jobs.overview(recentJobs: Self.recentJobs))) }
        case (.GET, 2) where parts[1] == "failed":
            return withJobs(on: eventLoop) { jobs in .json(["jobs": .array(try await jobs.failedJobs(queue: nil).map(\.json))]) }
        case (.POST, 4) where parts[1] == "failed" && (parts[3] == "retry" || parts[3] == "delete"):
            let id = String(parts[2])
            let retry = parts[3] == "retry"
            guard JobNames.isValidJobID(id) else { return .now(.error(RPCError(.unknownJob, "no failed job with id '\(id.prefix(64))'"))) }
            return withJobs(on: eventLoop) { jobs in
                guard try await (retry ? jobs.retryFailed(job: id) : jobs.deleteFailed(job: id)) else {
                    return .error(RPCError(.unknownJob, "no failed job with id '\(id)'"))
                }
                return .json(["job_id": .string(id), "message": .string(retry ? "job \(id) queued again" : "job \(id) deleted")])
            }
        case (_, 2) where ["overview", "failed"].contains(parts[1]):
            return .now(.error(RPCError(.methodNotAllowed, "\(path) answers GET only")))
        case (_, 4) where parts[1] == "failed":
            return .now(.error(RPCError(.methodNotAllowed, "\(path) answers POST only")))
        default:
            return .now(.error(RPCError(.notFound, "no API route \(path): /api/overview, /api/failed, POST /api/failed/{id}/retry or /delete")))
        }
    }

    /// Runs `answer` against the job store; 503 when there is none or Redis does not answer.
    private func withJobs(on eventLoop: any EventLoop, _ answer: @escaping @Sendable (any JobQueueDriver) async throws -> RPCResponse)
        -> RPCReply
    {
        guard let jobs = dispatcher.jobs else { return .now(.error(.unavailable("this front has no job queue"))) }
        return .later(
            eventLoop.makeFutureWithTask {
                do {
                    return try await answer(jobs)
                } catch {
                    return .error(.unavailable("the job store (Redis) is unreachable: \(error)"))
                }
            })
    }

    static func json(_ overview: QueueOverview) -> JSONValue {
        [
            "queues": .array(
                overview.queues.map {
                    [
                        "name": .string($0.stats.name), "length": .int($0.stats.length), "active": .int($0.stats.active),
                        "scheduled": .int($0.scheduled), "failed": .int($0.failed), "recent": .array($0.recent.map(\.json)),
                    ]
                }),
            "workers": .array(overview.workers.map(\.json)),
        ]
    }

    // MARK: HTML

    /// The part of the page that refreshes: queues, workers, jobs per queue, failed jobs.
    static func live(_ overview: QueueOverview, failed: [JobRecord], now: Double) -> String {
        var html = "<h2>Queues</h2>\n"
        html += table(
            ["queue", "length", "active", "scheduled", "failed"],
            overview.queues.map { [escaped($0.stats.name), "\($0.stats.length)", "\($0.stats.active)", "\($0.scheduled)", "\($0.failed)"] }, id: "queues")
        html += "<h2>Workers</h2>\n"
        html += table(
            ["worker", "host", "pid", "queues", "current jobs", "heartbeat"],
            overview.workers.map { worker in
                let age = worker.fields["heartbeat_at"].flatMap(Timestamp.seconds(fromISO8601:)).map { "\(Int(max(0, now - $0).rounded())) s ago" } ?? "gone"
                return [
                    escaped(worker.id), escaped(worker.fields["host"] ?? ""), escaped(worker.fields["pid"] ?? ""), escaped(worker.fields["queues"] ?? ""),
                    worker.currentJobs.isEmpty ? "-" : worker.currentJobs.map(jobLink).joined(separator: " "), age,
                ]
            }, id: "workers")
        for queue in overview.queues {
            html += "<h2>Recent jobs: \(escaped(queue.stats.name))</h2>\n"
            html += table(
                ["job", "func", "status", "attempts", "enqueued", "ended"],
                queue.recent.map { job in
                    [
                        jobLink(job.id), escaped(job.function), "<span class=\"status \(escaped(job.status?.rawValue ?? ""))\">\(escaped(job.fields["status"] ?? ""))</span>",
                        "\(job.attempts)", escaped(job.fields["enqueued_at"] ?? ""), escaped(job.fields["ended_at"] ?? ""),
                    ]
                }, id: "recent-\(escaped(queue.stats.name))")
        }
        html += "<h2>Failed jobs</h2>\n"
        html += table(
            ["job", "queue", "func", "error", "ended", ""],
            failed.map { job in
                let message = job.error?["message"]?.stringValue ?? job.error?.plainText ?? ""
                let id = escaped(job.id)
                return [
                    jobLink(job.id), escaped(job.queue), escaped(job.function), escaped(message), escaped(job.fields["ended_at"] ?? ""),
                    "<button data-action=\"/api/failed/\(id)/retry\">retry</button> <button data-action=\"/api/failed/\(id)/delete\">delete</button>",
                ]
            }, id: "failed")
        return html
    }

    private static func jobLink(_ id: String) -> String {
        "<a href=\"/jobs/\(escaped(id))\">\(escaped(id))</a>"
    }

    private static func table(_ header: [String], _ rows: [[String]], id: String) -> String {
        var html = "<table id=\"\(id)\"><tr>" + header.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        for row in rows { html += "<tr>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>\n" }
        if rows.isEmpty { html += "<tr><td colspan=\"\(header.count)\" class=\"none\">none</td></tr>\n" }
        return html + "</table>\n"
    }

    static func escaped(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    static func page(live: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>SwiftRPC dashboard</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.4em; }
        table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
        th { background: #f3f3f3; } td.none { color: #888; }
        .status.finished { color: #17702b; } .status.failed { color: #b00020; } .status.started { color: #0b57d0; }
        #notice { min-height: 1.4em; color: #0b57d0; }
        </style>
        </head>
        <body>
        <h1>SwiftRPC</h1>
        <p id="notice"></p>
        <div id="live">
        \(live)</div>
        <script>
        const live = document.getElementById('live'), notice = document.getElementById('notice');
        async function refresh() {
          try {
            const answer = await fetch('/dashboard?part=live', {cache: 'no-store'});
            if (answer.ok) live.innerHTML = await answer.text();
          } catch (error) { notice.textContent = 'cannot reach the front: ' + error; }
        }
        setInterval(refresh, 2000);
        document.addEventListener('click', async (event) => {
          const button = event.target.closest('button[data-action]');
          if (!button) return;
          const answer = await fetch(button.dataset.action, {method: 'POST'});
          const body = await answer.json();
          notice.textContent = answer.ok ? body.message : body.error.message;
          refresh();
        });
        </script>
        </body>
        </html>

        """
    }
}
