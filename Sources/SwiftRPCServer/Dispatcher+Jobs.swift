#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import SwiftRPC
import Synchronization
import Tracing

/// MQ calls, `get_result` and job lookups: everything of the front that talks to the job store.
extension Dispatcher {
    /// `get_result(job_id)`: answered by the front itself, never queued. It reads Redis without
    /// blocking; SPEC §6 lists it as a `sync` function, and so does `/functions`.
    static let getResultName = "get_result"
    static let getResultParameters: [Parameter] = [.string("job_id")]
    static let getResultListing: JSONValue = [
        "name": "get_result", "mode": "sync", "parameters": [["name": "job_id", "type": "string"]],
    ]

    /// Enqueues an MQ call: the job's ticket, or with `wait` its result when it ends in time.
    func enqueue(
        _ function: RegisteredFunction, options: MQOptions, call: DecodedCall, arguments: Arguments, on eventLoop: any EventLoop
    ) -> Pending<CallOutcome> {
        guard let jobs else {
            return .now(.failure(.unavailable("\(function.name) is an MQ function and this front has no job queue")))
        }
        // When traced, the enqueue's span is a child of the call's, and the job's run will be a
        // child of it.
        let (span, handOn) = TraceParent.startSpan("enqueue \(function.name)", ofKind: .producer, parent: call.traceParent)
        let request = EnqueueRequest(
            id: call.options.jobID ?? makeJobID(), function: function.name, queue: call.options.queue ?? options.queue,
            positional: arguments.positional, keywords: arguments.keywords, maxAttempts: options.retries + 1,
            delay: call.options.delay, traceParent: handOn)
        span?.attributes["swiftrpc.job_id"] = request.id
        span?.attributes["swiftrpc.queue"] = request.queue
        // Both kinds of MQ call stay on this event loop from request to answer.
        guard let wait = call.wait, wait > 0 else {
            let enqueued = jobs.enqueue(request, on: eventLoop)
            if let span { enqueued.whenComplete { _ in span.end() } }
            return .later(
                enqueued.mapResult { enqueued in
                    switch enqueued {
                    case .success(let enqueued): .job(JobTicket(id: request.id, status: enqueued.status, queue: enqueued.queue))
                    case .failure(let error): .failure(self.unavailable(error))
                    }
                })
        }
        let waited = jobs.enqueueAndWait(request, timeout: .seconds(wait), on: eventLoop)
        if let span { waited.whenComplete { _ in span.end() } }
        return .later(
            waited.mapResult { waited in
                switch waited {
                case .success((_, let record?)) where record.status == .finished:
                    return .jobEnded(id: request.id, .success(record.result ?? .null))
                case .success((_, let record?)) where record.status == .failed:
                    let message = record.error?["message"]?.stringValue ?? record.error?.plainText ?? "the job failed"
                    return .jobEnded(id: request.id, .failure(RPCError(.functionError, message)))
                case .success((let enqueued, let record)):
                    return .job(JobTicket(id: request.id, status: record?.status?.rawValue ?? enqueued.status, queue: enqueued.queue))
                case .failure(let error):
                    return .failure(self.unavailable(error))
                }
            })
    }

    /// `get_result(job_id)` by any protocol: the job JSON as the value.
    func getResult(_ call: DecodedCall, on eventLoop: any EventLoop) -> Pending<CallOutcome> {
        let id: String
        do {
            let arguments = try Arguments.bind(
                positional: call.positional, keywords: call.keywords, to: Self.getResultParameters, function: Self.getResultName)
            id = try arguments.string("job_id")
        } catch let error as RPCError {
            return .now(.failure(error))
        } catch {
            return .now(.failure(.invalidArguments("\(error)")))
        }
        return lookUp(id, wait: call.wait, on: eventLoop).map { found in
            switch found {
            case .success(let record): .value(record.json)
            case .failure(let error): .failure(error)
            }
        }
    }

    /// One job's record (waiting up to `wait` seconds for it to end), `unknown_job`, or `unavailable`.
    public func lookUp(_ id: String, wait: Double?, on eventLoop: any EventLoop) -> Pending<Result<JobRecord, RPCError>> {
        // An id that cannot exist never reaches a Redis key.
        guard JobNames.isValidJobID(id) else { return .now(.failure(RPCError(.unknownJob, "no job with id '\(id.prefix(64))'"))) }
        guard let jobs else { return .now(.failure(.unavailable("this front has no job queue"))) }
        let record =
            if let wait, wait > 0 {
                jobs.waitForJob(id: id, timeout: .seconds(wait), on: eventLoop)
            } else {
                jobs.job(id: id, on: eventLoop)
            }
        return .later(
            record.mapResult { found -> Result<JobRecord, RPCError> in
                switch found {
                case .success(let record?): .success(record)
                case .success(nil): .failure(RPCError(.unknownJob, "no job with id '\(id)'"))
                case .failure(let error): .failure(self.unavailable(error))
                }
            })
    }

