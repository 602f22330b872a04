import Foundation
import Logging
import ProcessSupport
import Redis

/// A private `redis-server` for one test: its own temp folder and a free port; stopped with
/// `stop()`. Tests never assume a Redis that is already running.
public final class RedisServer: Sendable {
    public let port: Int
    public let directory: String
    private let process: ChildProcess

    public var url: String { "redis://127.0.0.1:\(port)/0" }
    public var configuration: RedisConfiguration { RedisConfiguration(port: port) }

    private init(port: Int, directory: String, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    /// Starts a server; `port` reuses a port (to restart a server in place), `arguments` add options.
    public static func start(port: Int? = nil, directory: String? = nil, arguments: [String] = []) async throws -> RedisServer {
        let directory = directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("swiftrpc-redis-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var lastError = ""
        for _ in 0..<5 {
            let port = try port ?? freePort()
            let process = try ChildProcess(
                executable: "redis-server",
                arguments: [
                    "--port", String(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--logfile", "redis.log",
                ] + arguments,
                // Never the test runner's stdout: a child left holding it would keep `swift test` waiting.
                outputPath: directory + "/stdout.log")
            let server = RedisServer(port: port, directory: directory, process: process)
            if await server.waitUntilReady() { return server }
            await process.terminate(grace: .seconds(2))
            lastError = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? "no log"
        }
        throw TestSupportError("redis-server did not start: \(lastError.suffix(800))")
    }

    /// Kills the server at once (SIGKILL): what a crash looks like to clients.
    public func kill() async {
        process.signal(SIGKILL)
        _ = await process.wait(timeout: .seconds(5))
    }

    public func stop() async {
        await process.terminate(grace: .seconds(5))
    }

    /// Stops and removes the folder.
    public func stopAndRemove() async {
        await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func waitUntilReady() async -> Bool {
        let client = RedisClient(configuration: RedisConfiguration(port: port, connectTimeout: .milliseconds(200)), logger: Logger(label: "test"))
        let ready = await poll(client)
        await client.shutdown()
        return ready
    }

    private func poll(_ client: RedisClient) async -> Bool {
        for _ in 0..<100 {
            if process.exitStatus() != nil { return false }
            do {
                try await client.ping()
                return true
            } catch {
                // NOAUTH (a server with a password) also means it is up.
                if error.code == .serverError { return true }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
public func freePort() throws -> Int {
    try ChildProcess.freeLoopbackPort()
}

/// Holds a TCP port on 127.0.0.1 without listening, so nothing else can bind it and a
/// connection to it is refused at once: a stopped server's port stays its own until it
/// starts again (another test's `freePort()` could otherwise hand it out meanwhile).
public final class PortHold: @unchecked Sendable {
    // Owned by one test; -1 once released.
    private var fd: Int32

    /// `nil` when the port is already taken. SO_REUSEADDR lets the hold bind while the stopped
    /// server's connections linger in TIME_WAIT; the kernel still hands the port to no one else.
    public init?(port: Int) {
        let bound = loopbackSocket(port: port) { fd, address, length in
            var on: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            return bind(fd, address, length)
        }
        guard let fd = bound else { return nil }
        self.fd = fd
    }

    public func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
