import Logging
import NIOCore
import NIOHTTP1
import SwiftRPC

/// MQ calls, `/jobs/{id}` and `get_result`: everything of the front that talks to the job store.
extension RPCRouter {
    /// `get_result(job_id)`: answered by the front itself, never queued. It reads Redis without
    /// blocking; SPEC §6 lists it as a `sync` function, and so does `/functions`.
    static let getResultName = "get_result"
    static let getResultParameters: [Parameter] = [.string("job_id")]
    static let getResultListing: JSONValue = [
        "name": "get_result", "mode": "sync", "parameters": [["name": "job_id", "type": "string"]],
    ]

    /// Enqueues an MQ call: 202 with the job id, or with `?wait=` the result when it comes in time.
    func enqueue(
        _ function: RegisteredFunction, options: MQOptions, call: DecodedCall, arguments: Arguments, on eventLoop: any EventLoop
    ) -> RPCReply {
        guard let jobs else {
            return .now(.error(.unavailable("\(function.name) is an MQ function and this front has no job queue")))
        }
        let request = EnqueueRequest(
            id: call.options.jobID ?? makeJobID(), function: function.name, queue: call.options.queue ?? options.queue,
            positional: arguments.positional, keywords: arguments.keywords, maxAttempts: options.retries + 1,
            delay: call.options.delay)
        return .later(
            eventLoop.makeFutureWithTask {
                let enqueued: EnqueueResult
                var finalRecord: JobRecord? = nil
                if let wait = call.wait, wait > 0 {
                    (enqueued, finalRecord) = try await jobs.enqueueAndWait(request, timeout: .seconds(wait))
                } else {
                    enqueued = try await jobs.enqueue(request)
                }
                var status = enqueued.status
                if let record = finalRecord {
                    switch record.status {
                    case .finished?:
                        return .json(["response": record.result ?? .null, "job_id": .string(request.id)])
                    case .failed?:
                        let message = record.error?["message"]?.stringValue ?? record.error?.plainText ?? "the job failed"
                        var response = RPCResponse.json(
                            ["error": ["code": "function_error", "message": .string(message)], "job_id": .string(request.id)],
                            status: .internalServerError)
                        response.errorCode = "function_error"
                        return response
                    default:
                        status = record.status?.rawValue ?? status
                    }
                }
                return .json(
                    ["job_id": .string(request.id), "status": .string(status), "queue": .string(enqueued.queue)], status: .accepted,
                    headers: [("Location", "/jobs/\(request.id)")])
            }.recover { error in
                self.unavailable(error)
            })
    }

    /// `GET /jobs/{id}[?wait=SECONDS]`: the bare job JSON.
    func jobRoute(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        guard request.method == .GET || request.method == .HEAD else {
            return .now(.error(RPCError(.methodNotAllowed, "/jobs/{id} answers GET only")))
        }
        let id = String(request.path.dropFirst("/jobs/".count))
        let wait: Double?
        do {
            wait = try CallDecoder.wait(query: request.query.map(String.init))
        } catch {
            return .now(.error(error))
        }
        return lookUp(id, wait: wait, on: eventLoop) { .json($0.json) }
    }

    /// `get_result(job_id)` by any request form: `{"response": <job JSON>}`.
    func getResult(_ request: RPCRequest, on eventLoop: any EventLoop) -> RPCReply {
        guard request.method == .GET || request.method == .POST else {
            return .now(.error(RPCError(.methodNotAllowed, "call functions with GET or POST, not \(request.method)")))
        }
        let call: DecodedCall
        let id: String
        do {
            call = try request.decodeCall()
            let arguments = try Arguments.bind(
                positional: call.positional, keywords: call.keywords, to: Self.getResultParameters, function: Self.getResultName)
            id = try arguments.string("job_id")
        } catch let error as RPCError {
            return .now(.error(error))
        } catch {
            return .now(.error(.invalidArguments("\(error)")))
        }
        return lookUp(id, wait: call.wait, on: eventLoop) { .result($0.json) }
    }

    private func lookUp(_ id: String, wait: Double?, on eventLoop: any EventLoop, answer: @escaping @Sendable (JobRecord) -> RPCResponse) -> RPCReply {
        // An id that cannot exist never reaches a Redis key.
        guard JobNames.isValidJobID(id) else { return .now(.error(RPCError(.unknownJob, "no job with id '\(id.prefix(64))'"))) }
        guard let jobs else { return .now(.error(.unavailable("this front has no job queue"))) }
        return .later(
            eventLoop.makeFutureWithTask {
                let record: JobRecord?
                if let wait, wait > 0 {
                    record = try await jobs.waitForJob(id: id, timeout: .seconds(wait))
                } else {
                    record = try await jobs.job(id: id)
                }
                guard let record else { return .error(RPCError(.unknownJob, "no job with id '\(id)'")) }
                return answer(record)
            }.recover { error in
                self.unavailable(error)
            })
    }

    /// The queue lengths and job counts for `/metrics`, in Prometheus text (empty while Redis is away).
    func jobMetrics() async -> String {
        guard let jobs else { return "" }
        var lines: [String] = []
        if let stats = try? await jobs.queueStats() {
            lines.append("# TYPE swiftrpc_queue_length gauge")
            lines += stats.map { "swiftrpc_queue_length{queue=\"\($0.name)\"} \($0.length)" }
            lines.append("# TYPE swiftrpc_queue_active gauge")
            lines += stats.map { "swiftrpc_queue_active{queue=\"\($0.name)\"} \($0.active)" }
        }
        let completed = jobs.completedJobs
        lines += [
            "# TYPE swiftrpc_jobs_finished_total counter", "swiftrpc_jobs_finished_total \(completed.finished)",
            "# TYPE swiftrpc_jobs_failed_total counter", "swiftrpc_jobs_failed_total \(completed.failed)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    private func unavailable(_ error: any Error) -> RPCResponse {
        logger.warning("job store unreachable", metadata: ["error": "\(error)"])
        return .error(.unavailable("the job store (Redis) is unreachable: \(error)"))
    }
}

/// A random (version 4) UUID in its usual text form.
func makeJobID() -> String {
    var generator = SystemRandomNumberGenerator()
    var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    bytes[6] = bytes[6] & 0x0F | 0x40
    bytes[8] = bytes[8] & 0x3F | 0x80
    let hex = bytes.map { String($0, radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    let characters = Array(hex)
    return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(characters[$0]) }.joined(separator: "-")
}