    /// Answers the job store's health within `timeout`.
    func jobStoreIsUp(timeout: Duration) async -> Bool? {
        guard let jobs else { return nil }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await jobs.ping()) != nil }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// The whole system's jobs for `/metrics` (SPEC §10), in Prometheus text: what every worker
    /// recorded in Redis, so any front reports the same. Empty while Redis is away.
    func jobMetrics() async -> String {
        guard let jobs, let metrics = try? await jobs.jobMetrics() else { return "" }
        var lines = ["# HELP swiftrpc_jobs_total Job deliveries by how they ended, counted by every worker.", "# TYPE swiftrpc_jobs_total counter"]
        lines += metrics.outcomes.map {
            "swiftrpc_jobs_total{queue=\"\($0.queue)\",func=\"\($0.function)\",outcome=\"\($0.outcome)\"} \($0.count)"
        }
        lines += ["# HELP swiftrpc_job_duration_seconds How long jobs ran, by function.", "# TYPE swiftrpc_job_duration_seconds histogram"]
        for durations in metrics.durations {
            let function = durations.function
            var runs = 0
            for (label, inBucket) in zip(JobMetrics.bucketLabels, durations.runsPerBucket) {
                runs += inBucket
                lines.append("swiftrpc_job_duration_seconds_bucket{func=\"\(function)\",le=\"\(label)\"} \(runs)")
            }
            lines.append("swiftrpc_job_duration_seconds_sum{func=\"\(function)\"} \(durations.totalSeconds)")
            lines.append("swiftrpc_job_duration_seconds_count{func=\"\(function)\"} \(runs)")
        }
        lines += ["# HELP swiftrpc_queue_length Jobs waiting in each queue.", "# TYPE swiftrpc_queue_length gauge"]
        lines += metrics.queues.map { "swiftrpc_queue_length{queue=\"\($0.name)\"} \($0.length)" }
        lines += ["# HELP swiftrpc_queue_active Jobs of each queue that workers hold now.", "# TYPE swiftrpc_queue_active gauge"]
        lines += metrics.queues.map { "swiftrpc_queue_active{queue=\"\($0.name)\"} \($0.active)" }
        lines += ["# HELP swiftrpc_workers Live workers.", "# TYPE swiftrpc_workers gauge", "swiftrpc_workers \(metrics.workers)"]
        return lines.joined(separator: "\n") + "\n"
    }

    private func unavailable(_ error: any Error) -> RPCError {
        logger.warning("job store unreachable", metadata: ["error": "\(error)"])
        return .unavailable("the job store (Redis) is unreachable: \(error)")
    }
}

/// A random (version 4) UUID in its usual text form. Job ids are capabilities (whoever knows
/// one reads the result), so they come from the system's CSPRNG, drawn 4 KiB at a time (see
/// `RandomPool`): drawing per id cost a fifth of an enqueue's CPU when it took 16 `getrandom`
/// calls, and still 2.5% at two; now one call serves 16 ids.
func makeJobID() -> String {
    var (high, low) = randomPool.withLock { $0.next() }
    high = high & ~(0xF << 12) | (0x4 << 12)  // version 4 in byte 6's high nibble
    low = low & ~(0xC << 60) | (0x8 << 60)  // the RFC 4122 variant in byte 8's top bits
    let hexDigits: StaticString = "0123456789abcdef"
    return String(unsafeUninitializedCapacity: 36) { text in
        var index = 0
        func put(_ value: UInt64) {
            for nibble in (0..<16).reversed() {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    text[index] = UInt8(ascii: "-")
                    index += 1
                }
                text[index] = hexDigits.utf8Start[Int(value >> (UInt64(nibble) * 4) & 0xF)]
                index += 1
            }
        }
        put(high)
        put(low)
        return index
    }
}

private let randomPool = Mutex(RandomPool())

/// Bytes from the kernel's CSPRNG (`getentropy`, that is `getrandom`), fetched 256 at a time
/// (the most one call gives) and each handed out once. Not copyable: a copy would hand out
/// the same bytes again.
private struct RandomPool: ~Copyable {
    private var words = [UInt64](repeating: 0, count: 32)
    private var used = 32

    /// The next 16 unused bytes, as two words.
    mutating func next() -> (UInt64, UInt64) {
        if used == words.count {
            let status = words.withUnsafeMutableBytes { getentropy($0.baseAddress, $0.count) }
            precondition(status == 0, "getentropy failed: errno \(errno)")  // only for a bad buffer or length
            used = 0
        }
        defer { used += 2 }
        return (words[used], words[used + 1])
    }
}
