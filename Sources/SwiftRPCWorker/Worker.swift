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
/// `concurrency` at once, records each outcome under the delivery's lease, sends heartbeats,
/// gives back jobs of dead workers and its own stranded ids, and queues due scheduled jobs.
///
/// On graceful shutdown (SPEC §5) it withdraws the fetch waiting in Redis at once, keeps
/// heartbeating, lets the jobs in hand finish within the grace period (counted from the
/// signal), puts the ones still running back at the head of their queues, and deregisters,
/// which gives back anything left in its active list.
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
        /// Lost deliveries and failed lists.
        public var delivery: DeliveryPolicy
        /// How long a job whose function this worker lacks waits before another worker may take it.
        public var unknownFunctionDelay: Duration
        /// How often due scheduled jobs are queued.
        public var scheduleInterval: Duration
        /// How often failed lists are cleared of expired ids.
        public var failedTrimInterval: Duration
        /// How long one blocking take waits before checking for shutdown.
        public var blockingTimeout: Duration

        public init(
            queues: [String] = ["default"], concurrency: Int = 4, burst: Bool = false, grace: Duration = .seconds(30),
            heartbeatInterval: Duration = .seconds(10), heartbeatTTL: Duration = .seconds(30), delivery: DeliveryPolicy = DeliveryPolicy(),
            unknownFunctionDelay: Duration = .seconds(5), scheduleInterval: Duration = .milliseconds(500),
            failedTrimInterval: Duration = .seconds(60), blockingTimeout: Duration = .seconds(1)
        ) {
            self.queues = queues
            self.concurrency = concurrency
            self.burst = burst
            self.grace = grace
            self.heartbeatInterval = heartbeatInterval
            self.heartbeatTTL = heartbeatTTL
            self.delivery = delivery
            self.unknownFunctionDelay = unknownFunctionDelay
            self.scheduleInterval = scheduleInterval
            self.failedTrimInterval = failedTrimInterval
            self.blockingTimeout = blockingTimeout
        }
    }

    public let configuration: Configuration
    let registry: FunctionRegistry
    let jobs: RedisJobQueue
    private let baseLogger: Logger
    /// Who this worker is, and the base logger with its id (every job's lines start from it);
    /// the id changes only if a registration finds it taken.
    private let identity: Mutex<Identity>

    private struct Identity {
        var info: WorkerInfo
        var logger: Logger

        init(info: WorkerInfo, base: Logger) {
            self.info = info
            logger = base
            logger[metadataKey: "worker"] = "\(info.id)"
        }
    }
    private let blockingPool: NIOThreadPool
    private let runner: JobRunner
    /// When the grace period ends; set by the shutdown signal.
    private let stopDeadline = Mutex<ContinuousClock.Instant?>(nil)
    /// The connection a blocking take waits on, so a shutdown can withdraw the wait.
    private let blockingConnection = Mutex<RedisConnection?>(nil)
    /// The deliveries running now, by job id.
    private let running = Mutex<[String: TakenJob]>([:])
    /// Yields each time a job ends and frees a slot, and once at shutdown.
    private let wakeups: AsyncStream<Void>
    private let wakeupsContinuation: AsyncStream<Void>.Continuation

    public init(registry: FunctionRegistry, jobs: RedisJobQueue, configuration: Configuration, logger: Logger) {
        let host = Self.hostName()
        let pid = Int(getpid())
        let info = WorkerInfo(
            id: Self.newID(host: host, pid: pid), host: host, pid: pid, queues: configuration.queues, concurrency: configuration.concurrency,
            startedAt: Timestamp.iso8601())
        self.identity = Mutex(Identity(info: info, base: logger))
        self.registry = registry
        self.jobs = jobs
        self.configuration = configuration
        self.baseLogger = logger
        self.blockingPool = NIOThreadPool(numberOfThreads: max(1, configuration.concurrency))
        self.runner = JobRunner(
            registry: registry, jobs: jobs, policy: configuration.delivery, unknownFunctionDelay: configuration.unknownFunctionDelay,
            blockingPool: blockingPool)
        (wakeups, wakeupsContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// `{host}:{pid}:{8 random hex digits}`; registration checks that nothing of that id exists.
    public var id: String { identity.withLock(\.info.id) }

    var logger: Logger { identity.withLock(\.logger) }
    private var info: WorkerInfo { identity.withLock(\.info) }

    private var isStopping: Bool { stopDeadline.withLock { $0 != nil } }

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
        await withTaskGroup(of: Void.self) { housekeeping in
            // Heartbeats go on through the whole graceful stop, until just before deregistering.
            housekeeping.addTask { await self.heartbeatLoop() }
            housekeeping.addTask { await self.scheduleLoop() }
            await withGracefulShutdownHandler {
                await self.fetchLoop()
            } onGracefulShutdown: {
                self.beginStop()
            }
            await self.drain()
            housekeeping.cancelAll()
            await housekeeping.waitForAll()
        }
        await leave()
        // A blocking job still running after the grace period (put back on its queue) keeps its
        // thread; waiting for it would keep the process from exiting.
        if running.withLock(\.isEmpty) { try? await blockingPool.shutdownGracefully() }
        logger.info("worker stopped")
    }

    /// The shutdown signal: no new job from now on, the grace period starts now, and the fetch
    /// waiting in Redis is withdrawn.
    private func beginStop() {
        let deadline = ContinuousClock.now + configuration.grace
        stopDeadline.withLock { $0 = $0 ?? deadline }
        logger.info(
            "graceful shutdown: taking no new jobs; finishing the ones in hand",
            metadata: ["grace": "\(configuration.grace)", "jobs": "\(running.withLock(\.count))"])
        blockingConnection.withLock { $0 }?.abort()
        wakeupsContinuation.yield()
    }

    // MARK: - Taking jobs

    private func fetchLoop() async {
        var backoff = Duration.milliseconds(100)
        var queueIndex = 0
        while !isStopping {
            let free = configuration.concurrency - running.withLock(\.count)
            if free <= 0 {
                for await _ in wakeups { break }
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
                    for await _ in wakeups { break }
                    continue
                }
                // Nothing queued: block on one queue (in turn) until a job comes or the timeout
                // passes, on a connection of our own so no other command waits behind it.
                let queue = configuration.queues[queueIndex % configuration.queues.count]
                queueIndex += 1
                // An id that arrives once the stop has begun stays unstarted in the active
                // list; deregistering puts it back at the head of its queue.
                if let job = try await blockingMoveAndStart(queue: queue) { start(job) }
                if isStopping { break }
            } catch {
                if isStopping { break }
                logger.warning("cannot take jobs: \(error); retrying in \(backoff)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        if let connection = blockingConnection.withLock({ $0 }) { await connection.close() }
    }

    private func blockingMoveAndStart(queue: String) async throws -> TakenJob? {
        var connection = blockingConnection.withLock { $0 }
        if connection?.isActive != true {
            let fresh = try await RedisConnection.connect(jobs.redis.configuration, eventLoop: jobs.redis.eventLoopGroup.next(), logger: baseLogger)
            connection = fresh
            blockingConnection.withLock { $0 = fresh }
            // A stop that began while connecting found no connection to withdraw.
            if isStopping {
                fresh.abort()
                return nil
            }
        }
        return try await jobs.blockingMoveAndStart(
            worker: id, queue: queue, timeout: configuration.blockingTimeout, connection: connection!, shouldStart: { !self.isStopping })
    }

    private func start(_ job: TakenJob) {
        running.withLock { $0[job.id] = job }
        // An unstructured task per job, so that a job still running when the grace period
        // ends does not keep the worker from exiting (it is put back on its queue instead).
        Task {
            await self.runner.run(job, worker: self.id, logger: self.logger)
            self.running.withLock { _ = $0.removeValue(forKey: job.id) }
            self.wakeupsContinuation.yield()
        }
    }

    // MARK: - Housekeeping

    private func registerUntilRedisAnswers() async throws {
        var backoff = Duration.milliseconds(100)
        while true {
            do {
                while try await !jobs.register(info, ttl: configuration.heartbeatTTL) {
                    let taken = id
                    identity.withLock { identity in
                        var info = identity.info
                        info.id = Self.newID(host: info.host, pid: info.pid)
                        identity = Identity(info: info, base: baseLogger)
                    }
                    logger.warning("worker id already in use; picked another", metadata: ["taken": "\(taken)"])
                }
                let recovered = try await jobs.recoverDeadWorkers(policy: configuration.delivery)
                if recovered > 0 { logger.warning("gave back the jobs of dead workers", metadata: ["jobs": "\(recovered)"]) }
                return
            } catch {
                logger.warning("Redis does not answer: \(error); retrying in \(backoff)")
                try await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func heartbeatLoop() async {
        // Ids seen in the active list but not running at the last beat. Only an id seen so
        // twice is stranded: one seen once may be a take whose reply is still on its way.
        var suspects: Set<String> = []
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            guard !Task.isCancelled else { return }
            do {
                if try await !jobs.heartbeat(info, ttl: configuration.heartbeatTTL) {
                    logger.error(
                        "this worker was declared dead (silent past the heartbeat TTL) and its jobs were given back; registered again",
                        metadata: ["running": "\(running.withLock(\.count))"])
                }
                let recovered = try await jobs.recoverDeadWorkers(policy: configuration.delivery)
                if recovered > 0 { logger.warning("gave back the jobs of dead workers", metadata: ["jobs": "\(recovered)"]) }
                let active = try await jobs.activeJobs(worker: id)
                let notRunning = running.withLock { running in Set(active.filter { running[$0] == nil }) }
                let stranded = notRunning.intersection(suspects)
                suspects = notRunning.subtracting(stranded)
                if !stranded.isEmpty {
                    let moved = try await jobs.sweep(worker: id, stranded: Array(stranded), policy: configuration.delivery)
                    logger.warning("gave back stranded ids from this worker's active list", metadata: ["ids": "\(stranded.sorted())", "moved": "\(moved)"])
                }
            } catch {
                logger.warning("heartbeat failed: \(error)")
            }
        }
    }

    private func scheduleLoop() async {
        // Scheduled jobs wait in a sorted set by due time; polling it is the one loop that has to poll.
        var lastTrim = ContinuousClock.now
        while !Task.isCancelled {
            if let promoted = try? await jobs.promoteDueJobs(), promoted > 0 {
                logger.debug("queued due scheduled jobs", metadata: ["jobs": "\(promoted)"])
            }
            if ContinuousClock.now - lastTrim >= configuration.failedTrimInterval {
                lastTrim = ContinuousClock.now
                if let removed = try? await jobs.trimFailedLists(), removed > 0 {
                    logger.debug("took expired ids off the failed lists", metadata: ["ids": "\(removed)"])
                }
            }
            try? await Task.sleep(for: configuration.scheduleInterval)
        }
    }

    /// Waits for the jobs in hand until the grace period (started by the signal) ends, then
    /// puts back the ones still running, each exactly once (never one whose delivery ended).
    private func drain() async {
        guard let deadline = stopDeadline.withLock({ $0 }) else { return }  // burst mode ran dry
        var lastReport = ContinuousClock.now
        while !running.withLock(\.isEmpty) && ContinuousClock.now < deadline {
            if ContinuousClock.now - lastReport > .seconds(5) {
                logger.info("waiting for jobs in hand", metadata: ["jobs": "\(running.withLock(\.count))", "left": "\(deadline - ContinuousClock.now)"])
                lastReport = ContinuousClock.now
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for job in running.withLock({ Array($0.values) }) {
            do {
                if try await jobs.requeue(job, worker: id) {
                    logger.warning("grace period over; the job went back to the head of its queue", metadata: ["job": "\(job.id)"])
                }
            } catch {
                logger.warning("cannot put the job back: \(error); deregistering will", metadata: ["job": "\(job.id)"])
            }
        }
    }

    /// Deregisters, giving back whatever is left in the active list; retried for a while if
    /// Redis is away (else the ids wait for recovery once the heartbeat expires).
    private func leave() async {
        for attempt in 1...20 {
            do {
                let moved = try await jobs.deregister(worker: id, policy: configuration.delivery)
                if moved > 0 { logger.info("gave back jobs left in the active list", metadata: ["jobs": "\(moved)"]) }
                return
            } catch {
                if attempt == 20 {
                    logger.error("cannot deregister: \(error); other workers recover the jobs once the heartbeat expires")
                    return
                }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    private static func newID(host: String, pid: Int) -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(host):\(pid):\(String(repeating: "0", count: 8 - suffix.count))\(suffix)"
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : String(name.map { $0 == ":" ? "-" : $0 })
    }
}
