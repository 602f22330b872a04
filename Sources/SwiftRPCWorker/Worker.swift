import Logging
import NIOCore
import NIOPosix
import Redis
import ServiceLifecycle
import Synchronization
import SwiftRPC
import SwiftRPCRedis

#if canImport(Glibc)
import Glibc
#endif

/// One worker process: takes jobs from its queues into its own active list, runs up to
/// `concurrency` at once, writes results, sends heartbeats, recovers dead workers' jobs and
/// queues due scheduled jobs. On graceful shutdown it takes no new job, lets the jobs in hand
/// finish within the grace period, and puts any still running back on their queues.
public final class Worker: Service {
    public struct Configuration: Sendable {
        /// Queues in priority order.
        public var queues: [String]
        public var concurrency: Int
        /// Exit when the queues are empty (scheduled jobs are not waited for).
        public var burst: Bool
        /// How long jobs in hand may take to finish after SIGTERM.
        public var grace: Duration
        public var heartbeatInterval: Duration
        /// A worker silent this long is dead.
        public var heartbeatTTL: Duration
        /// Starts of one job before a lost one fails with `worker_lost`.
        public var maxDeliveries: Int
        /// How often due scheduled jobs are queued.
        public var scheduleInterval: Duration
        /// How long one blocking take waits before checking for shutdown.
        public var blockingTimeout: Duration

        public init(
            queues: [String] = ["default"], concurrency: Int = 4, burst: Bool = false, grace: Duration = .seconds(30),
            heartbeatInterval: Duration = .seconds(10), heartbeatTTL: Duration = .seconds(30), maxDeliveries: Int = 3,
            scheduleInterval: Duration = .milliseconds(500), blockingTimeout: Duration = .seconds(1)
        ) {
            self.queues = queues
            self.concurrency = concurrency
            self.burst = burst
            self.grace = grace
            self.heartbeatInterval = heartbeatInterval
            self.heartbeatTTL = heartbeatTTL
            self.maxDeliveries = maxDeliveries
            self.scheduleInterval = scheduleInterval
            self.blockingTimeout = blockingTimeout
        }
    }

    public let id: String
    public let configuration: Configuration
    let registry: FunctionRegistry
    let jobs: RedisJobQueue
    let logger: Logger
    let info: WorkerInfo
    private let blockingPool: NIOThreadPool
    private let isStopping = Atomic<Bool>(false)
    /// Ids of the jobs running now.
    private let running = Mutex<Set<String>>([])
    /// Yields each time a job ends and frees a slot.
    private let slotFreed: AsyncStream<Void>
    private let slotFreedContinuation: AsyncStream<Void>.Continuation

