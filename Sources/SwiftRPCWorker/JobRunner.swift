import Logging
import Metrics
import NIOCore
import NIOPosix
import Redis
import Synchronization
import SwiftRPC
import SwiftRPCRedis
import Tracing

/// Runs one delivery of a job: binds its arguments, runs the function under its timeout, and
/// records the outcome under the delivery's lease (a job whose function is unknown here is
/// deferred for another worker). Everything it writes goes through `RedisJobQueue`'s scripts.
struct JobRunner: Sendable {
    let registry: FunctionRegistry
    let jobs: RedisJobQueue
    let policy: DeliveryPolicy
    /// How long a job whose function this worker lacks waits before another worker may take it.
    let unknownFunctionDelay: Duration
    /// Where blocking MQ functions run.
    let blockingPool: NIOThreadPool

    /// Runs one delivery of `job`, taken by `worker`, and records its outcome.
    func run(_ job: TakenJob, worker: String, logger: Logger) async {
        var logger = logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "func"] = "\(job.function)"
        if let trace = job.traceParent { logger[metadataKey: "trace_id"] = "\(trace.traceID)" }
        // This run's span, when traced: a child of the enqueue's, whose traceparent the job holds.
        let span = TraceParent.startSpan("job \(job.function)", ofKind: .consumer, parent: job.traceParent).span
        span?.attributes["swiftrpc.job_id"] = job.id
        span?.attributes["swiftrpc.attempt"] = job.attempts
        defer { span?.end() }
        let started = ContinuousClock.now
        guard let function = registry.function(named: job.function), case .mq(let work, let options) = function.body else {
            await deferUnknown(job, worker: worker, logger: logger)
            return
        }
        logger.info("job started", metadata: ["queue": "\(job.queue)", "attempt": "\(job.attempts)/\(job.maxAttempts)"])
        let outcome: Result<JSONValue, RPCError>
        do {
            let arguments = try Arguments.bind(
                positional: job.positional.map(ArgumentValue.json), keywords: job.keywords.map { ($0.key, .json($0.value)) },
                to: function.parameters, function: function.name)
            let context = JobContext(
                jobID: job.id, attempt: job.attempts, delivery: job.lease, deadline: started + options.timeout, logger: logger)
            outcome = await call(work, arguments, context: context, timeout: options.timeout)
        } catch {
            outcome = .failure(error)
        }
        let elapsed = ContinuousClock.now - started
        switch outcome {
        case .success(let value):
            let recorded = await record(job, logger: logger) {
                try await jobs.finish(job, worker: worker, result: value, resultTTL: options.resultTTL, ran: elapsed)
            }
            switch recorded {
            case true?:
                logger.info("job finished", metadata: ["duration": "\(elapsed)"])
                count(job, "finished", ran: elapsed)
            case false?: logLeaseLost(job, logger)
            case nil: break
            }
        case .failure(let error):
            span?.recordError(error)
            let code = error.code == .timeout ? "timeout" : "function_error"
            let retry = job.attempts < job.maxAttempts && error.code != .invalidArguments
            let backoff = options.retryBackoff * (1 << min(job.attempts - 1, 20))
            let recorded = await record(job, logger: logger) {
                try await jobs.fail(
                    job, worker: worker, error: ["code": .string(code), "message": .string(error.message)],
                    retryAt: retry ? Timestamp.now() + backoff.inSeconds : nil, failureTTL: options.failureTTL, policy: policy, ran: elapsed)
            }
            switch recorded {
            case .retrying?:
                logger.warning("job failed; retrying", metadata: ["error": "\(error.message)", "backoff": "\(backoff)"])
                count(job, "retried", ran: elapsed)
            case .failed?:
                logger.error("job failed", metadata: ["error": "\(error.message)", "duration": "\(elapsed)"])
                count(job, "failed", ran: elapsed)
            case .leaseLost?: logLeaseLost(job, logger)
            case nil: break
            }
        }
    }

    /// A job whose function this worker lacks (another version of the app, mid-deploy) waits
    /// for another worker; after `maxDeliveries` starts it fails.
    private func deferUnknown(_ job: TakenJob, worker: String, logger: Logger) async {
        let error: JSONValue = ["code": "function_error", "message": .string("no worker that took this job has an MQ function named '\(job.function)'")]
        let dueAt = Timestamp.now() + unknownFunctionDelay.inSeconds
        let outcome = await record(job, logger: logger) {
            try await jobs.deferJob(job, worker: worker, dueAt: dueAt, error: error, policy: policy)
        }
        switch outcome {
        case .retrying?:
            logger.warning(
                "no MQ function of that name in this worker; the job waits for another worker",
                metadata: ["delivery": "\(job.attempts)/\(policy.maxDeliveries)", "delay": "\(unknownFunctionDelay)"])
        case .failed?:
            logger.error("no MQ function of that name in any worker that took the job; it failed", metadata: ["deliveries": "\(job.attempts)"])
            count(job, "failed", ran: nil)
        case .leaseLost?: logLeaseLost(job, logger)
        case nil: break
        }
    }

    private func logLeaseLost(_ job: TakenJob, _ logger: Logger) {
        logger.warning(
            "outcome dropped: this delivery no longer holds the job (the worker was silent past the heartbeat TTL, or its grace period ended)")
        count(job, "lost", ran: nil)
    }

    /// This process's own series, through swift-metrics (a no-op unless the app bootstraps a
    /// factory, as `--metrics-port` does). The system's counts are kept by the scripts in Redis.
    private func count(_ job: TakenJob, _ outcome: String, ran: Duration?) {
        Counter(label: "swiftrpc_worker_jobs_total", dimensions: [("queue", job.queue), ("func", job.function), ("outcome", outcome)]).increment()
        if let ran { Timer(label: "swiftrpc_worker_job_duration_seconds", dimensions: [("func", job.function)]).recordSeconds(ran.inSeconds) }
    }

    /// Runs the function under its timeout. At the deadline the delivery ends with `timeout`
    /// and the slot is free, even if the function ignores cancellation (it is cancelled and
    /// left to finish on its own; its result is then dropped).
    private func call(
        _ work: RegisteredFunction.MQWork, _ arguments: Arguments, context: JobContext, timeout: Duration
    ) async -> Result<JSONValue, RPCError> {
        let pool = blockingPool
        // Built only for a job that times out: formatting the duration costs every job otherwise.
        let timedOut: @Sendable () -> RPCError = { RPCError(.timeout, "the job ran past its timeout of \(timeout)") }
        var timer: Scheduled<Void>?
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<JSONValue, RPCError>, Never>) in
            let outcome = FirstOutcome(continuation)
            let task = Task {
                do {
                    let value: JSONValue
                    switch work {
                    case .async(let body):
                        value = try await JobContext.$current.withValue(context) { try await body(arguments) }
                    case .blocking(let body):
                        value = try await pool.runIfActive { try JobContext.$current.withValue(context) { try body(arguments) } }
                    }
                    outcome.resume(.success(value))
                } catch {
                    outcome.resume(.failure(error is CancellationError ? timedOut() : .functionError(error)))
                }
            }
            timer = jobs.redis.eventLoopGroup.next().scheduleTask(in: TimeAmount(timeout)) {
                if outcome.resume(.failure(timedOut())) { task.cancel() }
            }
        }
        timer?.cancel()
        return result
    }

    /// Writes a job's outcome, retrying while Redis is away (the job stays in our active
    /// list meanwhile, so if we die it is recovered, not lost). `nil` when it gave up: the id
    /// stays in the active list and the next sweeps give the job back.
    private func record<Outcome: Sendable>(
        _ job: TakenJob, logger: Logger, _ write: @escaping @Sendable () async throws -> Outcome
    ) async -> Outcome? {
        var backoff = Duration.milliseconds(100)
        for attempt in 1... {
            do {
                return try await write()
            } catch {
                if attempt == 1 { logger.warning("cannot store the job's outcome: \(error); retrying") }
                if attempt > 60 {
                    logger.error("gave up storing the job's outcome; the job stays active and will be given back")
                    return nil
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
        return nil
    }
}

/// Resumes a continuation with the first outcome offered; later ones are ignored.
private final class FirstOutcome<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) { self.continuation = Mutex(continuation) }

    /// `true` when this was the first outcome.
    @discardableResult
    func resume(_ value: Value) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(returning: value)
        return true
    }
}
