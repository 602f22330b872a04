import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOHTTP1
import Prometheus
import Redis
import ServiceLifecycle
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCServer
import SwiftRPCWorker
import UnixSignals

/// One worker process: `APP worker`, or the whole command of `swift-rpc-worker`.
struct WorkerCommand: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: SwiftRPCApp.isWorkerOnly ? "\(SwiftRPCApp.name)-worker" : "worker",
            abstract: "Run MQ jobs from Redis (one worker process).")
    }

    @Option(help: "Queues to take jobs from, in priority order (comma-separated).") var queues = "default"
    @Option(help: "Jobs run at once.") var concurrency = 4
    @Flag(help: "Exit when the queues are empty.") var burst = false
    @Option(help: "Seconds jobs in hand may take to finish after SIGTERM.") var grace: Double = 30
    @Option(help: "Seconds between heartbeats.") var heartbeatInterval: Double = 10
    @Option(help: "Seconds of silence after which a worker is dead and its jobs are given back.") var heartbeatTTL: Double = 30
    @Option(help: "Starts of one job before a job lost with its worker fails with worker_lost.") var maxDeliveries = 3
    @Option(help: "Ids kept on each failed list (the oldest are dropped).") var failedMax = 10_000
    @Option(help: "redis://[:password@]host:port[/db] (default: $SWIFTRPC_REDIS_URL, else redis://127.0.0.1:6379/0).")
    var redis: String?
    @OptionGroup var log: LogOptions
    @Option(help: "Serve this worker's own /metrics and /healthz on this port (0: a free one).") var metricsPort: Int?
    @Option(help: "The address --metrics-port listens on.") var metricsHost = "127.0.0.1"

    func validate() throws {
        let names = queues.split(separator: ",").map(String.init)
        guard !names.isEmpty, names.allSatisfy(JobNames.isValidQueueName) else {
            throw ValidationError("--queues: names match [A-Za-z0-9_.-]{1,64}, separated by commas")
        }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 1024") }
        guard Duration.checkedSeconds(grace) != nil else { throw ValidationError("--grace must be a number of seconds from 0 to 100 years") }
        guard let interval = Duration.checkedSeconds(heartbeatInterval), interval > .zero,
            let ttl = Duration.checkedSeconds(heartbeatTTL), ttl >= .seconds(1), ttl > interval
        else {
            throw ValidationError("--heartbeat-interval must be > 0 and less than --heartbeat-ttl (at least 1 s)")
        }
        guard maxDeliveries >= 1 else { throw ValidationError("--max-deliveries must be at least 1") }
        guard failedMax >= 1 else { throw ValidationError("--failed-max must be at least 1") }
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be from 0 to 65535") }
    }

    func run() async throws {
        let logger = log.makeLogger(label: "\(SwiftRPCApp.name).worker")
        let environment = ProcessInfo.processInfo.environment
        let redisConfiguration: RedisConfiguration
        do {
            redisConfiguration = try RedisConfiguration(url: redis ?? environment["SWIFTRPC_REDIS_URL"] ?? RedisConfiguration.defaultURL)
        } catch {
            throw ValidationError("--redis: \(error)")
        }
        let registry = SwiftRPCApp.registry()
        let client = RedisClient(configuration: redisConfiguration, logger: logger)
        let worker = Worker(
            registry: registry, jobs: RedisJobQueue(redis: client, logger: logger),
            configuration: .init(
                queues: queues.split(separator: ",").map(String.init), concurrency: concurrency, burst: burst,
                grace: Duration.checkedSeconds(grace)!, heartbeatInterval: Duration.checkedSeconds(heartbeatInterval)!,
                heartbeatTTL: Duration.checkedSeconds(heartbeatTTL)!,
                delivery: DeliveryPolicy(maxDeliveries: maxDeliveries, failedMax: failedMax)),
            logger: logger)
        let mqFunctions = registry.functions.filter { $0.mode == .mq }.map(\.name)
        logger.info("\(SwiftRPCApp.name) worker \(worker.id) starting", metadata: ["functions": "\(mqFunctions.joined(separator: ","))"])
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)]
        if let metricsPort {
            services.append(.init(service: operationsServer(port: metricsPort, worker: worker.id, client: client, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await client.shutdown()
    }

    /// `--metrics-port`: the worker's own series (swift-metrics through swift-prometheus) and
    /// its health (503 while Redis does not answer).
    private func operationsServer(port: Int, worker: String, client: RedisClient, logger: Logger) -> OperationsServer {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = JobMetrics.durationBuckets.map { .nanoseconds(Int64($0 * 1e9)) }
        MetricsSystem.bootstrap(factory)
        return OperationsServer(
            host: metricsHost, port: port,
            routes: [
                "/metrics": { .init(contentType: "text/plain; version=0.0.4", body: registry.emitToString()) },
                "/healthz": {
                    let up = (try? await client.ping()) != nil
                    let body: JSONValue = ["status": up ? "ok" : "degraded", "redis": up ? "up" : "down", "worker": .string(worker)]
                    return .init(status: up ? .ok : .serviceUnavailable, contentType: "application/json", body: body.jsonText)
                },
            ],
            logger: logger)
    }
}
