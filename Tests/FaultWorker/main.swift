// A worker process for the fault-injection suite: the real `Worker`, with one MQ function
// that appends each execution to a ledger file before it runs, so the suite can count
// executions per job and tell which delivery produced each result.
import Foundation
import Logging
import Redis
import ServiceLifecycle
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCWorker
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    arguments.firstIndex(of: name).flatMap { $0 + 1 < arguments.count ? arguments[$0 + 1] : nil }
}
guard let redisURL = option("--redis"), let ledgerPath = option("--ledger") else {
    FileHandle.standardError.write("usage: FaultWorker --redis URL --ledger FILE [--concurrency N] [--heartbeat-interval S] [--heartbeat-ttl S] [--grace S]\n".data(using: .utf8)!)
    exit(2)
}
func seconds(_ name: String, _ fallback: Double) -> Duration {
    Duration.checkedSeconds(option(name).flatMap(Double.init) ?? fallback)!
}

LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
let logger = Logger(label: "fault-worker")
let ledger = open(ledgerPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
precondition(ledger >= 0, "cannot open the ledger \(ledgerPath)")

var registry = FunctionRegistry()
registry.registerMQ("record", .int("ms")) { (args) async throws -> JSONValue in
    guard let job = JobContext.current else { throw FunctionError("no job context") }
    // One write of one short line with O_APPEND: lines from several processes never interleave.
    let line = Array("\(job.jobID) \(job.attempt) \(job.delivery) \(getpid())\n".utf8)
    guard line.withUnsafeBytes({ write(ledger, $0.baseAddress, $0.count) }) == line.count else { throw FunctionError("ledger write failed") }
    try await Task.sleep(for: .milliseconds(try args.int("ms")))
    return .string("\(job.attempt) \(job.delivery)")
}

let client = RedisClient(configuration: try RedisConfiguration(url: redisURL), logger: logger)
let worker = Worker(
    registry: registry, jobs: RedisJobQueue(redis: client, logger: logger),
    configuration: .init(
        queues: ["faults"], concurrency: Int(option("--concurrency") ?? "") ?? 8, grace: seconds("--grace", 1),
        heartbeatInterval: seconds("--heartbeat-interval", 0.5), heartbeatTTL: seconds("--heartbeat-ttl", 3),
        delivery: DeliveryPolicy(maxDeliveries: 1000)),
    logger: logger)
logger.info("fault worker \(worker.id) starting")
let group = ServiceGroup(
    configuration: .init(
        services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
try await group.run()
await client.shutdown()