    public init(registry: FunctionRegistry, jobs: RedisJobQueue, configuration: Configuration, logger: Logger) {
        let host = Self.hostName()
        let pid = Int(getpid())
        let suffix = String(UInt16.random(in: 0...UInt16.max), radix: 16)
        self.id = "\(host):\(pid):\(String(repeating: "0", count: 4 - suffix.count))\(suffix)"
        self.registry = registry
        self.jobs = jobs
        self.configuration = configuration
        self.info = WorkerInfo(
            id: id, host: host, pid: pid, queues: configuration.queues, concurrency: configuration.concurrency, startedAt: Timestamp.iso8601())
        var logger = logger
        logger[metadataKey: "worker"] = "\(id)"
        self.logger = logger
        self.blockingPool = NIOThreadPool(numberOfThreads: max(1, configuration.concurrency))
        (slotFreed, slotFreedContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func run() async throws {
        blockingPool.start()
        do {
            try await registerUntilRedisAnswers()
        } catch {
            try? await blockingPool.shutdownGracefully()
            throw error
        }
        logger.info(
            "worker started",
            metadata: [
                "queues": "\(configuration.queues.joined(separator: ","))", "concurrency": "\(configuration.concurrency)",
                "redis": "\(jobs.redis.configuration.redactedURL)",
            ])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { housekeeping in
                housekeeping.addTask { await self.heartbeatLoop() }
                housekeeping.addTask { await self.scheduleLoop() }
                await self.fetchLoop()
                housekeeping.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: taking no new jobs; finishing the ones in hand", metadata: ["grace": "\(self.configuration.grace)"])
            self.isStopping.store(true, ordering: .relaxed)
        }
        await drain()
        try? await jobs.deregister(worker: id)
        // A blocking job still running after the grace period (put back on its queue) keeps its
        // thread; waiting for it would keep the process from exiting.
        if running.withLock(\.isEmpty) { try? await blockingPool.shutdownGracefully() }
        logger.info("worker stopped")
    }

    // MARK: - Taking jobs

    private func fetchLoop() async {
        var blockingConnection: RedisConnection? = nil
        var backoff = Duration.milliseconds(100)
        var queueIndex = 0
        while !isStopping.load(ordering: .relaxed) {
            let free = configuration.concurrency - running.withLock(\.count)
            if free <= 0 {
                for await _ in slotFreed { break }
                continue
            }
            do {
                let taken = try await jobs.take(worker: id, queues: configuration.queues, most: free)
                backoff = .milliseconds(100)
                if !taken.isEmpty {
                    taken.forEach(start)
                    continue
                }
                if configuration.burst {
                    if running.withLock(\.isEmpty) { break }
                    for await _ in slotFreed { break }
                    continue
                }
                // Nothing queued: block on one queue (in turn) until a job comes or the timeout
                // passes, on a connection of our own so no other command waits behind it.
                if blockingConnection?.isActive != true {
                    blockingConnection = try await RedisConnection.connect(
                        jobs.redis.configuration, eventLoop: jobs.redis.eventLoopGroup.next(), logger: logger)
                }
                let queue = configuration.queues[queueIndex % configuration.queues.count]
                queueIndex += 1
                if let job = try await jobs.blockingTake(
                    worker: id, queue: queue, timeout: configuration.blockingTimeout, connection: blockingConnection!)
                {
                    start(job)
                }
            } catch {
                logger.warning("cannot take jobs: \(error); retrying in \(backoff)")
                await blockingConnection?.close()
                blockingConnection = nil
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        await blockingConnection?.close()
    }

    private func start(_ job: TakenJob) {
        running.withLock { _ = $0.insert(job.id) }
        // An unstructured task per job, so that a job still running when the grace period
        // ends does not keep the worker from exiting (it is put back on its queue instead).
        Task {
            await self.execute(job)
            self.running.withLock { _ = $0.remove(job.id) }
            self.slotFreedContinuation.yield()
        }
    }

    // MARK: - Running one job

    private func execute(_ job: TakenJob) async {
        var logger = logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "func"] = "\(job.function)"
        let started = ContinuousClock.now
        logger.info("job started", metadata: ["queue": "\(job.queue)", "attempt": "\(job.attempts)/\(job.maxAttempts)"])

        guard let function = registry.function(named: job.function), case .mq(let work, let options) = function.body else {
            await record(job, logger: logger) {
                try await self.jobs.fail(
                    job: job.id, worker: self.id, error: ["code": "function_error", "message": .string("no MQ function named '\(job.function)' in this worker")],
                    retryAt: nil, failureTTL: MQOptions().failureTTL)
            }
            logger.error("job failed: unknown function")
            return
        }
        let outcome: Result<JSONValue, RPCError>
        do {
            let arguments = try Arguments.bind(
                positional: job.positional.map(ArgumentValue.json), keywords: job.keywords.map { ($0.key, .json($0.value)) },
                to: function.parameters, function: function.name)
            outcome = await run(work, arguments, timeout: options.timeout)
        } catch {
            outcome = .failure(error)
        }
        let elapsed = ContinuousClock.now - started
        switch outcome {
        case .success(let value):
            await record(job, logger: logger) {
                try await self.jobs.finish(job: job.id, worker: self.id, result: value, resultTTL: options.resultTTL)
            }
            logger.info("job finished", metadata: ["duration": "\(elapsed)"])
        case .failure(let error):
            let code = error.code == .timeout ? "timeout" : "function_error"
            let retry = job.attempts < job.maxAttempts && error.code != .invalidArguments
            let backoff = options.retryBackoff * (1 << min(job.attempts - 1, 20))
            let retryAt = retry ? Timestamp.now() + backoff.inSeconds : nil
            await record(job, logger: logger) {
                try await self.jobs.fail(
                    job: job.id, worker: self.id, error: ["code": .string(code), "message": .string(error.message)], retryAt: retryAt,
                    failureTTL: options.failureTTL)
            }
            if retry {
                logger.warning("job failed; retrying", metadata: ["error": "\(error.message)", "backoff": "\(backoff)"])
            } else {
                logger.error("job failed", metadata: ["error": "\(error.message)", "duration": "\(elapsed)"])
            }
        }
    }

    private func run(_ work: RegisteredFunction.MQWork, _ arguments: Arguments, timeout: Duration) async -> Result<JSONValue, RPCError> {
        let pool = blockingPool
        return await withTaskGroup(of: Result<JSONValue, RPCError>?.self) { group in
            group.addTask {
                do {
                    switch work {
                    case .async(let body): return .success(try await body(arguments))
                    case .blocking(let body): return .success(try await pool.runIfActive { try body(arguments) })
                    }
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failure(.functionError(error))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(RPCError(.timeout, "the job ran past its timeout of \(timeout)"))
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .failure(RPCError(.timeout, "the job ran past its timeout of \(timeout)"))
        }
    }

    /// Writes a job's outcome, retrying while Redis is away (the job stays in our active
    /// list meanwhile, so if we die it is recovered, not lost).
    private func record(_ job: TakenJob, logger: Logger, _ write: @escaping @Sendable () async throws -> Void) async {
        var backoff = Duration.milliseconds(100)
        for attempt in 1... {
            do {
                try await write()
                return
            } catch {
                if attempt == 1 { logger.warning("cannot store the job's outcome: \(error); retrying") }
                if attempt > 60 {
                    logger.error("gave up storing the job's outcome; it stays active and will be recovered")
                    return
                }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(2))
            }
        }
    }

    // MARK: - Housekeeping

    private func registerUntilRedisAnswers() async throws {
        var backoff = Duration.milliseconds(100)
        while true {
            do {
                try await jobs.heartbeat(info, ttl: configuration.heartbeatTTL)
                let recovered = try await jobs.recoverDeadWorkers(maxDeliveries: configuration.maxDeliveries)
                if recovered > 0 { logger.warning("recovered jobs of dead workers", metadata: ["jobs": "\(recovered)"]) }
                return
            } catch {
                logger.warning("Redis does not answer: \(error); retrying in \(backoff)")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            guard !Task.isCancelled else { return }
            do {
                try await jobs.heartbeat(info, ttl: configuration.heartbeatTTL)
                let recovered = try await jobs.recoverDeadWorkers(maxDeliveries: configuration.maxDeliveries)
                if recovered > 0 { logger.warning("recovered jobs of dead workers", metadata: ["jobs": "\(recovered)"]) }
            } catch {
                logger.warning("heartbeat failed: \(error)")
            }
        }
    }

    private func scheduleLoop() async {
        // Scheduled jobs wait in a sorted set by due time; polling it is the one loop that has to poll.
        while !Task.isCancelled {
            if let promoted = try? await jobs.promoteDueJobs(), promoted > 0 {
                logger.debug("queued due scheduled jobs", metadata: ["jobs": "\(promoted)"])
            }
            try? await Task.sleep(for: configuration.scheduleInterval)
        }
    }

    /// Waits for the jobs in hand up to the grace period, then puts back the ones still running.
    private func drain() async {
        let deadline = ContinuousClock.now + configuration.grace
        var lastReport = ContinuousClock.now
        while !running.withLock(\.isEmpty) && ContinuousClock.now < deadline {
            if ContinuousClock.now - lastReport > .seconds(5) {
                logger.info("waiting for jobs in hand", metadata: ["jobs": "\(running.withLock(\.count))"])
                lastReport = ContinuousClock.now
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for id in running.withLock({ Array($0) }) {
            logger.warning("grace period over; putting the job back on its queue", metadata: ["job": "\(id)"])
            try? await jobs.requeue(job: id, worker: self.id)
        }
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let name = String(cString: buffer)
        return name.isEmpty ? "localhost" : String(name.map { $0 == ":" ? "-" : $0 })
    }
}
