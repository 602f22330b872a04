import ArgumentParser
import Foundation
import Logging
import NIOSSL
import Redis
import ServiceLifecycle
import UnixSignals
import SwiftRPC
import SwiftRPCRedis
import SwiftRPCServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP front.")

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one).") var port = 8080
    @Option(help: "Also serve raw TCP (length-prefixed or newline-delimited JSON) on this port (setting tcp_port).") var tcpPort: Int?
    @Option(help: "redis://[:password@]host:port[/db] (default: $SWIFTRPC_REDIS_URL, else redis://127.0.0.1:6379/0).")
    var redis: String?
    @Option(help: "A JSON settings file (SPEC §7 keys).") var config: String?
    @OptionGroup var log: LogOptions
    @Flag(help: "Print the effective settings (secrets masked) and exit.") var printConfig = false

    func validate() throws {
        try validatePort(port)
        if let tcpPort { try validatePort(tcpPort, flag: "--tcp-port") }
    }

    func run() async throws {
        let settings: Settings
        let tls: NIOSSLContext?
        let accessPolicy: AccessPolicy
        do {
            settings = try Settings.load(file: config, environment: ProcessInfo.processInfo.environment)
            tls = try settings.tlsContext()
            accessPolicy = try await settings.accessPolicy()
        } catch {
            throw ValidationError("\(error)")
        }
        if printConfig {
            print(settings.maskedJSON.jsonText)
            return
        }
        let logger = log.makeLogger(label: "\(SwiftRPCApp.name).serve")
        let redisConfiguration: RedisConfiguration
        do {
            redisConfiguration = try RedisConfiguration(url: redis ?? ProcessInfo.processInfo.environment["SWIFTRPC_REDIS_URL"] ?? RedisConfiguration.defaultURL)
        } catch {
            throw ValidationError("--redis: \(error)")
        }

        let registry = SwiftRPCApp.registry()
        let redisClient = RedisClient(configuration: redisConfiguration, logger: logger)
        let jobQueue = RedisJobQueue(redis: redisClient, logger: logger)
        let router = RPCRouter(
            registry: registry, jobs: jobQueue, configuration: .init(accessPolicy: accessPolicy, encryption: settings.encryption),
            logger: logger)
        let server = RPCServer(
            configuration: .init(
                host: host, port: port, maxBodyBytes: settings.maxBodyBytes, maxConnections: settings.maxConnections, tls: tls,
                maxConnectionsPerIP: settings.maxConnectionsPerIP, tcpPort: tcpPort ?? settings.tcpPort,
                tcpIdleTimeout: .seconds(settings.tcpIdleTimeoutSeconds)),
            router: router, logger: logger)
        let loopback = host == "localhost" || IPAddress.parse(host).map { address in
            [CIDR("127.0.0.0/8")!, CIDR("::1")!].contains { $0.contains(address) }
        } == true
        if !accessPolicy.requiresAuthentication && !loopback {
            logger.warning("warning: binding \(host), beyond loopback, with no authentication configured (set tokens or jwt)")
        }

        logger.info("\(SwiftRPCApp.name) serve starting", metadata: ["redis": "\(redisConfiguration.redactedURL)", "max_body_bytes": "\(settings.maxBodyBytes)"])
        for function in registry.functions {
            logger.info("function", metadata: ["name": "\(function.name)", "mode": "\(function.mode.rawValue)"])
        }
        if (try? await redisClient.ping()) == nil {
            logger.warning("Redis is not reachable now; inline calls work, MQ calls answer 503 until it is", metadata: ["redis": "\(redisConfiguration.redactedURL)"])
        }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: jobQueue), .init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await redisClient.shutdown()
    }
}

/// A TCP port number, or 0 for any free one (NIO would wrap 70000 to 4464 without a word).
func validatePort(_ port: Int, flag: String = "--port") throws {
    guard (0...65535).contains(port) else { throw ValidationError("\(flag) must be from 0 to 65535") }
}

/// `--log-level` and `--log-format`, shared by the long-running commands (serve, worker, run).
struct LogOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (default: $SWIFTRPC_LOG_LEVEL, else info).") var logLevel: String?
    @Option(help: "text, one line per event, or json, one JSON object per line for log shippers (default: $SWIFTRPC_LOG_FORMAT, else text).")
    var logFormat: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }
    private var level: String? { logLevel ?? environment["SWIFTRPC_LOG_LEVEL"] }
    private var format: String? { logFormat ?? environment["SWIFTRPC_LOG_FORMAT"] }

    func validate() throws {
        if let level, Logger.Level(rawValue: level) == nil {
            throw ValidationError("log level '\(level)': use trace, debug, info, notice, warning, error or critical")
        }
        if let format, LineLogHandler.Format(rawValue: format) == nil { throw ValidationError("log format '\(format)': use text or json") }
    }

    /// Sets up logging for the process (once) and returns a logger at the chosen level.
    func makeLogger(label: String) -> Logger {
        let format = format.flatMap(LineLogHandler.Format.init(rawValue:)) ?? .text
        LoggingSystem.bootstrap { LineLogHandler.standardError(label: $0, format: format) }
        var logger = Logger(label: label)
        logger.logLevel = level.flatMap(Logger.Level.init(rawValue:)) ?? .info
        return logger
    }

    /// The same choices for a child process.
    var childArguments: [String] {
        (logLevel.map { ["--log-level", $0] } ?? []) + (logFormat.map { ["--log-format", $0] } ?? [])
    }
}
