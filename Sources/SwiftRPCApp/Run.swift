import ArgumentParser
import Foundation
import Logging
import ProcessSupport
import Redis
import ServiceLifecycle
import Synchronization
import UnixSignals

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Everything on one machine: a private Redis (unless --redis), the front and workers.")

    @Option(help: "Address the front binds.") var host = "127.0.0.1"
    @Option(help: "Port the front binds (0 picks a free one).") var port = 8080
    @Option(help: "A JSON settings file for the front (SPEC §7 keys).") var config: String?
    @Option(help: "Worker processes.") var workers = 2
    @Option(help: "Jobs each worker runs at once.") var concurrency = 8
    @Option(help: "Use this Redis instead of starting one (redis://...).") var redis: String?
    @Option(help: "Folder for the private Redis's data (AOF).") var dataDir = ".swiftrpc/redis"
    @OptionGroup var log: LogOptions

    func validate() throws {
        try validatePort(port)
        guard (0...64).contains(workers) else { throw ValidationError("--workers must be from 0 to 64") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 1024") }
    }

    func run() async throws {
        let logger = log.makeLogger(label: "\(SwiftRPCApp.name).run")
        // The front and the workers are this very executable, started again.
        let executable = SwiftRPCApp.executablePath
        // The front would refuse bad settings by exiting, again at every restart: refuse them here, once.
        let settings: Settings
        do {
            settings = try Settings.load(file: config, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("\(error)")
        }
        let port = self.port == 0 ? try ChildProcess.freeLoopbackPort() : self.port
        var children: [Supervisor.Child] = []
        let redisURL: String
        if let redis {
            redisURL = redis
        } else {
            let folder = URL(fileURLWithPath: dataDir).standardizedFileURL.path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let redisPort = try ChildProcess.freeLoopbackPort()
            redisURL = "redis://127.0.0.1:\(redisPort)/0"
            children.append(
                .init(
                    name: "redis", executable: "redis-server",
                    arguments: [
                        "--port", String(redisPort), "--bind", "127.0.0.1", "--dir", folder, "--appendonly", "yes", "--save", "",
                        "--daemonize", "no", "--logfile", "redis.log",
                    ], stopStage: 2, stopGrace: .seconds(10)))
            logger.info("private Redis", metadata: ["url": "\(redisURL)", "data": "\(folder) (AOF on, log in redis.log)"])
        }
        let logArguments = log.childArguments
        children.append(
            .init(
                name: "front", executable: executable,
                arguments: ["serve", "--host", host, "--port", String(port), "--redis", redisURL] + (config.map { ["--config", $0] } ?? [])
                    + logArguments, stopStage: 0,
                stopGrace: .seconds(30)))
        for index in 1...max(1, workers) where workers > 0 {
            children.append(
                .init(
                    name: "worker\(index)", executable: executable,
                    arguments: ["worker", "--redis", redisURL, "--concurrency", String(concurrency)] + logArguments, stopStage: 1,
                    stopGrace: .seconds(40)))
        }
        let supervisor = Supervisor(children: children, redisURL: redis == nil ? redisURL : nil, logger: logger)
        let scheme = settings.tlsCertificatePath == nil ? "http" : "https"
        let frontURL = "\(scheme)://\(["0.0.0.0", "::"].contains(host) ? "127.0.0.1" : host):\(port)"
        logger.info("front", metadata: ["url": "\(scheme)://\(host):\(port)", "workers": "\(workers)"])
        // Tools started in this folder (queues, workers, failed, jobs, call) read this to find us.
        let record = RunRecord(redisURL: redisURL, frontURL: frontURL, pid: getpid())
        do {
            try record.write()
            logger.info("recorded for the tools in this folder", metadata: ["file": "\(RunRecord.path)"])
        } catch {
            logger.warning("cannot write \(RunRecord.path): \(error); tools here need --redis and --url")
        }
        defer { RunRecord.remove(pid: record.pid) }
        logger.info("try: curl -s \(frontURL)/test_mq -d '{\"args\": [2, 3]}'   then   curl -s '\(frontURL)/jobs/<job_id>?wait=5'")
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: supervisor, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Starts the children in order, restarts one that dies (with backoff, well within 20 s),
/// and on graceful shutdown stops them in reverse order: front, workers, Redis last.
final class Supervisor: Service {
    struct Child: Sendable {
        let name: String
        let executable: String
        let arguments: [String]
        /// Children stop stage by stage, lowest first; those of one stage stop together.
        let stopStage: Int
        let stopGrace: Duration
    }

    let children: [Child]
    /// The private Redis to wait for before starting the others; `nil` when none was started.
    let redisURL: String?
    let logger: Logger

    init(children: [Child], redisURL: String?, logger: Logger) {
        self.children = children
        self.redisURL = redisURL
        self.logger = logger
    }

    func run() async throws {
        var processes: [ChildProcess?] = []
        var restartAt: [ContinuousClock.Instant?] = Array(repeating: nil, count: children.count)
        var backoff: [Duration] = Array(repeating: .seconds(1), count: children.count)
        for (index, child) in children.enumerated() {
            processes.append(try spawn(child))
            if index == 0, let redisURL { try await waitForRedis(redisURL) }
        }
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !isShuttingDown.load(ordering: .relaxed) {
                for (index, child) in children.enumerated() {
                    if let process = processes[index], let status = process.exitStatus() {
                        logger.error("\(child.name) exited (status \(status)); restarting in \(backoff[index])", metadata: ["pid": "\(process.pid)"])
                        processes[index] = nil
                        restartAt[index] = .now + backoff[index]
                        backoff[index] = min(backoff[index] * 2, .seconds(16))
                    }
                    if processes[index] == nil, let due = restartAt[index], due <= .now {
                        processes[index] = try? spawn(child)
                        restartAt[index] = processes[index] == nil ? .now + backoff[index] : nil
                    }
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        } onGracefulShutdown: {
            self.isShuttingDown.store(true, ordering: .relaxed)
        }
        // The front stops taking calls first, then the workers finish their jobs, Redis last.
        for stage in Set(children.map(\.stopStage)).sorted() {
            await withTaskGroup(of: Void.self) { group in
                for (child, process) in zip(children, processes) where child.stopStage == stage {
                    guard let process else { continue }
                    group.addTask {
                        self.logger.info("stopping \(child.name)", metadata: ["pid": "\(process.pid)"])
                        let status = await process.terminate(grace: child.stopGrace)
                        self.logger.info("\(child.name) stopped", metadata: ["status": "\(status)"])
                    }
                }
            }
        }
    }

    private let isShuttingDown = Atomic<Bool>(false)

    private func spawn(_ child: Child) throws -> ChildProcess {
        let process = try ChildProcess(executable: child.executable, arguments: child.arguments, ownProcessGroup: true)
        logger.info("started \(child.name)", metadata: ["pid": "\(process.pid)"])
        return process
    }

    private func waitForRedis(_ url: String) async throws {
        let client = RedisClient(configuration: try RedisConfiguration(url: url), logger: logger)
        for _ in 0..<200 {
            if (try? await client.ping()) != nil {
                await client.shutdown()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        await client.shutdown()
        throw ValidationError("the private redis-server did not answer within 10 s (see its redis.log)")
    }
}
