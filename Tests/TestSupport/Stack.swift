import Foundation
import Logging
import ProcessSupport
import Redis
import SwiftRPC

/// The product's own binaries, next to the test bundle (`swift test` builds them: the
/// integration tests depend on both executables) or in `SWIFTRPC_BIN_DIR`.
public enum Binaries {
    public static var directory: String {
        if let dir = ProcessInfo.processInfo.environment["SWIFTRPC_BIN_DIR"] { return dir }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }
    public static var front: String { directory + "/swift-rpc" }
    public static var worker: String { directory + "/swift-rpc-worker" }
}

/// A real system for one test: a private redis-server, `swift-rpc serve` and worker
/// processes, each logging to a file in the test's own folder.
public final class Stack: @unchecked Sendable {
    // Used by one test at a time; mutable fields change only in that test.
    public let redis: RedisServer
    public let client: RedisClient
    public private(set) var frontPort = 0
    /// The front's raw TCP port, when started with `tcp: true`.
    public private(set) var tcpPort = 0
    public private(set) var front: ChildProcess?
    public private(set) var workers: [(process: ChildProcess, log: String)] = []

    public var directory: String { redis.directory }

    /// Runs `body` with a started stack and stops it afterwards, whatever `body` does
    /// (awaited: a stopped test process must leave no child behind).
    public static func with(front: Bool = true, tcp: Bool = false, _ body: (Stack) async throws -> Void) async throws {
        let stack = try await start(front: front, tcp: tcp)
        do {
            try await body(stack)
        } catch {
            print("front log:\n\(stack.log("front.log"))\nworker log:\n\(stack.log("worker1.log"))")
            await stack.stop()
            throw error
        }
        await stack.stop()
    }

    public static func start(front: Bool = true, tcp: Bool = false) async throws -> Stack {
        let redis = try await RedisServer.start()
        let stack = Stack(redis: redis)
        if front { try await stack.startFront(tcp: tcp) }
        return stack
    }

    private init(redis: RedisServer) {
        self.redis = redis
        self.client = RedisClient(configuration: redis.configuration, logger: Logger(label: "stack"))
    }

    /// Starts `swift-rpc serve` on free ports (and a TCP port when `tcp`), again on new ports if
    /// another process took one between choosing and binding it.
    public func startFront(arguments: [String] = [], tcp: Bool = false) async throws {
        for attempt in 1...3 {
            frontPort = try freePort()
            tcpPort = tcp ? try freePort() : 0
            let tcpArguments = tcp ? ["--tcp-port", String(tcpPort)] : []
            let process = try ChildProcess(
                executable: Binaries.front, arguments: ["serve", "--port", String(frontPort), "--redis", redis.url] + tcpArguments + arguments,
                outputPath: directory + "/front.log")
            front = process
            for _ in 0..<300 {
                if let status = process.exitStatus() {
                    if attempt < 3, log("front.log").contains("Address already in use") { break }
                    throw TestSupportError("swift-rpc serve exited (\(status)):\n\(log("front.log"))")
                }
                if let health = try? await httpRequest(port: frontPort, method: "GET", path: "/healthz"), health.status == 200 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            if process.exitStatus() == nil { break }
        }
        throw TestSupportError("swift-rpc serve did not answer /healthz:\n\(log("front.log"))")
    }

    /// Starts a worker and waits until it has registered in `swiftrpc:workers`.
    @discardableResult
    public func startWorker(_ arguments: [String] = []) async throws -> ChildProcess {
        let logName = "worker\(workers.count + 1).log"
        let before = try await workerIDs()
        let process = try ChildProcess(
            executable: Binaries.worker, arguments: ["--redis", redis.url] + arguments, outputPath: directory + "/" + logName)
        workers.append((process, logName))
        for _ in 0..<300 {
            if let status = process.exitStatus() { throw TestSupportError("swift-rpc-worker exited (\(status)):\n\(log(logName))") }
            if try await workerIDs().subtracting(before).contains(where: { $0.contains(":\(process.pid):") }) { return process }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSupportError("swift-rpc-worker did not register:\n\(log(logName))")
    }

    public func workerIDs() async throws -> Set<String> {
        Set((try await client.send(["SMEMBERS", "swiftrpc:workers"]).array ?? []).compactMap(\.string))
    }

    /// `POST /{function}` with a JSON body; the answer.
    public func call(_ function: String, _ body: JSONValue, query: String = "") async throws -> RawHTTPResponse {
        try await httpRequest(port: frontPort, path: "/\(function)\(query)", body: body.jsonText)
    }

    /// Enqueues an MQ call and returns its job id.
    public func enqueue(_ function: String, _ body: JSONValue) async throws -> String {
        let answer = try await call(function, body)
        guard answer.status == 202, let id = answer.json?["job_id"]?.stringValue else {
            throw TestSupportError("enqueue \(function): \(answer.status) \(answer.text)")
        }
        return id
    }

    /// The job JSON once it is finished or failed (or as it is after `seconds`).
    public func waitForJob(_ id: String, seconds: Int = 20) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let answer = try await httpRequest(port: frontPort, method: "GET", path: "/jobs/\(id)?wait=5")
            guard let job = answer.json else { throw TestSupportError("GET /jobs/\(id): \(answer.status) \(answer.text)") }
            if ["finished", "failed"].contains(job["status"]?.stringValue) || ContinuousClock.now > deadline { return job }
        }
    }

    public func jobHash(_ id: String) async throws -> [String: String] {
        try await client.hgetall("swiftrpc:job:\(id)")
    }

    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "(no \(name))"
    }

    /// Stops everything and removes the folder.
    public func stop() async {
        for worker in workers { await worker.process.terminate(grace: .seconds(10)) }
        if let front { await front.terminate(grace: .seconds(10)) }
        await client.shutdown()
        await redis.stopAndRemove()
    }
}
